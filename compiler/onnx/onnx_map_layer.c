/* onnx_map_layer.c: ONNX's layers with parameters as .nnd dense, batchnorm, layernorm.
 *
 * In: Gemm, MatMul, BatchNormalization and LayerNormalization nodes whose weights are
 * constants (initializers, Constant nodes or bound graph inputs). Out: one statement each,
 * with the weights as the layer's parameters in PyTorch's layout (Gemm's B transposed
 * unless transB, alpha and beta folded in). MatMul of two computed tensors is matmul. */
#include <string.h>

#include "onnx_internal.h"

/* c times k, as a new constant (alpha and beta folded into Gemm's parameters). */
static const OnnxConst *scaled(OnnxCtx *x, const OnnxConst *c, double k) {
    if (k == 1)
        return c;
    OnnxConst *s = arena_alloc(x->a, sizeof *s);
    *s = *c;
    s->v = arena_array(x->a, (size_t)c->numel + 1, sizeof(double));
    for (int64_t i = 0; i < c->numel; i++)
        s->v[i] = k * c->v[i];
    return s;
}

/* Gemm's C as dense's bias of `units` values (NULL after reporting): one value per output
 * unit, or one value for all. A bias per row ([M, 1] or [M, N]) is a constant tensor
 * operand, which .nnd has no way to write. */
static const OnnxConst *gemm_bias(const OnnxNode *n, const Value *cv, int64_t units, double beta) {
    const OnnxConst *c = &cv->c;
    if (n->x->opset < 7 && on_attr_i(n, "broadcast", 0) == 0) {
        on_fail(n, "%s", "broadcast=0 before opset 7 (C of the output's full shape) is not "
                "supported");
        return NULL;
    }
    bool per_unit = c->numel == units && (c->rank == 1 || (c->rank == 2 && c->shape[0] == 1));
    if (!per_unit && c->numel != 1) {
        on_fail(n, "%s", "C with a value per row ([M, 1] or [M, N]) is not supported (it needs "
                "a constant tensor operand, which .nnd cannot write)");
        return NULL;
    }
    OnnxConst *b = arena_alloc(n->x->a, sizeof *b);
    *b = (OnnxConst){.rank = 1, .shape = {units}, .numel = units, .is_float = true};
    b->v = arena_array(n->x->a, (size_t)units + 1, sizeof(double));
    for (int64_t i = 0; i < units; i++)
        b->v[i] = beta * c->v[per_unit ? i : 0];
    return b;
}

/* Gemm with a constant B: dense, with alpha folded into the weight and beta into the bias;
 * transA transposes the input first. */
bool onnx_map_gemm(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0), *bv = on_const_in(n, 1, "B"), *cv = NULL;
    if (on_nin(n) > 2 && on_in(n, 2) && !(cv = on_const_in(n, 2, "C")))
        return false;
    if (!xin || !bv)
        return false;
    double alpha = on_attr_f(n, "alpha", 1), beta = on_attr_f(n, "beta", 1);
    bool trans_a = on_attr_i(n, "transA", 0) != 0, trans_b = on_attr_i(n, "transB", 0) != 0;
    if (bv->c.rank != 2 || (xin->rank != -1 && xin->rank != 2))
        return on_fail(n, "%s", "A and B must be 2-D");
    int64_t units = trans_b ? bv->c.shape[0] : bv->c.shape[1];
    const OnnxConst *bias = cv && beta != 0 ? gemm_bias(n, cv, units, beta) : NULL;
    if (cv && beta != 0 && !bias)
        return false;
    Value *o = on_out(n, 2);
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    const char *prefix = onnx_param_prefix(x, onnx_str(bv->onnx), o->ident);
    if (trans_a)
        onnx_emit(x, "transpose(%s) -> dense(%lld", xin->ident, (long long)units);
    else
        onnx_emit(x, "dense(%s, %lld", xin->ident, (long long)units);
    if (!bias)
        onnx_emit(x, ", bias=false");
    if (strcmp(prefix, o->ident) != 0)
        onnx_emit(x, ", name=\"%s\"", prefix);
    onnx_emit(x, ")\n");
    int64_t wshape[2] = {units, trans_b ? bv->c.shape[1] : bv->c.shape[0]};
    onnx_add_param(x, prefix, "weight", scaled(x, &bv->c, alpha), 2, wshape, !trans_b);
    if (bias)
        onnx_add_param(x, prefix, "bias", bias, 1, &units, false);
    o->dims[0] = xin->rank == 2 ? xin->dims[trans_a ? 1 : 0] : -1;
    o->dims[1] = units;
    return true;
}

