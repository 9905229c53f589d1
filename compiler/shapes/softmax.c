/* softmax.c: softmax and log_softmax along one axis.
 *
 * Checks: axis in [-rank, rank) (a scalar counts as rank 1, as in PyTorch). Produces the
 * input's shape and stores the axis non-negative. */
#include "rules.h"

bool shape_softmax(Graph *g, Node *n, Diag *d) {
    const Shape *x = &n->in[0]->shape;
    if (shape_arg_axis(g, n, d, x->rank) < 0)
        return false;
    n->shape = *x;
    return true;
}
