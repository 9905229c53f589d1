/* jit.c: ORC LLJIT wrapper; see jit.h. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "jit.h"

#include <llvm-c/Core.h>

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/OrcEE.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct Jit {
    LLVMOrcLLJITRef lljit;
    void *params; /* the linked parameters' copies, read-only (mmap) */
    size_t params_bytes;
};

enum { PARAM_ALIGN = 64 };

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

/* Copies the parameters into one mapping, each PARAM_ALIGN-aligned, makes it read-only (a
 * stray store into the weights faults rather than changing them) and defines their
 * symbols at the copies in the main JITDylib. */
static LLVMErrorRef define_params(Jit *j, const CgLinkedParam *params, int n) {
    if (n == 0)
        return NULL;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total = align_up(total, PARAM_ALIGN) + params[i].bytes;
    total = align_up(total, (size_t)sysconf(_SC_PAGESIZE));
    void *block = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED)
        return LLVMCreateStringError("out of memory for the model's parameters");
    j->params = block;
    j->params_bytes = total;
    LLVMOrcCSymbolMapPairs syms = calloc((size_t)n, sizeof *syms);
    if (!syms)
        return LLVMCreateStringError("out of memory");
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        at = align_up(at, PARAM_ALIGN);
        memcpy((char *)block + at, params[i].data, params[i].bytes);
        syms[i].Name = LLVMOrcLLJITMangleAndIntern(j->lljit, params[i].symbol);
        syms[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)((char *)block + at);
        syms[i].Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported;
        at += params[i].bytes;
    }
    mprotect(block, total, PROT_READ);
    /* The unit takes the names; the JITDylib takes the unit unless it fails. */
    LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(syms, (size_t)n);
    free(syms);
    LLVMErrorRef err = LLVMOrcJITDylibDefine(LLVMOrcLLJITGetMainJITDylib(j->lljit), mu);
    if (err)
        LLVMOrcDisposeMaterializationUnit(mu);
    return err;
}

static char *take_error(LLVMErrorRef e) {
    char *msg = LLVMGetErrorMessage(e);
    char *copy = strdup(msg ? msg : "unknown LLVM error");
    LLVMDisposeErrorMessage(msg);
    return copy;
}

Jit *jit_create(CgObjects *objs, const CgLinkedParam *params, int nparams, char **error) {
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
    if (!err)
        err = define_params(j, params, nparams);
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
    if (j->params)
        munmap(j->params, j->params_bytes);
    free(j);
}
