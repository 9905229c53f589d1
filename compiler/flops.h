/* flops.h: floating-point operations of one forward pass, for GFLOP/s figures.
 *
 * In: a shaped graph and values for its symbols. Out: the FLOP count, counting a
 * multiply-add as 2, and one per element for elementwise ops (transcendental functions
 * count 1 too: the figure compares matrix work, as peers report it). */
#ifndef NND_FLOPS_H
#define NND_FLOPS_H

#include "graph.h"

double graph_flops(const Graph *g, const int64_t *sym_values);
/* The FLOPs of one output element of a node whose work is proportional to its output size
 * (dense, matmul with a constant K, conv2d, the windowed pools); 0 for every other op. */
double node_flops_per_output(const Node *n);

#endif
