/* test_fold_batchnorm.c: pass_fold_batchnorm (compiler/passes/fold_batchnorm.c).
 *
 * Graph tests build a model through the front end (random init), give every batchnorm
 * non-trivial statistics, run the pass alone and assert what changed: which batchnorms are
 * gone, the layer's weight and bias against the formula in double, a bias added where the
 * layer had none, the consumers, outputs and use counts moved to the layer, and which
 * batchnorms must stay (a layer read twice or that is an output, a non-layer producer, a
 * rank-3 dense). Numeric tests compile the same model with and without the pass at -O0 (so
 * that only this pass differs) and compare the outputs; the runtime tests compare -O2 (the
 * whole optimizer) with -O0 through runtime/nnd.h, on the examples' and reference cases'
 * real weights. Tolerance: |folded - plain| <= 1e-5 (|plain| + max |plain|): relative to
 * the element, with a floor at the tensor's scale for elements that cancel to near zero. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "jit.h"
#include "nnd.h"
#include "npy.h"
#include "passes.h"
#include "unit_compile.h"
#include "unit_harness.h"


/* --- helpers ----------------------------------------------------------------------------- */

/* A deterministic value in [lo, hi). */
static double rnd(uint64_t *s, double lo, double hi) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(*s >> 11) / 9007199254740992.0;
}

static Node *find(const Graph *g, const char *name) {
    for (int i = 0; i < g->nnodes; i++)
        if (strcmp(g->nodes[i]->name, name) == 0)
            return g->nodes[i];
    return NULL;
}

static int count_op(const Graph *g, OpKind op) {
    int k = 0;
    for (int i = 0; i < g->nnodes; i++)
        k += g->nodes[i]->op == op;
    return k;
}

/* Gives every batchnorm statistics far from the identity: gamma of both signs, beta, mean
 * and a variance in [0.05, 3). */
static void randomize_batchnorms(Graph *g) {
    uint64_t s = 12345;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = g->nodes[i];
        if (n->op != OP_BATCHNORM)
            continue;
        int64_t C = n->shape.d[1].c;
        float *w = node_param(n, "weight")->data, *b = node_param(n, "bias")->data;
        float *m = node_param(n, "running_mean")->data, *v = node_param(n, "running_var")->data;
        for (int64_t c = 0; c < C; c++) {
            w[c] = (float)(rnd(&s, 0.5, 2.0) * (c % 3 == 1 ? -1 : 1));
            b[c] = (float)rnd(&s, -1, 1);
            m[c] = (float)rnd(&s, -1, 1);
            v[c] = (float)rnd(&s, 0.05, 3);
        }
    }
}

/* The model compiled to STAGE_WEIGHTS with random parameters and its batchnorms randomized. */
static Compilation *build(const char *src) {
    Compilation *c = unit_compile(src);
    randomize_batchnorms(c->graph);
    return c;
}

static float *copy(const float *p, int64_t n) {
    float *q = malloc((size_t)n * sizeof *q);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    memcpy(q, p, (size_t)n * sizeof *q);
    return q;
}

static int64_t param_numel(const Param *p) {
    Dim n;
    shape_numel(&p->shape, &n);
    return n.c;
}

/* The values a layer and the batchnorm after it hold before the pass. */
typedef struct Before {
    int64_t C, per;
    float *w, *b; /* b: NULL when the layer has no bias */
    float *gamma, *beta, *mean, *var;
    double eps;
} Before;

static Before snapshot(const Node *layer, const Node *bn) {
    Before s = {.C = bn->shape.d[1].c, .eps = attr_float(bn, "eps")};
    const Param *w = node_param(layer, "weight"), *b = node_param(layer, "bias");
    s.per = param_numel(w) / s.C;
    s.w = copy(w->data, param_numel(w));
    s.b = b ? copy(b->data, s.C) : NULL;
    s.gamma = copy(node_param(bn, "weight")->data, s.C);
    s.beta = copy(node_param(bn, "bias")->data, s.C);
    s.mean = copy(node_param(bn, "running_mean")->data, s.C);
    s.var = copy(node_param(bn, "running_var")->data, s.C);
    return s;
}

