/* onnx_map_window.c: ONNX's windowed operators as .nnd conv2d and pools (SPEC 1.4).
 *
 * In: Conv, MaxPool, AveragePool and GlobalAveragePool nodes. Out: conv2d, maxpool2d,
 * avgpool2d and global_avgpool statements with the window's kernel, strides, pads and
 * dilations, and the weight and bias as the conv's parameters. Only 2-D windows map; the
 * pools follow PyTorch, which limits padding to half the kernel. */
#include <string.h>

#include "onnx_internal.h"

/* ONNX pads [top, left, bottom, right] as the .nnd padding argument. */
static const char *pads_str(OnnxCtx *x, const int64_t *p) {
    if (p[0] == p[2] && p[1] == p[3])
        return on_pair_str(x, p);
    return on_ints_str(x, p, 4);
}

/* kernel_shape, strides, pads, dilations of a 2-D window. */
typedef struct Window {
    int64_t kernel[2], stride[2], pads[4], dilation[2];
    bool same; /* .nnd's padding="same" (the pads then unknown) */
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


/* The window's attributes; false after reporting. */
static bool window(const OnnxNode *n, Window *w, const Value *xin,
                   const int64_t *weight_kernel) {
    int64_t v[8];
    int k = on_attr_ints(n, "kernel_shape", v, 8);
    if (k == -1 && weight_kernel) {
        w->kernel[0] = weight_kernel[0];
        w->kernel[1] = weight_kernel[1];
    } else if (k == 2) {
        w->kernel[0] = v[0];
        w->kernel[1] = v[1];
    } else {
        return on_fail(n, "%s", "only 2-D windows (kernel_shape of length 2) are supported");
    }
    w->stride[0] = w->stride[1] = 1;
    w->dilation[0] = w->dilation[1] = 1;
    memset(w->pads, 0, sizeof w->pads);
    if ((k = on_attr_ints(n, "strides", v, 8)) != -1) {
        if (k != 2)
            return on_fail(n, "%s", "strides must have 2 values");
        memcpy(w->stride, v, sizeof w->stride);
    }
    if ((k = on_attr_ints(n, "dilations", v, 8)) != -1) {
        if (k != 2)
            return on_fail(n, "%s", "dilations must have 2 values");
        memcpy(w->dilation, v, sizeof w->dilation);
    }
    if ((k = on_attr_ints(n, "pads", v, 8)) != -1) {
        if (k != 4)
            return on_fail(n, "%s", "pads must have 4 values");
        memcpy(w->pads, v, sizeof w->pads);
    }
    for (int i = 0; i < 4; i++)
        if (w->pads[i] < 0 || (i < 2 && (w->kernel[i] < 1 || w->stride[i] < 1 ||
                                          w->dilation[i] < 1)))
            return on_fail(n, "%s", "kernel, strides, dilations and pads must be positive");
    if (!auto_pad(n, w, xin, weight_kernel != NULL))
        return false;
    for (int i = 0; i < 4 && xin->padded; i++) /* a Pad before it (onnx_map_pad.c) */
        w->pads[i] += xin->pad[i];
    return true;
}

/* The output's sizes: batch and channels, then the window arithmetic on height and width. */
static void window_dims(Value *o, const Value *xin, int64_t channels, const Window *w,
                        bool ceil_mode) {
    o->dims[0] = xin->rank == 4 ? xin->dims[0] : -1;
    o->dims[1] = channels;
    for (int i = 0; i < 2; i++)
        o->dims[2 + i] = xin->rank != 4 ? -1
                         : onnx_window_size(xin->dims[2 + i], w->kernel[i], w->stride[i],
                                            w->dilation[i], w->pads[i], w->pads[i + 2],
                                            ceil_mode);
}

bool onnx_map_conv(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0), *wv = on_const_in(n, 1, "the weight W"), *bv = NULL;
    if (on_has(n, 2) && !(bv = on_const_in(n, 2, "the bias B")))
        return false;
    if (!xin || !wv)
        return false;
    const OnnxConst *w = &wv->c;
    if (w->rank != 4)
        return on_fail(n, "%s", "only 2-D convolutions (a 4-D weight) are supported");
    if (bv && (bv->c.rank != 1 || bv->c.shape[0] != w->shape[0]))
        return on_fail(n, "%s", "the bias must have one value per output channel");
    Window win;
    if (!window(n, &win, xin, w->shape + 2))
        return false;
    int64_t group = on_attr_i(n, "group", 1);
    if (group < 1)
        return on_fail(n, "%s", "group must be positive");
    Value *o = on_out(n, 4);
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    const char *prefix = onnx_param_prefix(x, onnx_str(wv->onnx), o->ident);
    onnx_emit(x, "conv2d(%s, %lld, kernel=%s", xin->ident, (long long)w->shape[0],
              on_pair_str(x, win.kernel));
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
    onnx_emit(x, ")\n");
    window_dims(o, xin, w->shape[0], &win, false);
    for (int i = 2; win.same && i < 4; i++) /* stride 1: the input's size */
        o->dims[i] = xin->rank == 4 ? xin->dims[i] : -1;
    onnx_add_param(x, prefix, "weight", w, 4, w->shape, false);
    if (bv)
        onnx_add_param(x, prefix, "bias", &bv->c, 1, bv->c.shape, false);
    return true;
}

bool onnx_map_pool(const OnnxNode *n) {
    bool is_max = strcmp(n->op, "MaxPool") == 0;
    Value *xin = on_tensor_in(n, 0);
    Window win;
    if (!xin || !window(n, &win, xin, NULL))
        return false;
    if (win.dilation[0] != 1 || win.dilation[1] != 1)
        return on_fail(n, "%s", "dilations other than 1 are not supported");
    if (n->p->n_output > 1 && n->p->output[1][0])
        return on_fail(n, "%s", "the Indices output is not supported: its dtype is INT64");
    if (on_attr_i(n, "storage_order", 0) != 0)
        return on_fail(n, "%s", "storage_order=1 is not supported");
    /* SPEC 1.4's pools follow PyTorch, which limits padding to half the kernel. */
    for (int i = 0; i < 4; i++)
        if (2 * win.pads[i] > win.kernel[i % 2])
            return on_fail(n, "%s", "padding larger than half the kernel is not supported");
    bool ceil_mode = on_attr_i(n, "ceil_mode", 0) != 0;
    bool count_pad = on_attr_i(n, "count_include_pad", 0) != 0 || xin->padded;
    Value *o = on_out(n, 4);
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    onnx_emit(x, "%s(%s, %s, stride=%s", is_max ? "maxpool2d" : "avgpool2d", xin->ident,
              on_pair_str(x, win.kernel), on_pair_str(x, win.stride));
    if (win.pads[0] || win.pads[1] || win.pads[2] || win.pads[3])
        onnx_emit(x, ", padding=%s", pads_str(x, win.pads));
    if (ceil_mode)
        onnx_emit(x, ", ceil_mode=true");
    if (!is_max)
        onnx_emit(x, ", count_include_pad=%s", count_pad ? "true" : "false");
    onnx_emit(x, ")\n");
    window_dims(o, xin, xin->rank == 4 ? xin->dims[1] : -1, &win, ceil_mode);
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
