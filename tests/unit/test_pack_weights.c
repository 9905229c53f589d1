/* test_pack_weights.c: the kernels' weight layouts (compiler/codegen/pack_weights.c).
 *
 * Every element of the PyTorch-layout tensor lands where the kernel reads it, and the
 * padding past the tensor is zero: dense panels with U not a multiple of NR (and one that
 * is), the padded bias, conv2d blocks of fb filters. The lowerings' use of these layouts is
 * checked by the reference cases (test_reference), which reach every panel and block shape. */
#include <stdbool.h>
#include <stdio.h>

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

/* The chunks of k cover 0..K-1 exactly, none empty or over the budget. */
static void check_chunks(int64_t K, int64_t line_bytes, int64_t max_bytes) {
    int64_t Kc = 0, n = dense_k_chunks(K, line_bytes, max_bytes, &Kc);
    int64_t last = K - (n - 1) * Kc;
    bool ok = n >= 1 && Kc >= 1 && last >= 1 && last <= Kc &&
              (Kc * line_bytes <= max_bytes || Kc == 1);
    if (!ok)
        fprintf(stderr, "\n  K %lld, %lld-byte lines: %lld chunks of %lld, the last %lld",
                (long long)K, (long long)line_bytes, (long long)n, (long long)Kc, (long long)last);
    CU_ASSERT(ok);
}

static void test_dense_k_chunks(void) {
    int64_t Kc;
    CU_ASSERT_EQUAL(dense_k_chunks(1024, 256, 256 << 10, &Kc), 1); /* exactly 256 KB: one */
    CU_ASSERT_EQUAL(Kc, 1024);
    CU_ASSERT_EQUAL(dense_k_chunks(4096, 256, 256 << 10, &Kc), 4);
    CU_ASSERT_EQUAL(Kc, 1024);
    CU_ASSERT_EQUAL(dense_k_chunks(4500, 192, 256 << 10, &Kc), 4);
    CU_ASSERT_EQUAL(Kc, 1125);
    /* A count planned from K * line_bytes / max_bytes (1368) with chunks evened out from it
     * (1366 lines) started its last chunk past K. */
    CU_ASSERT_EQUAL(dense_k_chunks(1867321, 192, 256 << 10, &Kc), 1369);
    CU_ASSERT_EQUAL(Kc, 1365);
    for (int64_t K = 1866321; K < 1868321; K++)
        check_chunks(K, 192, 256 << 10);
    for (int64_t K = 1; K < 40000; K += 7)
        for (int64_t line = 32; line <= 256; line += 32)
            check_chunks(K, line, 256 << 10);
    check_chunks(100, 1 << 20, 256 << 10); /* lines over the budget: one a chunk */
}

NND_SUITE("pack_weights", test_pack_dense_panels, test_pack_conv_blocks, test_dense_k_chunks)