static void before_free(Before *s) {
    free(s->w);
    free(s->b);
    free(s->gamma);
    free(s->beta);
    free(s->mean);
    free(s->var);
}

static bool close_to(double got, double want) {
    return fabs(got - want) <= 1e-6 * fabs(want) + 1e-7;
}

/* The layer's parameters now are the formula applied to `s`, every element. */
static void check_folded(const Node *layer, const Before *s) {
    const Param *w = node_param(layer, "weight"), *b = node_param(layer, "bias");
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b->data);
    CU_ASSERT(attr_bool(layer, "bias"));
    CU_ASSERT_EQUAL(param_numel(b), s->C);
    CU_ASSERT_EQUAL(param_numel(w), s->C * s->per);
    int64_t bad = 0;
    for (int64_t c = 0; c < s->C; c++) {
        double scale = (double)s->gamma[c] / sqrt((double)s->var[c] + s->eps);
        for (int64_t k = 0; k < s->per; k++)
            bad += !close_to(w->data[c * s->per + k], (double)s->w[c * s->per + k] * scale);
        double b0 = s->b ? (double)s->b[c] : 0.0;
        bad += !close_to(b->data[c], (b0 - (double)s->mean[c]) * scale + (double)s->beta[c]);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Every node's use count is what its consumers and the outputs say, and the graph verifies. */
static void check_consistent(Compilation *c) {
    Graph *g = c->graph;
    int *uses = calloc((size_t)g->nnodes + 1, sizeof *uses);
    CU_ASSERT_PTR_NOT_NULL_FATAL(uses);
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i]->nin; j++)
            uses[g->nodes[i]->in[j]->id]++;
    for (int i = 0; i < g->noutputs; i++)
        uses[g->outputs[i]->id]++;
    for (int i = 0; i < g->nnodes; i++)
        CU_ASSERT_EQUAL(g->nodes[i]->nuses, uses[i]);
    free(uses);
    bool ok = graph_verify(g, c->diag);
    if (!ok)
        fprintf(stderr, "\n%s", diag_text(c->diag));
    CU_ASSERT(ok);
}

/* --- graph tests ------------------------------------------------------------------------- */

static void test_fold_batchnorm_conv(void) {
    Compilation *c =
        build("model m {\n"
              "  input x : f32[N, 3, 8, 8]\n"
              "  a = conv2d(x, 6, kernel=3, padding=1, name=\"c1\") -> batchnorm(eps=1e-3)\n"
              "  output y = relu(a)\n"
              "}\n");
    Graph *g = c->graph;
    Node *conv = find(g, "c1"), *bn = find(g, "a"), *y = find(g, "y");
    CU_ASSERT_PTR_NOT_NULL_FATAL(conv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bn);
    CU_ASSERT_EQUAL_FATAL(bn->op, OP_BATCHNORM);
    Before s = snapshot(conv, bn);
    CU_ASSERT_DOUBLE_EQUAL(s.eps, 1e-3, 1e-12);
    int before = g->nnodes;

    CU_ASSERT_TRUE(pass_fold_batchnorm(g, c->diag));
    CU_ASSERT_EQUAL(count_op(g, OP_BATCHNORM), 0);
    CU_ASSERT_EQUAL(g->nnodes, before - 1);
    CU_ASSERT_PTR_EQUAL(y->in[0], conv);
    CU_ASSERT_EQUAL(conv->nuses, 1);
    check_folded(conv, &s);
    check_consistent(c);
    /* Nothing left to fold. */
    CU_ASSERT_FALSE(pass_fold_batchnorm(g, c->diag));
    before_free(&s);
    compilation_free(c);
}

