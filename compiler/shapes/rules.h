/* rules.h: helpers the shape rules share; private to compiler/shapes/.
 *
 * In: a node under inference. Out: its arguments read and range-checked, errors located at
 * the node or the offending argument and prefixed with "OP 'NAME' ", and parameters declared
 * so that running inference again keeps the weights already bound to them. */
#ifndef NND_SHAPES_RULES_H
#define NND_SHAPES_RULES_H

#include "shapes.h"

/* Reports "OP 'NAME' " followed by the formatted text. */
void shape_error(Graph *g, Diag *d, SrcLoc at, const Node *n, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* "[N, 64]" for input i of n. */
const char *shape_in_str(Graph *g, const Node *n, int i);
const char *shape_dim_str(Graph *g, Dim x);
/* "[1, 2, 3]" */
const char *shape_ints_str(Graph *g, const int64_t *v, int count);
/* The argument's location, or the node's when it has no such argument. */
SrcLoc shape_arg_loc(const Node *n, const char *name);

/* The argument `name`, present, set and of `kind`; NULL after reporting. */
Attr *shape_arg(Graph *g, Node *n, Diag *d, const char *name, AttrKind kind);
/* An int argument that is at least min; false after reporting. */
bool shape_arg_int(Graph *g, Node *n, Diag *d, const char *name, int64_t min, int64_t *out);
/* A list argument of `count` ints, each at least min; NULL after reporting. */
Attr *shape_arg_ints(Graph *g, Node *n, Diag *d, const char *name, int count, int64_t min);
/* A float argument that is > 0 (eps); false after reporting. */
bool shape_arg_positive(Graph *g, Node *n, Diag *d, const char *name, double *out);
/* The "axis" argument checked against rank (a scalar counts as rank 1, as in PyTorch) and
 * stored non-negative; -1 after reporting. */
int shape_arg_axis(Graph *g, Node *n, Diag *d, int rank);

/* Makes a an ATTR_INTS argument holding v (resolving "same"/"valid" padding, defaults). */
void shape_set_ints(Attr *a, int count, const int64_t *v);

/* Whether dimensions [from, to) of input 0 are fixed; else reports "needs WHAT, got SHAPE". */
bool shape_need_fixed(Graph *g, Node *n, Diag *d, int from, int to, const char *what);
/* Whether input 0 has rank in [lo, hi]; else reports "expects WHAT, got SHAPE". */
bool shape_need_rank(Graph *g, Node *n, Diag *d, int lo, int hi, const char *what);

/* A fixed shape of `rank` dimensions. */
Shape shape_make(int rank, const int64_t *v);
/* Declares parameter `suffix` of n, or updates the one an earlier run declared. False after
 * reporting when the shape is too large, or when weights already bound to it have another
 * shape. */
bool shape_param(Graph *g, Node *n, Diag *d, const char *suffix, Shape s, ParamInit init,
                 int64_t fan_in);
/* The parameter `suffix` of n when weights are already bound to it (they fix its shape). */
const Param *shape_bound_param(const Node *n, const char *suffix);

/* One spatial axis of a sliding window, PyTorch's pooling_output_shape_pad_lr: the number of
 * window positions (< 1 when none fits). False on overflow. */
bool shape_window(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel, int64_t stride,
                  int64_t dilation, bool ceil_mode, int64_t *out);

#endif
