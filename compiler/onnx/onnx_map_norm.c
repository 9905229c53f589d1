/* onnx_map_norm.c: ONNX's normalizations as .nnd batchnorm and layernorm.
 *
 * In: BatchNormalization (inference form) and LayerNormalization nodes whose scale, bias
 * and statistics are constants. Out: a batchnorm or layernorm statement with them as its
 * parameters. LayerNormalization over several trailing axes normalizes a reshaped view
 * ([-1, D]) and reshapes back; its optional Mean and InvStdDev outputs are computed from
 * the same view with global_avgpool (a mean over the last axis of [M, 1, 1, D]), sub, mul,
 * add and sqrt, InvStdDev as sqrt(v) / v, which is 1 / sqrt(v) without a reciprocal op. */
#include <string.h>

#include "onnx_internal.h"

bool onnx_map_batchnorm(const OnnxNode *n) {
    static const char *const roles[] = {"scale", "B", "mean", "var"};
    static const char *const params[] = {"weight", "bias", "running_mean", "running_var"};
    Value *xin = on_tensor_in(n, 0), *p[4];
    bool ok = xin != NULL;
    for (int i = 0; i < 4; i++)
        ok &= (p[i] = on_const_in(n, i + 1, roles[i])) != NULL;
    if (!ok)
        return false;
    for (int i = 0; i < 4; i++)
        if (p[i]->c.rank != 1 || p[i]->c.numel != p[0]->c.numel)
            return on_fail(n, "%s", "scale, B, mean and var must be 1-D, one value per channel");
    if (on_attr_i(n, "training_mode", 0) != 0)
        return on_fail(n, "%s", "training_mode=1 is not supported");
    if (n->x->opset < 7 && on_attr_i(n, "is_test", 0) != 1) /* is_test defaults to training */
        return on_fail(n, "%s", "is_test=0 (training mode, the default before opset 7) is not "
                       "supported");
    if (n->x->opset < 9 && on_attr_i(n, "spatial", 1) != 1)
        return on_fail(n, "%s", "spatial=0 (statistics per activation, not per channel) is not "
                       "supported");
    for (size_t i = 1; i < n->p->n_output; i++)
        if (n->p->output[i][0])
            return on_fail(n, "%s", "the training outputs (running and saved mean and variance) "
                           "are not supported");
    Value *o = on_out_like(n, xin);
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    const char *prefix = onnx_param_prefix(x, onnx_str(p[0]->onnx), o->ident);
    onnx_emit(x, "batchnorm(%s, eps=%s", xin->ident, onnx_num(x, on_attr_f(n, "epsilon", 1e-5)));
    if (strcmp(prefix, o->ident) != 0)
        onnx_emit(x, ", name=\"%s\"", prefix);
    onnx_emit(x, ")\n");
    for (int i = 0; i < 4; i++)
        onnx_add_param(x, prefix, params[i], &p[i]->c, 1, p[i]->c.shape, false);
    return true;
}

/* Reports the normalized size d that Scale and B must match; false after reporting. */
static bool layernorm_params(const OnnxNode *n, const Value *sv, const Value *bv, int64_t d) {
    if (!sv->c.is_float || (d >= 0 && sv->c.numel != d) || (d < 0 && sv->c.rank != 1))
        return on_fail(n, "%s", "Scale must be a float constant with one value per normalized "
                       "element");
    if (bv && (!bv->c.is_float || bv->c.numel != sv->c.numel))
        return on_fail(n, "%s", "B must be a float constant shaped like Scale");
    return true;
}

/* The count of -1 sizes in v[0..k). */
static int unknown_sizes(const int64_t *v, int k) {
    int u = 0;
    for (int i = 0; i < k; i++)
        u += v[i] < 0;
    return u;
}

/* Y: layernorm over the last axis, or over the reshaped [-1, d] view and back. */
static Value *layernorm_y(const OnnxNode *n, const Value *xin, int axis, const char **prefix,
                          const Value *sv) {
    OnnxCtx *x = n->x;
    bool last = xin->rank < 0 || axis == xin->rank - 1;
    if (!last && unknown_sizes(xin->dims, xin->rank) > 1) {
        on_fail(n, "%s", "normalizing several axes needs the input's sizes, and more than one "
                "is symbolic (a dynamic shape), which is not supported");
        return NULL;
    }
    Value *o = on_out_at(n, 0, xin->rank);
    onnx_dims_like(o, xin);
    *prefix = onnx_param_prefix(x, onnx_str(sv->onnx), o->ident);
    const char *name = strcmp(*prefix, o->ident) != 0 ? arena_printf(x->a, ", name=\"%s\"",
                                                                      *prefix) : "";
    const char *eps = onnx_num(x, on_attr_f(n, "epsilon", 1e-5));
    if (last)
        onnx_emit(x, "layernorm(%s, eps=%s%s)\n", xin->ident, eps, name);
    else
        onnx_emit(x, "reshape(%s, [-1, %lld]) -> layernorm(eps=%s%s) -> reshape(%s)\n",
                  xin->ident, (long long)onnx_dims_product(xin, axis, xin->rank), eps, name,
                  on_ints_str(x, xin->dims, xin->rank));
    return o;
}