static void test_fold_batchnorm_conv_gets_bias(void) {
    Compilation *c = build("model m {\n"
                           "  input x : f32[N, 4, 6, 6]\n"
                           "  a = conv2d(x, 4, kernel=3, bias=false, name=\"c1\") -> batchnorm\n"
                           "  output y = relu(a)\n"
                           "}\n");
    Graph *g = c->graph;
    Node *conv = find(g, "c1"), *bn = find(g, "a");
    CU_ASSERT_PTR_NOT_NULL_FATAL(conv);
    CU_ASSERT_PTR_NULL(node_param(conv, "bias"));
    CU_ASSERT_FALSE(attr_bool(conv, "bias"));
    Before s = snapshot(conv, bn);
    CU_ASSERT_PTR_NULL(s.b);

    CU_ASSERT_TRUE(pass_fold_batchnorm(g, c->diag));
    CU_ASSERT_EQUAL(count_op(g, OP_BATCHNORM), 0);
    const Param *b = node_param(conv, "bias");
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_STRING_EQUAL(b->name, "c1.bias");
    CU_ASSERT_EQUAL(b->shape.rank, 1);
    CU_ASSERT_EQUAL(conv->nparams, 2);
    check_folded(conv, &s);
    check_consistent(c);
    before_free(&s);
    compilation_free(c);
}

/* PyTorch's BatchNorm1d after Linear; the batchnorm is the model output, which moves to the
 * dense under the output's own name. */
static void test_fold_batchnorm_dense_output(void) {
    Compilation *c = build("model m {\n"
                           "  input x : f32[N, 10]\n"
                           "  h = dense(x, 7, name=\"fc\")\n"
                           "  output y = batchnorm(h)\n"
                           "}\n");
    Graph *g = c->graph;
    Node *fc = find(g, "fc"), *bn = find(g, "y");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bn);
    Before s = snapshot(fc, bn);
    CU_ASSERT_PTR_NOT_NULL(s.b);

    CU_ASSERT_TRUE(pass_fold_batchnorm(g, c->diag));
    CU_ASSERT_EQUAL(count_op(g, OP_BATCHNORM), 0);
    CU_ASSERT_EQUAL(g->noutputs, 1);
    CU_ASSERT_PTR_EQUAL(g->outputs[0], fc);
    CU_ASSERT_STRING_EQUAL(g->output_names[0], "y");
    check_folded(fc, &s);
    check_consistent(c);
    before_free(&s);
    compilation_free(c);
}

/* Two in a row: the second finds the layer as its input once the first is folded. */
static void test_fold_batchnorm_chain(void) {
    Compilation *c = build("model m {\n"
                           "  input x : f32[N, 5]\n"
                           "  h = dense(x, 4, bias=false, name=\"fc\") -> batchnorm(name=\"b1\")\n"
                           "  output y = batchnorm(h, name=\"b2\") -> relu\n"
                           "}\n");
    Graph *g = c->graph;
    CU_ASSERT_EQUAL(count_op(g, OP_BATCHNORM), 2);
    CU_ASSERT_TRUE(pass_fold_batchnorm(g, c->diag));
    CU_ASSERT_EQUAL(count_op(g, OP_BATCHNORM), 0);
    CU_ASSERT_EQUAL(g->nnodes, 3);
    CU_ASSERT_PTR_EQUAL(g->outputs[0]->in[0], find(g, "fc"));
    check_consistent(c);
    compilation_free(c);
}

/* Batchnorms that must stay: the layer is also read by an add; the producer is a relu; a
 * rank-3 dense (axis 1 is not its units); the layer is a model output as well. Only the
 * last batchnorm, after a plain conv, is folded. */
