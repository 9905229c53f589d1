/* test_fuse.c: pass_fuse (compiler/passes/fuse.c) and the epilogues it asks the code
 * generator for (compiler/codegen/cg_epilogue.c).
 *
 * Graph tests build a model through the front end (random init), run the pass alone and
 * assert which nodes joined which kernel's epilogue, in order, and which must not: a value
 * read twice, a model output, a broadcasting add (which still hosts its own tail), an
 * operand computed after the kernel, views, softmax and pools. Numeric tests run models
 * whose kernels get epilogues (conv2d with every activation and a residual add, on rows
 * narrower than a vector and rows that end in an overlapping block; dense; both matmul
 * forms; elementwise chains over broadcasting binaries) three ways: -O0 without the pass
 * (the reference), -O0 with only this pass (so fusion is all that differs), and -O2 through
 * runtime/nnd.h (the whole optimizer). Tolerance: |got - want| <= 1e-6 (|want| + max
 * |want|): relative to the element, with a floor at the tensor's scale for elements that
 * cancel to near zero (-O2 contracts to FMAs and reassociates sums); NaN must match NaN. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "jit.h"
#include "nnd.h"
#include "passes.h"
#include "unit_compile.h"
#include "unit_harness.h"


enum { BATCH = 3, MAX_IO = 4 };

/* --- graph tests ------------------------------------------------------------------------- */


static Node *find(const Graph *g, const char *name) {
    for (int i = 0; i < g->nnodes; i++)
        if (strcmp(g->nodes[i]->name, name) == 0)
            return g->nodes[i];
    fprintf(stderr, "\n  no node '%s'\n", name);
    CU_FAIL_FATAL("no such node");
    return NULL;
}

/* Runs the pass; it returns whether it fused anything, and the graph must verify. */
static void fuse(Compilation *c, bool want_changed) {
    CU_ASSERT_EQUAL(pass_fuse(c->graph, c->diag), want_changed);
    bool ok = graph_verify(c->graph, c->diag);
    if (!ok)
        fprintf(stderr, "\n%s", diag_text(c->diag));
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(diag_count(c->diag), 0);
}

/* Kernel k's epilogue is exactly the nodes named in `names` (NULL-terminated), in order. */
static void check_epilogue(const Graph *g, const char *kernel, const char *const *names) {
    Node *k = find(g, kernel);
    CU_ASSERT_PTR_NULL(k->host);
    int n = 0;
    while (names[n])
        n++;
    CU_ASSERT_EQUAL_FATAL(k->nepi, n);
    for (int i = 0; i < n; i++) {
        Node *e = find(g, names[i]);
        CU_ASSERT_PTR_EQUAL(k->epi[i], e);
        CU_ASSERT_PTR_EQUAL(e->host, k);
        CU_ASSERT_EQUAL(e->nepi, 0);
    }
    CU_ASSERT_PTR_EQUAL(kernel_result(k), n ? find(g, names[n - 1]) : k);
}

/* The node is a kernel of its own with nothing fused into it. */
static void check_alone(const Graph *g, const char *name) {
    Node *n = find(g, name);
    CU_ASSERT_PTR_NULL(n->host);
    CU_ASSERT_EQUAL(n->nepi, 0);
}

static void test_fuse_dense_relu(void) {
    Compilation *c = unit_compile("model m {\n"
                           "  input x : f32[N, 6]\n"
                           "  h = dense(x, 8)\n"
                           "  r = relu(h)\n"
                           "  output y = dense(r, 3)\n"
                           "}\n");
    fuse(c, true);
    check_epilogue(c->graph, "h", (const char *[]){"r", NULL});
    check_alone(c->graph, "y"); /* a dense is not elementwise */
    /* A second run finds nothing more. */
    fuse(c, false);
    compilation_free(c);
}

