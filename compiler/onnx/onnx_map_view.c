/* onnx_map_view.c: ONNX's views as .nnd reshape, flatten and transpose (SPEC 1.4).
 *
 * In: Reshape, Flatten, Unsqueeze, Squeeze and Transpose nodes. Out: one view statement
 * each, its sizes written as literals where onnx_dims.c knows them: ONNX's 0 ("copy this
 * input dimension"), Flatten's two-way split at any axis and the inserted or removed 1s of
 * Unsqueeze and Squeeze all become a reshape whose one unknown size (a symbolic batch) is
 * -1. A target shape with two unknown sizes is a dynamic shape, reported as such. On
 * constants (a weight exported as Transpose(W), an unsqueezed shape element) the same
 * operators fold at import time. */
#include <string.h>

#include "onnx_internal.h"

/* reshape(x, target) where target holds sizes, -1 for the one not known; false after
 * reporting two or more unknown sizes. */
static bool emit_reshape(const OnnxNode *n, const Value *xin, const int64_t *target, int k) {
    int unknown = 0;
    for (int i = 0; i < k; i++)
        unknown += target[i] < 0;
    if (unknown > 1)
        return on_fail(n, "%s", "the target shape has several sizes that are not known "
                       "statically (a dynamic shape), which is not supported");
    Value *o = on_out(n, k);
    if (!o)
        return false;
    memcpy(o->dims, target, (size_t)k * sizeof *target);
    onnx_emit(n->x, "reshape(%s, %s)\n", xin->ident, on_ints_str(n->x, target, k));
    return true;
}

static int fail_len(const OnnxNode *n, const char *why) {
    on_fail(n, "%s", why);
    return -1;
}

/* Reshape's target: a constant, or a shape vector folded from Shape/Gather/Concat whose
 * unknown elements are this input's own dimensions at the same index (PyTorch's
 * x.view(x.size(0), -1)). dims[i] is a size or -1; copy[i] marks ONNX's 0, "input
 * dimension i". Its length, or -1 after reporting. */
static int reshape_target(const OnnxNode *n, const Value *xin, const Value *s, int64_t *dims,
                          bool *copy) {
    bool allowzero = on_attr_i(n, "allowzero", 0) != 0;
    int k;
    if (s && (s->kind == VAL_OTHER || (s->kind == VAL_TENSOR && s->is_input))) {
        on_const_in(n, 1, "the shape"); /* a graph input: it may be given a value */
        return -1;
    } else if (s && s->kind == VAL_CONST) {
        if (s->c.rank != 1 || s->c.numel > MAX_RANK)
            return fail_len(n, "the shape must be 1-D, of at most 8 values");
        k = (int)s->c.numel;
        for (int i = 0; i < k; i++) {
            if (!on_as_int(s->c.v[i], &dims[i]))
                return fail_len(n, "the shape holds a value that is not a size");
            copy[i] = dims[i] == 0 && !allowzero;
        }
    } else if (s && s->kind == VAL_SHAPE && s->nelems >= 0 && s->nelems <= MAX_RANK) {
        k = s->nelems;
        for (int i = 0; i < k; i++) {
            const ShapeElem *e = &s->elems[i];
            if (e->src && (strcmp(e->src, xin->onnx) != 0 || e->dim != i))
                return fail_len(n, "the shape depends on another tensor's symbolic size (a "
                                   "dynamic shape), which is not supported");
            dims[i] = e->src ? 0 : e->dim;
            copy[i] = e->src || (dims[i] == 0 && !allowzero);
        }
    } else {
        return fail_len(n, s ? "the shape must be a constant, or folded from Shape, Gather, "
                               "Unsqueeze and Concat"
                             : "the shape input is missing");
    }
    for (int i = 0; i < k; i++)
        if (!copy[i] && dims[i] < -1)
            return fail_len(n, "the shape holds a negative size");
    return k;
}

