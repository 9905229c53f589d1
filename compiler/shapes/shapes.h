/* shapes.h: shape inference, one rule per operator family (named in ops.def).
 *
 * In: a node whose inputs all have known shapes and whose arguments are bound (every schema
 * argument is present in n->attrs; `set` is false for an optional one left out). Out: the
 * node's output shape in n->shape and its parameters declared with node_add_param, or false
 * after reporting every problem at the node's (or the offending argument's) location. Shape
 * errors name the op, the node and the shapes: "dense 'h2' needs an input whose last
 * dimension is 128, got [N, 100]". */
#ifndef NND_SHAPES_H
#define NND_SHAPES_H

#include "graph.h"

typedef bool (*ShapeRule)(Graph *g, Node *n, Diag *d);

#define OP(e, name, schema, shape, lower) bool shape(Graph *g, Node *n, Diag *d);
#include "ops.def"
#undef OP

/* Runs the rule of every node in order. A node with a bad input is marked bad silently, so
 * one mistake is reported once. Returns false when any rule reported an error. */
bool shape_infer(Graph *g, Diag *d);

/* Shared by the rules: an axis in [-rank, rank) made non-negative, or -1 after reporting. */
int shape_axis(Graph *g, Node *n, Diag *d, const char *arg, int64_t axis, int rank);
/* NumPy broadcasting of a and b into out; false (nothing reported) when they do not broadcast. */
bool shape_broadcast(const Shape *a, const Shape *b, Shape *out);

#endif
