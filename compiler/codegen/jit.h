/* jit.h: ORC LLJIT for one compiled model.
 *
 * In: the object files of a model's module (split_codegen.h). Out: the addresses of its
 * entry points, valid until jit_dispose. Symbols the code calls outside itself (memcpy,
 * memset) resolve against the host process. */
#ifndef NND_JIT_H
#define NND_JIT_H

#include <llvm-c/Orc.h>
#include <stdbool.h>

#include "split_codegen.h"

typedef struct Jit Jit;

/* Links objs (cg_split_codegen's, made for this host); takes them, also on failure. */
Jit *jit_create(CgObjects *objs, char **error);
/* 0 when the symbol is missing (error set). */
uint64_t jit_lookup(Jit *j, const char *name, char **error);
void jit_dispose(Jit *j);

#endif
