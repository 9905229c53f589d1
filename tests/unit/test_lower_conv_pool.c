/* test_lower_conv_pool.c: conv2d, maxpool2d, avgpool2d and global_avgpool as compiled by nnd
 * (codegen/lower_conv2d.c, lower_pool2d.c) against plain loops in double, at -O0 and -O2.
 *
 * The shapes are the ones the PyTorch reference cases leave out: rows wider than one vector
 * block (blocks in a loop, border blocks with masked loads, an overlapping last block), rows
 * narrower than a block (masked stores), channel loops, strides that narrow the blocks,
 * asymmetric padding, 3-D pool inputs, NaN and -inf. The generated code is not instrumented
 * by the sanitizers, so every input and output is placed against PROT_NONE guard pages, once
 * ending at one and once starting after one: a load or store outside its tensor faults. */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compile.h"
#include "jit.h"
#include "unit_compile.h"
#include "unit_harness.h"


/* What the reference needs to know, written out independently of the compiler's attributes. */
typedef struct Spec {
    const char *src;    /* a model with one input x and one output y */
    int rank;           /* of x */
    int64_t x[4];       /* x's shape, N included */
    int64_t k[2], s[2], d[2], pad[4], groups;
    bool ceil_mode, include_pad;
    bool nan;           /* sprinkle NaN and -inf over x */
} Spec;

/* --- guarded buffers --------------------------------------------------------------------- */

typedef struct Guarded {
    void *map;
    size_t len;
    float *p;
} Guarded;

/* n floats with a PROT_NONE page right after them (at_end) or right before them. */
static float *guarded_new(Guarded *g, int64_t n, bool at_end) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = (size_t)n * sizeof(float);
    size_t data = (bytes + page - 1) / page * page;
    g->len = data + 2 * page;
    g->map = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(g->map != MAP_FAILED);
    char *start = (char *)g->map + page;
    CU_ASSERT_FATAL(mprotect(g->map, page, PROT_NONE) == 0);
    CU_ASSERT_FATAL(mprotect(start + data, page, PROT_NONE) == 0);
    g->p = (float *)(at_end ? start + data - bytes : start);
    return g->p;
}

static void guarded_free(Guarded *g) { munmap(g->map, g->len); }

/* --- references (PyTorch's definitions, one output at a time) ----------------------------- */

static int64_t numel(const int64_t *d, int rank) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= d[i];
    return n;
}

static void conv_ref(const Spec *s, const float *x, const float *w, const float *b,
                     const int64_t *y, double *out) {
    int64_t C = s->x[1], H = s->x[2], W = s->x[3], F = y[1], Cg = C / s->groups;
    int64_t i = 0;
    for (int64_t n = 0; n < y[0]; n++)
        for (int64_t f = 0; f < F; f++)
            for (int64_t oh = 0; oh < y[2]; oh++)
                for (int64_t ow = 0; ow < y[3]; ow++, i++) {
                    double acc = b ? b[f] : 0.0;
                    int64_t g = f / (F / s->groups);
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t kh = 0; kh < s->k[0]; kh++)
                            for (int64_t kw = 0; kw < s->k[1]; kw++) {
                                int64_t ih = oh * s->s[0] + kh * s->d[0] - s->pad[0];
                                int64_t iw = ow * s->s[1] + kw * s->d[1] - s->pad[1];
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                acc += (double)w[((f * Cg + c) * s->k[0] + kh) * s->k[1] + kw] *
                                       x[((n * C + g * Cg + c) * H + ih) * W + iw];
                            }
                    out[i] = acc;
                }
}

/* Window [start, end) along one axis and its PyTorch divisor share. */
static void window(const Spec *s, int axis, int64_t o, int64_t in, int64_t *lo, int64_t *hi,
                   int64_t *padded) {
    int64_t start = o * s->s[axis] - s->pad[axis];
    int64_t end = start + s->k[axis], limit = in + s->pad[axis + 2];
    end = end < limit ? end : limit;
    *padded = end - start;
    *lo = start < 0 ? 0 : start;
    *hi = end > in ? in : end;
}

