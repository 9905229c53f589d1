/* onnx_map_window.c: ONNX's windowed operators as .nnd conv2d and pools (SPEC 1.4).
 *
 * In: Conv, MaxPool, AveragePool and GlobalAveragePool nodes. Out: conv2d, maxpool2d,
 * avgpool2d and global_avgpool statements with the window's kernel, strides, pads and
 * dilations, and the weight and bias as the conv's parameters. A 1-D window over
 * [N, C, L] is the 2-D one over the [N, C, 1, L] view, written as a chain between two
 * reshapes (PyTorch's Conv1d, MaxPool1d); 3-D windows have no .nnd form. The pools
 * follow PyTorch, which limits padding to half the kernel. */
#include <string.h>

#include "onnx_internal.h"

/* ONNX pads [top, left, bottom, right] as the .nnd padding argument. */
static const char *pads_str(OnnxCtx *x, const int64_t *p) {
    if (p[0] == p[2] && p[1] == p[3])
        return on_pair_str(x, p);
    return on_ints_str(x, p, 4);
}

/* kernel_shape, strides, pads, dilations of a 2-D window (a 1-D one widened: height 1). */
typedef struct Window {
    int64_t kernel[2], stride[2], pads[4], dilation[2];
    bool same; /* .nnd's padding="same" (the pads then unknown) */
    int nd;    /* 1 or 2: the ONNX window's dimensions */
} Window;

/* auto_pad: SAME_UPPER and SAME_LOWER become explicit pads where the input's height and
 * width are known; else a stride-1 convolution whose padding splits like PyTorch's (the
 * odd one at the end) keeps .nnd's padding="same". */
static bool auto_pad(const OnnxNode *n, Window *w, const Value *xin, bool conv) {
    const char *ap = on_attr_s(n, "auto_pad", "NOTSET");
    bool upper = strcmp(ap, "SAME_UPPER") == 0, lower = strcmp(ap, "SAME_LOWER") == 0;
    w->same = false;
    if (strcmp(ap, "VALID") == 0)
        memset(w->pads, 0, sizeof w->pads);
    else if (!upper && !lower && strcmp(ap, "NOTSET") != 0)
        return on_fail(n, "auto_pad=%s is not supported", ap);
    if (!upper && !lower)
        return true;
    bool known = xin->rank == 4 && xin->dims[2] >= 0 && xin->dims[3] >= 0;
    for (int i = 0; i < 2 && known; i++)
        onnx_same_pads(xin->dims[2 + i], w->kernel[i], w->stride[i], w->dilation[i], upper,
                       &w->pads[i], &w->pads[i + 2]);
    if (known)
        return true;
    bool odd = w->dilation[0] * (w->kernel[0] - 1) % 2 == 0 &&
               w->dilation[1] * (w->kernel[1] - 1) % 2 == 0;
    if (conv && w->stride[0] == 1 && w->stride[1] == 1 && (upper || odd)) {
        w->same = true;
        return true;
    }
    return on_fail(n, "auto_pad=%s is not supported here (the input's height and width are "
                   "symbolic, and only a stride-1 convolution pads like PyTorch's \"same\")", ap);
}


/* Attribute name's values (nd per axis, or 2 nd for pads) widened to the 2-D window's
 * (height first: 1 for a 1-D window's kernel, stride and dilation, 0 for its pads) into
 * out, which keeps its defaults when the attribute is absent; false after reporting. */
static bool window_ints(const OnnxNode *n, const char *name, int nd, bool pads, int64_t *out) {
    int64_t v[8];
    int want = pads ? 2 * nd : nd, k = on_attr_ints(n, name, v, 8);
    if (k == -1)
        return true;
    if (k != want)
        return on_fail(n, "%s", arena_printf(n->x->a, "%s must have %d values", name, want));
    if (nd == 2)
        memcpy(out, v, (size_t)k * sizeof *v);
    else if (pads) /* [begin, end] of the length: [top 0, left, bottom 0, right] */
        out[0] = out[2] = 0, out[1] = v[0], out[3] = v[1];
    else
        out[0] = 1, out[1] = v[0];
    return true;
}

/* The window's attributes for a window of nd dimensions read from the 4-D (view of the)
 * input x4; weight_kernel: a convolution's [kh, kw]. False after reporting. */
