/* pack_weights.c: the kernels' weight layouts (see pack_weights.h). */
#include "pack_weights.h"

float *pack_dense_weight(Arena *a, const float *w, int64_t U, int64_t K, int64_t NR) {
    int64_t P = (U + NR - 1) / NR;
    float *p = arena_array(a, (size_t)(P * K * NR), sizeof(float));
    /* Panel by panel, writing each line in order: the panel's NR rows of w are read a
     * column at a time, their cache lines reused over the next 16 columns. Row by row, every
     * store went to another line: a 1024 x 1024 layer took 5.3-6.2 ms into a new arena,
     * now 2.9-3.1 (a memcpy of it 2.3-2.9). */
    for (int64_t pb = 0; pb < P; pb++) {
        int64_t u0 = pb * NR, n = U - u0 < NR ? U - u0 : NR;
        float *dst = p + pb * K * NR;
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < n; j++)
                dst[k * NR + j] = w[(u0 + j) * K + k];
    }
    return p;
}

float *pack_dense_bias(Arena *a, const float *b, int64_t U, int64_t NR) {
    int64_t P = (U + NR - 1) / NR;
    float *p = arena_array(a, (size_t)(P * NR), sizeof(float));
    for (int64_t u = 0; u < U; u++)
        p[u] = b[u];
    return p;
}

float *pack_conv_weight(Arena *a, const float *w, int64_t F, int64_t taps, int64_t fb) {
    float *p = arena_array(a, (size_t)(F * taps), sizeof(float));
    for (int64_t f = 0; f < F; f++)
        for (int64_t t = 0; t < taps; t++)
            p[((f / fb) * taps + t) * fb + f % fb] = w[f * taps + t];
    return p;
}

int64_t dense_k_chunks(int64_t K, int64_t line_bytes, int64_t max_bytes, int64_t *Kc) {
    int64_t per = max_bytes / line_bytes > 0 ? max_bytes / line_bytes : 1; /* lines a chunk may hold */
    int64_t n = (K + per - 1) / per;
    *Kc = (K + n - 1) / n; /* as even as possible, and at most `per` */
    /* the chunks of Kc that cover K: never more than n, but a count taken from bytes rather
     * than whole lines once planned 1368 chunks of 1366 lines for K = 1867321 lines of 48
     * floats, the last starting past K */
    return (K + *Kc - 1) / *Kc;
}