static void test_fuse_conv_relu(void) {
    Compilation *c = unit_compile("model m {\n"
                           "  input x : f32[N, 3, 8, 8]\n"
                           "  a = conv2d(x, 4, kernel=3, padding=1)\n"
                           "  r = relu(a)\n"
                           "  p = maxpool2d(r, 2)\n"
                           "  output y = sigmoid(p)\n"
                           "}\n");
    fuse(c, true);
    check_epilogue(c->graph, "a", (const char *[]){"r", NULL});
    check_alone(c->graph, "p");                            /* pools host nothing */
    check_epilogue(c->graph, "y", (const char *[]){NULL}); /* after a pool: its own */
    compilation_free(c);
}

/* A relu whose input is also read elsewhere would need that input stored: not fused. */
static void test_fuse_two_consumers(void) {
    Compilation *c = unit_compile("model m {\n"
                           "  input x : f32[N, 6]\n"
                           "  h = dense(x, 5)\n"
                           "  r = relu(h)\n"
                           "  s = neg(h)\n"
                           "  output y = mul(r, s)\n"
                           "}\n");
    fuse(c, false);
    check_alone(c->graph, "h");
    /* r is a kernel of its own; y's other operand s is computed after r, so y cannot run
     * inside r's loop, but s can take y: r is ready before s runs. */
    check_epilogue(c->graph, "r", (const char *[]){NULL});
    CU_ASSERT_EQUAL(find(c->graph, "h")->nuses, 2);
    compilation_free(c);
    c = unit_compile("model m {\n"
              "  input x : f32[N, 6]\n"
              "  h = dense(x, 5)\n"
              "  r = relu(h)\n"
              "  s = neg(h)\n"
              "  output y = mul(s, r)\n"
              "}\n");
    fuse(c, true);
    check_alone(c->graph, "h");
    check_epilogue(c->graph, "s", (const char *[]){"y", NULL});
    check_alone(c->graph, "r");
    compilation_free(c);
}

/* add(a, b) with b broadcast is no epilogue of a's kernel (b is not the output's shape), but
 * it is a kernel that hosts its own elementwise tail; a first operand that is broadcast
 * itself is never fused (the add is not once per element of that operand). */
static void test_fuse_broadcast(void) {
    Compilation *c = unit_compile("model m {\n"
                           "  input x : f32[N, 4]\n"
                           "  input b : f32[4]\n"
                           "  h = dense(x, 4)\n"
                           "  s = add(h, b)\n"
                           "  r = tanh(s)\n"
                           "  t = mul(r, 0.5)\n"
                           "  output y = sub(t, x)\n"
                           "  e = exp(b)\n"
                           "  output z = add(e, x)\n"
                           "}\n");
    fuse(c, true);
    check_alone(c->graph, "h");
    check_epilogue(c->graph, "s", (const char *[]){"r", "t", "y", NULL});
    check_alone(c->graph, "e"); /* e is [4], z is [N, 4] */
    check_alone(c->graph, "z");
    compilation_free(c);
}

/* An output is stored where the caller reads it: it may end a chain, never sit inside one. */
static void test_fuse_stops_at_output(void) {
    Compilation *c = unit_compile("model m {\n"
                           "  input x : f32[N, 6]\n"
                           "  output h = dense(x, 5)\n"
                           "  output r = relu(h)\n"
                           "  output s = sigmoid(r)\n"
                           "  output y = mul(s, 2)\n"
                           "}\n");
    fuse(c, false);
    for (int i = 0; i < c->graph->nnodes; i++) {
        CU_ASSERT_PTR_NULL(c->graph->nodes[i]->host);
        CU_ASSERT_EQUAL(c->graph->nodes[i]->nepi, 0);
    }
    compilation_free(c);
    c = unit_compile("model m {\n"
              "  input x : f32[N, 6]\n"
              "  h = dense(x, 5)\n"
              "  r = relu(h)\n"
              "  output s = sigmoid(r)\n"
              "  output y = mul(s, 2)\n"
              "}\n");
    fuse(c, true);
    check_epilogue(c->graph, "h", (const char *[]){"r", "s", NULL});
    check_alone(c->graph, "y");
    compilation_free(c);
}

/* Chains: every elementwise op after the first joins it, numbers and same-shape tensors
 * alike (an input is ready before anything runs). */
