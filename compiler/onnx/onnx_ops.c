/* onnx_ops.c: one ONNX node as one .nnd statement (SPEC 1.4); see onnx_import.h.
 *
 * Each mapper reads its node's inputs (tensors of the text, constants, folded shapes),
 * checks the attributes the .nnd operator can express, and writes the statement, or
 * reports what cannot be expressed, naming the operator and the node. Constant, Shape,
 * Gather, Unsqueeze and Concat of shape vectors write nothing: they are folded. */
#include <math.h>
#include <string.h>

#include "onnx_internal.h"

typedef struct Node {
    OnnxCtx *x;
    const Onnx__NodeProto *p;
    const char *op, *label;
} Node;

static bool fail(const Node *n, const char *fmt, const char *what) {
    /* Quiet after an input's node failed: that node's error is the one that matters. */
    for (size_t i = 0; i < n->p->n_input; i++)
        if (n->p->input[i][0] && !onnx_value(n->x, n->p->input[i]) && diag_count(n->x->d) > 0)
            return false;
    diag_error(n->x->d, n->x->at, "ONNX operator '%s' (node '%s'): %s", n->op, n->label,
               arena_printf(n->x->a, fmt, what));
    return false;
}

static const Onnx__AttributeProto *attr(const Node *n, const char *name) {
    for (size_t i = 0; i < n->p->n_attribute; i++)
        if (strcmp(onnx_str(n->p->attribute[i]->name), name) == 0)
            return n->p->attribute[i];
    return NULL;
}

static int64_t attr_i(const Node *n, const char *name, int64_t def) {
    const Onnx__AttributeProto *a = attr(n, name);
    return a && a->has_i ? a->i : def;
}

static double attr_f(const Node *n, const char *name, double def) {
    const Onnx__AttributeProto *a = attr(n, name);
    return a && a->has_f ? a->f : def;
}

/* Up to max ints; -1 when absent. */
static int attr_ints(const Node *n, const char *name, int64_t *v, int max) {
    const Onnx__AttributeProto *a = attr(n, name);
    if (!a)
        return -1;
    int k = (int)(a->n_ints < (size_t)max ? a->n_ints : (size_t)max);
    for (int i = 0; i < k; i++)
        v[i] = a->ints[i];
    return a->n_ints > (size_t)max ? max + 1 : k;
}

static const char *attr_s(const Node *n, const char *name, const char *def) {
    const Onnx__AttributeProto *a = attr(n, name);
    if (!a || !a->has_s)
        return def;
    return arena_strndup(n->x->a, (const char *)a->s.data, a->s.len);
}

/* v as a number of the .nnd text; NULL after reporting when the language cannot spell it
 * (nan and the infinities have no literal). */
static const char *num(const Node *n, const char *what, double v) {
    if (isfinite(v))
        return onnx_num(n->x, v);
    fail(n, "%s", arena_printf(n->x->a, "%s is %g; only finite numbers are supported", what, v));
    return NULL;
}

/* A constant's value as a size or an index. Constants are held as doubles (any dtype), and
 * converting nan or a value beyond int64_t is undefined: those are false, and so is anything
 * past 2^62, which no shape or index can be. */
static bool as_int(double v, int64_t *out) {
    if (!(fabs(v) <= 0x1p62))
        return false;
    *out = (int64_t)v;
    return true;
}

static int nin(const Node *n) { return (int)n->p->n_input; }

/* Input i: NULL when absent (or named ""); reports an undefined name. */
static Value *in(const Node *n, int i) {
    if (i >= nin(n) || !n->p->input[i] || !n->p->input[i][0])
        return NULL;
    Value *v = onnx_value(n->x, n->p->input[i]);
    if (!v)
        fail(n, "input '%s' is not defined before its use", n->p->input[i]);
    return v;
}

static Value *tensor_in(const Node *n, int i) {
    Value *v = in(n, i);
    if (v && v->kind != VAL_TENSOR) {
        fail(n, "input '%s' must be a computed tensor here, not a constant", n->p->input[i]);
        return NULL;
    }
    if (!v && i >= nin(n))
        fail(n, "%s", "an input is missing");
    return v;
}

static Value *const_in(const Node *n, int i, const char *role) {
    Value *v = in(n, i);
    if (!v || v->kind != VAL_CONST) {
        if (v || i < nin(n))
            fail(n, "%s must be an initializer or a constant",
                 arena_printf(n->x->a, "%s ('%s')", role, n->p->input[i]));
        else
            fail(n, "%s is missing", role);
        return NULL;
    }
    return v;
}