static void test_fold_batchnorm_kept(void) {
    Compilation *c =
        build("model m {\n"
              "  input x : f32[N, 4, 6, 6]\n"
              "  input s : f32[N, 3, 5]\n"
              "  a = conv2d(x, 4, kernel=3, padding=1, name=\"shared\")\n"
              "  b = batchnorm(a, name=\"bn_shared\")\n"
              "  output u = add(a, b)\n"
              "  r = relu(x)\n"
              "  output v = batchnorm(r, name=\"bn_relu\")\n"
              "  t = dense(s, 5, name=\"fc3\")\n"
              "  output w = batchnorm(t, name=\"bn_rank3\")\n"
              "  output o = conv2d(x, 2, kernel=1, name=\"out_conv\")\n"
              "  output p = batchnorm(o, name=\"bn_out\")\n"
              "  q = conv2d(x, 2, kernel=1, name=\"plain\") -> batchnorm(name=\"bn_plain\")\n"
              "  output z = relu(q)\n"
              "}\n");
    Graph *g = c->graph;
    const char *kept[] = {"bn_shared", "bn_relu", "bn_rank3", "bn_out"};
    float *w[4];
    for (int i = 0; i < 4; i++) {
        Node *bn = find(g, kept[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(bn);
        Node *p = bn->in[0];
        w[i] = node_param(p, "weight") ? copy(node_param(p, "weight")->data, 1) : NULL;
    }
    CU_ASSERT_EQUAL(count_op(g, OP_BATCHNORM), 5);

    CU_ASSERT_TRUE(pass_fold_batchnorm(g, c->diag));
    CU_ASSERT_EQUAL(count_op(g, OP_BATCHNORM), 4);
    CU_ASSERT_PTR_NULL(find(g, "bn_plain"));
    for (int i = 0; i < 4; i++) {
        Node *bn = find(g, kept[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(bn);
        const Param *pw = node_param(bn->in[0], "weight");
        if (w[i]) /* the layer's weights are untouched */
            CU_ASSERT_EQUAL(pw->data[0], w[i][0]);
        free(w[i]);
    }
    CU_ASSERT_EQUAL(find(g, "shared")->nuses, 2);
    check_consistent(c);
    compilation_free(c);
}

static void test_fold_batchnorm_nothing(void) {
    Compilation *c = build("model m {\n"
                           "  input x : f32[N, 6]\n"
                           "  output y = dense(x, 3) -> relu\n"
                           "}\n");
    int before = c->graph->nnodes;
    CU_ASSERT_FALSE(pass_fold_batchnorm(c->graph, c->diag));
    CU_ASSERT_EQUAL(c->graph->nnodes, before);
    check_consistent(c);
    compilation_free(c);
}

/* --- numbers: the same model with and without the pass ------------------------------------ */

typedef struct Run {
    const char *name; /* for messages */
    const char *path; /* a model file, or NULL for src */
    const char *src;
    bool randomize; /* random init and randomized batchnorms (src models) */
    int64_t x[4];   /* the single input's shape */
    int rank;
} Run;

static int64_t numel(const int64_t *d, int rank) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= d[i];
    return n;
}

/* Compiles at -O0 (no optimizer: only this pass differs), runs on x and returns the single
 * output (malloc'd; *ny its size); *folded counts the batchnorms the pass removed. */
static float *run_model(const Run *r, const float *x, bool fold, int64_t *ny, int *folded) {
    Compilation *c = compilation_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CompileOptions o;
    compile_options_init(&o);
    o.opt_level = 0;
    o.init_random = r->randomize;
    bool ok = true;
    if (r->path)
        ok = compile_read_file(c, r->path);
    else
        compile_set_source(c, "t.nnd", r->src, strlen(r->src));
    ok = ok && compile_to(c, STAGE_WEIGHTS, &o);
    if (ok && r->randomize)
        randomize_batchnorms(c->graph);
    int bns = ok ? count_op(c->graph, OP_BATCHNORM) : 0;
    if (ok && fold) {
        pass_fold_batchnorm(c->graph, c->diag);
        ok = graph_verify(c->graph, c->diag);
    }
    *folded = ok ? bns - count_op(c->graph, OP_BATCHNORM) : 0;
    ok = ok && compile_to(c, STAGE_LLVM_OPT, &o);
    if (!ok)
        fprintf(stderr, "\n%s", diag_text(c->diag));
    CU_ASSERT_FATAL(ok);
    CU_ASSERT_FATAL(c->graph->ninputs == 1 && c->graph->noutputs == 1);

    CgForwardFn forward;
    CgWorkspaceFn wsize;
    Jit *j = unit_jit(c, 0, &forward, &wsize);

    const Shape *ys = &c->graph->outputs[0]->shape;
    int64_t syms[MAX_SYMS] = {r->x[0]}, n = 1;
    for (int i = 0; i < ys->rank; i++) {
        int64_t v;
        CU_ASSERT_FATAL(dim_eval(ys->d[i], syms, &v));
        n *= v;
    }
    float *y = calloc((size_t)n + 1, sizeof *y);
    void *ws = malloc((size_t)wsize(syms) + 1);
    CU_ASSERT_FATAL(y && ws);
    const float *ins[1] = {x};
    float *outs[1] = {y};
    forward(ins, outs, syms, ws);
    free(ws);
    jit_dispose(j);
    compilation_free(c);
    *ny = n;
    return y;
}

/* The number of elements outside |a - b| <= 1e-5 (|b| + max |b|), printing the first. */
static int64_t mismatches(const char *what, const float *a, const float *b, int64_t n) {
    double scale = 0;
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)b[i]));
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double diff = fabs((double)a[i] - (double)b[i]);
        if (!(diff <= 1e-5 * (fabs((double)b[i]) + scale)) && bad++ == 0)
            fprintf(stderr, "\n  %s: [%lld] = %.9g, want %.9g\n", what, (long long)i, a[i], b[i]);
    }
    return bad;
}

