/* interp_conv.c: conv2d (PyTorch's nn.Conv2d on NCHW) as a direct convolution in double.
 *
 * x [N, C, H, W], weight [F, C/groups, kh, kw], bias [F] -> y [N, F, OH, OW]:
 *   y[n, f, oh, ow] = bias[f] + sum over c < C/groups, i < kh, j < kw of
 *     weight[f, c, i, j] * x[n, g * C/groups + c, oh * sh + i * dh - top, ow * sw + j * dw - left]
 * with g = f / (F/groups) and taps outside the image contributing nothing (zero padding).
 * The padding is the [top, left, bottom, right] that shape inference resolved ("same" and
 * "valid" included); the output size is the node's. */
#include "interp_internal.h"

typedef struct Conv {
    int64_t N, C, H, W, F, OH, OW, KH, KW, sh, sw, dh, dw, top, left, Cg, Fg;
    const float *x, *w, *b;
} Conv;

static bool conv_setup(const Interp *ip, Conv *cv) {
    Dims x;
    if (!interp_in_dims(ip, 0, &x))
        return false;
    if (x.rank != 4 || ip->y.rank != 4 || x.d[0] != ip->y.d[0])
        return interp_fail(ip, "needs an input and an output [N, C, H, W]");
    const int64_t *k = interp_ints(ip, "kernel", 2), *s = interp_ints(ip, "stride", 2);
    const int64_t *p = interp_ints(ip, "padding", 4), *d = interp_ints(ip, "dilation", 2);
    int64_t groups = attr_int(ip->n, "groups");
    if (!k || !s || !p || !d)
        return false;
    *cv = (Conv){.N = x.d[0], .C = x.d[1], .H = x.d[2], .W = x.d[3], .F = ip->y.d[1],
                 .OH = ip->y.d[2], .OW = ip->y.d[3], .KH = k[0], .KW = k[1], .sh = s[0],
                 .sw = s[1], .dh = d[0], .dw = d[1], .top = p[0], .left = p[1],
                 .x = ip->ins[0]};
    if (groups < 1 || cv->C % groups || cv->F % groups)
        return interp_fail(ip, "groups %lld does not divide %lld channels and %lld filters",
                           (long long)groups, (long long)cv->C, (long long)cv->F);
    cv->Cg = cv->C / groups;
    cv->Fg = cv->F / groups;
    return interp_param(ip, "weight", true, cv->F * cv->Cg * cv->KH * cv->KW, &cv->w) &&
           interp_param(ip, "bias", false, cv->F, &cv->b);
}

/* One output: image n, filter f, position (oh, ow). */
static double conv_at(const Conv *cv, int64_t n, int64_t f, int64_t oh, int64_t ow) {
    int64_t c0 = f / cv->Fg * cv->Cg; /* the group's first input channel */
    double acc = cv->b ? cv->b[f] : 0.0;
    for (int64_t c = 0; c < cv->Cg; c++)
        for (int64_t i = 0; i < cv->KH; i++) {
            int64_t ih = oh * cv->sh + i * cv->dh - cv->top;
            if (ih < 0 || ih >= cv->H)
                continue;
            for (int64_t j = 0; j < cv->KW; j++) {
                int64_t iw = ow * cv->sw + j * cv->dw - cv->left;
                if (iw < 0 || iw >= cv->W)
                    continue;
                double xv = cv->x[((n * cv->C + c0 + c) * cv->H + ih) * cv->W + iw];
                acc += xv * cv->w[((f * cv->Cg + c) * cv->KH + i) * cv->KW + j];
            }
        }
    return acc;
}

bool interp_conv2d(const Interp *ip) {
    Conv cv;
    if (!conv_setup(ip, &cv))
        return false;
    float *y = ip->out;
    for (int64_t n = 0; n < cv.N; n++)
        for (int64_t f = 0; f < cv.F; f++)
            for (int64_t oh = 0; oh < cv.OH; oh++)
                for (int64_t ow = 0; ow < cv.OW; ow++)
                    *y++ = (float)conv_at(&cv, n, f, oh, ow);
    return true;
}
