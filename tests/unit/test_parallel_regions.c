/* test_parallel_regions.c: forward_parallel's parallel regions (cg_task.c) and the part of
 * its output each kernel computes per task.
 *
 * A runner that runs the tasks on the calling thread, last first, stands in for threads, so
 * every task count is reached deterministically. For runners of 2 to 9 threads the outputs
 * must equal forward's bit for bit: dense layers split by groups of weight panels (with the
 * panels after the last group and a cut panel) and by rows, conv2d split by images and by
 * filter blocks (groups, stride, padding, a fused residual; with a pooling tail or in an
 * image chain, filter blocks only), matmul (constant sizes as dense,
 * symbolic ones by rows), and pools. The runner counts
 * the tasks it ran, so a kernel that stopped splitting fails too. A NULL runner is forward;
 * a small kernel never reaches the runner. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "unit_compile.h"
#include "unit_harness.h"

typedef struct Calls {
    int runs, max_tasks;
} Calls;

static void run_reversed(void *ctx, CgTask task, void *arg, int ntasks) {
    Calls *c = ctx;
    c->runs++;
    if (ntasks > c->max_tasks)
        c->max_tasks = ntasks;
    for (int i = ntasks - 1; i >= 0; i--)
        task(arg, i);
}

static int64_t numel(const Node *n, const int64_t *syms) {
    int64_t total = 1, v;
    for (int d = 0; d < n->shape.rank; d++) {
        CU_ASSERT_FATAL(dim_eval(n->shape.d[d], syms, &v));
        total *= v;
    }
    return total;
}

/* src (one or two inputs, one output) at `batch`: forward_parallel with every runner equals
 * forward. Returns the most tasks any region ran. */
