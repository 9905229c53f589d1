/* test_interp.c: the reference interpreter (compiler/interp/) and its backend in the runtime
 * and in `nndc run`.
 *
 * The interpreter against PyTorch on every reference case of tests/ref/cases; the
 * interpreter against the JIT at -O0 and -O2 on the example models and on models with odd
 * shapes (batch 1 and 7, odd channel counts, strides, groups, asymmetric padding, dilation,
 * broadcasting, several inputs and outputs); the interpreter on an optimized graph (fused,
 * folded, planned) against the same model unoptimized; its error reports; the runtime's
 * NND_BACKEND_INTERP checking its arguments as the JIT's does; and `nndc run --backend`.
 * Interpreter and JIT agree when |interp - jit| <= 1e-5 + 1e-4 |interp| for every element
 * (the JIT accumulates in float32, the interpreter in double). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "interp.h"
#include "nnd.h"
#include "npy.h"
#include "passes.h"
#include "unit_compile.h"
#include "unit_harness.h"
#include "unit_reference.h"
#include "unit_shell.h"

#define NNDC NND_BINARY_DIR "/nndc"
#define EXAMPLES NND_SOURCE_DIR "/examples"

static void test_interp_every_op_has_an_interpreter(void) {
    for (int op = 0; op < OP_COUNT; op++) {
        bool runs = interp_can_run((OpKind)op);
        if (runs != (op != OP_INPUT))
            fprintf(stderr, "\n  %s: interp_can_run is %d\n", op_name((OpKind)op), runs);
        CU_ASSERT_EQUAL(runs, op != OP_INPUT);
    }
    CU_ASSERT_FALSE(interp_can_run(OP_COUNT));
}

static void test_interp_matches_pytorch_on_every_reference_case(void) {
    FILE *f = fopen(REF_CASES "/MANIFEST", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    nnd_options o;
    nnd_options_init(&o);
    o.backend = NND_BACKEND_INTERP;
    RefCase c;
    int passed = 0, total = 0;
    while (ref_next_case(f, &c)) {
        total++;
        bool ok = ref_run_case(&c, &o, "interp");
        passed += ok;
        CU_ASSERT(ok);
    }
    fclose(f);
    printf("\n    reference cases through the interpreter: %d of %d pass ", passed, total);
    CU_ASSERT(total >= 400);
    CU_ASSERT_EQUAL(passed, total);
}

/* --- interpreter against JIT ------------------------------------------------------------ */

enum { MAX_IO = 8 };

/* Deterministic inputs in [-2, 2). */
static void fill(float *x, int64_t n, uint32_t seed) {
    uint32_t s = seed * 2654435761u + 12345u;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) * (4.0 / 16777216.0) - 2.0);
    }
}

/* A model compiled for one backend, with its inputs, outputs and buffers for one batch. */
typedef struct Runner {
    nnd_model *m;
    nnd_context *ctx;
    size_t nin, nout;
    int64_t in_shape[MAX_IO][NND_MAX_RANK];
    nnd_tensor in[MAX_IO], out[MAX_IO];
} Runner;

static nnd_model *compile_for(const char *src, const char *path, int backend, int opt_level) {
    nnd_options o;
    nnd_options_init(&o);
    o.backend = backend;
    o.opt_level = opt_level;
    o.init_random = src != NULL;
    o.init_seed = 11;
    nnd_model *m = NULL;
    char *err = NULL;
    nnd_status st = src ? nnd_model_compile_string(src, "t.nnd", NULL, &o, &m, &err)
                        : nnd_model_compile_file(path, &o, &m, &err);
    if (st != NND_OK)
        fprintf(stderr, "\n  backend %d -O%d: %s\n%s", backend, opt_level, nnd_status_name(st),
                err ? err : "");
    nnd_string_free(err);
    return m;
}

