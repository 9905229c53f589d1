/* jit.c: ORC LLJIT wrapper; see jit.h. */
#define _POSIX_C_SOURCE 200809L
#include "jit.h"
#include "cg.h"

#include <llvm-c/Core.h>

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/OrcEE.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <stdlib.h>
#include <string.h>

struct Jit {
    LLVMOrcLLJITRef lljit;
};

static char *take_error(LLVMErrorRef e) {
    char *msg = LLVMGetErrorMessage(e);
    char *copy = strdup(msg ? msg : "unknown LLVM error");
    LLVMDisposeErrorMessage(msg);
    return copy;
}

Jit *jit_create(LLVMOrcThreadSafeContextRef tsc, LLVMModuleRef mod, const char *cpu,
                const char *features, int opt_level, char **error) {
    *error = NULL;
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
    Jit *j = calloc(1, sizeof *j);
    if (!j) {
        LLVMOrcDisposeThreadSafeModule(tsm);
        *error = strdup("out of memory");
        return NULL;
    }
    /* The JIT gets its own target machine (the builder takes ownership of it), so that its
     * code generation level and CPU match the optimizer's. */
    char *triple = LLVMGetDefaultTargetTriple();
    LLVMTargetRef target;
    char *msg = NULL;
    LLVMErrorRef err = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
        *error = strdup(msg ? msg : "no target for the host");
        LLVMDisposeMessage(msg);
        LLVMDisposeMessage(triple);
        LLVMOrcDisposeThreadSafeModule(tsm);
        free(j);
        return NULL;
    }
    LLVMCodeGenOptLevel cl = cg_codegen_level(opt_level);
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cpu, features, cl,
                                                      LLVMRelocPIC, LLVMCodeModelJITDefault);
    LLVMDisposeMessage(triple);
    LLVMOrcJITTargetMachineBuilderRef jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm);
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
    err = LLVMOrcCreateLLJIT(&j->lljit, builder);
    if (!err) {
        LLVMOrcDefinitionGeneratorRef gen;
        err = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
            &gen, LLVMOrcLLJITGetGlobalPrefix(j->lljit), NULL, NULL);
        if (!err)
            LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(j->lljit), gen);
    }
    if (!err) {
        /* Takes the module even when it fails. */
        err = LLVMOrcLLJITAddLLVMIRModule(j->lljit, LLVMOrcLLJITGetMainJITDylib(j->lljit), tsm);
        tsm = NULL;
    }
    if (err) {
        *error = take_error(err);
        if (tsm)
            LLVMOrcDisposeThreadSafeModule(tsm);
        jit_dispose(j);
        return NULL;
    }
    return j;
}

uint64_t jit_lookup(Jit *j, const char *name, char **error) {
    LLVMOrcExecutorAddress addr = 0;
    LLVMErrorRef err = LLVMOrcLLJITLookup(j->lljit, &addr, name);
    if (err) {
        *error = take_error(err);
        return 0;
    }
    return addr;
}

void jit_dispose(Jit *j) {
    if (!j)
        return;
    if (j->lljit) {
        LLVMErrorRef err = LLVMOrcDisposeLLJIT(j->lljit);
        if (err)
            LLVMConsumeError(err);
    }
    free(j);
}
