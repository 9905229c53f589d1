/* softmax.c: softmax and log_softmax along one axis.
 *
 * Checks: axis in [-rank, rank) (a scalar counts as rank 1, as in PyTorch). Produces the
 * input's shape and stores the axis non-negative. */
#include "rules.h"

bool shape_softmax(Graph *g, Node *n, Diag *d) {
    const Shape *x = &n->in[0]->shape;
    Attr *a = shape_arg(g, n, d, "axis", ATTR_INT);
    int axis = a ? shape_axis(g, n, d, "axis", a->i, x->rank ? x->rank : 1) : -1;
    if (axis < 0)
        return false;
    a->i = axis;
    n->shape = *x;
    return true;
}
