/* jit.c: ORC LLJIT wrapper; see jit.h. */
#define _POSIX_C_SOURCE 200809L
#include "jit.h"

#include <llvm-c/Core.h>

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/OrcEE.h>
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

Jit *jit_create(CgObjects *objs, char **error) {
    *error = NULL;
    int next = 0; /* objs->obj[next..] still ours */
    Jit *j = calloc(1, sizeof *j);
    if (!j) {
        *error = strdup("out of memory");
        goto fail;
    }
    /* The JIT only links objects made for this host, so LLJIT's defaults (the host's
     * target) do; its own compile layer is never used. */
    LLVMErrorRef err = LLVMOrcCreateLLJIT(&j->lljit, NULL);
    if (!err) {
        LLVMOrcDefinitionGeneratorRef gen;
        err = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
            &gen, LLVMOrcLLJITGetGlobalPrefix(j->lljit), NULL, NULL);
        if (!err)
            LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(j->lljit), gen);
    }
    /* Each call takes its object, also when it fails. */
    for (; !err && next < objs->n; next++)
        err = LLVMOrcLLJITAddObjectFile(j->lljit, LLVMOrcLLJITGetMainJITDylib(j->lljit),
                                        objs->obj[next]);
    if (!err)
        return j;
    *error = take_error(err);
fail:
    for (; next < objs->n; next++)
        LLVMDisposeMemoryBuffer(objs->obj[next]);
    jit_dispose(j);
    return NULL;
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
