/* onnx_map_shape.c: ONNX's shape arithmetic, folded at import time, and Concat.
 *
 * In: Shape, Gather, Concat and Constant nodes. Out: values that never reach the text:
 * constants, and shape vectors whose elements are numbers (sizes known statically) or
 * "dimension i of tensor t" (a symbolic size), as PyTorch's x.view(x.size(0), -1) exports
 * them; Reshape (onnx_map_view.c) reads them. Concat of computed tensors is a concat
 * statement. */
#include <string.h>

#include "onnx_internal.h"

/* Concat of shape vectors folds; of tensors, it is a statement. */
bool onnx_map_concat(const OnnxNode *n) {
    Value *first = on_in(n, 0);
    if (!first)
        return on_nin(n) ? false : on_fail(n, "%s", "no inputs");
    bool all_const = true;
    for (int i = 0; i < on_nin(n) && all_const; i++)
        all_const = on_in(n, i) && on_in(n, i)->kind == VAL_CONST;
    if (all_const)
        return onnx_fold_concat(n, on_attr_i(n, "axis", 1));
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
                for (int64_t j = 0; j < v->c.numel; j++) {
                    e[k] = (ShapeElem){.src = NULL};
                    if (!on_as_int(v->c.v[j], &e[k++].dim))
                        return on_fail(n, "%s", "a shape vector holds a value that is not a size");
                }
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
    Value *o = on_out_like(n, first);
    if (!o)
        return false;
    int64_t axis = on_attr_i(n, "axis", 1);
    onnx_emit(n->x, "concat(%saxis=%lld)\n", args, (long long)axis);
    axis += axis < 0 ? o->rank : 0;
    for (int i = 1; i < on_nin(n) && axis >= 0 && axis < o->rank; i++) {
        const Value *v = on_in(n, i);
        for (int d = 0; d < o->rank; d++)
            if (d != axis && o->dims[d] < 0 && v->rank == o->rank)
                o->dims[d] = v->dims[d];
        o->dims[axis] = o->dims[axis] < 0 || v->rank != o->rank || v->dims[axis] < 0
                            ? -1 : o->dims[axis] + v->dims[axis];
    }
    return true;
}

/* Shape (start and end from opset 15 clamp a slice of it): known sizes as numbers, the
 * others as references to the tensor's dimension. */
bool onnx_map_shape(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0);
    if (!xin)
        return false;
    int r = xin->rank;
    int64_t start = on_attr_i(n, "start", 0), end = on_attr_i(n, "end", r);
    Value *o = onnx_define(n->x, n->p->output[0], VAL_SHAPE);
    if (r < 0) { /* every dimension, not listed */
        if (on_attr(n, "start") || on_attr(n, "end"))
            return on_fail(n, "%s", "start and end need the input's rank, which is not known");
        o->elems = arena_alloc(n->x->a, sizeof *o->elems);
        o->elems[0] = (ShapeElem){.src = xin->onnx, .dim = 0};
        o->nelems = -1;
        return true;
    }
    start = start < 0 ? start + r : start;
    end = end < 0 ? end + r : end;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < start ? start : end > r ? r : end;
    o->elems = arena_array(n->x->a, (size_t)r + 1, sizeof *o->elems);
    o->nelems = (int)(end - start);
    for (int64_t i = start; i < end; i++)
        o->elems[i - start] = xin->dims[i] >= 0 ? (ShapeElem){.src = NULL, .dim = xin->dims[i]}
                                                : (ShapeElem){.src = xin->onnx, .dim = i};
    return true;
}

bool onnx_map_gather(const OnnxNode *n) {
    Value *s = on_in(n, 0);
    if (s && s->kind != VAL_SHAPE) /* an embedding lookup, a slice of a tensor */
        return on_fail(n, "%s", "only Gather from a Shape is supported, not from a tensor or "
                       "a constant");
    Value *idx = on_in_any(n, 1);
    if (idx && idx->kind == VAL_OTHER) /* a graph input that may be given a value */
        idx = on_const_in(n, 1, "the indices");
    if (!s || !idx)
        return false;
    if (s->kind != VAL_SHAPE || idx->kind != VAL_CONST || idx->c.numel != 1 ||
        on_attr_i(n, "axis", 0) != 0)
        return on_fail(n, "%s", "only a constant index into a Shape is supported");
    int64_t i;
    if (!on_as_int(idx->c.v[0], &i))
        return on_fail(n, "%s", "the index is not an integer in range");
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

bool onnx_map_constant(const OnnxNode *n) {
    Value *o;
    if (n->p->n_output < 1)
        return false;
    const Onnx__AttributeProto *a;
    if ((a = on_attr(n, "value")) && a->t) {
        /* Defined only when it reads: later nodes must not use half a constant. */
        OnnxConst c;
        if (!onnx_tensor_const(n->x, a->t, arena_printf(n->x->a, "constant '%s'", n->label), &c))
            return false;
        o = onnx_define(n->x, n->p->output[0], VAL_CONST);
        o->c = c;
        return true;
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
