/* test_interp.c: the reference interpreter (compiler/interp/).
 *
 * Every op of ops.def has an interpreter; the interpreter on an optimized graph (fused,
 * folded, planned) gives what it gives on the same model unoptimized; errors are reported
 * with a message, never a crash. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "interp.h"
#include "passes.h"
#include "unit_harness.h"


static void test_interp_every_op_has_an_interpreter(void) {
    for (int op = 0; op < OP_COUNT; op++) {
        bool runs = interp_can_run((OpKind)op);
        if (runs != (op != OP_INPUT))
            fprintf(stderr, "\n  %s: interp_can_run is %d\n", op_name((OpKind)op), runs);
        CU_ASSERT_EQUAL(runs, op != OP_INPUT);
    }
    CU_ASSERT_FALSE(interp_can_run(OP_COUNT));
}

/* Deterministic inputs in [-2, 2). */
static void fill(float *x, int64_t n, uint32_t seed) {
    uint32_t s = seed * 2654435761u + 12345u;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) * (4.0 / 16777216.0) - 2.0);
    }
}

/* --- optimized graphs -------------------------------------------------------------------- */

static Compilation *compile_to_stage(const char *src, Stage stage) {
    Compilation *c = compilation_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    compile_set_source(c, "t.nnd", src, strlen(src));
    CompileOptions o;
    compile_options_init(&o);
    o.init_random = true;
    o.seed = 5;
    bool ok = compile_to(c, stage, &o);
    if (!ok)
        fprintf(stderr, "\n%s", diag_text(c->diag));
    CU_ASSERT_FATAL(ok);
    return c;
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

NND_SUITE("interp", test_interp_every_op_has_an_interpreter,
          test_interp_ignores_optimizer_annotations, test_interp_reports_errors)
