/* onnx_map_shape.c: ONNX's shape operators: folded at import time, or .nnd views.
 *
 * In: Reshape, Flatten, Transpose, Concat, Shape, Gather, Unsqueeze and Constant nodes.
 * Out: reshape, flatten, transpose and concat statements for computed tensors; constants
 * (a transposed weight) and shape vectors (Shape, Gather, Unsqueeze, Concat: PyTorch's
 * x.view(x.size(0), -1)) are folded into values that never reach the text. */
#include <string.h>

#include "onnx_internal.h"

/* Reshape to dims, where copy[i] means "dimension i of the input" (ONNX's 0). */
static bool emit_reshape(const OnnxNode *n, Value *xin, const int64_t *dims, const bool *copy,
                         int k) {
    OnnxCtx *x = n->x;
    int ncopy = 0, nlead = 0, nminus = 0;
    for (int i = 0; i < k; i++) {
        ncopy += copy[i];
        nminus += !copy[i] && dims[i] == -1;
        if (copy[i] && nlead == i)
            nlead++;
    }
    if (k == nlead + 1 && !copy[k - 1] && dims[k - 1] == -1 && nlead > 0) {
        Value *o = on_out(n, k);
        if (!o)
            return false;
        onnx_emit(x, "flatten(%s, axis=%d)\n", xin->ident, nlead);
        return true;
    }
    if (ncopy > 1 || (ncopy == 1 && nminus > 0))
        return on_fail(n, "%s", "the target shape keeps several input dimensions (a dynamic "
                       "shape), which is not supported");
    int64_t lit[MAX_RANK];
    for (int i = 0; i < k; i++)
        lit[i] = copy[i] ? -1 : dims[i];
    Value *o = on_out(n, k);
    if (!o)
        return false;
    onnx_emit(x, "reshape(%s, %s)\n", xin->ident, on_ints_str(x, lit, k));
    return true;
}

bool onnx_map_reshape(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0), *s = on_in(n, 1);
    if (!xin)
        return false;
    int64_t dims[MAX_RANK];
    bool copy[MAX_RANK] = {false};
    int k;
    bool allowzero = on_attr_i(n, "allowzero", 0) != 0;
    if (!s && n->x->opset < 5) {
        return on_fail(n, "%s", "the shape attribute form is not supported");
    } else if (s && s->kind == VAL_CONST) {
        if (s->c.rank != 1 || s->c.numel > MAX_RANK)
            return on_fail(n, "%s", "the shape must be 1-D, of at most 8 values");
        k = (int)s->c.numel;
        for (int i = 0; i < k; i++) {
            dims[i] = (int64_t)s->c.v[i];
            copy[i] = dims[i] == 0 && !allowzero;
        }
    } else if (s && s->kind == VAL_SHAPE && s->nelems >= 0 && s->nelems <= MAX_RANK) {
        k = s->nelems;
        for (int i = 0; i < k; i++) {
            const ShapeElem *e = &s->elems[i];
            if (e->src && (strcmp(e->src, xin->onnx) != 0 || e->dim != i))
                return on_fail(n, "%s", "the shape depends on another tensor's size (a dynamic "
                               "shape), which is not supported");
            dims[i] = e->src ? 0 : e->dim;
            copy[i] = e->src || (dims[i] == 0 && !allowzero);
        }
    } else {
        return on_fail(n, "%s", "the shape must be a constant, or folded from Shape, Gather, "
                       "Unsqueeze and Concat");
    }
    for (int i = 0; i < k; i++)
        if (!copy[i] && dims[i] < -1)
            return on_fail(n, "%s", "the shape holds a negative size");
    return emit_reshape(n, xin, dims, copy, k);
}