/* Runs m with every symbol = batch on generated inputs (x, when given, is input 0). */
static bool runner_run(Runner *r, nnd_model *m, int64_t batch, const NpyArray *x) {
    memset(r, 0, sizeof *r);
    r->m = m;
    r->nin = nnd_model_num_inputs(m);
    r->nout = nnd_model_num_outputs(m);
    if (r->nin > MAX_IO || r->nout > MAX_IO || nnd_context_create(m, &r->ctx) != NND_OK)
        return false;
    int64_t syms[8] = {batch, batch, batch, batch, batch, batch, batch, batch};
    for (size_t i = 0; i < r->nin; i++) {
        const nnd_tensor_info *info = nnd_model_input(m, i);
        int64_t n = 1;
        if (x && i == 0) {
            r->in[i] = (nnd_tensor){x->data, (size_t)x->numel, (size_t)x->rank, x->shape, {0}};
            continue;
        }
        for (size_t d = 0; d < info->rank; d++)
            n *= r->in_shape[i][d] = info->dims[d] < 0 ? batch : info->dims[d];
        r->in[i] = (nnd_tensor){calloc((size_t)n, sizeof(float)), (size_t)n, info->rank,
                                r->in_shape[i], {0}};
        CU_ASSERT_PTR_NOT_NULL_FATAL(r->in[i].data);
        fill(r->in[i].data, n, (uint32_t)(i + 1));
    }
    for (size_t k = 0; k < r->nout; k++) {
        int64_t dims[NND_MAX_RANK], n = 1;
        CU_ASSERT_EQUAL_FATAL(nnd_model_output_shape(m, k, syms, dims), NND_OK);
        for (size_t d = 0; d < nnd_model_output(m, k)->rank; d++)
            n *= dims[d];
        r->out[k] = (nnd_tensor){calloc((size_t)n + 1, sizeof(float)), (size_t)n, 0, NULL, {0}};
    }
    nnd_status st = nnd_run(r->ctx, r->in, r->nin, r->out, r->nout);
    if (st != NND_OK)
        fprintf(stderr, "\n  nnd_run: %s: %s\n", nnd_status_name(st), nnd_context_error(r->ctx));
    return st == NND_OK;
}

static void runner_free(Runner *r, bool owns_input0) {
    for (size_t i = 0; i < r->nin; i++)
        if (i > 0 || owns_input0)
            free(r->in[i].data);
    for (size_t k = 0; k < r->nout; k++)
        free(r->out[k].data);
    nnd_context_destroy(r->ctx);
    nnd_model_destroy(r->m);
}

/* Every output of a and b has the same shape and values within the tolerance; returns the
 * largest |a - b| / tolerance seen. */
static double compare_runs(const Runner *a, const Runner *b, const char *what) {
    double worst = 0;
    CU_ASSERT_EQUAL_FATAL(a->nout, b->nout);
    for (size_t k = 0; k < a->nout; k++) {
        CU_ASSERT_EQUAL(a->out[k].rank, b->out[k].rank);
        CU_ASSERT_EQUAL(memcmp(a->out[k].out_shape, b->out[k].out_shape,
                               a->out[k].rank * sizeof(int64_t)), 0);
        int64_t bad = 0, n = (int64_t)a->out[k].count;
        for (int64_t i = 0; i < n; i++) {
            double x = a->out[k].data[i], y = b->out[k].data[i];
            double tol = 1e-5 + 1e-4 * fabs(x), q = fabs(x - y) / tol;
            if (!(q <= 1) && !(isnan(x) && isnan(y)) && bad++ == 0)
                fprintf(stderr, "\n  %s: output %zu [%lld]: interp %.9g, jit %.9g", what, k,
                        (long long)i, x, y);
            worst = q > worst ? q : worst;
        }
        CU_ASSERT_EQUAL(bad, 0);
    }
    return worst;
}

