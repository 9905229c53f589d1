/* test_threads.c: nnd_options.threads and the two ways nnd_run uses them.
 *
 * A model whose samples stay apart runs a batch of at least `threads` samples in slices, one
 * per thread; a smaller batch, or a model that mixes its samples (graph_batch_symbol says
 * which), splits each large kernel's output between the threads instead (forward_parallel's
 * regions). Either way the outputs must be bit-identical to one thread's for every thread
 * count and batch (1, 7, 64), on dense, conv, pool, norm, softmax and residual models. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "batch_split.h"
#include "nnd.h"
#include "unit_compile.h"
#include "unit_harness.h"
#include "unit_model.h"
#include "unit_shell.h"

static nnd_model *compile(const char *src, int threads) {
    nnd_options o;
    nnd_options_init(&o);
    o.init_random = 1;
    o.init_seed = 3;
    o.threads = threads;
    return unit_model(src, &o);
}

/* Runs m on a batch of `batch` deterministic inputs; outputs malloc'ed into out[k]. */
static bool run(nnd_model *m, int64_t batch, float **out, size_t *count) {
    size_t nin = nnd_model_num_inputs(m), nout = nnd_model_num_outputs(m);
    nnd_tensor in[4] = {{0}}, outs[4] = {{0}};
    int64_t shapes[4][NND_MAX_RANK];
    for (size_t i = 0; i < nin; i++) {
        const nnd_tensor_info *info = nnd_model_input(m, i);
        size_t n = 1;
        for (size_t d = 0; d < info->rank; d++)
            n *= (size_t)(shapes[i][d] = info->dims[d] < 0 ? batch : info->dims[d]);
        in[i] = (nnd_tensor){.data = malloc(n * sizeof(float)), .count = n, .rank = info->rank,
                             .shape = shapes[i]};
        for (size_t k = 0; k < n; k++)
            in[i].data[k] = (float)((k * 2654435761u + i) % 1000) / 250.0f - 2.0f;
    }
    int64_t syms[4] = {batch, batch, batch, batch};
    for (size_t k = 0; k < nout; k++) {
        int64_t dims[NND_MAX_RANK];
        CU_ASSERT_EQUAL_FATAL(nnd_model_output_shape(m, k, syms, dims), NND_OK);
        size_t n = 1;
        for (size_t d = 0; d < nnd_model_output(m, k)->rank; d++)
            n *= (size_t)dims[d];
        outs[k] = (nnd_tensor){.data = calloc(n, sizeof(float)), .count = n};
        out[k] = outs[k].data;
        count[k] = n;
    }
    nnd_context *ctx = NULL;
    bool ok = nnd_context_create(m, &ctx) == NND_OK && nnd_run(ctx, in, nin, outs, nout) == NND_OK;
    if (!ok)
        fprintf(stderr, "run failed: %s\n", nnd_context_error(ctx));
    nnd_context_destroy(ctx);
    for (size_t i = 0; i < nin; i++)
        free(in[i].data);
    return ok;
}

/* Outputs at `threads` threads equal one thread's, bit for bit, at several batches. */
static void same_for_threads(const char *src, int threads) {
    nnd_model *one = compile(src, 1), *many = compile(src, threads);
    CU_ASSERT_PTR_NOT_NULL_FATAL(one);
    CU_ASSERT_PTR_NOT_NULL_FATAL(many);
    CU_ASSERT_EQUAL(nnd_model_threads(one), 1);
    CU_ASSERT_EQUAL(nnd_model_threads(many), threads);
    const int64_t batches[] = {1, 7, 64};
    for (int b = 0; b < 3; b++) {
        float *want[4] = {0}, *got[4] = {0};
        size_t nwant[4] = {0}, ngot[4] = {0};
        CU_ASSERT_FATAL(run(one, batches[b], want, nwant));
        CU_ASSERT_FATAL(run(many, batches[b], got, ngot));
        for (size_t k = 0; k < nnd_model_num_outputs(one); k++) {
            CU_ASSERT_EQUAL(nwant[k], ngot[k]);
            CU_ASSERT(memcmp(want[k], got[k], nwant[k] * sizeof(float)) == 0);
            free(want[k]);
            free(got[k]);
        }
    }
    nnd_model_destroy(one);
    nnd_model_destroy(many);
}

