/* param.c: param(shape), a trained tensor used as a value.
 *
 * Checks: the shape is a list of 1 to MAX_RANK fixed sizes, each at least 1. Produces that
 * shape and declares the node's one parameter (suffix "", so its tensor is named by the
 * layer). --init random fills it from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in the
 * elements per leading index, as PyTorch's layers do for their weights. */
#include "rules.h"

bool shape_param_tensor(Graph *g, Node *n, Diag *d) {
    Attr *a = shape_arg(g, n, d, "shape", ATTR_INTS);
    if (!a)
        return false;
    if (a->n < 1 || a->n > MAX_RANK) {
        shape_error(g, d, a->loc, n, "needs a shape of 1 to %d dimensions, got %d", MAX_RANK,
                    a->n);
        return false;
    }
    for (int i = 0; i < a->n; i++)
        if (a->v[i] < 1) {
            shape_error(g, d, a->loc, n, "needs sizes of at least 1, got %s",
                        shape_ints_str(g, a->v, a->n));
            return false;
        }
    Shape s = shape_make(a->n, a->v);
    Dim numel;
    if (!shape_numel(&s, &numel)) {
        shape_error(g, d, a->loc, n, "shape %s is too large", shape_ints_str(g, a->v, a->n));
        return false;
    }
    int64_t fan_in = a->n > 1 ? numel.c / a->v[0] : numel.c;
    if (!shape_param(g, n, d, "", s, PINIT_UNIFORM_FANIN, fan_in))
        return false;
    n->shape = s;
    return true;
}