/* Mean and InvStdDev, shaped like the input with 1s from axis on; false after reporting. */
static bool layernorm_stats(const OnnxNode *n, const Value *xin, int axis, int64_t d) {
    OnnxCtx *x = n->x;
    int64_t shape[MAX_RANK];
    for (int i = 0; i < xin->rank; i++)
        shape[i] = i < axis ? xin->dims[i] : 1;
    if (d < 0 || unknown_sizes(shape, xin->rank) > 1)
        return on_fail(n, "%s", "the Mean and InvStdDev outputs need the normalized sizes and "
                       "all but one other size known statically");
    const char *v = onnx_ident(x, arena_printf(x->a, "%s_view", n->label));
    const char *m = onnx_ident(x, arena_printf(x->a, "%s_mean", n->label));
    const char *dev = onnx_ident(x, arena_printf(x->a, "%s_dev", n->label));
    const char *var = onnx_ident(x, arena_printf(x->a, "%s_var", n->label));
    const char *dims = on_ints_str(x, shape, xin->rank);
    onnx_emit(x, "  %s = reshape(%s, [-1, 1, 1, %lld])\n  %s = global_avgpool(%s)\n", v,
              xin->ident, (long long)d, m, v);
    onnx_emit(x, "  %s = sub(%s, %s)\n  %s = mul(%s, %s) -> global_avgpool -> add(%s)\n", dev, v,
              m, var, dev, dev, onnx_num(x, on_attr_f(n, "epsilon", 1e-5)));
    if (n->p->n_output > 1 && n->p->output[1][0]) {
        memcpy(on_out_at(n, 1, xin->rank)->dims, shape, sizeof shape);
        onnx_emit(x, "reshape(%s, %s)\n", m, dims);
    }
    if (n->p->n_output > 2 && n->p->output[2][0]) {
        memcpy(on_out_at(n, 2, xin->rank)->dims, shape, sizeof shape);
        onnx_emit(x, "div(sqrt(%s), %s) -> reshape(%s)\n", var, var, dims);
    }
    return true;
}

/* LayerNormalization: normalized over the axes from `axis` on, in float (stash_type 1). */
bool onnx_map_layernorm(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0), *sv = on_const_in(n, 1, "the scale Scale"), *bv = NULL;
    if (on_has(n, 2) && !(bv = on_const_in(n, 2, "the bias B")))
        return false;
    if (!xin || !sv)
        return false;
    if (on_attr_i(n, "stash_type", 1) != 1)
        return on_fail(n, "%s", "stash_type other than 1 (statistics in float) is not supported");
    int r = xin->rank;
    int64_t axis = on_attr_i(n, "axis", -1);
    axis += axis < 0 && r >= 0 ? r : 0;
    if (r < 0 && axis != -1)
        return on_fail(n, "%s", "an axis other than the last needs the input's rank, which is "
                       "not known");
    if (r >= 0 && (axis < 0 || axis >= r))
        return on_fail(n, "%s", "the axis is out of range");
    int64_t d = onnx_dims_product(xin, (int)axis, r);
    bool stats = n->p->n_output > 3 || (n->p->n_output > 1 && n->p->output[1][0]) ||
                 (n->p->n_output > 2 && n->p->output[2][0]);
    if (n->p->n_output > 3 || (stats && r < 0))
        return on_fail(n, "%s", "only the outputs Y, Mean and InvStdDev of an input of known rank "
                       "are supported");
    const char *prefix;
    Value *o;
    if (!layernorm_params(n, sv, bv, d) || !(o = layernorm_y(n, xin, (int)axis, &prefix, sv)))
        return false;
    if (stats && !layernorm_stats(n, xin, (int)axis, d))
        return false;
    OnnxConst w = sv->c, b = bv ? bv->c : sv->c;
    w.rank = b.rank = 1;
    w.shape[0] = b.shape[0] = sv->c.numel;
    if (!bv) /* no B: zeros */
        b.v = arena_array(n->x->a, (size_t)b.numel + 1, sizeof(double));
    onnx_add_param(n->x, prefix, "weight", &w, 1, w.shape, false);
    onnx_add_param(n->x, prefix, "bias", &b, 1, b.shape, false);
    return true;
}
