/* test_pack_weights.c: the kernels' weight layouts (compiler/codegen/pack_weights.c).
 *
 * Every element of the PyTorch-layout tensor lands where the kernel reads it, and the
 * padding past the tensor is zero: dense panels with U not a multiple of NR (and one that
 * is), the padded bias, conv2d blocks of fb filters. The lowerings' use of these layouts is
 * checked by the reference cases (test_reference), which reach every panel and block shape. */
#include "arena.h"
#include "pack_weights.h"
#include "unit_harness.h"

static float *iota(Arena *a, int64_t n) {
    float *v = arena_array(a, (size_t)n, sizeof(float));
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(i + 1); /* never 0, so padding is told apart */
    return v;
}

static void check_dense(int64_t U, int64_t K, int64_t NR) {
    Arena *a = arena_new();
    const float *w = iota(a, U * K), *b = iota(a, U);
    const float *p = pack_dense_weight(a, w, U, K, NR), *pb = pack_dense_bias(a, b, U, NR);
    int64_t P = (U + NR - 1) / NR;
    int64_t misplaced = 0;
    for (int64_t q = 0; q < P; q++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t c = 0; c < NR; c++) {
                int64_t u = q * NR + c;
                float want = u < U ? w[u * K + k] : 0.0f;
                misplaced += p[(q * K + k) * NR + c] != want;
            }
    for (int64_t u = 0; u < P * NR; u++)
        misplaced += pb[u] != (u < U ? b[u] : 0.0f);
    CU_ASSERT_EQUAL(misplaced, 0);
    arena_free(a);
}

static void test_pack_dense_panels(void) {
    check_dense(70, 5, 32);  /* two full panels and one cut at 6 columns */
    check_dense(64, 3, 32);  /* exact */
    check_dense(10, 7, 16);  /* one panel, mostly padding */
    check_dense(1, 1, 8);
}

static void test_pack_conv_blocks(void) {
    Arena *a = arena_new();
    const int64_t F = 12, taps = 2 * 3 * 3, fb = 4;
    const float *w = iota(a, F * taps), *p = pack_conv_weight(a, w, F, taps, fb);
    int64_t misplaced = 0;
    for (int64_t f = 0; f < F; f++)
        for (int64_t t = 0; t < taps; t++)
            misplaced += p[((f / fb) * taps + t) * fb + f % fb] != w[f * taps + t];
    CU_ASSERT_EQUAL(misplaced, 0);
    /* a block's fb weights of one tap are adjacent: filter 5 (block 1, lane 1), tap 2 */
    CU_ASSERT_EQUAL(p[(1 * taps + 2) * fb + 1], w[5 * taps + 2]);
    CU_ASSERT_EQUAL(p[(1 * taps + 2) * fb + 2], w[6 * taps + 2]);
    arena_free(a);
}

NND_SUITE("pack_weights", test_pack_dense_panels, test_pack_conv_blocks)