/* The model (source text, or a file when src is NULL) through the interpreter and the JIT at
 * -O0 and -O2, at batch 1, 7 and 33 (dense takes blocks of 6 to 12 rows, of 8, 4 and 2 rows
 * and single rows from these), or on x alone when given. */
static void interp_vs_jit(const char *src, const char *path, const NpyArray *x) {
    static const int64_t batches[] = {1, 7, 33};
    for (int bi = 0; bi < (x ? 1 : 3); bi++) {
        int64_t batch = x ? x->shape[0] : batches[bi];
        Runner ref;
        nnd_model *mi = compile_for(src, path, NND_BACKEND_INTERP, 2);
        CU_ASSERT_PTR_NOT_NULL_FATAL(mi);
        CU_ASSERT_FATAL(runner_run(&ref, mi, batch, x));
        for (int level = 0; level <= 2; level += 2) {
            Runner jit;
            nnd_model *mj = compile_for(src, path, NND_BACKEND_JIT, level);
            CU_ASSERT_PTR_NOT_NULL_FATAL(mj);
            CU_ASSERT_FATAL(runner_run(&jit, mj, batch, x));
            char what[64];
            snprintf(what, sizeof what, "batch %lld -O%d", (long long)batch, level);
            double worst = compare_runs(&ref, &jit, what);
            if (worst > 0.1)
                printf("\n    %s: worst |interp - jit| is %.2f of the tolerance ", what, worst);
            runner_free(&jit, !x);
        }
        runner_free(&ref, !x);
    }
}

static void example(const char *model, const char *input) {
    NpyArray x = {0};
    char msg[256];
    CU_ASSERT_FATAL(npy_read(input, &x, msg, sizeof msg));
    interp_vs_jit(NULL, model, &x);
    npy_free(&x);
}

static void test_interp_matches_jit_on_digits(void) {
    example(EXAMPLES "/digits/digits.nnd", EXAMPLES "/digits/test_x.npy");
}

static void test_interp_matches_jit_on_lenet5(void) {
    example(EXAMPLES "/lenet5/lenet5.nnd", EXAMPLES "/lenet5/input.npy");
}

static void test_interp_matches_jit_on_resnet_block(void) {
    example(EXAMPLES "/resnet_block/resnet_block.nnd", EXAMPLES "/resnet_block/input.npy");
}

/* Grouped, strided, asymmetrically padded and dilated convolutions, ceil-mode pooling. */
static const char conv_odd[] =
    "model conv_odd {\n"
    "  input x : f32[N, 3, 11, 9]\n"
    "  c = conv2d(x, 6, kernel=[3, 2], stride=[2, 1], padding=[1, 0, 2, 1], groups=3) -> relu\n"
    "  d = conv2d(c, 5, kernel=3, padding=\"same\", dilation=2)\n"
    "  e = conv2d(d, 7, kernel=[2, 3], stride=3, dilation=[2, 1], padding=[0, 2])\n"
    "  output y = maxpool2d(d, 3, stride=2, padding=1, ceil_mode=true)\n"
    "  output z = e -> maxpool2d([2, 1], stride=[1, 2], ceil_mode=true)\n"
    "}\n";

static void test_interp_matches_jit_on_odd_convolutions(void) {
    interp_vs_jit(conv_odd, NULL, NULL);
}

/* Dense layers whose K is split into chunks (lower_dense.c: panels over 256 KB; with AVX-512
 * 4 chunks of h's 48-column panels and 5 of z's 64-column ones, with AVX2 2 of h's), with
 * panels cut by U. */
static const char wide_dense[] =
    "model wide_dense {\n"
    "  input x : f32[N, 4500]\n"
    "  h = dense(x, 45) -> relu\n"
    "  output y = dense(h, 10)\n"
    "  output z = dense(x, 300, bias=false) -> sigmoid\n"
    "}\n";

static void test_interp_matches_jit_on_wide_dense(void) { interp_vs_jit(wide_dense, NULL, NULL); }

