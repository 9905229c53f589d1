/* flops.h: floating-point operations of one forward pass, for GFLOP/s figures.
 *
 * In: a shaped graph and values for its symbols. Out: the FLOP count, counting a
 * multiply-add as 2, and one per element for elementwise ops (transcendental functions
 * count 1 too: the figure compares matrix work, as peers report it). */
#ifndef NND_FLOPS_H
#define NND_FLOPS_H

#include "graph.h"

double graph_flops(const Graph *g, const int64_t *sym_values);

#endif
