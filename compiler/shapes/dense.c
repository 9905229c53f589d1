/* dense.c: dense(x, units, bias=true), PyTorch's nn.Linear on the last axis.
 *
 * Checks: x has rank >= 1 with a fixed last dimension K, units >= 1, and weights already
 * bound to h.weight take K columns. Produces [..., units] and the parameters
 * weight [units, K] and bias [units] (bias=true), both uniform with fan_in = K. */
#include "rules.h"

/* Weights bound before inference fix K: report a mismatch in the user's terms. */
static bool bound_weight_ok(Graph *g, Node *n, Diag *d, int64_t k) {
    const Param *w = shape_bound_param(n, "weight");
    if (!w || w->shape.rank != 2 || dim_is(w->shape.d[1], k))
        return true;
    shape_error(g, d, n->loc, n, "needs an input whose last dimension is %s, got %s",
                shape_dim_str(g, w->shape.d[1]), shape_in_str(g, n, 0));
    return false;
}

bool shape_dense(Graph *g, Node *n, Diag *d) {
    const Shape *x = &n->in[0]->shape;
    int64_t units = 0;
    bool ok = shape_arg_int(g, n, d, "units", 1, &units);
    if (!shape_need_rank(g, n, d, 1, MAX_RANK, "an input with at least 1 dimension [..., K]"))
        return false;
    if (!shape_need_fixed(g, n, d, x->rank - 1, x->rank, "a fixed last input dimension"))
        return false;
    int64_t k = x->d[x->rank - 1].c;
    if (!ok || !bound_weight_ok(g, n, d, k))
        return false;
    n->shape = *x;
    n->shape.d[x->rank - 1] = dim_const(units);
    int64_t w[2] = {units, k};
    if (!shape_param(g, n, d, "weight", shape_make(2, w), PINIT_UNIFORM_FANIN, k))
        return false;
    return !attr_bool(n, "bias") ||
           shape_param(g, n, d, "bias", shape_make(1, &units), PINIT_UNIFORM_FANIN, k);
}