static const char pools[] =
    "model pools {\n"
    "  input x : f32[N, 5, 7, 10]\n"
    "  output a = avgpool2d(x, [3, 2], stride=[2, 3], padding=[1, 1], ceil_mode=true,\n"
    "                       count_include_pad=false)\n"
    "  output b = avgpool2d(x, 3, stride=2, padding=1, ceil_mode=true)\n"
    "  output c = avgpool2d(x, [2, 4], padding=[1, 0, 0, 2])\n"
    "  output g = global_avgpool(x)\n"
    "}\n";

static void test_interp_matches_jit_on_pools(void) { interp_vs_jit(pools, NULL, NULL); }

/* Pooling tails (fuse_pool.c), at -O2 computed inside their convolutions' image loops with
 * one image's room for the convolution: several filter blocks (a, e), an epilogue reading
 * another tensor at the whole batch's index (b), ceil mode and padding excluded from the
 * average; c and d, with 6 filters per group, too few to split, keep their pools apart. */
static const char pool_tails[] =
    "model pool_tails {\n"
    "  input x : f32[N, 3, 13, 11]\n"
    "  input t : f32[N, 20, 13, 11]\n"
    "  a = conv2d(x, 20, kernel=3, padding=1) -> relu -> maxpool2d(2)\n"
    "  b = conv2d(x, 20, kernel=3, padding=1) -> add(t)\n"
    "      -> avgpool2d(3, stride=2, padding=1, ceil_mode=true, count_include_pad=false)\n"
    "  c = conv2d(x, 6, kernel=5, padding=2) -> tanh -> maxpool2d(3, stride=1)\n"
    "  d = conv2d(x, 18, kernel=[3, 1], stride=[1, 2], groups=3) -> avgpool2d(2, stride=1)\n"
    "  output e = conv2d(a, 32, kernel=3, padding=1) -> relu -> maxpool2d(2, ceil_mode=true)\n"
    "  output b\n"
    "  output c\n"
    "  output d\n"
    "}\n";

/* How many kernels of src's optimized graph have a pooling tail, and how many are in an image
 * chain. */
static void count_tails_and_chains(const char *src, int *tails, int *chained) {
    Compilation *c = unit_compile_to(src, STAGE_OPT, 5);
    *tails = *chained = 0;
    for (int i = 0; i < c->graph->nnodes; i++) {
        *tails += c->graph->nodes[i]->tail != NULL;
        *chained += c->graph->nodes[i]->chain != NULL;
    }
    compilation_free(c);
}

static void test_interp_matches_jit_on_pool_tails(void) {
    int tails, chained;
    count_tails_and_chains(pool_tails, &tails, &chained);
    CU_ASSERT_EQUAL(tails, 3);
    CU_ASSERT_EQUAL(chained, 0); /* e's conv reads a's tail, but b, c and d run between */
    interp_vs_jit(pool_tails, NULL, NULL);
}

/* Image chains (chain_images.c), at -O2 run image by image with one image's room for the
 * values passed along: a VGG-style chain of three, 32 filters split four ways, a ceil-mode
 * pooling tail, groups and asymmetric padding; after it a 1 x 1 conv, too little work per
 * image to chain, with an epilogue reading another tensor at the whole batch's index and an
 * avgpool tail; a second chain with stride and dilation. */
static const char chains[] =
    "model chains {\n"
    "  input x : f32[N, 8, 23, 21]\n"
    "  input t : f32[N, 16, 12, 10]\n"
    "  a = conv2d(x, 16, kernel=3, padding=1) -> relu\n"
    "  b = conv2d(a, 32, kernel=3, padding=1) -> relu -> maxpool2d(2, ceil_mode=true)\n"
    "  c = conv2d(b, 32, kernel=3, padding=[1, 0, 1, 1], groups=2) -> tanh\n"
    "  output d = conv2d(c, 16, kernel=1) -> add(t) -> avgpool2d(3, stride=2, padding=1)\n"
    "  e = conv2d(x, 32, kernel=5, stride=2, padding=2, dilation=1) -> sigmoid\n"
    "  output f = conv2d(e, 16, kernel=3, dilation=2, padding=2) -> relu\n"
    "}\n";