static void check_same(const Run *r, int want_folded) {
    int64_t nx = numel(r->x, r->rank), n0, n1;
    float *x = malloc((size_t)nx * sizeof *x);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    uint64_t s = 99;
    for (int64_t i = 0; i < nx; i++)
        x[i] = (float)rnd(&s, -2, 2);
    int f0, f1;
    float *plain = run_model(r, x, false, &n0, &f0);
    float *folded = run_model(r, x, true, &n1, &f1);
    CU_ASSERT_EQUAL(f0, 0);
    CU_ASSERT_EQUAL(f1, want_folded);
    CU_ASSERT_EQUAL_FATAL(n0, n1);
    CU_ASSERT_EQUAL(mismatches(r->name, folded, plain, n0), 0);
    free(plain);
    free(folded);
    free(x);
}

static void test_fold_batchnorm_same_resnet_example(void) {
    Run r = {.name = "resnet_block example",
             .path = NND_SOURCE_DIR "/examples/resnet_block/resnet_block.nnd",
             .x = {3, 16, 12, 12},
             .rank = 4};
    check_same(&r, 2);
}

static void test_fold_batchnorm_same_resnet_case(void) {
    Run r = {.name = "resnet_block_b5",
             .path = NND_SOURCE_DIR "/tests/ref/cases/resnet_block_b5/model.nnd",
             .x = {5, 8, 9, 9},
             .rank = 4};
    check_same(&r, 2);
}

