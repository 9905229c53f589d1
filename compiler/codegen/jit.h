/* jit.h: ORC LLJIT for one compiled model.
 *
 * In: an optimized module (ownership passes to the JIT, also on failure) in a thread-safe
 * context, and the target the module was built for. Out: the addresses of its two entry
 * points, valid until jit_dispose. Symbols the code calls outside itself (memcpy, memset)
 * resolve against the host process. */
#ifndef NND_JIT_H
#define NND_JIT_H

#include <llvm-c/Orc.h>
#include <stdbool.h>

typedef struct Jit Jit;

Jit *jit_create(LLVMOrcThreadSafeContextRef tsc, LLVMModuleRef mod, const char *cpu,
                const char *features, int opt_level, char **error);
/* 0 when the symbol is missing (error set). */
uint64_t jit_lookup(Jit *j, const char *name, char **error);
void jit_dispose(Jit *j);

#endif