/* The target with ONNX's 0s and -1 resolved from the input's known sizes: a copied
 * dimension becomes its size, and the inferred one is computed when every other size is
 * known, or when the one symbolic input dimension is copied to the output (it cancels).
 * What stays unknown is -1. */
static void resolve_target(const Value *xin, int64_t *t, const bool *copy, int k) {
    int infer = -1, sym = -1;
    for (int i = 0; i < k; i++) {
        if (copy[i])
            t[i] = i < xin->rank ? xin->dims[i] : -1;
        if (copy[i] && t[i] < 0)
            sym = i;
        else if (!copy[i] && t[i] == -1)
            infer = i;
    }
    if (infer < 0 || xin->rank < 0)
        return;
    int64_t have = 1, want = 1; /* the input's and the target's known sizes, multiplied */
    for (int i = 0; i < xin->rank; i++) {
        if (i == sym)
            continue;
        if (xin->dims[i] < 0)
            return;
        have *= xin->dims[i];
    }
    for (int i = 0; i < k; i++)
        if (i != infer && i != sym)
            want *= t[i];
    if (want > 0 && have % want == 0)
        t[infer] = have / want;
}

/* A constant's shape as a tensor Value's rank and sizes, for the view rules. */
static Value const_view(const Value *c) {
    Value v = {.onnx = c->onnx, .kind = VAL_TENSOR, .rank = c->c.rank};
    memcpy(v.dims, c->c.shape, sizeof v.dims);
    return v;
}

bool onnx_map_reshape(const OnnxNode *n) {
    Value *xin = on_in(n, 0);
    if (xin && xin->kind == VAL_CONST) { /* folded: the values keep their order */
        Value view = const_view(xin);
        int64_t dims[MAX_RANK];
        bool copy[MAX_RANK] = {false};
        int k = reshape_target(n, &view, on_in_any(n, 1), dims, copy);
        if (k < 0)
            return false;
        resolve_target(&view, dims, copy, k);
        int64_t numel = 1;
        for (int i = 0; i < k; i++)
            numel *= dims[i];
        if (numel != xin->c.numel)
            return on_fail(n, "%s", "the constant does not have the target shape's size");
        return onnx_fold_copy(n, xin, dims, k);
    }
    if (!(xin = on_tensor_in(n, 0)))
        return false;
    int64_t dims[MAX_RANK];
    bool copy[MAX_RANK] = {false};
    int k = reshape_target(n, xin, on_in_any(n, 1), dims, copy);
    if (k < 0)
        return false;
    int lead = 0; /* [0, 0, ..., -1]: flatten(x, axis), whatever the sizes */
    while (lead < k && copy[lead])
        lead++;
    if (lead > 0 && k == lead + 1 && dims[lead] == -1) {
        Value *o = on_out_like(n, xin);
        if (!o)
            return false;
        o->rank = k;
        o->dims[lead] = onnx_dims_product(xin, lead, xin->rank);
        onnx_emit(n->x, "flatten(%s, axis=%d)\n", xin->ident, lead);
        return true;
    }
    resolve_target(xin, dims, copy, k);
    return emit_reshape(n, xin, dims, k);
}

/* ONNX's Flatten: [product of the sizes before axis, product of the rest], always 2-D. */
bool onnx_map_flatten(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0);
    if (!xin)
        return false;
    int64_t axis = on_attr_i(n, "axis", 1);
    if (axis < 0 && xin->rank >= 0)
        axis += xin->rank;
    if (xin->rank < 0 && axis != 0 && axis != 1)
        return on_fail(n, "%s", "an axis other than 0 or 1 needs the input's rank, which is not "
                       "known (a dynamic shape)");
    if (axis < 0 || (xin->rank >= 0 && axis > xin->rank))
        return on_fail(n, "%s", "the axis is out of range");
    int64_t t[2] = {onnx_dims_product(xin, 0, (int)axis),
                    onnx_dims_product(xin, (int)axis, xin->rank)};
    if (axis == 1 && xin->rank != 1) { /* torch.flatten(x, 1): any sizes */
        Value *o = on_out(n, 2);
        if (!o)
            return false;
        o->dims[0] = xin->rank >= 1 ? xin->dims[0] : -1;
        o->dims[1] = t[1];
        onnx_emit(n->x, "flatten(%s)\n", xin->ident);
        return true;
    }
    if (axis == 0 || axis == xin->rank) /* [1, all] or [all, 1] */
        t[axis == 0 ? 0 : 1] = 1;
    return emit_reshape(n, xin, t, 2);
}