static void test_interp_matches_jit_on_image_chains(void) {
    int tails, chained;
    count_tails_and_chains(chains, &tails, &chained);
    CU_ASSERT_EQUAL(tails, 2);
    CU_ASSERT_EQUAL(chained, 5);
    interp_vs_jit(chains, NULL, NULL);
}

/* Depthwise-style groups, no bias, batchnorm (folded at -O2), layernorm, gelu. */
static const char depthwise[] =
    "model depthwise {\n"
    "  input x : f32[N, 4, 13, 13]\n"
    "  c = conv2d(x, 8, kernel=5, stride=3, padding=2, groups=4, bias=false)\n"
    "      -> batchnorm(name=\"bn1\")\n"
    "  output y = c -> relu6 -> flatten -> dense(7, name=\"fc\") -> layernorm\n"
    "      -> gelu(approximate=\"tanh\")\n"
    "  output z = c -> gelu -> batchnorm(eps=0.01, name=\"bn2\")\n"
    "}\n";

static void test_interp_matches_jit_on_depthwise(void) { interp_vs_jit(depthwise, NULL, NULL); }

/* matmul with 1-D and broadcast batch operands, transpose, concat, softmax on inner axes. */
static const char linalg[] =
    "model linalg {\n"
    "  input a : f32[N, 3, 5]\n"
    "  input b : f32[5, 4]\n"
    "  input c : f32[2, 1, 5, 3]\n"
    "  input v : f32[5]\n"
    "  m = matmul(a, b)\n"
    "  output y = transpose(m, perm=[0, 2, 1]) -> softmax(axis=1)\n"
    "  output z = concat(m, m, dense(m, 2, name=\"d\"), axis=2) -> log_softmax(axis=-1)\n"
    "  output w = matmul(c, a)\n"
    "  output u = matmul(a, v)\n"
    "  output s = matmul(v, b) -> softmax(axis=0)\n"
    "  output t = concat(a, transpose(matmul(b, transpose(m, perm=[0, 2, 1])), perm=[1, 2, 0]) "
    "-> reshape([-1, 3, 5]), axis=0)\n"
    "}\n";

static void test_interp_matches_jit_on_linalg(void) { interp_vs_jit(linalg, NULL, NULL); }

/* Broadcasting binary ops with tensors and numbers, and every activation. */
static const char elementwise[] =
    "model elementwise {\n"
    "  input x : f32[N, 3, 1, 5]\n"
    "  input w : f32[4, 1]\n"
    "  h = add(x, w) -> sub(0.5) -> mul(x) -> div(2.5)\n"
    "  output a = h -> sigmoid -> clip(max=0.7) -> hard_sigmoid\n"
    "  output b = h -> elu(alpha=0.5) -> leaky_relu(alpha=0.2) -> selu -> silu -> softplus\n"
    "  output c = h -> softsign -> tanh -> exp -> abs -> log -> neg -> clip(min=-0.3, max=2)\n"
    "  output d = div(w, h) -> abs -> sqrt -> relu -> relu6 -> gelu\n"
    "  output e = sub(w, x) -> mul(3) -> add(-1) -> clip(min=0)\n"
    "}\n";

static void test_interp_matches_jit_on_elementwise(void) {
    interp_vs_jit(elementwise, NULL, NULL);
}

/* Views, copies and permutations. */
static const char views[] =
    "model views {\n"
    "  input x : f32[N, 6, 4]\n"
    "  r = reshape(x, [-1, 3, 8]) -> dropout(0.3) -> identity\n"
    "  output y = transpose(r)\n"
    "  output z = flatten(x, axis=0) -> relu\n"
    "  output v = concat(x, r -> reshape([-1, 6, 4]), axis=1) -> flatten(axis=2)\n"
    "}\n";

