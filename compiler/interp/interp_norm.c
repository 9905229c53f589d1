/* interp_norm.c: the ops that normalize along an axis: batchnorm, layernorm, softmax and
 * log_softmax, in double.
 *
 * batchnorm (inference, channel axis 1): x [N, C, ...] ->
 *   y = (x - running_mean[c]) / sqrt(running_var[c] + eps) * weight[c] + bias[c].
 * layernorm (last axis D): per row, mean and biased variance (two passes, as PyTorch's
 *   result), y = (x - mean) / sqrt(var + eps) * weight + bias.
 * softmax / log_softmax along `axis` (stored non-negative; a scalar is a line of one):
 *   m = max, s = sum of exp(x - m); y = exp(x - m) / s, or (x - m) - log(s). */
#include <math.h>

#include "interp_internal.h"

bool interp_batchnorm(const Interp *ip) {
    Dims x;
    if (!interp_in_dims(ip, 0, &x))
        return false;
    if (x.rank < 2 || x.numel != ip->y.numel)
        return interp_fail(ip, "needs an input [N, C, ...] and an output of its size");
    int64_t C = x.d[1], inner = interp_prod(&x, 2, x.rank), outer = x.d[0];
    const float *w, *b, *mean, *var;
    if (!interp_param(ip, "weight", true, C, &w) || !interp_param(ip, "bias", true, C, &b) ||
        !interp_param(ip, "running_mean", true, C, &mean) ||
        !interp_param(ip, "running_var", true, C, &var))
        return false;
    double eps = attr_float(ip->n, "eps");
    const float *X = ip->ins[0];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < C; c++) {
            double scale = (double)w[c] / sqrt((double)var[c] + eps);
            int64_t base = (o * C + c) * inner;
            for (int64_t i = 0; i < inner; i++)
                ip->out[base + i] = (float)(((double)X[base + i] - mean[c]) * scale + b[c]);
        }
    return true;
}

/* One row of layernorm: x and y hold D values. */
static void layernorm_row(const float *x, float *y, int64_t D, const float *w, const float *b,
                          double eps) {
    double mean = 0.0, var = 0.0;
    for (int64_t k = 0; k < D; k++)
        mean += x[k];
    mean /= (double)D;
    for (int64_t k = 0; k < D; k++)
        var += ((double)x[k] - mean) * ((double)x[k] - mean);
    double rstd = 1.0 / sqrt(var / (double)D + eps);
    for (int64_t k = 0; k < D; k++)
        y[k] = (float)(((double)x[k] - mean) * rstd * w[k] + b[k]);
}

bool interp_layernorm(const Interp *ip) {
    Dims x;
    if (!interp_in_dims(ip, 0, &x))
        return false;
    if (x.rank < 1 || x.numel != ip->y.numel)
        return interp_fail(ip, "needs an input [..., D] and an output of its size");
    int64_t D = x.d[x.rank - 1], rows = interp_prod(&x, 0, x.rank - 1);
    const float *w, *b;
    if (!interp_param(ip, "weight", true, D, &w) || !interp_param(ip, "bias", true, D, &b))
        return false;
    double eps = attr_float(ip->n, "eps");
    for (int64_t r = 0; r < rows; r++)
        layernorm_row(ip->ins[0] + r * D, ip->out + r * D, D, w, b, eps);
    return true;
}

/* One line of L values, `inner` apart. */
static void softmax_line(const float *x, float *y, int64_t L, int64_t inner, bool log_form) {
    double m = -INFINITY, s = 0.0;
    for (int64_t l = 0; l < L; l++)
        m = x[l * inner] > m ? x[l * inner] : m;
    for (int64_t l = 0; l < L; l++)
        s += exp((double)x[l * inner] - m);
    for (int64_t l = 0; l < L; l++) {
        double d = (double)x[l * inner] - m;
        y[l * inner] = (float)(log_form ? d - log(s) : exp(d) / s);
    }
}

bool interp_softmax(const Interp *ip) {
    Dims x;
    if (!interp_in_dims(ip, 0, &x))
        return false;
    int64_t axis = attr_int(ip->n, "axis");
    int rank = x.rank ? x.rank : 1;
    if (axis < 0)
        axis += rank;
    if (axis < 0 || axis >= rank || x.numel != ip->y.numel)
        return interp_fail(ip, "axis %lld is out of range, or the output is not the input's size",
                           (long long)attr_int(ip->n, "axis"));
    int64_t outer = interp_prod(&x, 0, (int)axis);
    int64_t L = x.rank ? x.d[axis] : 1, inner = interp_prod(&x, (int)axis + 1, x.rank);
    bool log_form = ip->n->op == OP_LOG_SOFTMAX;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * L * inner + i;
            softmax_line(ip->ins[0] + base, ip->out + base, L, inner, log_form);
        }
    return true;
}