static void test_fuse_elementwise_chain(void) {
    Compilation *c = unit_compile("model m {\n"
                           "  input x : f32[N, 2, 3]\n"
                           "  a = add(x, 1.5)\n"
                           "  b = mul(a, x)\n"
                           "  d = div(b, 4)\n"
                           "  e = gelu(d, approximate=\"tanh\")\n"
                           "  f = sub(e, x)\n"
                           "  output y = clip(f, min=-1, max=2)\n"
                           "}\n");
    fuse(c, true);
    check_epilogue(c->graph, "a", (const char *[]){"b", "d", "e", "f", "y", NULL});
    compilation_free(c);
}

/* The other operand of an epilogue add must be computed before the kernel runs (the kernel
 * runs at its own position): a residual add fuses into the conv, an add of a value computed
 * between the two does not, and swapping the operands changes which kernel can host it. */
static void test_fuse_operand_order(void) {
    Compilation *c = unit_compile("model m {\n"
                           "  input x : f32[N, 4, 6, 6]\n"
                           "  a = conv2d(x, 4, kernel=3, padding=1)\n"
                           "  r = relu(a)\n"
                           "  b = conv2d(r, 4, kernel=3, padding=1)\n"
                           "  s = add(b, x)\n"
                           "  output y = relu(s)\n"
                           "  c = conv2d(x, 4, kernel=1)\n"
                           "  d = conv2d(x, 4, kernel=1)\n"
                           "  output z = add(c, d)\n"
                           "  e = conv2d(x, 4, kernel=1)\n"
                           "  f = conv2d(x, 4, kernel=1)\n"
                           "  output w = add(f, e)\n"
                           "}\n");
    fuse(c, true);
    check_epilogue(c->graph, "a", (const char *[]){"r", NULL});
    check_epilogue(c->graph, "b", (const char *[]){"s", "y", NULL});
    check_alone(c->graph, "c");
    check_alone(c->graph, "d");
    check_alone(c->graph, "z");
    check_alone(c->graph, "e");
    check_epilogue(c->graph, "f", (const char *[]){"w", NULL});
    compilation_free(c);
}

/* matmul hosts epilogues; views, softmax, norms, concat and transpose neither host nor join;
 * identity (a view) is not an activation here. */
static void test_fuse_hosts(void) {
    Compilation *c = unit_compile("model m {\n"
                           "  input p : f32[N, 3, 4]\n"
                           "  input q : f32[4, 5]\n"
                           "  mm = matmul(p, q)\n"
                           "  t = tanh(mm)\n"
                           "  sm = softmax(t)\n"
                           "  u = relu(sm)\n"
                           "  fl = flatten(u)\n"
                           "  v = abs(fl)\n"
                           "  i = identity(v)\n"
                           "  w = sqrt(i)\n"
                           "  ln = layernorm(w)\n"
                           "  k = exp(ln)\n"
                           "  tr = transpose(k)\n"
                           "  o = neg(tr)\n"
                           "  cc = concat(o, o, axis=0)\n"
                           "  output y = log(cc)\n"
                           "}\n");
    fuse(c, true);
    const Graph *g = c->graph;
    check_epilogue(g, "mm", (const char *[]){"t", NULL});
    const char *alone[] = {"sm", "u", "fl", "v", "i", "w", "ln", "k", "tr", "o", "cc", "y"};
    for (size_t i = 0; i < sizeof alone / sizeof alone[0]; i++)
        check_alone(g, alone[i]);
    compilation_free(c);
}

static void test_fuse_nothing(void) {
    Compilation *c = unit_compile("model m {\n"
                           "  input x : f32[N, 6]\n"
                           "  h = dense(x, 4)\n"
                           "  output y = softmax(h)\n"
                           "}\n");
    fuse(c, false);
    check_alone(c->graph, "h");
    compilation_free(c);
}

/* --- numbers ----------------------------------------------------------------------------- */

/* A deterministic value in [lo, hi). */
static double rnd(uint64_t *s, double lo, double hi) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(*s >> 11) / 9007199254740992.0;
}

