/* interp.h: the reference interpreter for the graph IR, the oracle for differential tests.
 *
 * In: a shaped graph with its parameters filled (compile_to(STAGE_WEIGHTS) or later), the
 * values of its symbolic dimensions, and dense f32 tensors in C order. Out: every output,
 * computed node by node with plain C loops (no LLVM, no fusion) following PyTorch's
 * definitions of SPEC 1.4, in double precision and rounded to float once per node.
 *
 * It reads only what shape inference and the weights binder leave on a graph: each node's
 * op, inputs, normalized attributes (resolved padding, stride defaults, non-negative axes,
 * perm), output shape and parameters. The optimizer's annotations (Node.host, epi, buf and
 * Graph.plan) are ignored, so an optimized graph runs too (every node computed on its own).
 *
 * sym_values has one slot per symbol of the graph, derived ones filled (syms_derive); size
 * tensors with shape_eval (dim.h). Nothing here exits or aborts: a failure is false plus a
 * message in err ("out of memory: ..." when an allocation failed). */
#ifndef NND_INTERP_H
#define NND_INTERP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"

/* Whether the interpreter evaluates op (every op of ops.def but INPUT). */
bool interp_can_run(OpKind op);

/* Evaluates one node from its inputs' values (dense f32, C order, shapes = the inputs' shapes
 * under sym_values); writes the node's value to out. No allocation besides small scratch. */
bool interp_node(const Graph *g, const Node *n, const int64_t *sym_values,
                 const float *const *ins, float *out, char *err, size_t errlen);

/* Runs the whole graph: inputs in declaration order, outputs in output order (caller-sized).
 * Intermediate values are allocated for the run and freed before it returns. */
bool interp_run(const Graph *g, const int64_t *sym_values, const float *const *inputs,
                float *const *outputs, char *err, size_t errlen);

#endif