static void pool_ref(const Spec *s, bool max, const float *x, const int64_t *y, double *out) {
    int r = s->rank;
    int64_t H = s->x[r - 2], W = s->x[r - 1], planes = numel(s->x, r - 2), i = 0;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < y[r - 2]; oh++)
            for (int64_t ow = 0; ow < y[r - 1]; ow++, i++) {
                int64_t h0, h1, w0, w1, ph, pw;
                window(s, 0, oh, H, &h0, &h1, &ph);
                window(s, 1, ow, W, &w0, &w1, &pw);
                double acc = max ? -INFINITY : 0.0;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) {
                        double v = x[(p * H + ih) * W + iw];
                        acc = !max ? acc + v : (v > acc || isnan(v)) ? v : acc;
                    }
                int64_t div = s->include_pad ? ph * pw : (h1 - h0) * (w1 - w0);
                out[i] = max ? acc : acc / (double)div;
            }
}

static void gap_ref(const Spec *s, const float *x, double *out) {
    int64_t hw = s->x[2] * s->x[3];
    for (int64_t p = 0; p < s->x[0] * s->x[1]; p++) {
        double acc = 0.0;
        for (int64_t k = 0; k < hw; k++)
            acc += x[p * hw + k];
        out[p] = acc / (double)hw;
    }
}

/* --- compiling and running ------------------------------------------------------------ */

static void fill(float *x, int64_t n, bool nan) {
    uint32_t r = 12345;
    for (int64_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (float)((r >> 8) * (4.0 / 16777216.0) - 2.0);
        if (nan && r % 97 == 0)
            x[i] = NAN;
        else if (nan && r % 89 == 0)
            x[i] = -INFINITY;
    }
}

static bool close_to(float got, double want) {
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    if (isinf(want))
        return got == want;
    return fabs((double)got - want) <= 1e-5 + 1e-5 * fabs(want);
}

/* Runs the compiled forward on x (guarded as at_end says) and compares y with the reference. */
static void run_and_compare(const Spec *s, const Node *y, CgForwardFn forward, CgWorkspaceFn wsize,
                            bool at_end, int opt) {
    int64_t yshape[4];
    for (int i = 0; i < s->rank; i++)
        yshape[i] = dim_is_const(y->shape.d[i]) ? y->shape.d[i].c : s->x[0];
    int64_t nx = numel(s->x, s->rank), ny = numel(yshape, s->rank);
    Guarded gx, gy;
    float *x = guarded_new(&gx, nx, at_end), *out = guarded_new(&gy, ny, !at_end);
    fill(x, nx, s->nan);
    double *want = malloc((size_t)ny * sizeof *want);
    const Param *w = node_param(y, "weight"), *b = node_param(y, "bias");
    if (y->op == OP_CONV2D)
        conv_ref(s, x, w->data, b ? b->data : NULL, yshape, want);
    else if (y->op == OP_GLOBAL_AVGPOOL)
        gap_ref(s, x, want);
    else
        pool_ref(s, y->op == OP_MAXPOOL2D, x, yshape, want);

    int64_t syms[1] = {s->x[0]};
    void *ws = malloc((size_t)wsize(syms) + 1);
    const float *ins[1] = {x};
    float *outs[1] = {out};
    forward(ins, outs, syms, ws);
    int64_t bad = 0;
    for (int64_t i = 0; i < ny; i++)
        if (!close_to(out[i], want[i]) && bad++ == 0)
            fprintf(stderr, "\n-O%d %s: y[%lld] = %.9g, want %.9g\n", opt, s->src, (long long)i,
                    out[i], want[i]);
    CU_ASSERT_EQUAL(bad, 0);
    free(ws);
    free(want);
    guarded_free(&gx);
    guarded_free(&gy);
}

static const Node *find_y(const Graph *g) {
    for (int i = 0; i < g->nnodes; i++)
        if (strcmp(g->nodes[i]->name, "y") == 0)
            return g->nodes[i];
    return NULL;
}

static void check(const Spec *s) {
    for (int opt = 0; opt <= 2; opt += 2) {
        Compilation *c = compilation_new();
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        compile_set_source(c, "test.nnd", s->src, strlen(s->src));
        CompileOptions co;
        compile_options_init(&co);
        co.opt_level = opt;
        co.init_random = true;
        co.seed = 7;
        bool ok = compile_to(c, STAGE_LLVM_OPT, &co);
        if (!ok)
            fprintf(stderr, "\n%s", diag_text(c->diag));
        CU_ASSERT_FATAL(ok);
        CgForwardFn forward;
        CgWorkspaceFn wsize;
        Jit *j = unit_jit(c, opt, &forward, &wsize);
        run_and_compare(s, find_y(c->graph), forward, wsize, true, opt);
        run_and_compare(s, find_y(c->graph), forward, wsize, false, opt);
        jit_dispose(j);
        compilation_free(c);
    }
}