bool onnx_map_flatten(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0);
    if (!xin)
        return false;
    int64_t axis = on_attr_i(n, "axis", 1);
    if (axis < 0 && xin->rank > 0)
        axis += xin->rank;
    if (axis == 0 || axis == xin->rank) { /* [1, all] or [all, 1] */
        Value *o = on_out(n, 2);
        if (!o)
            return false;
        onnx_emit(n->x, "reshape(%s, %s)\n", xin->ident, axis == 0 ? "[1, -1]" : "[-1, 1]");
        return true;
    }
    if (axis != 1 && !(axis == xin->rank - 1 && axis > 0))
        return on_fail(n, "%s", "only axis=0, axis=1 and the last axis are supported");
    if (axis != 1)
        return on_fail(n, "%s", "axis other than 0 or 1 needs static sizes, which are not tracked");
    Value *o = on_out(n, 2);
    if (!o)
        return false;
    onnx_emit(n->x, "flatten(%s)\n", xin->ident);
    return true;
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

/* perm into out (the reversal when absent); false after reporting a bad one. */
static bool transpose_perm(const OnnxNode *n, int rank, int64_t *out, int *k) {
    *k = on_attr_ints(n, "perm", out, MAX_RANK);
    if (*k > MAX_RANK)
        return on_fail(n, "%s", "perm is too long");
    if (*k < 0 || rank < 0)
        return true;
    bool seen[MAX_RANK] = {false}, ok = *k == rank;
    for (int i = 0; i < *k && ok; i++) {
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
        for (int i = 0; k < 0 && i < rank; i++)
            perm[i] = rank - 1 - i;
        transpose_const(n->x, &xin->c, perm, onnx_define(n->x, n->p->output[0], VAL_CONST));
        return true;
    }
    if (!(xin = on_tensor_in(n, 0)))
        return false;
    Value *o = on_out(n, xin->rank);
    if (!o)
        return false;
    if (k < 0)
        onnx_emit(n->x, "transpose(%s)\n", xin->ident);
    else
        onnx_emit(n->x, "transpose(%s, perm=%s)\n", xin->ident, on_ints_str(n->x, perm, k));
    return true;
}

/* Concat of shape vectors folds; of tensors, it is a statement. */
bool onnx_map_concat(const OnnxNode *n) {
    Value *first = on_in(n, 0);
    if (!first)
        return on_nin(n) ? false : on_fail(n, "%s", "no inputs");
    if (first->kind != VAL_TENSOR) {
        ShapeElem *e = arena_array(n->x->a, (size_t)on_nin(n) * MAX_RANK + 1, sizeof *e);
        int k = 0;
        for (int i = 0; i < on_nin(n); i++) {
            Value *v = on_in(n, i);
            if (!v)
                return false;
            if (v->kind == VAL_SHAPE && v->nelems >= 0 && v->nelems <= MAX_RANK) {
                memcpy(e + k, v->elems, (size_t)v->nelems * sizeof *e);
                k += v->nelems;
            } else if (v->kind == VAL_CONST && v->c.rank == 1 && v->c.numel <= MAX_RANK) {
                for (int64_t j = 0; j < v->c.numel; j++)
                    e[k++] = (ShapeElem){.src = NULL, .dim = (int64_t)v->c.v[j]};
            } else {
                return on_fail(n, "%s", "only concatenations of tensors, or of 1-D shape vectors, "
                               "are supported");
            }
        }
        Value *o = onnx_define(n->x, n->p->output[0], VAL_SHAPE);
        o->elems = e;
        o->nelems = k;
        return true;
    }
    const char *args = "";
    for (int i = 0; i < on_nin(n); i++) {
        Value *v = on_tensor_in(n, i);
        if (!v)
            return false;
        args = arena_printf(n->x->a, "%s%s, ", args, v->ident);
    }
    Value *o = on_out(n, first->rank);
    if (!o)
        return false;
    onnx_emit(n->x, "concat(%saxis=%lld)\n", args, (long long)on_attr_i(n, "axis", 1));
    return true;
}

