/* test_example_models.c: the README's example models give PyTorch's answers.
 *
 * lenet5: the SPEC's LeNet-5 (examples/lenet5, untrained, PyTorch default init) on two
 * upscaled sklearn digits; resnet_block: a ResNet basic block with eval-mode batchnorms
 * (examples/resnet_block). Each is compiled from its .nnd file through the public runtime
 * at every optimization level, run on its input.npy, and compared with the PyTorch output
 * the make_*.py script saved (float64 forward pass on the float32 weights): the output
 * shape must match and every element must satisfy |got - want| <= 1e-4 |want| + 1e-5. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nnd.h"
#include "npy.h"
#include "unit_harness.h"

#define EXAMPLES NND_SOURCE_DIR "/examples"

/* Compiles dir/model, runs it on dir/input.npy (bound to input `in_name`) and compares
 * output `out_name` with dir/expected. */
static void check_example(const char *model, const char *input, const char *expected,
                          const char *in_name, const char *out_name) {
    char msg[256];
    NpyArray x = {0}, want = {0};
    if (!npy_read(input, &x, msg, sizeof msg) || !npy_read(expected, &want, msg, sizeof msg)) {
        fprintf(stderr, "\n  %s\n", msg);
        CU_FAIL_FATAL("cannot read the example's .npy files");
    }
    for (int level = 0; level <= 3; level++) {
        nnd_options o;
        nnd_options_init(&o);
        o.opt_level = level;
        nnd_model *m = NULL;
        char *err = NULL;
        nnd_status st = nnd_model_compile_file(model, &o, &m, &err);
        if (st != NND_OK) {
            fprintf(stderr, "\n  -O%d: %s: %s\n%s", level, model, nnd_status_name(st),
                    err ? err : "(no message)\n");
            nnd_string_free(err);
            npy_free(&x);
            npy_free(&want);
            CU_FAIL_FATAL("the example model does not compile");
        }
        CU_ASSERT_EQUAL(nnd_model_num_inputs(m), 1);
        CU_ASSERT_EQUAL(nnd_model_num_outputs(m), 1);
        CU_ASSERT_EQUAL(nnd_model_input_index(m, in_name), 0);
        CU_ASSERT_EQUAL(nnd_model_output_index(m, out_name), 0);

        nnd_context *ctx = NULL;
        CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
        float *got = calloc((size_t)want.numel + 1, sizeof(float));
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        nnd_tensor in = {x.data, (size_t)x.numel, (size_t)x.rank, x.shape, {0}};
        nnd_tensor out = {got, (size_t)want.numel, 0, NULL, {0}};
        st = nnd_run(ctx, &in, 1, &out, 1);
        if (st != NND_OK)
            fprintf(stderr, "\n  -O%d: nnd_run: %s: %s\n", level, nnd_status_name(st),
                    nnd_context_error(ctx));
        CU_ASSERT_EQUAL(st, NND_OK);

        if (st == NND_OK) {
            CU_ASSERT_EQUAL(out.rank, (size_t)want.rank);
            int shape_ok = out.rank == (size_t)want.rank;
            for (int d = 0; shape_ok && d < want.rank; d++)
                shape_ok = out.out_shape[d] == want.shape[d];
            CU_ASSERT(shape_ok);

            int64_t bad = 0, worst_i = -1;
            double worst = 0; /* the largest |got - want| / tolerance */
            for (int64_t i = 0; i < want.numel; i++) {
                double w = want.data[i], diff = fabs((double)got[i] - w);
                double tol = 1e-4 * fabs(w) + 1e-5;
                if (!(diff <= tol)) /* NaN counts as bad */
                    bad++;
                if (!(diff / tol <= worst)) {
                    worst = diff / tol;
                    worst_i = i;
                }
            }
            if (bad)
                fprintf(stderr, "\n  -O%d: %lld of %lld elements outside tolerance; worst at %lld: "
                        "got %.9g, want %.9g\n", level, (long long)bad, (long long)want.numel,
                        (long long)worst_i, got[worst_i], want.data[worst_i]);
            CU_ASSERT_EQUAL(bad, 0);
        }
        free(got);
        nnd_context_destroy(ctx);
        nnd_model_destroy(m);
    }
    npy_free(&x);
    npy_free(&want);
}

static void test_example_models_lenet5(void) {
    check_example(EXAMPLES "/lenet5/lenet5.nnd", EXAMPLES "/lenet5/input.npy",
                  EXAMPLES "/lenet5/expected_logits.npy", "x", "logits");
}

static void test_example_models_resnet_block(void) {
    check_example(EXAMPLES "/resnet_block/resnet_block.nnd", EXAMPLES "/resnet_block/input.npy",
                  EXAMPLES "/resnet_block/expected_y.npy", "x", "y");
}

NND_SUITE("example_models", test_example_models_lenet5, test_example_models_resnet_block)
