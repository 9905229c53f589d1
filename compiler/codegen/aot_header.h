/* aot_header.h: the C header `nndc build --header` writes next to an AOT object.
 *
 * In: a shaped graph (its inputs, outputs and symbolic dimensions) and the entry points'
 * prefix. Out: a self-contained C header (only <stddef.h> and <stdint.h>) that declares
 * PREFIX_forward and PREFIX_workspace_size exactly as cg.c generates them and documents how
 * to call them, with constants for the counts, the symbols' slots and the fixed dimensions,
 * and, when the batch can be split, an optional threaded entry point.
 * The text depends only on its arguments, so the same build gives the same bytes. */
#ifndef NND_AOT_HEADER_H
#define NND_AOT_HEADER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "graph.h"

/* The target and CPU are only quoted in a comment. weights_bytes is the size of the constant
 * data in the object. False when writing failed. */
bool aot_write_header(FILE *out, const Graph *g, const char *prefix, const char *triple,
                      const char *cpu, int64_t weights_bytes);

/* The optional threaded entry point, PREFIX_forward_threads behind #ifdef PREFIX_THREADS,
 * when the model's batch can be split (aot_threads.c); a note saying why not otherwise. */
void aot_write_threads(FILE *out, const Graph *g, const char *prefix);

#endif