static bool window(const OnnxNode *n, Window *w, const Value *x4, int nd,
                   const int64_t *weight_kernel) {
    *w = (Window){.kernel = {1, 1}, .stride = {1, 1}, .dilation = {1, 1}, .nd = nd};
    if (weight_kernel) /* else kernel_shape has nd values (the caller checked) */
        memcpy(w->kernel, weight_kernel, sizeof w->kernel);
    if (!window_ints(n, "kernel_shape", nd, false, w->kernel) ||
        !window_ints(n, "strides", nd, false, w->stride) ||
        !window_ints(n, "dilations", nd, false, w->dilation) ||
        !window_ints(n, "pads", nd, true, w->pads))
        return false;
    for (int i = 0; i < 4; i++)
        if (w->pads[i] < 0 || (i < 2 && (w->kernel[i] < 1 || w->stride[i] < 1 ||
                                          w->dilation[i] < 1)))
            return on_fail(n, "%s", "kernel, strides, dilations and pads must be positive");
    if (weight_kernel && (w->kernel[0] != weight_kernel[0] || w->kernel[1] != weight_kernel[1]))
        return on_fail(n, "%s", "kernel_shape differs from the weight's");
    if (!auto_pad(n, w, x4, weight_kernel != NULL))
        return false;
    for (int i = 0; i < 4 && x4->padded; i++) /* a Pad before it (onnx_map_pad.c) */
        w->pads[i] += x4->pad[i];
    return true;
}

/* The input as the 4-D tensor the 2-D window reads: itself for a 2-D window, the
 * [N, C, 1, L] view of [N, C, L] for a 1-D one (whose channels and length must be known,
 * the reshapes writing them). False after reporting. */
static bool window_input(const OnnxNode *n, const Value *xin, int nd, Value *x4) {
    *x4 = *xin;
    if (nd == 2)
        return true;
    if (xin->rank != 3 || xin->dims[1] < 0 || xin->dims[2] < 0)
        return on_fail(n, "%s", "a 1-D window needs an input [N, C, L] whose channels and "
                       "length are known statically");
    x4->rank = 4;
    x4->dims[3] = xin->dims[2];
    x4->dims[2] = 1;
    x4->padded = false;
    return true;
}

/* The output's sizes: batch and channels, then the window arithmetic on height and width
 * (the height dropped again for a 1-D window). */
static void window_dims(Value *o, const Value *x4, int64_t channels, const Window *w,
                        bool ceil_mode) {
    int64_t d[4] = {x4->rank == 4 ? x4->dims[0] : -1, channels, -1, -1};
    for (int i = 0; i < 2 && x4->rank == 4; i++)
        d[2 + i] = w->same ? x4->dims[2 + i] /* stride 1 */
                           : onnx_window_size(x4->dims[2 + i], w->kernel[i], w->stride[i],
                                              w->dilation[i], w->pads[i], w->pads[i + 2],
                                              ceil_mode);
    o->rank = w->nd + 2;
    o->dims[0] = d[0], o->dims[1] = d[1];
    for (int i = 0; i < w->nd; i++)
        o->dims[2 + i] = d[4 - w->nd + i];
}

/* "op(x, " for a 2-D window; "reshape(x, [N, C, 1, L]) -> op(" for a 1-D one. */
static void window_open(OnnxCtx *x, const Window *w, const Value *x4, const char *op) {
    if (w->nd == 2)
        onnx_emit(x, "%s(%s, ", op, x4->ident);
    else
        onnx_emit(x, "reshape(%s, %s) -> %s(", x4->ident, on_ints_str(x, x4->dims, 4), op);
}

/* ")" and, for a 1-D window, the reshape back to [N, C, L]. */
static void window_close(OnnxCtx *x, const Window *w, const Value *o) {
    if (w->nd == 2)
        onnx_emit(x, ")\n");
    else
        onnx_emit(x, ") -> reshape(%s)\n", on_ints_str(x, o->dims, 3));
}

