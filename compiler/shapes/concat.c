/* concat.c: concat(a, b, ..., axis=1), torch.cat.
 *
 * Checks: every input has the first one's rank (at least 1), axis is in range, and all
 * dimensions but the axis are equal. The sizes along the axis add up: N + N = N*2, and sizes
 * with different symbols (N + M, N + 3) make a derived symbolic size "(N+M)".
 * Produces the first input's shape with the summed axis, and stores the axis non-negative. */
#include <string.h>

#include "rules.h"

/* Input i agrees with input 0 everywhere but the axis. */
static bool concat_match(Graph *g, Node *n, Diag *d, int i, int axis) {
    const Shape *a = &n->in[0]->shape, *b = &n->in[i]->shape;
    bool ok = a->rank == b->rank;
    for (int k = 0; ok && k < a->rank; k++)
        ok = k == axis || dim_eq(a->d[k], b->d[k]);
    if (!ok)
        shape_error(g, d, n->loc, n,
                    "input %d %s does not match input 1 %s: all dimensions but axis %d must be "
                    "equal",
                    i + 1, shape_in_str(g, n, i), shape_in_str(g, n, 0), axis);
    return ok;
}

/* The inputs' sizes along the axis, added up into *sum (which starts as input 1's). */
static bool concat_sum(Graph *g, Node *n, Diag *d, int axis, Dim *sum) {
    for (int i = 1; i < n->nin; i++) {
        Dim y = n->in[i]->shape.d[axis];
        if (!graph_dim_add(g, *sum, y, sum)) {
            shape_error(g, d, n->loc, n, "cannot add sizes %s and %s along axis %d: the result "
                        "is too large, or the model has too many symbolic sizes",
                        shape_dim_str(g, *sum), shape_dim_str(g, y), axis);
            return false;
        }
    }
    return true;
}

bool shape_concat(Graph *g, Node *n, Diag *d) {
    const Shape *x = &n->in[0]->shape;
    if (x->rank == 0) {
        shape_error(g, d, n->loc, n, "cannot concatenate scalars, got %s", shape_in_str(g, n, 0));
        return false;
    }
    int axis = shape_arg_axis(g, n, d, x->rank);
    if (axis < 0)
        return false;
    bool ok = true;
    for (int i = 1; i < n->nin; i++)
        ok &= concat_match(g, n, d, i, axis);
    if (!ok)
        return false;
    n->shape = *x;
    return concat_sum(g, n, d, axis, &n->shape.d[axis]);
}
