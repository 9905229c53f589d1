/* openblas_worker.c: the hand-written C peer: each dense layer one cblas_sgemm, each
 * convolution im2col then one cblas_sgemm per image (Caffe's scheme), bias and ReLU fused in
 * one pass after the GEMM, pooling and softmax as plain loops. NCHW throughout. Speaks the
 * protocol of peer.h; `openblas_worker MODELS_DIR`.
 *
 * Threads: openblas_set_num_threads(T) before each load; only the GEMMs are threaded, the
 * loops around them (im2col, bias, pooling) run on one thread. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "peer.h"

/* OpenBLAS extensions (cblas.h declares them in Debian's OpenBLAS, repeated for clarity). */
void openblas_set_num_threads(int num_threads);
char *openblas_get_config(void);
char *openblas_get_corename(void);

static const PeerModel *model;
static int batch, last_layer; /* last_layer writes the caller's output buffer */
static float *bufs[3], *col;

static const char *info(void) {
    static char s[512];
    const char *ct = getenv("OPENBLAS_CORETYPE");
    snprintf(s, sizeof s, "OpenBLAS | %s, core %s | openblas_set_num_threads(T); "
             "OPENBLAS_CORETYPE=%s; im2col + sgemm per image, NCHW",
             openblas_get_config(), openblas_get_corename(), ct ? ct : "(unset)");
    return s;
}

static int load(const PeerModel *m, int b, int threads, char *msg, size_t len) {
    openblas_set_num_threads(threads);
    model = m, batch = b, last_layer = 0;
    size_t act = 0, cols = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const Layer *l = &m->layers[i];
        LayerKind prev = i ? m->layers[i - 1].kind : L_INPUT;
        if (l->kind == L_RELU && prev != L_DENSE && prev != L_CONV && prev != L_ADD_SAVED) {
            snprintf(msg, len, "layer %d: this peer fuses relu into the layer before", i);
            return -1;
        }
        if (l->kind != L_RELU && l->kind != L_SAVE && l->kind != L_FLATTEN && i > 0)
            last_layer = i;
        size_t n = (size_t)l->out_c * (size_t)l->out_h * (size_t)l->out_w;
        act = n > act ? n : act;
        if (l->kind == L_CONV) {
            size_t c = (size_t)l->in_c * (size_t)(l->kernel * l->kernel) *
                       (size_t)l->out_h * (size_t)l->out_w;
            cols = c > cols ? c : cols;
        }
    }
    for (int i = 0; i < 3; i++) {
        free(bufs[i]);
        bufs[i] = malloc(act * (size_t)b * sizeof(float) + 64);
    }
    free(col);
    col = malloc(cols * sizeof(float) + 64);
    if (!bufs[0] || !bufs[1] || !bufs[2] || !col) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    snprintf(msg, len, "threads_used=%d", threads);
    return 0;
}

/* col[(c*k + ky)*k + kx][oy*ow + ox] = x[c][oy + ky - pad][ox + kx - pad], zero outside. */
static void im2col(const float *x, const Layer *l, float *out) {
    int k = l->kernel, p = l->padding, oh = l->out_h, ow = l->out_w;
    for (int c = 0; c < l->in_c; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                float *row = out + ((size_t)(c * k + ky) * (size_t)k + (size_t)kx) *
                                       (size_t)(oh * ow);
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy + ky - p;
                    float *r = row + (size_t)oy * (size_t)ow;
                    if (iy < 0 || iy >= l->in_h) {
                        memset(r, 0, sizeof(float) * (size_t)ow);
                        continue;
                    }
                    const float *src = x + ((size_t)c * (size_t)l->in_h + (size_t)iy) *
                                               (size_t)l->in_w;
                    for (int ox = 0; ox < ow; ox++) {
                        int ix = ox + kx - p;
                        r[ox] = ix >= 0 && ix < l->in_w ? src[ix] : 0.0f;
                    }
                }
            }
}

/* y[r][j] += bias[r] (then max(0, .)), for rows of `cols` values; `per_row` picks the bias
 * index per row (conv: a row is a channel) or per column (dense: a row is an image). */