bool onnx_map_matmul(const OnnxNode *n) {
    Value *a = on_tensor_in(n, 0), *b = on_in(n, 1);
    if (!a || !b)
        return b || on_nin(n) > 1 ? false : on_fail(n, "%s", "B is missing");
    if (b->kind == VAL_TENSOR) {
        Value *o = on_out(n, a->rank >= 0 && b->rank >= 0 ? (a->rank > b->rank ? a->rank : b->rank)
                                                        : -1);
        if (!o)
            return false;
        onnx_emit(n->x, "matmul(%s, %s)\n", a->ident, b->ident);
        if (a->rank >= 2 && b->rank >= 2) { /* the batch dimensions are not tracked */
            o->dims[o->rank - 2] = a->dims[a->rank - 2];
            o->dims[o->rank - 1] = b->dims[b->rank - 1];
        }
        return true;
    }
    if (b->kind != VAL_CONST || b->c.rank != 2)
        return on_fail(n, "%s", "a constant B must be 2-D");
    Value *o = on_out_like(n, a);
    if (!o)
        return false;
    if (o->rank > 0)
        o->dims[o->rank - 1] = b->c.shape[1];
    const char *prefix = onnx_param_prefix(n->x, "", o->ident);
    onnx_emit(n->x, "dense(%s, %lld, bias=false)\n", a->ident, (long long)b->c.shape[1]);
    int64_t wshape[2] = {b->c.shape[1], b->c.shape[0]};
    onnx_add_param(n->x, prefix, "weight", &b->c, 2, wshape, true);
    return true;
}

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

/* LayerNormalization over the last axis only: the .nnd layernorm's form. */
bool onnx_map_layernorm(const OnnxNode *n) {
    for (size_t i = 1; i < n->p->n_output; i++)
        if (n->p->output[i][0])
            return on_fail(n, "%s", "the Mean and InvStdDev outputs are not supported (only Y)");
    Value *xin = on_tensor_in(n, 0), *sv = on_const_in(n, 1, "the scale Scale"), *bv = NULL;
    if (on_nin(n) > 2 && on_in(n, 2) && !(bv = on_const_in(n, 2, "the bias B")))
        return false;
    if (!xin || !sv)
        return false;
    int64_t axis = on_attr_i(n, "axis", -1);
    if (axis != -1 && !(xin->rank > 0 && axis == xin->rank - 1))
        return on_fail(n, "axis=%s is not supported (only the last axis)",
                       onnx_num(n->x, (double)axis));
    if (sv->c.rank != 1 || !sv->c.is_float)
        return on_fail(n, "%s", "Scale must be a 1-D float constant (one value per element of the "
                       "last axis)");
    if (bv && (bv->c.rank != 1 || bv->c.numel != sv->c.numel || !bv->c.is_float))
        return on_fail(n, "%s", "B must be a 1-D float constant shaped like Scale");
    Value *o = on_out_like(n, xin);
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    const char *prefix = onnx_param_prefix(x, onnx_str(sv->onnx), o->ident);
    onnx_emit(x, "layernorm(%s, eps=%s", xin->ident, onnx_num(x, on_attr_f(n, "epsilon", 1e-5)));
    if (strcmp(prefix, o->ident) != 0)
        onnx_emit(x, ", name=\"%s\"", prefix);
    onnx_emit(x, ")\n");
    onnx_add_param(x, prefix, "weight", &sv->c, 1, sv->c.shape, false);
    if (bv) {
        onnx_add_param(x, prefix, "bias", &bv->c, 1, bv->c.shape, false);
    } else {
        OnnxConst zero = sv->c;
        zero.v = arena_array(x->a, (size_t)zero.numel + 1, sizeof(double));
        onnx_add_param(x, prefix, "bias", &zero, 1, zero.shape, false);
    }
    return true;
}