/* The output's statement: "  IDENT = " is written; the caller writes the expression. */
static Value *out(const Node *n, int rank) {
    if (n->p->n_output < 1 || !n->p->output[0][0]) {
        fail(n, "%s", "the node has no output");
        return NULL;
    }
    for (size_t i = 1; i < n->p->n_output; i++)
        if (n->p->output[i][0]) {
            fail(n, "%s", "only the first output is supported");
            return NULL;
        }
    Value *v = onnx_define(n->x, n->p->output[0], VAL_TENSOR);
    v->ident = onnx_ident(n->x, n->p->output[0]);
    v->rank = rank;
    onnx_emit(n->x, "  %s = ", v->ident);
    return v;
}

static const char *ints_str(OnnxCtx *x, const int64_t *v, int k) {
    const char *s = "[";
    for (int i = 0; i < k; i++)
        s = arena_printf(x->a, "%s%s%lld", s, i ? ", " : "", (long long)v[i]);
    return arena_printf(x->a, "%s]", s);
}

/* int or [h, w] */
static const char *pair_str(OnnxCtx *x, const int64_t *v) {
    return v[0] == v[1] ? arena_printf(x->a, "%lld", (long long)v[0]) : ints_str(x, v, 2);
}

/* ONNX pads [top, left, bottom, right] as the .nnd padding argument. */
static const char *pads_str(OnnxCtx *x, const int64_t *p) {
    if (p[0] == p[2] && p[1] == p[3])
        return pair_str(x, p);
    return ints_str(x, p, 4);
}

/* kernel_shape, strides, pads, dilations of a 2-D window; false after reporting. */
typedef struct Window {
    int64_t kernel[2], stride[2], pads[4], dilation[2];
    bool same;
} Window;

static bool window(const Node *n, Window *w, const int64_t *weight_kernel) {
    int64_t v[8];
    int k = attr_ints(n, "kernel_shape", v, 8);
    if (k == -1 && weight_kernel) {
        w->kernel[0] = weight_kernel[0];
        w->kernel[1] = weight_kernel[1];
    } else if (k == 2) {
        w->kernel[0] = v[0];
        w->kernel[1] = v[1];
    } else {
        return fail(n, "%s", "only 2-D windows (kernel_shape of length 2) are supported");
    }
    w->stride[0] = w->stride[1] = 1;
    w->dilation[0] = w->dilation[1] = 1;
    memset(w->pads, 0, sizeof w->pads);
    if ((k = attr_ints(n, "strides", v, 8)) != -1) {
        if (k != 2)
            return fail(n, "%s", "strides must have 2 values");
        memcpy(w->stride, v, sizeof w->stride);
    }
    if ((k = attr_ints(n, "dilations", v, 8)) != -1) {
        if (k != 2)
            return fail(n, "%s", "dilations must have 2 values");
        memcpy(w->dilation, v, sizeof w->dilation);
    }
    if ((k = attr_ints(n, "pads", v, 8)) != -1) {
        if (k != 4)
            return fail(n, "%s", "pads must have 4 values");
        memcpy(w->pads, v, sizeof w->pads);
    }
    for (int i = 0; i < 4; i++)
        if (w->pads[i] < 0 || (i < 2 && (w->kernel[i] < 1 || w->stride[i] < 1 ||
                                          w->dilation[i] < 1)))
            return fail(n, "%s", "kernel, strides, dilations and pads must be positive");
    const char *ap = attr_s(n, "auto_pad", "NOTSET");
    w->same = false;
    if (strcmp(ap, "SAME_UPPER") == 0 ||
        (strcmp(ap, "SAME_LOWER") == 0 && w->kernel[0] % 2 && w->kernel[1] % 2)) {
        if (w->stride[0] != 1 || w->stride[1] != 1 || !weight_kernel)
            return fail(n, "auto_pad=%s is supported for convolutions with stride 1 only", ap);
        w->same = true;
    } else if (strcmp(ap, "VALID") == 0) {
        memset(w->pads, 0, sizeof w->pads);
    } else if (strcmp(ap, "NOTSET") != 0) {
        return fail(n, "auto_pad=%s is not supported", ap);
    }
    return true;
}