static const char *mlp =
    "model mlp {\n"
    "  input x : f32[N, 37]\n"
    "  h = dense(x, 70) -> relu\n"
    "  g = dense(h, 900) -> tanh -> layernorm(name=\"ln\")\n"
    "  output y = dense(g, 10) -> softmax\n"
    "  output v = dense(g, 45, name=\"v\")\n"
    "  output z = add(h, param([70], name=\"b\"))\n"
    "}\n";

static const char *cnn =
    "model cnn {\n"
    "  input x : f32[N, 3, 13, 11]\n"
    "  a = conv2d(x, 8, kernel=3, padding=1) -> batchnorm(name=\"bn\") -> relu\n"
    "  b = conv2d(a, 8, kernel=3, padding=1, groups=2)\n"
    "  c = add(a, b) -> maxpool2d(2, ceil_mode=true)\n"
    "  output y = flatten(c) -> dense(10) -> log_softmax\n"
    "  output g = global_avgpool(c) -> reshape([-1, 8])\n"
    "}\n";

static const char *rank3 =
    "model seq {\n"
    "  input x : f32[N, 5, 12]\n"
    "  input m : f32[N, 12, 4]\n"
    "  output y = matmul(x, m) -> transpose(perm=[0, 2, 1]) -> softmax(axis=1)\n"
    "}\n";

/* Large enough that its kernels split at batch 1 (forward_parallel's regions). */
static const char *big =
    "model big {\n"
    "  input x : f32[N, 8, 24, 24]\n"
    "  c = conv2d(x, 16, kernel=3, padding=1) -> relu -> maxpool2d(2)\n"
    "  output y = flatten(c) -> dense(300, name=\"h\") -> relu -> dense(10)\n"
    "}\n";

static void test_threads_split_is_bit_identical(void) {
    same_for_threads(mlp, 2);
    same_for_threads(mlp, 3);
    same_for_threads(mlp, 8);
    same_for_threads(cnn, 2);
    same_for_threads(cnn, 5);
    same_for_threads(rank3, 4);
    same_for_threads(big, 2);
    same_for_threads(big, 8);
}

/* A model that mixes its samples splits its kernels at every batch. */
static void test_threads_mixed_samples_split_kernels(void) {
    same_for_threads("model m {\n  input x : f32[N, 6]\n  output y = softmax(x, axis=0)\n}\n", 4);
    same_for_threads("model m {\n  input x : f32[N, 6]\n  output y = reshape(x, [3, -1])\n}\n", 4);
    same_for_threads("model m {\n  input x : f32[N, 600]\n"
                     "  output y = dense(x, 900) -> softmax(axis=0)\n}\n", 3);
}

/* Which models split, on the graph. */
static int batch_symbol(const char *src) {
    Compilation *c = unit_compile(src);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    int s = graph_batch_symbol(c->graph);
    compilation_free(c);
    return s;
}

