/* test_bounds.c: the generated code reads nothing outside its inputs.
 *
 * Each input is placed flush against a page the process may not touch (mmap'ed PROT_NONE),
 * once ending at that page and once starting right after one, so a vector load that strays
 * past either end of a tensor faults (and the suite dies) instead of reading a neighbor's
 * bytes, which no output would show. The models reach the loads that lie near the ends:
 * matmul's tiled kernel on b as it lies (the columns past the last full panel are masked
 * loads), strided convolutions and pools (two loads at the ends of the span they cover),
 * borders of padded convolutions, dense rows, softmax lines. The outputs must equal a run
 * on ordinary buffers. */
#define _DEFAULT_SOURCE
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nnd.h"
#include "unit_harness.h"
#include "unit_model.h"

typedef struct Guarded {
    char *map;
    size_t map_bytes;
    float *data;
} Guarded;

/* n floats with a PROT_NONE page right after them (at_end) or right before them. */
static Guarded guarded(size_t n, bool at_end) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = n * sizeof(float);
    size_t body = (bytes + page - 1) / page * page;
    Guarded g = {.map_bytes = body + 2 * page};
    g.map = mmap(NULL, g.map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(g.map != MAP_FAILED);
    CU_ASSERT_FATAL(mprotect(g.map, page, PROT_NONE) == 0);
    CU_ASSERT_FATAL(mprotect(g.map + page + body, page, PROT_NONE) == 0);
    g.data = (float *)(at_end ? g.map + page + body - bytes : g.map + page);
    return g;
}

/* Runs src's model (every input [N, ...] or constant) at `batch` with its inputs in
 * guarded memory, and compares with ordinary buffers. */
static void reads_inside(const char *src, int64_t batch) {
    nnd_options o;
    nnd_options_init(&o);
    o.init_random = 1;
    nnd_model *m = unit_model(src, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    size_t nin = nnd_model_num_inputs(m);
    CU_ASSERT_FATAL(nin <= 2 && nnd_model_num_outputs(m) == 1);
    int64_t shapes[2][NND_MAX_RANK], syms[1] = {batch}, dims[NND_MAX_RANK];
    size_t count[2];
    float *plain[2];
    for (size_t i = 0; i < nin; i++) {
        const nnd_tensor_info *info = nnd_model_input(m, i);
        count[i] = 1;
        for (size_t d = 0; d < info->rank; d++)
            count[i] *= (size_t)(shapes[i][d] = info->dims[d] < 0 ? batch : info->dims[d]);
        plain[i] = malloc(count[i] * sizeof(float));
        for (size_t k = 0; k < count[i]; k++)
            plain[i][k] = (float)((k * 40503u + i) % 211) / 70.0f - 1.5f;
    }
    CU_ASSERT_EQUAL_FATAL(nnd_model_output_shape(m, 0, syms, dims), NND_OK);
    size_t nout = 1;
    for (size_t d = 0; d < nnd_model_output(m, 0)->rank; d++)
        nout *= (size_t)dims[d];
    float *want = calloc(nout, sizeof(float)), *got = calloc(nout, sizeof(float));
    nnd_context *ctx = NULL;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    nnd_tensor in[2], out = {.data = want, .count = nout};
    for (size_t i = 0; i < nin; i++)
        in[i] = (nnd_tensor){.data = plain[i], .count = count[i],
                             .rank = nnd_model_input(m, i)->rank, .shape = shapes[i]};
    CU_ASSERT_EQUAL_FATAL(nnd_run(ctx, in, nin, &out, 1), NND_OK);
    for (int at_end = 0; at_end < 2; at_end++) {
        Guarded g[2];
        for (size_t i = 0; i < nin; i++) {
            g[i] = guarded(count[i], at_end);
            memcpy(g[i].data, plain[i], count[i] * sizeof(float));
            in[i].data = g[i].data;
        }
        memset(got, 0, nout * sizeof(float));
        out.data = got;
        CU_ASSERT_EQUAL(nnd_run(ctx, in, nin, &out, 1), NND_OK);
        CU_ASSERT(memcmp(want, got, nout * sizeof(float)) == 0);
        for (size_t i = 0; i < nin; i++)
            munmap(g[i].map, g[i].map_bytes);
    }
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    for (size_t i = 0; i < nin; i++)
        free(plain[i]);
    free(want);
    free(got);
}

static const char *models[] = {
    "model m {\n  input a : f32[N, 5, 9]\n  input b : f32[9, 17]\n  output y = matmul(a, b)\n}\n",
    "model m {\n  input a : f32[N, 37, 30]\n  input b : f32[30, 50]\n  output y = matmul(a, b)\n}\n",
    "model m {\n  input a : f32[N, 3, 20]\n  input b : f32[N, 20, 7]\n  output y = matmul(a, b)\n}\n",
    /* a symbolic P: the columns past the last whole chunk under run-time lane masks */
    "model m {\n  input a : f32[N, 7, 9]\n  input b : f32[9, N]\n  output y = matmul(a, b)\n}\n",
    "model m {\n  input x : f32[N, 5, 11, 13]\n  output y = conv2d(x, 6, kernel=3, stride=2, padding=1)\n}\n",
    "model m {\n  input x : f32[N, 4, 17, 33]\n  output y = conv2d(x, 4, kernel=3, stride=2)\n}\n",
    "model m {\n  input x : f32[N, 2, 12, 35]\n  output y = conv2d(x, 3, kernel=5, stride=3, padding=2)\n}\n",
    /* flat planes (lower_conv2d.c, plan_flat): vectors that start before the image's first
     * row or end past its last */
    "model m {\n  input x : f32[N, 3, 7, 7]\n  output y = conv2d(x, 5, kernel=3, padding=1)\n}\n",
    ("model m {\n  input x : f32[N, 2, 9, 14]\n  output y = conv2d(x, 4, kernel=3, padding=\"same\", "
     "dilation=2)\n}\n"),
    "model m {\n  input x : f32[N, 3, 9, 15]\n  output y = maxpool2d(x, 3, stride=2)\n}\n",
    "model m {\n  input x : f32[N, 3, 10, 37]\n  output y = avgpool2d(x, 2)\n}\n",
    "model m {\n  input x : f32[N, 37]\n  output y = dense(x, 20) -> relu\n}\n",
    /* softmax lines in vectors, the last one masked: unrolled, and in a loop */
    "model m {\n  input x : f32[N, 37]\n  output y = softmax(x)\n}\n",
    "model m {\n  input x : f32[N, 83]\n  output y = log_softmax(x)\n}\n",
};

static void test_bounds_inputs_are_read_inside(void) {
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        reads_inside(models[i], 1);
        reads_inside(models[i], 3);
    }
}

NND_SUITE("bounds", test_bounds_inputs_are_read_inside)
