/* onnx_fold.c: ONNX arithmetic on constants, done at import time.
 *
 * In: Cast, ConstantOfShape and Slice nodes, and Reshape, Concat, Squeeze and Identity of
 * constants (called from their mappers). Out: constants that never reach the text.
 * PyTorch computes some attributes with small constant subgraphs (from opset 11, F.pad's
 * pads are ConstantOfShape, Concat, Reshape, Slice with step -1, Transpose, Reshape and
 * Cast of constants); folding them leaves the Pad a constant to fold into its window.
 * These operators on computed tensors have no .nnd form and are reported as unsupported
 * operators. Sizes are capped so that a hostile file cannot make the importer allocate
 * without bound. */
#include <math.h>
#include <string.h>

#include "onnx_internal.h"

enum { MAX_FOLD_NUMEL = 1 << 20 };

/* An integer from a constant's double, clamped so the conversion is defined. */
static int64_t to_i64(double v) {
    const double lim = 4611686018427387904.0; /* 2^62 */
    return isnan(v) ? 0 : v > lim ? (int64_t)1 << 62 : v < -lim ? -((int64_t)1 << 62) : (int64_t)v;
}

static bool unsupported_on_tensors(const OnnxNode *n) {
    diag_error(n->x->d, n->x->at, "unsupported ONNX operator '%s' (node '%s'; only folded when "
               "its inputs are constants)", n->op, n->label);
    return false;
}

/* The node's input i as a constant, or NULL: a computed tensor or a graph input is
 * reported as this operator being unsupported on tensors, an undefined input by on_in.
 * A graph input in the role of an attribute (Slice's starts, ConstantOfShape's shape) is
 * reported as needing a value instead (onnx_import_file_bound can give it one). */
static const Value *folded_in(const OnnxNode *n, int i, const char *role) {
    Value *v = on_in_any(n, i);
    if (role && v && v->is_input)
        return on_const_in(n, i, role);
    if (v && v->kind != VAL_CONST) {
        unsupported_on_tensors(n);
        return NULL;
    }
    if (!v && i < on_nin(n) && !n->p->input[i][0])
        on_fail(n, "%s", "an input is missing");
    return v;
}

static Value *const_out(const OnnxNode *n, const OnnxConst *like, int64_t numel) {
    Value *o = onnx_define(n->x, n->p->output[0], VAL_CONST);
    if (like)
        o->c = *like;
    o->c.numel = numel;
    o->c.v = arena_array(n->x->a, (size_t)numel + 1, sizeof(double));
    return o;
}

bool onnx_fold_copy(const OnnxNode *n, const Value *src, const int64_t *shape, int rank) {
    if (n->p->n_output < 1)
        return false;
    Value *o = onnx_define(n->x, n->p->output[0], VAL_CONST);
    o->c = src->c;
    o->c.rank = rank;
    memcpy(o->c.shape, shape, (size_t)rank * sizeof *shape);
    return true;
}

/* Cast to a float or integer type: integers truncate toward zero, BOOL is 0 or 1. */
bool onnx_map_cast(const OnnxNode *n) {
    const Value *v = folded_in(n, 0, NULL);
    if (!v)
        return false;
    int64_t to = on_attr_i(n, "to", 0);
    bool is_float = to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
                    to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    bool is_int = to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ||
                  to == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ||
                  to == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL;
    if (!is_float && !is_int)
        return on_fail(n, "a cast to %s is not supported", onnx_dtype_name((int)to));
    Value *o = const_out(n, &v->c, v->c.numel);
    o->c.is_float = is_float;
    for (int64_t i = 0; i < v->c.numel; i++) {
        double x = v->c.v[i];
        o->c.v[i] = is_float ? (to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? (float)x : x)
                    : to == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL ? x != 0
                                                                : (double)to_i64(trunc(x));
    }
    return true;
}

/* ConstantOfShape: a constant of the given shape, every element the value attribute's
 * (float 0 without it). */
bool onnx_map_constant_of_shape(const OnnxNode *n) {
    const Value *s = folded_in(n, 0, "the shape");
    if (!s)
        return false;
    OnnxConst fill = {.numel = 1, .is_float = true, .v = (double[]){0}};
    const Onnx__AttributeProto *a = on_attr(n, "value");
    if (a && a->t && !onnx_tensor_const(n->x, a->t, "ConstantOfShape's value", &fill))
        return false;
    if (fill.numel != 1 || s->c.rank != 1 || s->c.numel > MAX_RANK)
        return on_fail(n, "%s", "the shape must be 1-D (at most 8 sizes) and the value one "
                       "number");
    OnnxConst c = {.rank = (int)s->c.numel, .is_float = fill.is_float};
    int64_t numel = 1;
    for (int i = 0; i < c.rank; i++) {
        c.shape[i] = to_i64(s->c.v[i]);
        if (c.shape[i] < 0 || (numel *= c.shape[i]) > MAX_FOLD_NUMEL)
            return on_fail(n, "%s", "the shape holds a negative or too large size");
    }
    Value *o = const_out(n, &c, numel);
    for (int64_t i = 0; i < numel; i++)
        o->c.v[i] = fill.v[0];
    return true;
}

/* Slice's starts, ends, axes and steps: attributes before opset 10, inputs from. Their
 * count, -1 after reporting. */
