/* jit.h: ORC LLJIT for one compiled model.
 *
 * In: the object files of a model's module (split_codegen.h) and the parameters it declares
 * (cg.h's CgLinkedParam). Out: the addresses of its entry points, valid until jit_dispose.
 * The parameters are copied once into a read-only mapping the Jit owns, and their symbols
 * defined at the copies; symbols the code calls outside itself (memcpy, memset) resolve
 * against the host process. */
#ifndef NND_JIT_H
#define NND_JIT_H

#include <llvm-c/Orc.h>
#include <stdbool.h>

#include "cg.h"
#include "split_codegen.h"

typedef struct Jit Jit;

/* Links objs (cg_split_codegen's, made for this host) with the nparams parameters they
 * declare; takes objs, also on failure (params are copied). */
Jit *jit_create(CgObjects *objs, const CgLinkedParam *params, int nparams, char **error);
/* 0 when the symbol is missing (error set). */
uint64_t jit_lookup(Jit *j, const char *name, char **error);
void jit_dispose(Jit *j);

#endif