bool onnx_map_shape(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0);
    if (!xin || n->p->n_output < 1)
        return false;
    if (on_attr(n, "start") || on_attr(n, "end"))
        return on_fail(n, "%s", "start and end are not supported");
    Value *o = onnx_define(n->x, n->p->output[0], VAL_SHAPE);
    o->elems = arena_alloc(n->x->a, sizeof *o->elems);
    o->elems[0] = (ShapeElem){.src = xin->onnx, .dim = 0};
    o->nelems = -1;
    if (xin->rank >= 0 && xin->rank <= MAX_RANK) { /* known rank: list the dimensions */
        o->elems = arena_array(n->x->a, (size_t)xin->rank + 1, sizeof *o->elems);
        for (int i = 0; i < xin->rank; i++)
            o->elems[i] = (ShapeElem){.src = xin->onnx, .dim = i};
        o->nelems = xin->rank;
    }
    return true;
}

bool onnx_map_gather(const OnnxNode *n) {
    Value *s = on_in(n, 0), *idx = on_in(n, 1);
    if (!s || !idx)
        return false;
    if (s->kind != VAL_SHAPE || idx->kind != VAL_CONST || idx->c.numel != 1 ||
        on_attr_i(n, "axis", 0) != 0)
        return on_fail(n, "%s", "only a constant index into a Shape is supported");
    int64_t i = (int64_t)idx->c.v[0];
    if (s->nelems >= 0 && i < 0)
        i += s->nelems;
    if (i < 0 || (s->nelems >= 0 && i >= s->nelems))
        return on_fail(n, "%s", "the index is out of range");
    Value *o = onnx_define(n->x, n->p->output[0], VAL_SHAPE);
    o->elems = arena_alloc(n->x->a, sizeof *o->elems);
    o->elems[0] = s->nelems >= 0 ? s->elems[i] : (ShapeElem){.src = s->elems[0].src, .dim = i};
    o->nelems = 1; /* a scalar, or a 1-vector: Unsqueeze treats both alike */
    return true;
}

bool onnx_map_unsqueeze(const OnnxNode *n) {
    Value *s = on_in(n, 0);
    if (!s)
        return false;
    if (s->kind == VAL_SHAPE && s->nelems == 1) {
        Value *o = onnx_define(n->x, n->p->output[0], VAL_SHAPE);
        o->elems = s->elems;
        o->nelems = 1;
        return true;
    }
    if (s->kind == VAL_CONST && s->c.numel == 1) {
        Value *o = onnx_define(n->x, n->p->output[0], VAL_CONST);
        o->c = s->c;
        o->c.rank = 1;
        o->c.shape[0] = 1;
        return true;
    }
    return on_fail(n, "%s", "only the unsqueezing of a folded shape element is supported");
}

bool onnx_map_constant(const OnnxNode *n) {
    Value *o;
    if (n->p->n_output < 1)
        return false;
    const Onnx__AttributeProto *a;
    if ((a = on_attr(n, "value")) && a->t) {
        o = onnx_define(n->x, n->p->output[0], VAL_CONST);
        return onnx_tensor_const(n->x, a->t, arena_printf(n->x->a, "constant '%s'", n->label),
                                 &o->c);
    }
    o = onnx_define(n->x, n->p->output[0], VAL_CONST);
    o->c.v = arena_array(n->x->a, MAX_RANK + 1, sizeof(double));
    if ((a = on_attr(n, "value_float")) && a->has_f) {
        o->c.v[0] = a->f, o->c.numel = 1, o->c.is_float = true;
    } else if ((a = on_attr(n, "value_int")) && a->has_i) {
        o->c.v[0] = (double)a->i, o->c.numel = 1;
    } else if ((a = on_attr(n, "value_ints")) && a->n_ints <= MAX_RANK) {
        o->c.rank = 1, o->c.numel = o->c.shape[0] = (int64_t)a->n_ints;
        for (size_t i = 0; i < a->n_ints; i++)
            o->c.v[i] = (double)a->ints[i];
    } else {
        return on_fail(n, "%s", "only value, value_float, value_int and short value_ints are "
                       "supported");
    }
    return true;
}