static void test_interp_matches_jit_on_views(void) { interp_vs_jit(views, NULL, NULL); }

/* --- optimized graphs -------------------------------------------------------------------- */

static Compilation *compile_to_stage(const char *src, Stage stage) {
    return unit_compile_to(src, stage, 5);
}

/* The graph's single output at N = 7 on the graph's single input [7, ...]. */
static float *run_graph(const Graph *g, const float *x, int64_t *numel) {
    int64_t syms[MAX_SYMS] = {7};
    CU_ASSERT_TRUE_FATAL(shape_eval(&g->outputs[0]->shape, syms, NULL, numel));
    float *y = calloc((size_t)*numel, sizeof(float));
    char err[256];
    const float *ins[1] = {x};
    float *outs[1] = {y};
    bool ok = interp_run(g, syms, ins, outs, err, sizeof err);
    if (!ok)
        fprintf(stderr, "\n  interp_run: %s\n", err);
    CU_ASSERT_FATAL(ok);
    return y;
}

static void test_interp_ignores_optimizer_annotations(void) {
    const char *src = "model opt {\n"
                      "  input x : f32[N, 3, 8, 8]\n"
                      "  c = conv2d(x, 4, kernel=3, padding=1) -> batchnorm(name=\"bn\") -> relu\n"
                      "  unused = conv2d(x, 2, kernel=1) -> sigmoid\n"
                      "  output y = dense(flatten(c), 10) -> tanh -> add(0.5) -> softmax\n"
                      "}\n";
    Compilation *plain = compile_to_stage(src, STAGE_WEIGHTS);
    Compilation *opt = compile_to_stage(src, STAGE_OPT);
    const Graph *g = opt->graph;
    bool fused = false;
    for (int i = 0; i < g->nnodes; i++)
        fused |= g->nodes[i]->nepi > 0;
    CU_ASSERT(fused);                              /* the passes ran: kernels with epilogues, */
    CU_ASSERT(g->nnodes < plain->graph->nnodes);   /* dead and folded nodes removed, */
    CU_ASSERT(g->plan.done);                       /* a planned workspace */
    float x[7 * 3 * 8 * 8];
    fill(x, 7 * 3 * 8 * 8, 3);
    int64_t n1, n2;
    float *want = run_graph(plain->graph, x, &n1), *got = run_graph(g, x, &n2);
    CU_ASSERT_EQUAL_FATAL(n1, n2);
    int64_t bad = 0;
    for (int64_t i = 0; i < n1; i++)
        bad += !(fabs((double)got[i] - want[i]) <= 1e-6 + 1e-5 * fabs((double)want[i]));
    CU_ASSERT_EQUAL(bad, 0);
    free(want);
    free(got);
    compilation_free(plain);
    compilation_free(opt);
}

/* --- errors ------------------------------------------------------------------------------ */