static bool map_conv(const Node *n) {
    Value *xin = tensor_in(n, 0), *wv = const_in(n, 1, "the weight W"), *bv = NULL;
    if (nin(n) > 2 && in(n, 2) && !(bv = const_in(n, 2, "the bias B")))
        return false;
    if (!xin || !wv)
        return false;
    const OnnxConst *w = &wv->c;
    if (w->rank != 4)
        return fail(n, "%s", "only 2-D convolutions (a 4-D weight) are supported");
    if (bv && (bv->c.rank != 1 || bv->c.shape[0] != w->shape[0]))
        return fail(n, "%s", "the bias must have one value per output channel");
    Window win;
    if (!window(n, &win, w->shape + 2))
        return false;
    int64_t group = attr_i(n, "group", 1);
    if (group < 1)
        return fail(n, "%s", "group must be positive");
    Value *o = out(n, 4);
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    const char *prefix = onnx_param_prefix(x, onnx_str(wv->onnx), o->ident);
    onnx_emit(x, "conv2d(%s, %lld, kernel=%s", xin->ident, (long long)w->shape[0],
              pair_str(x, win.kernel));
    if (win.stride[0] != 1 || win.stride[1] != 1)
        onnx_emit(x, ", stride=%s", pair_str(x, win.stride));
    if (win.same)
        onnx_emit(x, ", padding=\"same\"");
    else if (win.pads[0] || win.pads[1] || win.pads[2] || win.pads[3])
        onnx_emit(x, ", padding=%s", pads_str(x, win.pads));
    if (win.dilation[0] != 1 || win.dilation[1] != 1)
        onnx_emit(x, ", dilation=%s", pair_str(x, win.dilation));
    if (group != 1)
        onnx_emit(x, ", groups=%lld", (long long)group);
    if (!bv)
        onnx_emit(x, ", bias=false");
    if (strcmp(prefix, o->ident) != 0)
        onnx_emit(x, ", name=\"%s\"", prefix);
    onnx_emit(x, ")\n");
    onnx_add_param(x, prefix, "weight", w, 4, w->shape, false);
    if (bv)
        onnx_add_param(x, prefix, "bias", &bv->c, 1, bv->c.shape, false);
    return true;
}

static bool map_pool(const Node *n) {
    bool is_max = strcmp(n->op, "MaxPool") == 0;
    Value *xin = tensor_in(n, 0);
    Window win;
    if (!xin || !window(n, &win, NULL))
        return false;
    if (win.dilation[0] != 1 || win.dilation[1] != 1)
        return fail(n, "%s", "dilations other than 1 are not supported");
    if (attr_i(n, "storage_order", 0) != 0)
        return fail(n, "%s", "storage_order=1 is not supported");
    /* SPEC 1.4's pools follow PyTorch, which limits padding to half the kernel. */
    for (int i = 0; i < 4; i++) /* 2 * pad > kernel, without overflowing a huge pad */
        if (win.pads[i] > win.kernel[i % 2] / 2)
            return fail(n, "%s", "padding larger than half the kernel is not supported");
    bool ceil_mode = attr_i(n, "ceil_mode", 0) != 0;
    bool count_pad = attr_i(n, "count_include_pad", 0) != 0;
    Value *o = out(n, 4);
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    onnx_emit(x, "%s(%s, %s, stride=%s", is_max ? "maxpool2d" : "avgpool2d", xin->ident,
              pair_str(x, win.kernel), pair_str(x, win.stride));
    if (win.pads[0] || win.pads[1] || win.pads[2] || win.pads[3])
        onnx_emit(x, ", padding=%s", pads_str(x, win.pads));
    if (ceil_mode)
        onnx_emit(x, ", ceil_mode=true");
    if (!is_max)
        onnx_emit(x, ", count_include_pad=%s", count_pad ? "true" : "false");
    onnx_emit(x, ")\n");
    return true;
}

static bool map_gemm(const Node *n) {
    Value *xin = tensor_in(n, 0), *bv = const_in(n, 1, "B"), *cv = NULL;
    if (nin(n) > 2 && in(n, 2) && !(cv = const_in(n, 2, "C")))
        return false;
    if (!xin || !bv)
        return false;
    if (attr_f(n, "alpha", 1) != 1 || attr_f(n, "beta", 1) != 1 || attr_i(n, "transA", 0) != 0)
        return fail(n, "%s", "only alpha=1, beta=1, transA=0 is supported");
    bool trans_b = attr_i(n, "transB", 0) != 0;
    if (bv->c.rank != 2)
        return fail(n, "%s", "B must be 2-D");
    int64_t units = trans_b ? bv->c.shape[0] : bv->c.shape[1];
    if (cv && !(cv->c.numel == units && (cv->c.rank == 1 || (cv->c.rank == 2 && cv->c.shape[0] == 1))))
        return fail(n, "%s", "C must have one value per output unit (other broadcasts are not "
                    "supported)");
    Value *o = out(n, 2);
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    const char *prefix = onnx_param_prefix(x, onnx_str(bv->onnx), o->ident);
    onnx_emit(x, "dense(%s, %lld", xin->ident, (long long)units);
    if (!cv)
        onnx_emit(x, ", bias=false");
    if (strcmp(prefix, o->ident) != 0)
        onnx_emit(x, ", name=\"%s\"", prefix);
    onnx_emit(x, ")\n");
    int64_t wshape[2] = {units, trans_b ? bv->c.shape[1] : bv->c.shape[0]};
    onnx_add_param(x, prefix, "weight", &bv->c, 2, wshape, !trans_b);
    if (cv)
        onnx_add_param(x, prefix, "bias", &cv->c, 1, &units, false);
    return true;
}

