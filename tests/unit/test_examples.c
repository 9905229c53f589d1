/* test_examples.c: the bundled example models give PyTorch's answers.
 *
 * digits: the trained MLP of examples/digits compiled from its .nnd file, run on the
 * held-out split: every probability within float32 rounding of PyTorch's (train.py wrote
 * expected_probs.npy with the same weights), and the same number of correct predictions. */
#include <math.h>
#include <stdlib.h>

#include "nnd.h"
#include "npy.h"
#include "unit_harness.h"

#define DIGITS NND_SOURCE_DIR "/examples/digits"

static void test_examples_digits_matches_pytorch(void) {
    char msg[256];
    NpyArray x = {0}, y = {0}, want = {0};
    CU_ASSERT_FATAL(npy_read(DIGITS "/test_x.npy", &x, msg, sizeof msg));
    CU_ASSERT_FATAL(npy_read(DIGITS "/test_y.npy", &y, msg, sizeof msg));
    CU_ASSERT_FATAL(npy_read(DIGITS "/expected_probs.npy", &want, msg, sizeof msg));
    for (int level = 0; level <= 3; level++) {
        nnd_options o;
        nnd_options_init(&o);
        o.opt_level = level;
        nnd_model *m;
        char *err = NULL;
        CU_ASSERT_EQUAL_FATAL(nnd_model_compile_file(DIGITS "/digits.nnd", &o, &m, &err), NND_OK);
        nnd_context *ctx;
        CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
        float *probs = calloc((size_t)want.numel, sizeof(float));
        nnd_tensor in = {x.data, (size_t)x.numel, 2, x.shape, {0}};
        nnd_tensor out = {probs, (size_t)want.numel, 0, NULL, {0}};
        CU_ASSERT_EQUAL_FATAL(nnd_run(ctx, &in, 1, &out, 1), NND_OK);
        CU_ASSERT_EQUAL(out.rank, 2);
        CU_ASSERT_EQUAL(out.out_shape[0], x.shape[0]);
        CU_ASSERT_EQUAL(out.out_shape[1], 10);
        double worst = 0;
        long correct = 0;
        for (int64_t i = 0; i < want.numel; i++) {
            double e = fabs((double)probs[i] - want.data[i]) / (1e-6 + fabs(want.data[i]));
            worst = e > worst ? e : worst;
        }
        for (int64_t r = 0; r < x.shape[0]; r++) {
            int best = 0;
            for (int k = 1; k < 10; k++)
                if (probs[r * 10 + k] > probs[r * 10 + best])
                    best = k;
            correct += best == (int)y.data[r];
        }
        CU_ASSERT(worst < 1e-4);
        long want_correct = 0, want_total = 0;
        FILE *f = fopen(DIGITS "/expected_accuracy.txt", "r");
        CU_ASSERT_FATAL(f && fscanf(f, "%ld %ld", &want_correct, &want_total) == 2);
        fclose(f);
        CU_ASSERT_EQUAL(correct, want_correct);
        CU_ASSERT_EQUAL(x.shape[0], want_total);
        free(probs);
        nnd_context_destroy(ctx);
        nnd_model_destroy(m);
    }
    npy_free(&x);
    npy_free(&y);
    npy_free(&want);
}

NND_SUITE("examples", test_examples_digits_matches_pytorch)
