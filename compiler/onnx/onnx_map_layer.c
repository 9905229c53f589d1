/* onnx_map_layer.c: ONNX's matrix products as .nnd dense and matmul.
 *
 * In: Gemm and MatMul nodes. Out: dense when the weight is a constant (an initializer, a
 * Constant node or a bound graph input), with it as the layer's parameter in PyTorch's
 * layout (Gemm's B transposed unless transB, alpha and beta folded in); matmul when both
 * operands are computed tensors. */
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
 * unit, or one value for all. (A C per row, [M, 1] or [M, N], becomes a param added after
 * the dense: onnx_map_gemm.) */
static const OnnxConst *gemm_bias(const OnnxNode *n, const Value *cv, int64_t units, double beta) {
    const OnnxConst *c = &cv->c;
    if (n->x->opset < 7 && on_attr_i(n, "broadcast", 0) == 0) {
        on_fail(n, "%s", "broadcast=0 before opset 7 (C of the output's full shape) is not "
                "supported");
        return NULL;
    }
    bool per_unit = c->numel == units && (c->rank == 1 || (c->rank == 2 && c->shape[0] == 1));
    if (!per_unit && c->numel != 1) {
        on_fail(n, "%s", "a C with a value per row ([M, 1] or [M, N]) is not supported: it is a "
                "constant tensor operand, and .nnd has numbers, not constant tensors");
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
 * transA transposes the input first. A computed C is added after the dense (times beta). */
bool onnx_map_gemm(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0), *bv = on_const_in(n, 1, "B"), *cv = NULL, *ct = NULL;
    Value *c = on_in_any(n, 2);
    if (c && c->kind == VAL_TENSOR && !c->is_input)
        ct = c;
    else if (on_has(n, 2) && !(cv = on_const_in(n, 2, "C")))
        return false;
    if (!xin || !bv)
        return false;
    double alpha = on_attr_f(n, "alpha", 1), beta = on_attr_f(n, "beta", 1);
    bool trans_a = on_attr_i(n, "transA", 0) != 0, trans_b = on_attr_i(n, "transB", 0) != 0;
    if (bv->c.rank != 2 || (xin->rank != -1 && xin->rank != 2))
        return on_fail(n, "%s", "A and B must be 2-D");
    int64_t units = trans_b ? bv->c.shape[0] : bv->c.shape[1];
    /* A C with a value per row ([M, 1] or [M, N]) is added after the dense, as a param. */
    Value c_tensor;
    const OnnxConst *cc = cv ? &cv->c : NULL;
    if (cc && beta != 0 && cc->numel != 1 && cc->numel != units && cc->is_float &&
        (n->x->opset >= 7 || on_attr_i(n, "broadcast", 0) != 0)) {
        if (!onnx_const_tensor(n->x, n, cv, &c_tensor))
            return false;
        ct = &c_tensor;
        cv = NULL;
    }
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
    onnx_emit(x, ")");
    if (ct && beta != 0 && beta != 1)
        onnx_emit(x, " -> add(mul(%s, %s))", ct->ident, onnx_num(x, beta));
    else if (ct && beta != 0)
        onnx_emit(x, " -> add(%s)", ct->ident);
    onnx_emit(x, "\n");
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