static void bias_act(float *y, const float *bias, int rows, int cols, int per_row, int relu) {
    for (int r = 0; r < rows; r++) {
        float *v = y + (size_t)r * (size_t)cols;
        for (int j = 0; j < cols; j++) {
            float t = v[j] + (per_row ? bias[r] : bias[j]);
            v[j] = relu && t < 0 ? 0 : t;
        }
    }
}

static void maxpool(const float *x, float *y, const Layer *l) {
    int k = l->kernel;
    for (size_t c = 0; c < (size_t)batch * (size_t)l->in_c; c++)
        for (int oy = 0; oy < l->out_h; oy++)
            for (int ox = 0; ox < l->out_w; ox++) {
                const float *p = x + (c * (size_t)l->in_h + (size_t)(oy * k)) * (size_t)l->in_w +
                                 (size_t)(ox * k);
                float m = p[0];
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++)
                        m = fmaxf(m, p[(size_t)ky * (size_t)l->in_w + (size_t)kx]);
                y[(c * (size_t)l->out_h + (size_t)oy) * (size_t)l->out_w + (size_t)ox] = m;
            }
}

static void softmax(float *x, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        float *v = x + (size_t)r * (size_t)cols, m = v[0], s = 0;
        for (int j = 1; j < cols; j++)
            m = fmaxf(m, v[j]);
        for (int j = 0; j < cols; j++)
            s += v[j] = expf(v[j] - m);
        for (int j = 0; j < cols; j++)
            v[j] /= s;
    }
}

static int run(const float *in, float *out, char *msg, size_t len) {
    const float *cur = in, *saved = NULL;
    (void)msg, (void)len;
    for (int i = 1; i < model->nlayers; i++) {
        const Layer *l = &model->layers[i];
        int relu_next = i + 1 < model->nlayers && model->layers[i + 1].kind == L_RELU;
        size_t in_img = (size_t)l->in_c * (size_t)l->in_h * (size_t)l->in_w;
        size_t out_img = (size_t)l->out_c * (size_t)l->out_h * (size_t)l->out_w;
        float *dst = bufs[0];
        for (int b = 0; dst == cur || dst == saved; b++)
            dst = bufs[b + 1];
        if (i == last_layer)
            dst = out;
        switch (l->kind) {
        case L_DENSE:
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, l->units, (int)in_img,
                        1.0f, cur, (int)in_img, l->weight, (int)in_img, 0.0f, dst, l->units);
            bias_act(dst, l->bias, batch, l->units, 0, relu_next);
            break;
        case L_CONV: {
            int ckk = l->in_c * l->kernel * l->kernel, hw = l->out_h * l->out_w;
            for (int b = 0; b < batch; b++) {
                float *y = dst + (size_t)b * out_img;
                im2col(cur + (size_t)b * in_img, l, col);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->units, hw, ckk, 1.0f,
                            l->weight, ckk, col, hw, 0.0f, y, hw);
                bias_act(y, l->bias, l->units, hw, 1, relu_next);
            }
            break;
        }
        case L_MAXPOOL: maxpool(cur, dst, l); break;
        case L_SOFTMAX:
            memcpy(dst, cur, sizeof(float) * out_img * (size_t)batch);
            softmax(dst, batch, (int)out_img);
            break;
        case L_ADD_SAVED: {
            size_t n = out_img * (size_t)batch;
            for (size_t j = 0; j < n; j++) {
                float t = cur[j] + saved[j];
                dst[j] = relu_next && t < 0 ? 0 : t;
            }
            break;
        }
        case L_SAVE: saved = cur; continue;
        case L_FLATTEN: continue;
        case L_RELU: continue; /* fused into the layer before (every model has it there) */
        default: continue;
        }
        cur = dst;
    }
    if (cur != out) /* a model that is only views of its input */
        memcpy(out, cur, sizeof(float) * model->out_elems * (size_t)batch);
    return 0;
}

int main(int argc, char **argv) {
    PeerOps ops = {info, load, run};
    return peer_main(argc, argv, &ops);
}