static int same_for_every_runner(const char *src, int64_t batch) {
    Compilation *c = unit_compile_to(src, STAGE_LLVM_OPT, 5);
    const Graph *g = c->graph;
    int64_t syms[MAX_SYMS] = {batch};
    int ninputs = g->ninputs;
    CU_ASSERT_FATAL(ninputs >= 1 && ninputs <= 2);
    int64_t nin[2] = {numel(g->inputs[0], syms), ninputs > 1 ? numel(g->inputs[1], syms) : 0};
    int64_t nout = numel(g->outputs[0], syms);
    CgForwardFn forward;
    CgParallelFn parallel;
    CgWorkspaceFn wsize;
    char *err = NULL;
    Jit *j = compile_jit(c, 2, 0, &forward, &parallel, &wsize, &err);
    if (!j)
        fprintf(stderr, "\nJIT: %s\n", err ? err : "?");
    free(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    float *x[2] = {NULL, NULL}, *want = malloc((size_t)nout * sizeof *want);
    float *got = malloc((size_t)nout * sizeof *got);
    void *ws = aligned_alloc(64, ((size_t)wsize(syms) + 63) / 64 * 64 + 64);
    CU_ASSERT_FATAL(want && got && ws);
    for (int k = 0; k < ninputs; k++) {
        x[k] = malloc((size_t)nin[k] * sizeof *x[k]);
        CU_ASSERT_FATAL(x[k] != NULL);
        for (int64_t i = 0; i < nin[k]; i++)
            x[k][i] = (float)((i * 2654435761u + (uint64_t)k) % 1999) / 500.0f - 2.0f;
    }
    const float *in[2] = {x[0], x[1]};
    forward(in, &want, syms, ws);

    memset(got, 0, (size_t)nout * sizeof *got);
    parallel(in, &got, syms, ws, NULL);
    CU_ASSERT(memcmp(want, got, (size_t)nout * sizeof *got) == 0);
    int most = 0;
    for (int threads = 2; threads <= 9; threads++) {
        Calls calls = {0};
        CgRunner r = {.run = run_reversed, .ctx = &calls, .threads = threads};
        memset(got, 0, (size_t)nout * sizeof *got);
        parallel(in, &got, syms, ws, &r);
        if (memcmp(want, got, (size_t)nout * sizeof *got) != 0) {
            fprintf(stderr, "\ndiffers with %d threads at batch %lld:\n%s", threads,
                    (long long)batch, src);
            CU_FAIL("forward_parallel differs from forward");
        }
        CU_ASSERT(calls.max_tasks <= threads);
        if (calls.max_tasks > most)
            most = calls.max_tasks;
    }
    free(x[0]);
    free(x[1]);
    free(want);
    free(got);
    free(ws);
    jit_dispose(j);
    compilation_free(c);
    return most;
}

/* With AVX-512, 1100 units are 17 full panels of 64 (4 groups of 4, one panel after them)
 * and a cut one: at batch 13 up to 4 tasks take groups of panels, more take rows. A K of
 * 1200 makes those panels 300 KB, taken in two chunks of k. */
static void test_regions_dense_panels_and_rows(void) {
    const char *wide = "model m {\n  input x : f32[N, 300]\n  output y = dense(x, 1100) -> relu\n}\n";
    CU_ASSERT(same_for_every_runner(wide, 13) == 9);
    CU_ASSERT(same_for_every_runner(wide, 3) >= 7);
    const char *chunked = "model m {\n  input x : f32[N, 1200]\n  output y = dense(x, 1100) -> relu\n}\n";
    CU_ASSERT(same_for_every_runner(chunked, 13) == 9);
    CU_ASSERT(same_for_every_runner(chunked, 2) >= 4);
    /* 45 units: one panel, cut, so always rows. */
    CU_ASSERT(same_for_every_runner(
                  "model m {\n  input x : f32[N, 500]\n  output y = dense(x, 45) -> tanh\n}\n", 37) >= 6);
    /* batch 1: the one-row kernels, 3 groups and 3 panels after them plus a cut one. */
    CU_ASSERT(same_for_every_runner(
                  "model m {\n  input x : f32[N, 700]\n  output y = dense(x, 1000)\n}\n", 1) >= 5);
}

static void test_regions_conv2d_images_and_filters(void) {
    const char *conv = "model m {\n  input x : f32[N, 8, 23, 29]\n"
                       "  output y = conv2d(x, 24, kernel=3, padding=1) -> relu\n}\n";
    CU_ASSERT(same_for_every_runner(conv, 1) >= 2);
    CU_ASSERT(same_for_every_runner(conv, 5) == 9);
    CU_ASSERT(same_for_every_runner("model m {\n  input x : f32[N, 12, 31, 30]\n"
                                    "  output y = conv2d(x, 18, kernel=5, stride=2, padding=2, groups=3)\n}\n",
                                    4) >= 9);
    CU_ASSERT(same_for_every_runner("model m {\n  input x : f32[N, 16, 20, 20]\n"
                                    "  c = conv2d(x, 16, kernel=3, padding=1)\n"
                                    "  output y = add(c, x) -> relu\n}\n",
                                    3) >= 3);
}

/* A conv2d with a pooling tail splits its filter blocks only, never its images: its tasks
 * share one image's room for its result, each writing and pooling its own planes (a runner
 * of threads would let two tasks write it for two images at once). 16 filters are 2 blocks
 * with AVX-512 and 4 with AVX2. With 4 filters, one block, the conv gets no tail and keeps
 * splitting its 9 images (it ran as one task in forward_parallel when it had a tail). */
static void test_regions_conv2d_pool_tails(void) {
    int most = same_for_every_runner("model m {\n  input x : f32[N, 8, 23, 29]\n"
                                     "  output y = conv2d(x, 16, kernel=3, padding=1) -> relu\n"
                                     "      -> maxpool2d(2)\n}\n",
                                     9);
    CU_ASSERT(most >= 2 && most <= 4);
    CU_ASSERT_EQUAL(same_for_every_runner("model m {\n  input x : f32[N, 8, 23, 29]\n"
                                          "  output y = conv2d(x, 4, kernel=3, padding=1)\n"
                                          "      -> avgpool2d(3, stride=2)\n}\n",
                                          9),
                    9);
}

/* An image chain's convolutions run their regions once per image, splitting filter blocks:
 * 32 filters are 4 blocks with AVX-512 (8 with AVX2) and 16 are 2 (4); 48 filters in 3
 * groups are 2 blocks per group (4). LeNet-5's layers (6 and 16 filters, under 2^20 FLOPs an
 * image) form no chain and keep splitting their images, all 9 of them, as before chains. */
static void test_regions_image_chains(void) {
    int most = same_for_every_runner("model m {\n  input x : f32[N, 8, 24, 24]\n"
                                     "  a = conv2d(x, 32, kernel=3, padding=1) -> relu\n"
                                     "  b = conv2d(a, 16, kernel=3, stride=2) -> maxpool2d(2)\n"
                                     "  output y = conv2d(b, 4, kernel=1)\n}\n",
                                     9);
    CU_ASSERT(most >= 4 && most <= 8);
    most = same_for_every_runner("model m {\n  input x : f32[N, 6, 32, 32]\n"
                                 "  a = conv2d(x, 48, kernel=3, padding=1, groups=3) -> relu\n"
                                 "  output y = conv2d(a, 16, kernel=3) -> add(1.0)\n}\n",
                                 2);
    CU_ASSERT(most >= 2 && most <= 4);
    CU_ASSERT_EQUAL(same_for_every_runner("model m {\n  input x : f32[N, 1, 28, 28]\n"
                                          "  a = conv2d(x, 6, kernel=5, padding=2) -> relu\n"
                                          "      -> maxpool2d(2)\n"
                                          "  output y = conv2d(a, 16, kernel=5) -> relu\n}\n",
                                          9),
                    9);
}

/* Each matrix of the batch split the way dense splits (panels of 64 columns with AVX-512): by
 * rows (3 full panels, no group) and by groups of panels (9 full panels and a cut one) for
 * up to 2 tasks; with a symbolic K or P, by rows. */
static void test_regions_matmul(void) {
    CU_ASSERT(same_for_every_runner("model m {\n  input a : f32[N, 3, 64, 300]\n"
                                    "  input b : f32[300, 200]\n  output y = matmul(a, b)\n}\n",
                                    2) == 9);
    CU_ASSERT(same_for_every_runner("model m {\n  input a : f32[N, 40, 300]\n"
                                    "  input b : f32[N, 300, 600]\n  output y = matmul(a, b) -> relu\n}\n",
                                    2) == 9);
    /* A symbolic P (a whole chunk and a cut one, with a fused relu) or K: rows split. */
    CU_ASSERT(same_for_every_runner("model m {\n  input a : f32[300, 64]\n"
                                    "  input b : f32[64, N]\n  output y = matmul(a, b) -> relu\n}\n",
                                    37) == 5);
    CU_ASSERT(same_for_every_runner("model m {\n  input a : f32[200, N]\n"
                                    "  input b : f32[N, 48]\n  output y = matmul(a, b)\n}\n",
                                    37) == 2);
}

static void test_regions_pools(void) {
    CU_ASSERT(same_for_every_runner("model m {\n  input x : f32[N, 16, 64, 63]\n"
                                    "  output y = maxpool2d(x, 3, stride=2, padding=1)\n}\n", 9) >= 4);
    CU_ASSERT(same_for_every_runner("model m {\n  input x : f32[N, 16, 64, 63]\n"
                                    "  output y = avgpool2d(x, 3, stride=2)\n}\n", 9) >= 4);
}

/* A kernel below the least work per task runs on the calling thread. */
static void test_regions_small_kernels_stay_on_the_caller(void) {
    CU_ASSERT_EQUAL(same_for_every_runner(
                        "model m {\n  input x : f32[N, 30]\n  output y = dense(x, 20)\n}\n", 7), 0);
}

/* A param node every task function reads is one global in the module, not one per function
 * (each would copy the tensor's bytes). */
static void test_regions_share_param_globals(void) {
    Compilation *c = unit_compile_to("model m {\n  input x : f32[N, 300]\n"
                                     "  h = dense(x, 1100, name=\"d\")\n"
                                     "  a = add(h, param([1100], name=\"b\"))\n"
                                     "  output y = dense(a, 700, name=\"e\") -> mul(param([700], name=\"s\"))\n}\n",
                                     STAGE_LLVM, 1);
    int bs = 0, ss = 0; /* LLVM names a second global "b" "b.1" */
    for (LLVMValueRef gv = LLVMGetFirstGlobal(c->cg.mod); gv; gv = LLVMGetNextGlobal(gv)) {
        size_t len;
        const char *name = LLVMGetValueName2(gv, &len);
        bs += name[0] == 'b' && (len == 1 || name[1] == '.');
        ss += name[0] == 's' && (len == 1 || name[1] == '.');
    }
    CU_ASSERT_EQUAL(bs, 1);
    CU_ASSERT_EQUAL(ss, 1);
    compilation_free(c);
}

NND_SUITE("parallel_regions", test_regions_dense_panels_and_rows,
          test_regions_conv2d_images_and_filters, test_regions_conv2d_pool_tails,
          test_regions_image_chains, test_regions_matmul, test_regions_pools,
          test_regions_small_kernels_stay_on_the_caller, test_regions_share_param_globals)
