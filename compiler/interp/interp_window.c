/* interp_window.c: maxpool2d and avgpool2d (PyTorch's MaxPool2d / AvgPool2d), and
 * global_avgpool, one window at a time.
 *
 * x [..., C, H, W] -> y [..., C, OH, OW], each H x W plane on its own. Output (oh, ow) covers
 * input rows oh*sh - top + [0, kh) and columns ow*sw - left + [0, kw), the output size being
 * the node's (ceil_mode decided it). maxpool: the largest tap inside the input, padding being
 * -inf; a NaN tap makes the result NaN, as in PyTorch. avgpool, as PyTorch's avg_pool2d: the
 * window is first clipped to the padded input (rows up to H + bottom), which gives the
 * divisor with count_include_pad; then to the input, which gives the taps summed and the
 * divisor without it.
 * global_avgpool: [N, C, H, W] -> [N, C, 1, 1], the mean of each plane. */
#include <math.h>

#include "interp_internal.h"

typedef struct Pool {
    int64_t H, W, OH, OW, kh, kw, sh, sw, top, left, bottom, right;
    bool max, include_pad;
} Pool;

/* One axis of one window: [*lo, *hi) inside the input, *span inside the padded input. */
static void clip(int64_t start, int64_t kernel, int64_t in, int64_t pad_end, int64_t *lo,
                 int64_t *hi, int64_t *span) {
    int64_t end = start + kernel < in + pad_end ? start + kernel : in + pad_end;
    *span = end - start;
    *lo = start > 0 ? start : 0;
    *hi = end < in ? end : in;
}

static float pool_at(const Pool *p, const float *plane, int64_t oh, int64_t ow) {
    int64_t h0, h1, hspan, w0, w1, wspan;
    clip(oh * p->sh - p->top, p->kh, p->H, p->bottom, &h0, &h1, &hspan);
    clip(ow * p->sw - p->left, p->kw, p->W, p->right, &w0, &w1, &wspan);
    double acc = p->max ? -INFINITY : 0.0;
    for (int64_t h = h0; h < h1; h++)
        for (int64_t w = w0; w < w1; w++) {
            double v = plane[h * p->W + w];
            if (!p->max)
                acc += v;
            else if (v > acc || isnan(v))
                acc = v;
        }
    if (p->max)
        return (float)acc;
    int64_t count = p->include_pad ? hspan * wspan : (h1 - h0) * (w1 - w0);
    return count > 0 ? (float)(acc / (double)count) : 0.0f;
}

static bool pool_setup(const Interp *ip, Pool *p, Dims *x) {
    if (!interp_in_dims(ip, 0, x))
        return false;
    int r = x->rank;
    if (r < 3 || r > 4 || ip->y.rank != r ||
        interp_prod(x, 0, r - 2) != interp_prod(&ip->y, 0, r - 2))
        return interp_fail(ip, "needs an input and an output [..., C, H, W] alike but for H, W");
    const int64_t *k = interp_ints(ip, "kernel", 2), *s = interp_ints(ip, "stride", 2);
    const int64_t *pad = interp_ints(ip, "padding", 4);
    if (!k || !s || !pad)
        return false;
    *p = (Pool){.H = x->d[r - 2], .W = x->d[r - 1], .OH = ip->y.d[r - 2], .OW = ip->y.d[r - 1],
                .kh = k[0], .kw = k[1], .sh = s[0], .sw = s[1], .top = pad[0], .left = pad[1],
                .bottom = pad[2], .right = pad[3], .max = ip->n->op == OP_MAXPOOL2D,
                .include_pad = attr_bool(ip->n, "count_include_pad")};
    return true;
}

bool interp_pool2d(const Interp *ip) {
    Pool p = {0};
    Dims x;
    if (!pool_setup(ip, &p, &x))
        return false;
    int64_t planes = interp_prod(&x, 0, x.rank - 2);
    float *y = ip->out;
    for (int64_t i = 0; i < planes; i++)
        for (int64_t oh = 0; oh < p.OH; oh++)
            for (int64_t ow = 0; ow < p.OW; ow++)
                *y++ = pool_at(&p, ip->ins[0] + i * p.H * p.W, oh, ow);
    return true;
}

bool interp_global_avgpool(const Interp *ip) {
    Dims x;
    if (!interp_in_dims(ip, 0, &x))
        return false;
    if (x.rank != 4 || ip->y.numel != x.d[0] * x.d[1])
        return interp_fail(ip, "needs an input [N, C, H, W] and an output [N, C, 1, 1]");
    int64_t planes = x.d[0] * x.d[1], hw = x.d[2] * x.d[3];
    for (int64_t i = 0; i < planes; i++) {
        double sum = 0.0;
        for (int64_t k = 0; k < hw; k++)
            sum += ip->ins[0][i * hw + k];
        ip->out[i] = (float)(sum / (double)hw);
    }
    return true;
}