static void test_threads_batch_symbol(void) {
    CU_ASSERT_EQUAL(batch_symbol(mlp), 0);
    CU_ASSERT_EQUAL(batch_symbol(cnn), 0);
    CU_ASSERT_EQUAL(batch_symbol(rank3), 0);
    /* N after another symbol: still the batch when it leads every input */
    CU_ASSERT_EQUAL(batch_symbol("model m {\n input x : f32[N, T]\n output y = relu(x)\n}\n"), 0);
    const char *mixed[] = {
        "model m {\n input x : f32[N, 4]\n output y = softmax(x, axis=0)\n}\n",
        "model m {\n input x : f32[N, 4]\n output y = transpose(x)\n}\n",
        "model m {\n input x : f32[N, 4, 2]\n output y = transpose(x, perm=[1, 0, 2])\n}\n",
        "model m {\n input x : f32[N, 4]\n output y = flatten(x, axis=0)\n}\n",
        "model m {\n input x : f32[N, 4]\n output y = reshape(x, [-1])\n}\n",
        "model m {\n input x : f32[N, 4]\n output y = concat(x, x, axis=0)\n}\n",
        "model m {\n input x : f32[4, N]\n output y = relu(x)\n}\n",
        ("model m {\n input x : f32[N, 4]\n input z : f32[M, 4]\n output y = add(x, relu(x))\n"
         " output w = relu(z)\n}\n"), /* parenthesized: one element (clang's -Wstring-concatenation) */
        "model m {\n input x : f32[N, 4]\n output y = relu(x)\n output c = param([2])\n}\n",
        "model m {\n input x : f32[N, 4]\n input w : f32[4, N]\n output y = matmul(x, w)\n}\n",
    };
    for (size_t i = 0; i < sizeof mixed / sizeof mixed[0]; i++) {
        int s = batch_symbol(mixed[i]);
        if (s != -1)
            fprintf(stderr, "splits but should not:\n%s", mixed[i]);
        CU_ASSERT_EQUAL(s, -1);
    }
}

static void test_threads_option_is_checked(void) {
    nnd_options o;
    nnd_options_init(&o);
    CU_ASSERT_EQUAL(o.threads, 1);
    nnd_model *m = NULL;
    char *err = NULL;
    o.threads = NND_MAX_THREADS + 1;
    CU_ASSERT_EQUAL(nnd_model_compile_string(mlp, "t.nnd", NULL, &o, &m, &err),
                    NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT(err && strstr(err, "threads") != NULL);
    nnd_string_free(err);
    o.threads = -1;
    err = NULL;
    CU_ASSERT_EQUAL(nnd_model_compile_string(mlp, "t.nnd", NULL, &o, &m, &err),
                    NND_ERR_INVALID_ARGUMENT);
    nnd_string_free(err);
}

#define NNDC NND_BINARY_DIR "/nndc"

static void test_threads_nndc(void) {
    CU_ASSERT_EQUAL(sh("cd " NND_SOURCE_DIR " && " NNDC " bench examples/digits/digits.nnd "
                       "--batch 16 --iterations 10 --threads 2"), 0);
    CU_ASSERT(strstr(sh_out, "threads      2") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " bench x.nnd --threads 0"), 2);
    CU_ASSERT_EQUAL(sh(NNDC " bench x.nnd --threads 65"), 2);
    const char *d = sh_tmpdir();
    CU_ASSERT_EQUAL_FATAL(sh("/usr/bin/python3 -c \"import numpy as np; "
                             "np.save('%s/x.npy', ((np.arange(640) %% 17 - 8) / 4)"
                             ".astype(np.float32).reshape(10, 64))\"", d), 0);
    CU_ASSERT_EQUAL(sh("cd " NND_SOURCE_DIR " && " NNDC " run examples/digits/digits.nnd "
                       "--input pixels=%s/x.npy --output probs=%s/one.npy", d, d), 0);
    CU_ASSERT_EQUAL(sh("cd " NND_SOURCE_DIR " && " NNDC " run examples/digits/digits.nnd "
                       "--input pixels=%s/x.npy --output probs=%s/three.npy --threads 3", d, d), 0);
    CU_ASSERT_EQUAL(sh("cmp %s/one.npy %s/three.npy", d, d), 0);
}

NND_SUITE("threads", test_threads_split_is_bit_identical, test_threads_mixed_samples_split_kernels,
          test_threads_batch_symbol, test_threads_option_is_checked, test_threads_nndc)