static bool map_matmul(const Node *n) {
    Value *a = tensor_in(n, 0), *b = in(n, 1);
    if (!a || !b)
        return b || nin(n) > 1 ? false : fail(n, "%s", "B is missing");
    if (b->kind == VAL_TENSOR) {
        Value *o = out(n, a->rank >= 0 && b->rank >= 0 ? (a->rank > b->rank ? a->rank : b->rank)
                                                        : -1);
        if (!o)
            return false;
        onnx_emit(n->x, "matmul(%s, %s)\n", a->ident, b->ident);
        return true;
    }
    if (b->kind != VAL_CONST || b->c.rank != 2)
        return fail(n, "%s", "a constant B must be 2-D");
    Value *o = out(n, a->rank);
    if (!o)
        return false;
    const char *prefix = onnx_param_prefix(n->x, "", o->ident);
    onnx_emit(n->x, "dense(%s, %lld, bias=false)\n", a->ident, (long long)b->c.shape[1]);
    int64_t wshape[2] = {b->c.shape[1], b->c.shape[0]};
    onnx_add_param(n->x, prefix, "weight", &b->c, 2, wshape, true);
    return true;
}

static bool map_batchnorm(const Node *n) {
    static const char *const roles[] = {"scale", "B", "mean", "var"};
    static const char *const params[] = {"weight", "bias", "running_mean", "running_var"};
    Value *xin = tensor_in(n, 0), *p[4];
    bool ok = xin != NULL;
    for (int i = 0; i < 4; i++)
        ok &= (p[i] = const_in(n, i + 1, roles[i])) != NULL;
    if (!ok)
        return false;
    for (int i = 0; i < 4; i++)
        if (p[i]->c.rank != 1 || p[i]->c.numel != p[0]->c.numel)
            return fail(n, "%s", "scale, B, mean and var must be 1-D, one value per channel");
    if (attr_i(n, "training_mode", 0) != 0)
        return fail(n, "%s", "training_mode=1 is not supported");
    const char *eps = num(n, "epsilon", attr_f(n, "epsilon", 1e-5));
    Value *o = eps ? out(n, xin->rank) : NULL;
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    const char *prefix = onnx_param_prefix(x, onnx_str(p[0]->onnx), o->ident);
    onnx_emit(x, "batchnorm(%s, eps=%s", xin->ident, eps);
    if (strcmp(prefix, o->ident) != 0)
        onnx_emit(x, ", name=\"%s\"", prefix);
    onnx_emit(x, ")\n");
    for (int i = 0; i < 4; i++)
        onnx_add_param(x, prefix, params[i], &p[i]->c, 1, p[i]->c.shape, false);
    return true;
}