/* The tensors of one run: the inputs (shared by every run) and the outputs. */
typedef struct Tensors {
    int nin, nout;
    float *in[MAX_IO], *out[MAX_IO];
    int64_t nin_el[MAX_IO], nout_el[MAX_IO];
    int rank[MAX_IO];
    int64_t shape[MAX_IO][MAX_RANK];
} Tensors;

static int64_t eval_numel(const Shape *s, int64_t *dims) {
    int64_t syms[MAX_SYMS], n = 1;
    for (int i = 0; i < MAX_SYMS; i++)
        syms[i] = BATCH;
    for (int i = 0; i < s->rank; i++) {
        CU_ASSERT_FATAL(dim_eval(s->d[i], syms, &dims[i]));
        n *= dims[i];
    }
    return n;
}

/* Compiles src at -O0 (the optimizer runs nothing), with pass_fuse alone when `fused`, and
 * runs it on t's inputs (made here the first time: values in [-3, 3)) into fresh outputs.
 * Returns the number of nodes fused. */
static int run_jit(const char *src, bool fused, Tensors *t) {
    Compilation *c = compilation_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    compile_set_source(c, "t.nnd", src, strlen(src));
    CompileOptions o;
    compile_options_init(&o);
    o.opt_level = 0;
    o.init_random = true;
    bool ok = compile_to(c, STAGE_WEIGHTS, &o);
    Graph *g = c->graph;
    int nfused = 0;
    if (ok && fused) {
        pass_fuse(g, c->diag);
        ok = graph_verify(g, c->diag);
        for (int i = 0; ok && i < g->nnodes; i++)
            nfused += g->nodes[i]->host != NULL;
    }
    ok = ok && compile_to(c, STAGE_LLVM_OPT, &o);
    if (!ok)
        fprintf(stderr, "\n%s", diag_text(c->diag));
    CU_ASSERT_FATAL(ok);
    CU_ASSERT_FATAL(g->ninputs <= MAX_IO && g->noutputs <= MAX_IO);

    if (!t->in[0]) {
        uint64_t s = 2024;
        t->nin = g->ninputs;
        for (int i = 0; i < g->ninputs; i++) {
            const Shape *sh = &g->inputs[i]->shape;
            t->rank[i] = sh->rank;
            t->nin_el[i] = eval_numel(sh, t->shape[i]);
            t->in[i] = malloc((size_t)t->nin_el[i] * sizeof(float) + 1);
            CU_ASSERT_PTR_NOT_NULL_FATAL(t->in[i]);
            for (int64_t k = 0; k < t->nin_el[i]; k++)
                t->in[i][k] = (float)rnd(&s, -3, 3);
        }
    }
    t->nout = g->noutputs;
    for (int i = 0; i < g->noutputs; i++) {
        int64_t dims[MAX_RANK];
        t->nout_el[i] = eval_numel(&g->outputs[i]->shape, dims);
        t->out[i] = calloc((size_t)t->nout_el[i] + 1, sizeof(float));
        CU_ASSERT_PTR_NOT_NULL_FATAL(t->out[i]);
    }

    CgForwardFn forward;
    CgWorkspaceFn wsize;
    Jit *j = unit_jit(c, 0, &forward, &wsize);
    int64_t syms[MAX_SYMS];
    for (int i = 0; i < MAX_SYMS; i++)
        syms[i] = BATCH;
    void *ws = malloc((size_t)wsize(syms) + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    forward((const float *const *)t->in, t->out, syms, ws);
    free(ws);
    jit_dispose(j);
    compilation_free(c);
    return nfused;
}

/* The same through the public runtime at `level`, with the inputs of `ref`. */
static void run_api(const char *src, int level, const Tensors *ref, Tensors *t) {
    nnd_options o;
    nnd_options_init(&o);
    o.opt_level = level;
    o.init_random = 1;
    nnd_model *m = NULL;
    char *err = NULL;
    nnd_status st = nnd_model_compile_string(src, "t.nnd", NULL, &o, &m, &err);
    if (st != NND_OK)
        fprintf(stderr, "\n  -O%d: %s\n%s", level, nnd_status_name(st), err ? err : "");
    nnd_string_free(err);
    CU_ASSERT_EQUAL_FATAL(st, NND_OK);
    nnd_context *ctx = NULL;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    nnd_tensor in[MAX_IO] = {{0}}, out[MAX_IO] = {{0}};
    *t = (Tensors){.nin = 0, .nout = ref->nout};
    for (int i = 0; i < ref->nin; i++)
        in[i] = (nnd_tensor){ref->in[i], (size_t)ref->nin_el[i], (size_t)ref->rank[i],
                             ref->shape[i], {0}};
    for (int i = 0; i < ref->nout; i++) {
        t->nout_el[i] = ref->nout_el[i];
        t->out[i] = calloc((size_t)t->nout_el[i] + 1, sizeof(float));
        CU_ASSERT_PTR_NOT_NULL_FATAL(t->out[i]);
        out[i] = (nnd_tensor){t->out[i], (size_t)t->nout_el[i], 0, NULL, {0}};
    }
    st = nnd_run(ctx, in, (size_t)ref->nin, out, (size_t)ref->nout);
    if (st != NND_OK)
        fprintf(stderr, "\n  -O%d nnd_run: %s\n", level, nnd_context_error(ctx));
    CU_ASSERT_EQUAL(st, NND_OK);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
}

static void tensors_free(Tensors *t) {
    for (int i = 0; i < MAX_IO; i++) {
        free(t->in[i]);
        free(t->out[i]);
    }
}

/* The elements of a outside |a - b| <= 1e-6 (|b| + max |b|), printing the first. */
static int64_t mismatches(const char *what, const float *a, const float *b, int64_t n) {
    double scale = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(b[i]))
            scale = fmax(scale, fabs((double)b[i]));
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        bool ok;
        if (isnan(a[i]) || isnan(b[i]) || isinf(a[i]) || isinf(b[i]))
            ok = (isnan(a[i]) && isnan(b[i])) || a[i] == b[i];
        else
            ok = fabs((double)a[i] - (double)b[i]) <= 1e-6 * (fabs((double)b[i]) + scale);
        if (!ok && bad++ == 0)
            fprintf(stderr, "\n  %s: [%lld] = %.9g, want %.9g\n", what, (long long)i, a[i], b[i]);
    }
    return bad;
}

