/* split_codegen.h: one module optimized and compiled to machine code as several object
 * files, in threads (see split_codegen.c). */
#ifndef NND_SPLIT_CODEGEN_H
#define NND_SPLIT_CODEGEN_H

#include <llvm-c/Core.h>
#include <stdbool.h>

enum { CG_MAX_PARTS = 8 };

typedef struct CgObjects {
    int n;
    LLVMMemoryBufferRef obj[CG_MAX_PARTS];
} CgObjects;

/* How many parts cg_split_codegen makes of mod when asked for `parts`: at most CG_MAX_PARTS
 * and the module's functions; for 0, as many as this process has CPUs, but none smaller than
 * about 1000 instructions (besides the largest function's) and no more than the module's
 * instructions over its largest function's, rounded up. */
int cg_split_count(LLVMModuleRef mod, int parts);

/* How a part gets its own copy of the module: emit(arg, ctx, error) emits it again in ctx
 * (the part's context, in the part's thread) as it was given to cg_split_codegen (optimized
 * if it was), with the same functions and globals in the same order under the same names;
 * NULL on failure, with *error set (release with free). It runs while other parts compile
 * theirs. */
typedef struct CgEmitAgain {
    LLVMModuleRef (*emit)(void *arg, LLVMContextRef ctx, char **error);
    /* NULL, or there is an early copy for the second part: emitted already or being
     * emitted in a thread since before mod was, in a context of its own (*ctx, gated as
     * emit's); NULL on failure, with *error set. Called once at most, by the second part's
     * thread; cg_split_codegen leaves an untaken copy to its owner. */
    LLVMModuleRef (*take_early)(void *arg, LLVMContextRef *ctx, char **error);
    void *arg;
} CgEmitAgain;

/* The CPUs this process may run on (at least 1): how many parts cg_split_count makes at
 * most for `parts` 0. */
int cg_split_cpus(void);

/* Optimizes mod at opt_level (unless it is optimized already) and generates position-
 * independent code for JIT linking (code model JITDefault) for cpu and features, split into
 * cg_split_count(mod, parts) objects that link into the module's whole code; every part but
 * the first works on a copy from `again`. Takes mod (disposed, also on failure). On
 * failure returns false, with *error set (release with free) and out empty. */
bool cg_split_codegen(LLVMModuleRef mod, const CgEmitAgain *again, const char *cpu,
                      const char *features, int opt_level, bool optimized, int parts,
                      CgObjects *out, char **error);

#endif