static int slice_args(const OnnxNode *n, int64_t (*arg)[MAX_RANK], int rank) {
    static const char *const names[] = {"starts", "ends", "axes", "steps"};
    int k = -1;
    for (int j = 0; j < 4; j++) {
        int m;
        if (n->x->opset < 10) {
            m = j < 3 ? on_attr_ints(n, names[j], arg[j], MAX_RANK) : -1;
        } else {
            const Value *v = on_has(n, j + 1) ? folded_in(n, j + 1, names[j]) : NULL;
            if (on_has(n, j + 1) && !v)
                return -1;
            m = v ? (int)(v->c.numel > MAX_RANK ? MAX_RANK + 1 : v->c.numel) : -1;
            for (int i = 0; v && i < m && i < MAX_RANK; i++)
                arg[j][i] = to_i64(v->c.v[i]);
        }
        if (j < 2 && m < 0) {
            on_fail(n, "%s", "starts and ends are missing");
            return -1;
        }
        if (m > MAX_RANK || (k >= 0 && m >= 0 && m != k)) {
            on_fail(n, "%s", "starts, ends, axes and steps must have one value per axis sliced");
            return -1;
        }
        for (int i = 0; m < 0 && i < k; i++) /* defaults: axes 0, 1, ...; steps 1 */
            arg[j][i] = j == 2 ? i : 1;
        k = j == 0 ? m : k;
    }
    for (int i = 0; i < k; i++) {
        arg[2][i] += arg[2][i] < 0 ? rank : 0;
        if (arg[2][i] < 0 || arg[2][i] >= rank || arg[3][i] == 0) {
            on_fail(n, "%s", "an axis is out of range, or a step is 0");
            return -1;
        }
    }
    return k;
}

/* One axis of size d sliced from start to end by step (ONNX's clamping): the first index
 * and the count. */
static void slice_axis(int64_t d, int64_t start, int64_t end, int64_t step, int64_t *first,
                       int64_t *count) {
    start += start < 0 ? d : 0;
    end += end < 0 ? d : 0;
    int64_t lo = step > 0 ? 0 : -1, hi = step > 0 ? d : d - 1;
    start = start < 0 ? 0 : start > hi ? hi : start;
    end = end < lo ? lo : end > hi ? hi : end;
    int64_t span = step > 0 ? end - start : start - end, s = step > 0 ? step : -step;
    *first = start;
    *count = span > 0 ? (span + s - 1) / s : 0;
}

bool onnx_map_slice(const OnnxNode *n) {
    const Value *v = folded_in(n, 0, NULL);
    int64_t arg[4][MAX_RANK];
    int k = v ? slice_args(n, arg, v->c.rank) : -1;
    if (k < 0)
        return false;
    int64_t first[MAX_RANK] = {0}, step[MAX_RANK], stride[MAX_RANK], idx[MAX_RANK] = {0};
    OnnxConst c = v->c;
    for (int i = 0; i < c.rank; i++)
        step[i] = 1;
    for (int i = 0; i < k; i++) {
        int a = (int)arg[2][i];
        step[a] = arg[3][i];
        slice_axis(v->c.shape[a], arg[0][i], arg[1][i], step[a], &first[a], &c.shape[a]);
    }
    int64_t numel = 1, size = 1;
    for (int i = c.rank - 1; i >= 0; i--) {
        stride[i] = size;
        size *= v->c.shape[i];
        numel *= c.shape[i];
    }
    Value *o = const_out(n, &c, numel);
    for (int64_t j = 0; j < numel; j++) { /* idx: the output index, odometer order */
        int64_t src = 0;
        for (int i = 0; i < c.rank; i++)
            src += (first[i] + idx[i] * step[i]) * stride[i];
        o->c.v[j] = v->c.v[src];
        for (int i = c.rank - 1; i >= 0 && ++idx[i] == c.shape[i]; i--)
            idx[i] = 0;
    }
    return true;
}

/* Concat of constants along axis; false after reporting shapes that do not fit. */
bool onnx_fold_concat(const OnnxNode *n, int64_t axis) {
    const Value *first = on_in(n, 0);
    OnnxConst c = first->c;
    axis += axis < 0 ? c.rank : 0;
    if (axis < 0 || axis >= c.rank)
        return on_fail(n, "%s", "the axis is out of range");
    c.shape[axis] = 0;
    for (int i = 0; i < on_nin(n); i++) {
        const Value *v = on_in(n, i);
        bool fits = v && v->kind == VAL_CONST && v->c.rank == c.rank;
        for (int d = 0; fits && d < c.rank; d++)
            fits = d == axis || v->c.shape[d] == c.shape[d];
        if (!fits)
            return on_fail(n, "%s", "the constants' shapes do not fit together");
        c.shape[axis] += v->c.shape[axis];
        c.is_float |= v->c.is_float;
    }
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < c.rank; d++) {
        if (d < axis)
            outer *= c.shape[d];
        else if (d > axis)
            inner *= c.shape[d];
    }
    Value *o = const_out(n, &c, outer * c.shape[axis] * inner);
    int64_t at = 0;
    for (int64_t r = 0; r < outer; r++)
        for (int i = 0; i < on_nin(n); i++) {
            const OnnxConst *s = &on_in(n, i)->c;
            int64_t chunk = s->shape[axis] * inner;
            memcpy(o->c.v + at, s->v + r * chunk, (size_t)chunk * sizeof(double));
            at += chunk;
        }
    return true;
}
