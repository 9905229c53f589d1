/* norm.c: batchnorm (inference form, channel axis 1) and layernorm (over the last axis).
 *
 * Checks: eps > 0; batchnorm's input has rank >= 2 and a fixed channel count C (axis 1);
 * layernorm's has rank >= 1 and a fixed last dimension D. Produces the input's shape and the
 * parameters, as PyTorch's BatchNorm / LayerNorm: weight (ones), bias (zeros) and, for
 * batchnorm, running_mean (zeros) and running_var (positive), each [C] or [D]. */
#include "rules.h"

static bool norm_params(Graph *g, Node *n, Diag *d, int64_t c, bool running) {
    Shape s = shape_make(1, &c);
    bool ok = shape_param(g, n, d, "weight", s, PINIT_ONES, 0);
    ok = ok && shape_param(g, n, d, "bias", s, PINIT_ZEROS, 0);
    if (running) {
        ok = ok && shape_param(g, n, d, "running_mean", s, PINIT_ZEROS, 0);
        ok = ok && shape_param(g, n, d, "running_var", s, PINIT_VARIANCE, 0);
    }
    return ok;
}

bool shape_batchnorm(Graph *g, Node *n, Diag *d) {
    double eps;
    bool ok = shape_arg_positive(g, n, d, "eps", &eps);
    if (!shape_need_rank(g, n, d, 2, MAX_RANK, "an input [N, C, ...] with at least 2 dimensions") ||
        !shape_need_fixed(g, n, d, 1, 2, "a fixed channel dimension (axis 1)") || !ok)
        return false;
    n->shape = n->in[0]->shape;
    return norm_params(g, n, d, n->shape.d[1].c, true);
}

bool shape_layernorm(Graph *g, Node *n, Diag *d) {
    double eps;
    bool ok = shape_arg_positive(g, n, d, "eps", &eps);
    int r = n->in[0]->shape.rank;
    if (!shape_need_rank(g, n, d, 1, MAX_RANK, "an input with at least 1 dimension [..., D]") ||
        !shape_need_fixed(g, n, d, r - 1, r, "a fixed last input dimension") || !ok)
        return false;
    n->shape = n->in[0]->shape;
    return norm_params(g, n, d, n->shape.d[r - 1].c, false);
}
