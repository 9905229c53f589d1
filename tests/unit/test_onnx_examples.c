/* test_onnx_examples.c: the example models round-trip PyTorch -> ONNX -> nnd.
 *
 * In: tests/onnx/examples/NAME.onnx and NAME.torch.npy, written by
 * tests/onnx/make_example_onnx.py from examples/NAME (the PyTorch module the .nnd file
 * describes, loaded with the example's safetensors weights, exported at opset 14 with a
 * symbolic batch), and the example's own input file. Each .onnx is compiled through the
 * public runtime (the importer runs inside) and through `nndc import` to .nnd and
 * .safetensors; both, and the example's hand-written .nnd, run on the same input. Out: the
 * outputs of the three agree with PyTorch's (|got - want| <= 1e-4 |want| + 1e-5, as
 * test_example_models asks of the .nnd alone) and the imported model agrees with the
 * hand-written one to float32 rounding (1e-5 |want| + 1e-6). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnd.h"
#include "npy.h"
#include "unit_harness.h"
#include "unit_shell.h"

#define NNDC NND_BINARY_DIR "/nndc"
#define EXAMPLES NND_SOURCE_DIR "/examples"
#define ONNX_EXAMPLES NND_SOURCE_DIR "/tests/onnx/examples"

/* Compiles model, runs it on x and returns its one output (numel values, malloc'd), NULL
 * after printing why. The model must take in_name and give out_name. */
static float *run_model(const char *model, const NpyArray *x, const char *in_name,
                        const char *out_name, int64_t numel) {
    nnd_options o;
    nnd_options_init(&o);
    nnd_model *m = NULL;
    char *err = NULL;
    nnd_status st = nnd_model_compile_file(model, &o, &m, &err);
    if (st != NND_OK) {
        fprintf(stderr, "\n  %s: %s\n%s", model, nnd_status_name(st), err ? err : "");
        nnd_string_free(err);
        return NULL;
    }
    nnd_string_free(err);
    float *y = calloc((size_t)numel + 1, sizeof *y);
    nnd_context *ctx = NULL;
    bool ok = y && nnd_model_num_inputs(m) == 1 && nnd_model_num_outputs(m) == 1 &&
              nnd_model_input_index(m, in_name) == 0 && nnd_model_output_index(m, out_name) == 0 &&
              nnd_context_create(m, &ctx) == NND_OK;
    nnd_tensor in = {x->data, (size_t)x->numel, (size_t)x->rank, x->shape, {0}};
    nnd_tensor out = {y, (size_t)numel, 0, NULL, {0}};
    if (ok && (st = nnd_run(ctx, &in, 1, &out, 1)) != NND_OK) {
        fprintf(stderr, "\n  %s: nnd_run: %s: %s\n", model, nnd_status_name(st),
                nnd_context_error(ctx));
        ok = false;
    }
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    if (!ok) {
        fprintf(stderr, "\n  %s: does not take %s and give %s, or does not run\n", model,
                in_name, out_name);
        free(y);
        return NULL;
    }
    return y;
}

/* How many of the n values of got differ from want by more than rtol |want| + atol. */
static int64_t mismatches(const char *what, const float *got, const float *want, int64_t n,
                          double rtol, double atol) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= rtol * fabs((double)want[i]) + atol) &&
            bad++ == 0)
            fprintf(stderr, "\n  %s: element %lld is %.9g, want %.9g\n", what, (long long)i,
                    got[i], want[i]);
    return bad;
}

static void check_example(const char *name, const char *input, const char *in_name,
                          const char *out_name) {
    char path[512], onnx[512], nnd[512], imported[512], msg[256];
    NpyArray x = {0}, want = {0};
    snprintf(path, sizeof path, EXAMPLES "/%s/%s", name, input);
    snprintf(onnx, sizeof onnx, ONNX_EXAMPLES "/%s.onnx", name);
    snprintf(nnd, sizeof nnd, EXAMPLES "/%s/%s.nnd", name, name);
    snprintf(imported, sizeof imported, "%s/%s.nnd", sh_tmpdir(), name);
    CU_ASSERT_FATAL(npy_read(path, &x, msg, sizeof msg));
    snprintf(path, sizeof path, ONNX_EXAMPLES "/%s.torch.npy", name);
    CU_ASSERT_FATAL(npy_read(path, &want, msg, sizeof msg));
    CU_ASSERT_EQUAL_FATAL(sh(NNDC " import %s -o %s", onnx, imported), 0);
    float *direct = run_model(onnx, &x, in_name, out_name, want.numel);
    float *via_nnd = run_model(imported, &x, in_name, out_name, want.numel);
    float *own = run_model(nnd, &x, in_name, out_name, want.numel);
    CU_ASSERT_FATAL(direct && via_nnd && own);
    CU_ASSERT_EQUAL(mismatches("ONNX vs PyTorch", direct, want.data, want.numel, 1e-4, 1e-5), 0);
    CU_ASSERT_EQUAL(mismatches("imported .nnd vs PyTorch", via_nnd, want.data, want.numel, 1e-4,
                               1e-5), 0);
    CU_ASSERT_EQUAL(mismatches(".nnd vs PyTorch", own, want.data, want.numel, 1e-4, 1e-5), 0);
    CU_ASSERT_EQUAL(mismatches("ONNX vs .nnd", direct, own, want.numel, 1e-5, 1e-6), 0);
    CU_ASSERT_EQUAL(mismatches("imported vs ONNX", via_nnd, direct, want.numel, 0, 0), 0);
    free(direct);
    free(via_nnd);
    free(own);
    npy_free(&x);
    npy_free(&want);
}

static void test_onnx_examples_digits(void) {
    check_example("digits", "test_x.npy", "pixels", "probs");
}

static void test_onnx_examples_lenet5(void) { check_example("lenet5", "input.npy", "x", "logits"); }

static void test_onnx_examples_resnet_block(void) {
    check_example("resnet_block", "input.npy", "x", "y");
}

NND_SUITE("onnx_examples", test_onnx_examples_digits, test_onnx_examples_lenet5,
          test_onnx_examples_resnet_block)