/* --- the cases ------------------------------------------------------------------------- */

static void test_lower_conv_pool_conv_wide_rows(void) {
    /* OW 84: a block of 16 at 0 with masked left taps, a loop over 16, 32 and 48, blocks at
     * 64 and 68 (overlapping) with masked right taps; a channel loop (8 channels x 12 taps);
     * asymmetric padding, dilated rows. */
    check(&(Spec){.src = "model t {\n input x : f32[N, 8, 9, 80]\n output y = conv2d(x, 12, "
                         "[3, 4], padding=[1, 2, 3, 5], dilation=[2, 1])\n}\n",
                  .rank = 4, .x = {2, 8, 9, 80}, .k = {3, 4}, .s = {1, 1}, .d = {2, 1},
                  .pad = {1, 2, 3, 5}, .groups = 1});
}

static void test_lower_conv_pool_conv_strided_groups(void) {
    /* Stride 3 along columns narrows the blocks to 8; 3 groups; no bias; top padding past the
     * kernel (rows with no tap). */
    check(&(Spec){.src = "model t {\n input x : f32[N, 6, 11, 40]\n output y = conv2d(x, 9, 3, "
                         "stride=[2, 3], padding=[4, 1, 0, 2], groups=3, bias=false)\n}\n",
                  .rank = 4, .x = {1, 6, 11, 40}, .k = {3, 3}, .s = {2, 3}, .d = {1, 1},
                  .pad = {4, 1, 0, 2}, .groups = 3});
}

static void test_lower_conv_pool_conv_narrow_depthwise(void) {
    /* OW 3: one block of 4 with a masked store; depthwise with two filters per channel;
     * "same" with an even kernel (the extra column on the right). */
    check(&(Spec){.src = "model t {\n input x : f32[N, 4, 5, 3]\n"
                         " output y = conv2d(x, 8, [2, 4], padding=\"same\", groups=4)\n}\n",
                  .rank = 4, .x = {3, 4, 5, 3}, .k = {2, 4}, .s = {1, 1}, .d = {1, 1},
                  .pad = {0, 1, 1, 2}, .groups = 4});
}

static void test_lower_conv_pool_maxpool_nan_3d(void) {
    /* A 3-D input; NaN propagates, -inf stays; ceil_mode; stride 1 along rows of 33. */
    check(&(Spec){.src = "model t {\n input x : f32[3, 8, 33]\n output y = maxpool2d(x, [3, 2], "
                         "stride=[2, 1], padding=1, ceil_mode=true)\n}\n",
                  .rank = 3, .x = {3, 8, 33}, .k = {3, 2}, .s = {2, 1}, .pad = {1, 1, 1, 1},
                  .nan = true});
}

static void test_lower_conv_pool_avgpool_ceil_wide(void) {
    /* Windows past the padded input in ceil_mode, with and without the padding counted. */
    const char *src[2] = {
        "model t {\n input x : f32[N, 3, 10, 38]\n"
        " output y = avgpool2d(x, 3, stride=2, padding=1, ceil_mode=true)\n}\n",
        "model t {\n input x : f32[N, 3, 10, 38]\n output y = avgpool2d(x, 3, stride=2, "
        "padding=1, ceil_mode=true, count_include_pad=false)\n}\n"};
    for (int i = 0; i < 2; i++)
        check(&(Spec){.src = src[i], .rank = 4, .x = {2, 3, 10, 38}, .k = {3, 3}, .s = {2, 2},
                      .pad = {1, 1, 1, 1}, .ceil_mode = true, .include_pad = i == 0});
}

static void test_lower_conv_pool_global_avgpool(void) {
    check(&(Spec){.src = "model t {\n input x : f32[N, 5, 13, 11]\n"
                         " output y = global_avgpool(x)\n}\n",
                  .rank = 4, .x = {3, 5, 13, 11}});
}

NND_SUITE("lower_conv_pool", test_lower_conv_pool_conv_wide_rows,
          test_lower_conv_pool_conv_strided_groups, test_lower_conv_pool_conv_narrow_depthwise,
          test_lower_conv_pool_maxpool_nan_3d, test_lower_conv_pool_avgpool_ceil_wide,
          test_lower_conv_pool_global_avgpool)