static void check_outputs(const char *what, const Tensors *got, const Tensors *want) {
    CU_ASSERT_EQUAL_FATAL(got->nout, want->nout);
    for (int i = 0; i < want->nout; i++) {
        CU_ASSERT_EQUAL_FATAL(got->nout_el[i], want->nout_el[i]);
        CU_ASSERT_EQUAL(mismatches(what, got->out[i], want->out[i], want->nout_el[i]), 0);
    }
}

/* -O0 plain, -O0 with pass_fuse alone (which must fuse want_fused nodes) and -O2 agree. */
static void check_model(const char *src, int want_fused) {
    Tensors ref = {0}, fused = {0}, o2 = {0};
    run_jit(src, false, &ref);
    for (int i = 0; i < ref.nin; i++) /* the same inputs */
        fused.in[i] = ref.in[i];
    fused.nin = ref.nin;
    int n = run_jit(src, true, &fused);
    CU_ASSERT_EQUAL(n, want_fused);
    if (n != want_fused)
        fprintf(stderr, "\n  fused %d nodes, want %d:\n%s", n, want_fused, src);
    check_outputs("fused -O0", &fused, &ref);
    run_api(src, 2, &ref, &o2);
    check_outputs("-O2", &o2, &ref);
    for (int i = 0; i < MAX_IO; i++)
        fused.in[i] = NULL;
    tensors_free(&ref);
    tensors_free(&fused);
    tensors_free(&o2);
}

/* The residual block: conv + relu, conv + add of the block's input + relu. Rows of 5 (a
 * vector of 8 with 3 lanes masked: the residual operand's load is masked too), of 20 (one
 * block of 16 and one overlapping it) and of 16. */
