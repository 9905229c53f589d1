/* concat.c: concat(a, b, ..., axis=1), torch.cat.
 *
 * Checks: every input has the first one's rank (at least 1), axis is in range, and all
 * dimensions but the axis are equal; the sizes along the axis must add up as monomials, so
 * they must share their symbolic part (N + N = N*2; N + 3 is not supported).
 * Produces the first input's shape with the summed axis, and stores the axis non-negative. */
#include <string.h>

#include "rules.h"

/* x + y when both are c * (the same symbols); false otherwise or on overflow. */
static bool size_add(Dim x, Dim y, Dim *out) {
    if (x.c == 0 || y.c == 0) {
        *out = x.c ? x : y;
        return true;
    }
    int64_t c;
    if (memcmp(x.e, y.e, sizeof x.e) != 0 || __builtin_add_overflow(x.c, y.c, &c) ||
        c > DIM_MAX_ELEMENTS)
        return false;
    *out = x;
    out->c = c;
    return true;
}

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
        if (!size_add(*sum, y, sum)) {
            bool same_symbols = memcmp(sum->e, y.e, sizeof y.e) == 0;
            shape_error(g, d, n->loc, n, "cannot add sizes %s and %s along axis %d: %s",
                        shape_dim_str(g, *sum), shape_dim_str(g, y), axis,
                        same_symbols ? "the result is too large"
                                     : "sums of different symbolic sizes are not supported");
            return false;
        }
    }
    return true;
}

bool shape_concat(Graph *g, Node *n, Diag *d) {
    const Shape *x = &n->in[0]->shape;
    Attr *a = shape_arg(g, n, d, "axis", ATTR_INT);
    if (!a)
        return false;
    if (x->rank == 0) {
        shape_error(g, d, n->loc, n, "cannot concatenate scalars, got %s", shape_in_str(g, n, 0));
        return false;
    }
    int axis = shape_axis(g, n, d, "axis", a->i, x->rank);
    if (axis < 0)
        return false;
    a->i = axis;
    bool ok = true;
    for (int i = 1; i < n->nin; i++)
        ok &= concat_match(g, n, d, i, axis);
    if (!ok)
        return false;
    n->shape = *x;
    return concat_sum(g, n, d, axis, &n->shape.d[axis]);
}