bool onnx_map_conv(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0), *wv = on_const_in(n, 1, "the weight W"), *bv = NULL;
    if (on_has(n, 2) && !(bv = on_const_in(n, 2, "the bias B")))
        return false;
    if (!xin || !wv)
        return false;
    OnnxConst w = wv->c;
    int nd = w.rank - 2;
    if (nd != 1 && nd != 2)
        return on_fail(n, "%s", "only 1-D and 2-D convolutions (a 3-D or 4-D weight) are "
                       "supported");
    if (bv && (bv->c.rank != 1 || bv->c.shape[0] != w.shape[0]))
        return on_fail(n, "%s", "the bias must have one value per output channel");
    if (nd == 1) { /* [F, C/g, k] as [F, C/g, 1, k] */
        w.rank = 4;
        w.shape[3] = w.shape[2];
        w.shape[2] = 1;
    }
    Value x4;
    Window win;
    if (!window_input(n, xin, nd, &x4) || !window(n, &win, &x4, nd, w.shape + 2))
        return false;
    int64_t group = on_attr_i(n, "group", 1);
    if (group < 1)
        return on_fail(n, "%s", "group must be positive");
    Value *o = on_out(n, nd + 2);
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    window_dims(o, &x4, w.shape[0], &win, false);
    const char *prefix = onnx_param_prefix(x, onnx_str(wv->onnx), o->ident);
    window_open(x, &win, &x4, "conv2d");
    onnx_emit(x, "%lld, kernel=%s", (long long)w.shape[0], on_pair_str(x, win.kernel));
    if (win.stride[0] != 1 || win.stride[1] != 1)
        onnx_emit(x, ", stride=%s", on_pair_str(x, win.stride));
    if (win.same)
        onnx_emit(x, ", padding=\"same\"");
    else if (win.pads[0] || win.pads[1] || win.pads[2] || win.pads[3])
        onnx_emit(x, ", padding=%s", pads_str(x, win.pads));
    if (win.dilation[0] != 1 || win.dilation[1] != 1)
        onnx_emit(x, ", dilation=%s", on_pair_str(x, win.dilation));
    if (group != 1)
        onnx_emit(x, ", groups=%lld", (long long)group);
    if (!bv)
        onnx_emit(x, ", bias=false");
    if (strcmp(prefix, o->ident) != 0)
        onnx_emit(x, ", name=\"%s\"", prefix);
    window_close(x, &win, o);
    onnx_add_param(x, prefix, "weight", &w, 4, w.shape, false);
    if (bv)
        onnx_add_param(x, prefix, "bias", &bv->c, 1, bv->c.shape, false);
    return true;
}

bool onnx_map_pool(const OnnxNode *n) {
    bool is_max = strcmp(n->op, "MaxPool") == 0;
    Value *xin = on_tensor_in(n, 0), x4;
    int64_t k[8];
    int nd = xin ? on_attr_ints(n, "kernel_shape", k, 8) : 0;
    Window win;
    if (!xin)
        return false;
    if (nd != 1 && nd != 2)
        return on_fail(n, "%s", "only 1-D and 2-D windows are supported");
    if (!window_input(n, xin, nd, &x4) || !window(n, &win, &x4, nd, NULL))
        return false;
    if (win.dilation[0] != 1 || win.dilation[1] != 1)
        return on_fail(n, "%s", "dilations other than 1 are not supported");
    if (n->p->n_output > 1 && n->p->output[1][0])
        return on_fail(n, "%s", "the Indices output is not supported: its dtype is INT64");
    if (on_attr_i(n, "storage_order", 0) != 0)
        return on_fail(n, "%s", "storage_order=1 is not supported");
    /* SPEC 1.4's pools follow PyTorch, which limits padding to half the kernel. */
    for (int i = 0; i < 4; i++)
        if (win.pads[i] > win.kernel[i % 2] / 2) /* 2 * pad > kernel, without overflow */
            return on_fail(n, "%s", "padding larger than half the kernel is not supported");
    bool ceil_mode = on_attr_i(n, "ceil_mode", 0) != 0;
    bool count_pad = on_attr_i(n, "count_include_pad", 0) != 0 || xin->padded;
    Value *o = on_out(n, nd + 2);
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    window_dims(o, &x4, x4.rank == 4 ? x4.dims[1] : -1, &win, ceil_mode);
    window_open(x, &win, &x4, is_max ? "maxpool2d" : "avgpool2d");
    onnx_emit(x, "%s, stride=%s", on_pair_str(x, win.kernel), on_pair_str(x, win.stride));
    if (win.pads[0] || win.pads[1] || win.pads[2] || win.pads[3])
        onnx_emit(x, ", padding=%s", pads_str(x, win.pads));
    if (ceil_mode)
        onnx_emit(x, ", ceil_mode=true");
    if (!is_max)
        onnx_emit(x, ", count_include_pad=%s", count_pad ? "true" : "false");
    window_close(x, &win, o);
    return true;
}

bool onnx_map_global_avgpool(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0);
    Value *o = xin ? on_out_like(n, xin) : NULL;
    if (!o)
        return false;
    for (int i = 2; i < o->rank; i++)
        o->dims[i] = 1;
    onnx_emit(n->x, "global_avgpool(%s)\n", xin->ident);
    return true;
}