/* A constant transposed by perm, as a new constant (a weight exported as Transpose(W)). */
static void transpose_const(OnnxCtx *x, const OnnxConst *c, const int64_t *perm, Value *o) {
    o->c = *c;
    o->c.v = arena_array(x->a, (size_t)c->numel + 1, sizeof(double));
    int64_t stride[MAX_RANK], idx[MAX_RANK] = {0}, size = 1;
    for (int i = c->rank - 1; i >= 0; i--) {
        stride[i] = size;
        size *= c->shape[i];
    }
    for (int i = 0; i < c->rank; i++)
        o->c.shape[i] = c->shape[perm[i]];
    for (int64_t k = 0; k < c->numel; k++) { /* idx: the output index, odometer order */
        int64_t src = 0;
        for (int i = 0; i < c->rank; i++)
            src += idx[i] * stride[perm[i]];
        o->c.v[k] = c->v[src];
        for (int i = c->rank - 1; i >= 0 && ++idx[i] == o->c.shape[i]; i--)
            idx[i] = 0;
    }
}

/* perm into out (the reversal when absent and the rank known); false after reporting. */
static bool transpose_perm(const OnnxNode *n, int rank, int64_t *out, int *k) {
    *k = on_attr_ints(n, "perm", out, MAX_RANK);
    if (*k > MAX_RANK)
        return on_fail(n, "%s", "perm is too long");
    if (rank < 0)
        return true;
    for (int i = 0; *k < 0 && i < rank; i++)
        out[i] = rank - 1 - i;
    bool seen[MAX_RANK] = {false}, ok = *k < 0 || *k == rank;
    for (int i = 0; i < rank && ok; i++) {
        ok = out[i] >= 0 && out[i] < rank && !seen[out[i]];
        if (ok)
            seen[out[i]] = true;
    }
    return ok ? true : on_fail(n, "%s", "perm is not a permutation of the input's dimensions");
}

bool onnx_map_transpose(const OnnxNode *n) {
    Value *xin = on_in(n, 0);
    if (!xin)
        return on_nin(n) ? false : on_fail(n, "%s", "an input is missing");
    int64_t perm[MAX_RANK];
    int k;
    int rank = xin->kind == VAL_CONST ? xin->c.rank : xin->kind == VAL_TENSOR ? xin->rank : -1;
    if (!transpose_perm(n, rank, perm, &k))
        return false;
    if (xin->kind == VAL_CONST) {
        transpose_const(n->x, &xin->c, perm, onnx_define(n->x, n->p->output[0], VAL_CONST));
        return true;
    }
    if (!(xin = on_tensor_in(n, 0)))
        return false;
    Value *o = on_out(n, xin->rank);
    if (!o)
        return false;
    for (int i = 0; i < rank; i++)
        o->dims[i] = xin->dims[perm[i]];
    if (k < 0)
        onnx_emit(n->x, "transpose(%s)\n", xin->ident);
    else
        onnx_emit(n->x, "transpose(%s, perm=%s)\n", xin->ident, on_ints_str(n->x, perm, k));
    return true;
}

/* Unsqueeze's and Squeeze's axes: the attribute before opset 13, a constant input from 13.
 * Their count (-2 when absent), or -1 after reporting. */