static void test_interp_reports_errors(void) {
    Compilation *c = compile_to_stage("model e {\n  input x : f32[N, 64]\n"
                                      "  output y = dense(x, 8)\n}\n", STAGE_WEIGHTS);
    const Graph *g = c->graph;
    char err[256] = "";
    float x[64], y[8];
    const float *ins[1] = {x};
    float *outs[1] = {y};
    int64_t huge[MAX_SYMS] = {(int64_t)1 << 60};
    CU_ASSERT_FALSE(interp_run(g, huge, ins, outs, err, sizeof err));
    CU_ASSERT(strstr(err, "too large") != NULL);
    CU_ASSERT_FALSE(interp_run(NULL, huge, ins, outs, err, sizeof err));
    CU_ASSERT(strstr(err, "NULL") != NULL);
    int64_t one[MAX_SYMS] = {1};
    CU_ASSERT_FALSE(interp_run(g, one, (const float *[1]){NULL}, outs, err, sizeof err));
    CU_ASSERT(strstr(err, "no value for input x") != NULL);
    CU_ASSERT_FALSE(interp_node(g, g->inputs[0], one, NULL, y, err, sizeof err));
    CU_ASSERT(strstr(err, "input 'x'") != NULL);
    fill(x, 64, 1);
    CU_ASSERT_TRUE(interp_run(g, one, ins, outs, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "");
    compilation_free(c);
}

/* The runtime checks arguments the same way for both backends. */
static void test_interp_backend_checks_like_the_jit(void) {
    nnd_options o;
    nnd_options_init(&o);
    CU_ASSERT_EQUAL(o.backend, NND_BACKEND_JIT);
    o.backend = 7;
    nnd_model *m = NULL;
    char *err = NULL;
    CU_ASSERT_EQUAL(nnd_model_compile_string("model m {\n input x : f32[N, 2]\n output y = "
                                             "relu(x)\n}\n", NULL, NULL, &o, &m, &err),
                    NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT(err && strstr(err, "backend") != NULL);
    nnd_string_free(err);
    m = compile_for("model m {\n input x : f32[N, 2]\n output y = relu(x)\n}\n", NULL,
                    NND_BACKEND_INTERP, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    nnd_context *ctx;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    float x[6] = {-1, 2, -3, 4, 5, -6}, y[6] = {0};
    int64_t bad_shape[2] = {3, 3}, shape[2] = {3, 2};
    nnd_tensor in = {x, 6, 2, bad_shape, {0}}, out = {y, 6, 0, NULL, {0}};
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, &out, 1), NND_ERR_SHAPE);
    in.shape = shape;
    out.count = 5;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, &out, 1), NND_ERR_SHAPE);
    out.count = 6;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, &out, 1), NND_OK);
    CU_ASSERT_EQUAL(out.rank, 2);
    CU_ASSERT_EQUAL(out.out_shape[0], 3);
    CU_ASSERT(y[0] == 0 && y[1] == 2 && y[4] == 5 && y[5] == 0);
    CU_ASSERT_EQUAL(nnd_context_reserve(ctx, (int64_t[1]){100}), NND_OK);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
}

/* Threads share one interpreted model, each with its own context: the graph is only read. */
typedef struct Job {
    nnd_model *m;
    const float *x;
    float *y, *z;
    int64_t ny, nz;
    nnd_status st;
} Job;

static void *interp_worker(void *arg) {
    Job *j = arg;
    nnd_context *ctx = NULL;
    int64_t shape[4] = {7, 3, 11, 9};
    nnd_tensor in = {(float *)j->x, 7 * 3 * 11 * 9, 4, shape, {0}};
    nnd_tensor out[2] = {{j->y, (size_t)j->ny, 0, NULL, {0}}, {j->z, (size_t)j->nz, 0, NULL, {0}}};
    j->st = nnd_context_create(j->m, &ctx);
    for (int i = 0; i < 10 && j->st == NND_OK; i++)
        j->st = nnd_run(ctx, &in, 1, out, 2);
    nnd_context_destroy(ctx);
    return NULL;
}