/* Grouped, strided conv with a bias; a chain of two; dense + BatchNorm1d as the output. */
static void test_fold_batchnorm_same_random(void) {
    Run conv = {.name = "grouped conv chain",
                .src =
                    "model m {\n"
                    "  input x : f32[N, 4, 9, 7]\n"
                    "  a = conv2d(x, 6, kernel=3, stride=2, padding=1, groups=2, name=\"c1\") -> "
                    "batchnorm\n"
                    "  b = conv2d(a, 5, kernel=[1, 3], bias=false, name=\"c2\")\n"
                    "  output y = batchnorm(b, eps=0.1, name=\"bn2\") -> batchnorm(name=\"bn3\")\n"
                    "}\n",
                .randomize = true,
                .x = {2, 4, 9, 7},
                .rank = 4};
    check_same(&conv, 3);
    Run dense = {
        .name = "dense + batchnorm1d",
        .src = "model m {\n"
               "  input x : f32[N, 12]\n"
               "  h = dense(x, 9, name=\"fc\") -> batchnorm -> relu\n"
               "  output y = dense(h, 3, bias=false, name=\"out\") -> batchnorm(name=\"bn\")\n"
               "}\n",
        .randomize = true,
        .x = {7, 12},
        .rank = 2};
    check_same(&dense, 2);
}

/* --- numbers through the runtime: -O2 (the whole optimizer) against -O0 ------------------- */

static float *run_runtime(const char *path, int level, const NpyArray *x, int64_t ny) {
    nnd_options o;
    nnd_options_init(&o);
    o.opt_level = level;
    nnd_model *m = NULL;
    char *err = NULL;
    nnd_status st = nnd_model_compile_file(path, &o, &m, &err);
    if (st != NND_OK)
        fprintf(stderr, "\n  -O%d %s: %s\n%s", level, path, nnd_status_name(st), err ? err : "");
    nnd_string_free(err);
    CU_ASSERT_EQUAL_FATAL(st, NND_OK);
    nnd_context *ctx = NULL;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    float *y = calloc((size_t)ny + 1, sizeof *y);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    nnd_tensor in = {x->data, (size_t)x->numel, (size_t)x->rank, x->shape, {0}};
    nnd_tensor out = {y, (size_t)ny, 0, NULL, {0}};
    st = nnd_run(ctx, &in, 1, &out, 1);
    if (st != NND_OK)
        fprintf(stderr, "\n  -O%d nnd_run: %s\n", level, nnd_context_error(ctx));
    CU_ASSERT_EQUAL(st, NND_OK);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    return y;
}

static void check_levels(const char *model, const char *input, const char *expected) {
    char msg[256];
    NpyArray x = {0}, want = {0};
    bool ok = npy_read(input, &x, msg, sizeof msg) && npy_read(expected, &want, msg, sizeof msg);
    if (!ok)
        fprintf(stderr, "\n  %s\n", msg);
    CU_ASSERT_FATAL(ok);
    float *o0 = run_runtime(model, 0, &x, want.numel);
    float *o2 = run_runtime(model, 2, &x, want.numel);
    CU_ASSERT_EQUAL(mismatches(model, o2, o0, want.numel), 0);
    free(o0);
    free(o2);
    npy_free(&x);
    npy_free(&want);
}

static void test_fold_batchnorm_levels_resnet_example(void) {
    check_levels(NND_SOURCE_DIR "/examples/resnet_block/resnet_block.nnd",
                 NND_SOURCE_DIR "/examples/resnet_block/input.npy",
                 NND_SOURCE_DIR "/examples/resnet_block/expected_y.npy");
}

static void test_fold_batchnorm_levels_resnet_case(void) {
    check_levels(NND_SOURCE_DIR "/tests/ref/cases/resnet_block_b5/model.nnd",
                 NND_SOURCE_DIR "/tests/ref/cases/resnet_block_b5/in_x.npy",
                 NND_SOURCE_DIR "/tests/ref/cases/resnet_block_b5/out_y.npy");
}

NND_SUITE("fold_batchnorm", test_fold_batchnorm_conv, test_fold_batchnorm_conv_gets_bias,
          test_fold_batchnorm_dense_output, test_fold_batchnorm_chain, test_fold_batchnorm_kept,
          test_fold_batchnorm_nothing, test_fold_batchnorm_same_resnet_example,
          test_fold_batchnorm_same_resnet_case, test_fold_batchnorm_same_random,
          test_fold_batchnorm_levels_resnet_example, test_fold_batchnorm_levels_resnet_case)