/* LayerNormalization over the last axis only: the .nnd layernorm's form. */
static bool map_layernorm(const Node *n) {
    for (size_t i = 1; i < n->p->n_output; i++)
        if (n->p->output[i][0])
            return fail(n, "%s", "the Mean and InvStdDev outputs are not supported (only Y)");
    Value *xin = tensor_in(n, 0), *sv = const_in(n, 1, "the scale Scale"), *bv = NULL;
    if (nin(n) > 2 && in(n, 2) && !(bv = const_in(n, 2, "the bias B")))
        return false;
    if (!xin || !sv)
        return false;
    int64_t axis = attr_i(n, "axis", -1);
    if (axis != -1 && !(xin->rank > 0 && axis == xin->rank - 1))
        return fail(n, "axis=%s is not supported (only the last axis)",
                    onnx_num(n->x, (double)axis));
    if (sv->c.rank != 1 || !sv->c.is_float)
        return fail(n, "%s", "Scale must be a 1-D float constant (one value per element of the "
                    "last axis)");
    if (bv && (bv->c.rank != 1 || bv->c.numel != sv->c.numel || !bv->c.is_float))
        return fail(n, "%s", "B must be a 1-D float constant shaped like Scale");
    const char *eps = num(n, "epsilon", attr_f(n, "epsilon", 1e-5));
    Value *o = eps ? out(n, xin->rank) : NULL;
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    const char *prefix = onnx_param_prefix(x, onnx_str(sv->onnx), o->ident);
    onnx_emit(x, "layernorm(%s, eps=%s", xin->ident, eps);
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

/* Reshape to dims, where copy[i] means "dimension i of the input" (ONNX's 0). */
static bool emit_reshape(const Node *n, Value *xin, const int64_t *dims, const bool *copy, int k) {
    OnnxCtx *x = n->x;
    int ncopy = 0, nlead = 0, nminus = 0;
    for (int i = 0; i < k; i++) {
        ncopy += copy[i];
        nminus += !copy[i] && dims[i] == -1;
        if (copy[i] && nlead == i)
            nlead++;
    }
    if (k == nlead + 1 && !copy[k - 1] && dims[k - 1] == -1 && nlead > 0) {
        Value *o = out(n, k);
        if (!o)
            return false;
        onnx_emit(x, "flatten(%s, axis=%d)\n", xin->ident, nlead);
        return true;
    }
    if (ncopy > 1 || (ncopy == 1 && nminus > 0))
        return fail(n, "%s", "the target shape keeps several input dimensions (a dynamic "
                    "shape), which is not supported");
    int64_t lit[MAX_RANK];
    for (int i = 0; i < k; i++)
        lit[i] = copy[i] ? -1 : dims[i];
    Value *o = out(n, k);
    if (!o)
        return false;
    onnx_emit(x, "reshape(%s, %s)\n", xin->ident, ints_str(x, lit, k));
    return true;
}

static bool map_reshape(const Node *n) {
    Value *xin = tensor_in(n, 0), *s = in(n, 1);
    if (!xin)
        return false;
    int64_t dims[MAX_RANK];
    bool copy[MAX_RANK] = {false};
    int k;
    bool allowzero = attr_i(n, "allowzero", 0) != 0;
    if (!s && n->x->opset < 5) {
        return fail(n, "%s", "the shape attribute form is not supported");
    } else if (s && s->kind == VAL_CONST) {
        if (s->c.rank != 1 || s->c.numel > MAX_RANK)
            return fail(n, "%s", "the shape must be 1-D, of at most 8 values");
        k = (int)s->c.numel;
        for (int i = 0; i < k; i++) {
            if (!as_int(s->c.v[i], &dims[i]))
                return fail(n, "%s", "the shape holds a value that is not a size");
            copy[i] = dims[i] == 0 && !allowzero;
        }
    } else if (s && s->kind == VAL_SHAPE && s->nelems >= 0 && s->nelems <= MAX_RANK) {
        k = s->nelems;
        for (int i = 0; i < k; i++) {
            const ShapeElem *e = &s->elems[i];
            if (e->src && (strcmp(e->src, xin->onnx) != 0 || e->dim != i))
                return fail(n, "%s", "the shape depends on another tensor's size (a dynamic "
                            "shape), which is not supported");
            dims[i] = e->src ? 0 : e->dim;
            copy[i] = e->src || (dims[i] == 0 && !allowzero);
        }
    } else {
        return fail(n, "%s", "the shape must be a constant, or folded from Shape, Gather, "
                    "Unsqueeze and Concat");
    }
    for (int i = 0; i < k; i++)
        if (!copy[i] && dims[i] < -1)
            return fail(n, "%s", "the shape holds a negative size");
    return emit_reshape(n, xin, dims, copy, k);
}

static bool map_flatten(const Node *n) {
    Value *xin = tensor_in(n, 0);
    if (!xin)
        return false;
    int64_t axis = attr_i(n, "axis", 1);
    if (axis < 0 && xin->rank > 0)
        axis += xin->rank;
    if (axis == 0) {
        Value *o = out(n, 2);
        if (!o)
            return false;
        onnx_emit(n->x, "reshape(%s, [1, -1])\n", xin->ident);
        return true;
    }
    if (axis != 1 && !(axis == xin->rank - 1 && axis > 0))
        return fail(n, "%s", "only axis=0, axis=1 and the last axis are supported");
    if (axis != 1)
        return fail(n, "%s", "axis other than 0 or 1 needs static sizes, which are not tracked");
    Value *o = out(n, 2);
    if (!o)
        return false;
    onnx_emit(n->x, "flatten(%s)\n", xin->ident);
    return true;
}

static bool map_transpose(const Node *n) {
    Value *xin = tensor_in(n, 0);
    if (!xin)
        return false;
    int64_t perm[MAX_RANK];
    int k = attr_ints(n, "perm", perm, MAX_RANK);
    if (k > MAX_RANK)
        return fail(n, "%s", "perm is too long");
    Value *o = out(n, xin->rank);
    if (!o)
        return false;
    if (k < 0)
        onnx_emit(n->x, "transpose(%s)\n", xin->ident);
    else
        onnx_emit(n->x, "transpose(%s, perm=%s)\n", xin->ident, ints_str(n->x, perm, k));
    return true;
}

/* Concat of shape vectors folds; of tensors, it is a statement. */
static bool map_concat(const Node *n) {
    Value *first = in(n, 0);
    if (!first)
        return nin(n) ? false : fail(n, "%s", "no inputs");
    if (first->kind != VAL_TENSOR) {
        ShapeElem *e = arena_array(n->x->a, (size_t)nin(n) * MAX_RANK + 1, sizeof *e);
        int k = 0;
        for (int i = 0; i < nin(n); i++) {
            Value *v = in(n, i);
            if (!v)
                return false;
            if (v->kind == VAL_SHAPE && v->nelems >= 0 && v->nelems <= MAX_RANK) {
                memcpy(e + k, v->elems, (size_t)v->nelems * sizeof *e);
                k += v->nelems;
            } else if (v->kind == VAL_CONST && v->c.rank == 1 && v->c.numel <= MAX_RANK) {
                for (int64_t j = 0; j < v->c.numel; j++) {
                    e[k] = (ShapeElem){.src = NULL};
                    if (!as_int(v->c.v[j], &e[k++].dim))
                        return fail(n, "%s", "a shape vector holds a value that is not a size");
                }
            } else {
                return fail(n, "%s", "only concatenations of tensors, or of 1-D shape vectors, "
                            "are supported");
            }
        }
        Value *o = onnx_define(n->x, n->p->output[0], VAL_SHAPE);
        o->elems = e;
        o->nelems = k;
        return true;
    }
    const char *args = "";
    for (int i = 0; i < nin(n); i++) {
        Value *v = tensor_in(n, i);
        if (!v)
            return false;
        args = arena_printf(n->x->a, "%s%s, ", args, v->ident);
    }
    Value *o = out(n, first->rank);
    if (!o)
        return false;
    onnx_emit(n->x, "concat(%saxis=%lld)\n", args, (long long)attr_i(n, "axis", 1));
    return true;
}

static bool map_shape(const Node *n) {
    Value *xin = tensor_in(n, 0);
    if (!xin || n->p->n_output < 1)
        return false;
    if (attr(n, "start") || attr(n, "end"))
        return fail(n, "%s", "start and end are not supported");
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

static bool map_gather(const Node *n) {
    Value *s = in(n, 0), *idx = in(n, 1);
    if (!s || !idx)
        return false;
    if (s->kind != VAL_SHAPE || idx->kind != VAL_CONST || idx->c.numel != 1 ||
        attr_i(n, "axis", 0) != 0)
        return fail(n, "%s", "only a constant index into a Shape is supported");
    int64_t i;
    if (!as_int(idx->c.v[0], &i))
        return fail(n, "%s", "the index is not an integer in range");
    if (s->nelems >= 0 && i < 0)
        i += s->nelems;
    if (i < 0 || (s->nelems >= 0 && i >= s->nelems))
        return fail(n, "%s", "the index is out of range");
    Value *o = onnx_define(n->x, n->p->output[0], VAL_SHAPE);
    o->elems = arena_alloc(n->x->a, sizeof *o->elems);
    o->elems[0] = s->nelems >= 0 ? s->elems[i] : (ShapeElem){.src = s->elems[0].src, .dim = i};
    o->nelems = 1; /* a scalar, or a 1-vector: Unsqueeze treats both alike */
    return true;
}

static bool map_unsqueeze(const Node *n) {
    Value *s = in(n, 0);
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
    return fail(n, "%s", "only the unsqueezing of a folded shape element is supported");
}

static bool map_constant(const Node *n) {
    Value *o;
    if (n->p->n_output < 1)
        return fail(n, "%s", "the node has no output");
    const Onnx__AttributeProto *a;
    if ((a = attr(n, "value")) && a->t) {
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
    if ((a = attr(n, "value_float")) && a->has_f) {
        o->c.v[0] = a->f, o->c.numel = 1, o->c.is_float = true;
    } else if ((a = attr(n, "value_int")) && a->has_i) {
        o->c.v[0] = (double)a->i, o->c.numel = 1;
    } else if ((a = attr(n, "value_ints")) && a->n_ints <= MAX_RANK) {
        o->c.rank = 1, o->c.numel = o->c.shape[0] = (int64_t)a->n_ints;
        for (size_t i = 0; i < a->n_ints; i++)
            o->c.v[i] = (double)a->ints[i];
    } else {
        return fail(n, "%s", "only value, value_float, value_int and short value_ints are "
                    "supported");
    }
    return true;
}

static bool is_scalar(const Value *v) { return v && v->kind == VAL_CONST && v->c.numel == 1; }

static bool map_binary(const Node *n) {
    static const char *const ops[][2] = {{"Add", "add"}, {"Sub", "sub"}, {"Mul", "mul"},
                                         {"Div", "div"}};
    const char *op = NULL;
    for (int i = 0; i < 4; i++)
        if (strcmp(n->op, ops[i][0]) == 0)
            op = ops[i][1];
    Value *a = in(n, 0), *b = in(n, 1);
    if (!a || !b)
        return a || b ? false : fail(n, "%s", "an operand is missing");
    if (attr_i(n, "broadcast", 0) && attr(n, "axis"))
        return fail(n, "%s", "legacy broadcast with an axis is not supported");
    OnnxCtx *x = n->x;
    if (a->kind == VAL_TENSOR && b->kind == VAL_TENSOR) {
        Value *o = out(n, a->rank >= b->rank ? a->rank : b->rank);
        if (!o)
            return false;
        onnx_emit(x, "%s(%s, %s)\n", op, a->ident, b->ident);
    } else if (a->kind == VAL_TENSOR && is_scalar(b)) {
        const char *v = num(n, "the constant operand", b->c.v[0]);
        Value *o = v ? out(n, a->rank) : NULL;
        if (!o)
            return false;
        onnx_emit(x, "%s(%s, %s)\n", op, a->ident, v);
    } else if (b->kind == VAL_TENSOR && is_scalar(a) && strcmp(op, "div") != 0) {
        const char *v = num(n, "the constant operand", a->c.v[0]);
        Value *o = v ? out(n, b->rank) : NULL;
        if (!o)
            return false;
        if (strcmp(op, "sub") == 0)
            onnx_emit(x, "neg(%s) -> add(%s)\n", b->ident, v);
        else
            onnx_emit(x, "%s(%s, %s)\n", op, b->ident, v);
    } else {
        return fail(n, "%s", "only tensor operands, or a tensor and a scalar constant, are "
                    "supported");
    }
    return true;
}

static bool close_to(double a, double b) { return fabs(a - b) <= 1e-6 * fabs(b); }

/* Activations and the other one-input operators. */
static bool map_unary(const Node *n) {
    static const char *const ops[][2] = {
        {"Relu", "relu"}, {"Sigmoid", "sigmoid"}, {"Tanh", "tanh"}, {"Softplus", "softplus"},
        {"Softsign", "softsign"}, {"Exp", "exp"}, {"Log", "log"}, {"Sqrt", "sqrt"},
        {"Abs", "abs"}, {"Neg", "neg"}, {"Identity", "identity"}, {"Dropout", "dropout"},
        {"LeakyRelu", "leaky_relu"}, {"Elu", "elu"}, {"Selu", "selu"},
        {"HardSigmoid", "hard_sigmoid"},
    };
    const char *op = NULL;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(n->op, ops[i][0]) == 0)
            op = ops[i][1];
    Value *xin = tensor_in(n, 0);
    if (!xin)
        return false;
    OnnxCtx *x = n->x;
    const char *args = "";
    if (strcmp(op, "leaky_relu") == 0 || strcmp(op, "elu") == 0) {
        const char *alpha = num(n, "alpha", attr_f(n, "alpha", op[0] == 'l' ? 0.01 : 1.0));
        if (!alpha)
            return false;
        args = arena_printf(x->a, ", alpha=%s", alpha);
    } else if (strcmp(op, "selu") == 0 &&
               (!close_to(attr_f(n, "alpha", 1.67326319217681884765625), 1.6732632423543772) ||
                !close_to(attr_f(n, "gamma", 1.05070102214813232421875), 1.0507009873554805))) {
        return fail(n, "%s", "only the default alpha and gamma are supported");
    } else if (strcmp(op, "hard_sigmoid") == 0 &&
               (!close_to(attr_f(n, "alpha", 0.2), 1.0 / 6) ||
                !close_to(attr_f(n, "beta", 0.5), 0.5))) {
        return fail(n, "%s", "only alpha=1/6, beta=0.5 (PyTorch's hardsigmoid) is supported");
    }
    if (strcmp(op, "dropout") == 0 && n->p->n_output > 1 && n->p->output[1][0])
        return fail(n, "%s", "the mask output is not supported");
    Value *o;
    if (strcmp(op, "dropout") == 0) { /* the mask output may be named but unused: allow it */
        o = onnx_define(x, n->p->output[0], VAL_TENSOR);
        o->ident = onnx_ident(x, n->p->output[0]);
        o->rank = xin->rank;
        onnx_emit(x, "  %s = ", o->ident);
    } else if (!(o = out(n, xin->rank))) {
        return false;
    }
    onnx_emit(x, "%s(%s%s)\n", op, xin->ident, args);
    return true;
}

static bool map_clip(const Node *n) {
    Value *xin = tensor_in(n, 0);
    if (!xin)
        return false;
    double lo = -INFINITY, hi = INFINITY;
    if (n->x->opset < 11) {
        lo = attr_f(n, "min", lo);
        hi = attr_f(n, "max", hi);
    } else {
        Value *a = in(n, 1), *b = in(n, 2);
        if ((a && !is_scalar(a)) || (b && !is_scalar(b)))
            return fail(n, "%s", "min and max must be scalar constants");
        lo = a ? a->c.v[0] : lo;
        hi = b ? b->c.v[0] : hi;
    }
    Value *o = out(n, xin->rank);
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    if (!isfinite(lo) && !isfinite(hi)) { /* no bounds: ONNX's Clip is then the identity */
        onnx_emit(x, "identity(%s)\n", xin->ident);
        return true;
    }
    onnx_emit(x, "clip(%s", xin->ident);
    if (isfinite(lo))
        onnx_emit(x, ", min=%s", onnx_num(x, lo));
    if (isfinite(hi))
        onnx_emit(x, ", max=%s", onnx_num(x, hi));
    onnx_emit(x, ")\n");
    return true;
}

static bool map_softmax(const Node *n) {
    Value *xin = tensor_in(n, 0);
    if (!xin)
        return false;
    bool old = n->x->opset < 13;
    int64_t axis = attr_i(n, "axis", old ? 1 : -1);
    if (old) { /* flatten-to-2-D semantics: the same as ours only on the last axis */
        bool last = axis == -1 || (xin->rank > 0 && axis == xin->rank - 1);
        if (!last)
            return fail(n, "%s", "before opset 13, only the last axis (of a tensor of known "
                        "rank) is supported");
    }
    Value *o = out(n, xin->rank);
    if (!o)
        return false;
    onnx_emit(n->x, "%s(%s, axis=%lld)\n", strcmp(n->op, "Softmax") == 0 ? "softmax" :
              "log_softmax", xin->ident, (long long)axis);
    return true;
}

static bool map_global_avgpool(const Node *n) {
    Value *xin = tensor_in(n, 0);
    Value *o = xin ? out(n, xin->rank) : NULL;
    if (!o)
        return false;
    onnx_emit(n->x, "global_avgpool(%s)\n", xin->ident);
    return true;
}

static const struct {
    const char *op;
    bool (*map)(const Node *);
} mappers[] = {
    {"Conv", map_conv}, {"MaxPool", map_pool}, {"AveragePool", map_pool},
    {"GlobalAveragePool", map_global_avgpool}, {"Gemm", map_gemm}, {"MatMul", map_matmul},
    {"BatchNormalization", map_batchnorm}, {"LayerNormalization", map_layernorm}, {"Flatten", map_flatten}, {"Reshape", map_reshape},
    {"Transpose", map_transpose}, {"Concat", map_concat}, {"Shape", map_shape},
    {"Gather", map_gather}, {"Unsqueeze", map_unsqueeze}, {"Constant", map_constant},
    {"Add", map_binary}, {"Sub", map_binary}, {"Mul", map_binary}, {"Div", map_binary},
    {"Relu", map_unary}, {"Sigmoid", map_unary}, {"Tanh", map_unary}, {"LeakyRelu", map_unary},
    {"Elu", map_unary}, {"Selu", map_unary}, {"Softplus", map_unary}, {"Softsign", map_unary},
    {"HardSigmoid", map_unary}, {"Exp", map_unary}, {"Log", map_unary}, {"Sqrt", map_unary},
    {"Abs", map_unary}, {"Neg", map_unary}, {"Identity", map_unary}, {"Dropout", map_unary},
    {"Clip", map_clip}, {"Softmax", map_softmax}, {"LogSoftmax", map_softmax},
};

bool onnx_map_node(OnnxCtx *x, const Onnx__NodeProto *p) {
    Node n = {.x = x, .p = p, .op = onnx_str(p->op_type)};
    n.label = p->name && p->name[0] ? p->name
              : p->n_output && p->output[0][0] ? p->output[0] : "(unnamed)";
    const char *dom = onnx_str(p->domain);
    if (strcmp(dom, "") != 0 && strcmp(dom, "ai.onnx") != 0) {
        diag_error(x->d, x->at, "unsupported ONNX operator '%s' of domain '%s' (node '%s')", n.op,
                   dom, n.label);
        return false;
    }
    for (size_t i = 0; i < sizeof mappers / sizeof mappers[0]; i++)
        if (strcmp(n.op, mappers[i].op) == 0) {
            if (p->n_output < 1 || !p->output[0][0])
                return fail(&n, "%s", "the node has no output");
            return mappers[i].map(&n);
        }
    diag_error(x->d, x->at, "unsupported ONNX operator '%s' (node '%s')", n.op, n.label);
    return false;
}