static void test_interp_backend_runs_on_threads(void) {
    nnd_model *m = compile_for(conv_odd, NULL, NND_BACKEND_INTERP, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    int64_t seven = 7, dims[NND_MAX_RANK], n[2];
    for (int k = 0; k < 2; k++) {
        CU_ASSERT_EQUAL_FATAL(nnd_model_output_shape(m, (size_t)k, &seven, dims), NND_OK);
        n[k] = dims[0] * dims[1] * dims[2] * dims[3];
    }
    static float x[7 * 3 * 11 * 9];
    fill(x, 7 * 3 * 11 * 9, 9);
    Job jobs[5];
    pthread_t t[4];
    for (int i = 0; i < 5; i++)
        jobs[i] = (Job){m, x, calloc((size_t)n[0], sizeof(float)),
                        calloc((size_t)n[1], sizeof(float)), n[0], n[1], NND_OK};
    interp_worker(&jobs[4]); /* alone, first: the reference */
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, interp_worker, &jobs[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(jobs[i].st, NND_OK);
        CU_ASSERT_EQUAL(memcmp(jobs[i].y, jobs[4].y, (size_t)n[0] * sizeof(float)), 0);
        CU_ASSERT_EQUAL(memcmp(jobs[i].z, jobs[4].z, (size_t)n[1] * sizeof(float)), 0);
    }
    double sum = 0;
    for (int64_t i = 0; i < n[0]; i++)
        sum += fabs(jobs[4].y[i]);
    CU_ASSERT(sum > 0); /* the outputs were written */
    for (int i = 0; i < 5; i++) {
        free(jobs[i].y);
        free(jobs[i].z);
    }
    nnd_model_destroy(m);
}

/* --- nndc run --backend ------------------------------------------------------------------ */

static void test_interp_nndc_run_backend(void) {
    const char *dir = sh_tmpdir();
    CU_ASSERT_FATAL(dir[0] != 0);
    const char *run =
        NNDC " run examples/digits/digits.nnd --input pixels=examples/digits/test_x.npy";
    CU_ASSERT_EQUAL_FATAL(sh("%s --backend interp --output probs=%s/interp.npy", run, dir), 0);
    CU_ASSERT_EQUAL_FATAL(sh("%s --backend jit --output probs=%s/jit.npy", run, dir), 0);
    char a[256], b[256], msg[256];
    snprintf(a, sizeof a, "%s/interp.npy", dir);
    snprintf(b, sizeof b, "%s/jit.npy", dir);
    NpyArray got = {0}, want = {0};
    CU_ASSERT_FATAL(npy_read(a, &got, msg, sizeof msg) && npy_read(b, &want, msg, sizeof msg));
    CU_ASSERT_EQUAL_FATAL(got.numel, want.numel);
    CU_ASSERT_EQUAL(got.numel, 3600);
    double worst = 0;
    for (int64_t i = 0; i < got.numel; i++)
        worst = fmax(worst, fabs((double)got.data[i] - want.data[i]));
    CU_ASSERT(worst <= 1e-5);
    npy_free(&got);
    npy_free(&want);
    CU_ASSERT_EQUAL(sh("%s --backend llvm", run), 2);
    CU_ASSERT(strstr(sh_out, "--backend takes jit or interp, not 'llvm'") != NULL);
    CU_ASSERT_EQUAL(sh("%s --backend", run), 2);
    CU_ASSERT_EQUAL(sh(NNDC " check examples/digits/digits.nnd --backend interp"), 2);
    CU_ASSERT_EQUAL(sh(NNDC " --help"), 0);
    CU_ASSERT(strstr(sh_out, "--backend") != NULL);
}

NND_SUITE("interp", test_interp_every_op_has_an_interpreter,
          test_interp_matches_pytorch_on_every_reference_case, test_interp_matches_jit_on_digits,
          test_interp_matches_jit_on_lenet5, test_interp_matches_jit_on_resnet_block,
          test_interp_matches_jit_on_odd_convolutions, test_interp_matches_jit_on_wide_dense,
          test_interp_matches_jit_on_pools, test_interp_matches_jit_on_pool_tails,
          test_interp_matches_jit_on_image_chains,
          test_interp_matches_jit_on_depthwise, test_interp_matches_jit_on_linalg,
          test_interp_matches_jit_on_elementwise, test_interp_matches_jit_on_views,
          test_interp_ignores_optimizer_annotations, test_interp_reports_errors,
          test_interp_backend_checks_like_the_jit, test_interp_backend_runs_on_threads,
          test_interp_nndc_run_backend)