static void test_fuse_numbers_residual(void) {
    const int widths[] = {5, 20, 16};
    for (int i = 0; i < 3; i++) {
        char src[512];
        snprintf(src, sizeof src,
                 "model m {\n"
                 "  input x : f32[N, 4, 3, %d]\n"
                 "  a = conv2d(x, 4, kernel=3, padding=1) -> relu\n"
                 "  b = conv2d(a, 4, kernel=3, padding=1)\n"
                 "  output y = add(b, x) -> relu\n"
                 "}\n",
                 widths[i]);
        check_model(src, 3);
    }
}

/* Every activation (and binary with a number or a tensor) as a vector epilogue of conv2d,
 * and as a scalar one of dense, so cg_math's functions run on vectors too. The inputs reach
 * negative values: log and sqrt give NaN there, in both forms. */
static void test_fuse_numbers_activations(void) {
    const char *acts[] = {
        "relu", "sigmoid", "tanh", "leaky_relu", "leaky_relu(alpha=0.2)", "elu",
        "elu(alpha=0.5)", "selu", "gelu", "gelu(approximate=\"tanh\")", "silu", "softplus",
        "softsign", "hard_sigmoid", "relu6", "exp", "log", "sqrt", "abs", "neg",
        "clip(min=-0.5, max=0.7)", "clip(max=0.1)", "add(0.25)", "sub(2)", "mul(-3)", "div(7)",
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        char src[512];
        snprintf(src, sizeof src,
                 "model m {\n"
                 "  input x : f32[N, 3, 5, 11]\n"
                 "  input v : f32[N, 7]\n"
                 "  output y = conv2d(x, 2, kernel=3) -> mul(4) -> %s\n"
                 "  output z = dense(v, 9) -> mul(4) -> %s\n"
                 "}\n",
                 acts[i], acts[i]);
        check_model(src, 4);
    }
}

static void test_fuse_numbers_dense_gelu(void) {
    check_model("model m {\n"
                "  input x : f32[N, 2, 24]\n"
                "  h = dense(x, 33) -> gelu\n"
                "  output y = dense(h, 33) -> mul(h)\n"
                "}\n",
                2);
    check_model("model m {\n"
                "  input x : f32[N, 24]\n"
                "  input r : f32[N, 16]\n"
                "  h = dense(x, 16) -> gelu -> sub(r) -> tanh\n"
                "  output y = dense(h, 4) -> softmax\n"
                "}\n",
                3);
}

/* matmul's two forms: a row of y accumulated in place then finished by the epilogue loop,
 * and one dot product per element (P == 1). */
static void test_fuse_numbers_matmul(void) {
    check_model("model m {\n"
                "  input a : f32[N, 3, 7]\n"
                "  input b : f32[7, 5]\n"
                "  input c : f32[N, 3, 5]\n"
                "  output y = matmul(a, b) -> add(c) -> elu -> mul(c)\n"
                "}\n",
                3);
    check_model("model m {\n"
                "  input a : f32[N, 4, 9]\n"
                "  input b : f32[9]\n"
                "  output y = matmul(a, b) -> softplus -> div(3)\n"
                "}\n",
                2);
}

/* Chains over broadcasting binaries: each binary hosts the rest of its chain, whatever its
 * operands' shapes; a broadcasting one starts a new kernel. */
static void test_fuse_numbers_chains(void) {
    check_model("model m {\n"
                "  input x : f32[N, 3, 4]\n"
                "  input b : f32[4]\n"
                "  input c : f32[3, 1]\n"
                "  s = add(x, b) -> mul(2) -> softplus -> sub(x)\n"
                "  t = mul(s, c) -> hard_sigmoid -> div(x)\n"
                "  output y = sub(c, t) -> silu\n"
                "  output z = exp(b) -> add(1) -> log\n"
                "}\n",
                3 + 2 + 1 + 2);
}

NND_SUITE("fuse", test_fuse_dense_relu, test_fuse_conv_relu, test_fuse_two_consumers,
          test_fuse_broadcast, test_fuse_stops_at_output, test_fuse_elementwise_chain,
          test_fuse_operand_order, test_fuse_hosts, test_fuse_nothing,
          test_fuse_numbers_residual, test_fuse_numbers_activations,
          test_fuse_numbers_dense_gelu, test_fuse_numbers_matmul, test_fuse_numbers_chains)