static int view_axes(const OnnxNode *n, int64_t *axes) {
    if (n->x->opset < 13) {
        int k = on_attr_ints(n, "axes", axes, MAX_RANK);
        return k > MAX_RANK ? on_fail(n, "%s", "too many axes") - 1 : k < 0 ? -2 : k;
    }
    if (!on_has(n, 1))
        return -2;
    Value *a = on_const_in(n, 1, "axes");
    if (!a)
        return -1;
    if (a->c.rank > 1 || a->c.numel > MAX_RANK)
        return fail_len(n, "axes must be a 1-D list of at most 8 values");
    for (int64_t i = 0; i < a->c.numel; i++)
        if (!on_as_int(a->c.v[i], &axes[i]))
            return fail_len(n, "the axes hold a value that is not an integer");
    return (int)a->c.numel;
}

/* The sizes of x (rank r) with 1s inserted at axes (of the output's rank r + k); false
 * after reporting a bad axis. */
static bool unsqueezed(const OnnxNode *n, const int64_t *x, int r, const int64_t *axes, int k,
                       int64_t *out) {
    int rank = r + k;
    bool one[MAX_RANK] = {false};
    if (rank > MAX_RANK)
        return on_fail(n, "%s", "the result has more than 8 dimensions");
    for (int i = 0; i < k; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (a < 0 || a >= rank || one[a])
            return on_fail(n, "%s", "an axis is out of range or repeated");
        one[a] = true;
    }
    for (int i = 0, j = 0; i < rank; i++)
        out[i] = one[i] ? 1 : x[j++];
    return true;
}

bool onnx_map_unsqueeze(const OnnxNode *n) {
    Value *s = on_in(n, 0);
    if (!s)
        return on_nin(n) ? false : on_fail(n, "%s", "an input is missing");
    int64_t axes[MAX_RANK], dims[MAX_RANK];
    int k = view_axes(n, axes);
    if (k == -1)
        return false;
    if (s->kind == VAL_SHAPE && s->nelems == 1) { /* a folded size stays one element */
        Value *o = onnx_define(n->x, n->p->output[0], VAL_SHAPE);
        o->elems = s->elems;
        o->nelems = 1;
        return true;
    }
    if (k < 0)
        return on_fail(n, "%s", "axes are missing");
    if (s->kind == VAL_CONST) {
        Value *o = onnx_define(n->x, n->p->output[0], VAL_CONST);
        o->c = s->c;
        o->c.rank = s->c.rank + k;
        return unsqueezed(n, s->c.shape, s->c.rank, axes, k, o->c.shape);
    }
    if (s->kind != VAL_TENSOR || s->rank < 0)
        return on_fail(n, "%s", "only tensors of known rank and folded shape elements can be "
                       "unsqueezed");
    return unsqueezed(n, s->dims, s->rank, axes, k, dims) &&
           emit_reshape(n, s, dims, s->rank + k);
}

bool onnx_map_squeeze(const OnnxNode *n) {
    Value *xin = on_in(n, 0), view;
    if (xin && xin->kind == VAL_CONST) { /* folded below */
        view = const_view(xin);
        xin = &view;
    } else {
        xin = on_tensor_in(n, 0);
    }
    int64_t axes[MAX_RANK], dims[MAX_RANK];
    int k = xin ? view_axes(n, axes) : -1;
    if (k == -1)
        return false;
    if (xin->rank < 0)
        return on_fail(n, "%s", "the input's rank is not known (a dynamic shape)");
    bool drop[MAX_RANK] = {false};
    for (int i = 0; i < k; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + xin->rank : axes[i];
        if (a < 0 || a >= xin->rank || xin->dims[a] > 1)
            return on_fail(n, "%s", "an axis is out of range or not of size 1");
        drop[a] = true;
    }
    int r = 0;
    for (int i = 0; i < xin->rank; i++) {
        if (k < 0 && xin->dims[i] < 0)
            return on_fail(n, "%s", "without axes, every size must be known (a symbolic size "
                           "may be 1)");
        if (!drop[i] && !(k < 0 && xin->dims[i] == 1))
            dims[r++] = xin->dims[i];
    }
    if (xin == &view)
        return onnx_fold_copy(n, on_in(n, 0), dims, r);
    return emit_reshape(n, xin, dims, r);
}
