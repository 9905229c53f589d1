/* test_fold_constants.c: pass_fold_constants (compiler/passes/fold_constants.c).
 *
 * Graph tests build a model through the front end (random init), run the pass alone and
 * assert what changed: every node computed from params alone (elementwise, transpose, a
 * dense layer over a param, chains of them, a constant output) became a param; nodes that
 * read an input did not; use counts moved; a value above the size limit stays. Numeric tests
 * run the reference interpreter on the graph before and after the pass: the folded graph
 * must give bit-identical outputs (folding evaluates with the same interpreter), and the JIT
 * at -O2 (folded) must match the interpreter (unfolded) within float32 rounding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "nnd.h"
#include "passes.h"
#include "unit_compile.h"
#include "unit_harness.h"

static const char *model =
    "model folds {\n"
    "  input x : f32[N, 6]\n"
    "  w = param([5, 6])\n"
    "  wt = transpose(w) -> relu\n"
    "  s = param([5]) -> exp -> mul(2.5)\n"
    "  e = dense(param([1, 4], name=\"emb\"), 5)\n"
    "  output y = matmul(x, wt) -> mul(s)\n"
    "  output c = add(s, param([5], name=\"b\")) -> tanh\n"
    "  output z = add(x, 1.0) -> matmul(wt) -> sub(e)\n"
    "}\n";

static Node *find(const Graph *g, const char *name) {
    for (int i = 0; i < g->nnodes; i++)
        if (strcmp(g->nodes[i]->name, name) == 0)
            return g->nodes[i];
    return NULL;
}

static void run_interp(const Graph *g, int64_t batch, float *const *outs) {
    int64_t syms[MAX_SYMS] = {batch};
    float x[64 * 6];
    for (int i = 0; i < 64 * 6; i++)
        x[i] = (float)((i * 37) % 23) / 7.0f - 1.5f;
    const float *ins[1] = {x};
    char err[256];
    bool ok = interp_run(g, syms, ins, outs, err, sizeof err);
    if (!ok)
        fprintf(stderr, "interp: %s\n", err);
    CU_ASSERT_FATAL(ok);
}

static void test_fold_constants_folds_param_subgraphs(void) {
    Compilation *c = unit_compile(model);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    Graph *g = c->graph;
    CU_ASSERT_TRUE(pass_fold_constants(g, c->diag));
    CU_ASSERT_EQUAL(diag_count(c->diag), 0);
    /* computed from params alone: now params holding their values */
    const char *folded[] = {"wt", "s", "e", "c", "wt.transpose", "s.exp"};
    for (size_t i = 0; i < sizeof folded / sizeof folded[0]; i++) {
        Node *n = find(g, folded[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(n);
        CU_ASSERT_EQUAL(n->op, OP_PARAM);
        CU_ASSERT_EQUAL(n->nin, 0);
        CU_ASSERT_EQUAL(n->nparams, 1);
        CU_ASSERT_PTR_NOT_NULL(n->params[0].data);
    }
    /* they read an input: unchanged */
    CU_ASSERT_EQUAL(find(g, "y.matmul")->op, OP_MATMUL);
    CU_ASSERT_EQUAL(find(g, "y")->op, OP_MUL);
    CU_ASSERT_EQUAL(find(g, "z")->op, OP_SUB);
    /* the params the folded nodes read have lost those uses; dce removes them */
    CU_ASSERT_EQUAL(find(g, "w")->nuses, 0);
    CU_ASSERT_TRUE(pass_dce(g, c->diag));
    CU_ASSERT_PTR_NULL(find(g, "w"));
    CU_ASSERT_PTR_NULL(find(g, "emb"));
    CU_ASSERT_TRUE(graph_verify(g, c->diag));
    /* nothing left to fold */
    CU_ASSERT_FALSE(pass_fold_constants(g, c->diag));
    compilation_free(c);
}

static void test_fold_constants_values_unchanged(void) {
    Compilation *plain = unit_compile(model), *folded = unit_compile(model);
    CU_ASSERT_PTR_NOT_NULL_FATAL(plain);
    CU_ASSERT_PTR_NOT_NULL_FATAL(folded);
    CU_ASSERT_TRUE(pass_fold_constants(folded->graph, folded->diag));
    pass_dce(folded->graph, folded->diag);
    const int64_t sizes[3] = {7 * 5, 5, 7 * 5};
    float *a[3], *b[3];
    for (int k = 0; k < 3; k++) {
        a[k] = calloc((size_t)sizes[k], sizeof(float));
        b[k] = calloc((size_t)sizes[k], sizeof(float));
    }
    run_interp(plain->graph, 7, a);
    run_interp(folded->graph, 7, b);
    for (int k = 0; k < 3; k++) {
        CU_ASSERT(memcmp(a[k], b[k], (size_t)sizes[k] * sizeof(float)) == 0);
        free(a[k]);
        free(b[k]);
    }
    compilation_free(plain);
    compilation_free(folded);
}

/* The JIT after folding (-O2) against the interpreter without it. */
static void test_fold_constants_jit_matches(void) {
    Compilation *plain = unit_compile(model);
    CU_ASSERT_PTR_NOT_NULL_FATAL(plain);
    float *want[3], *got[3];
    const size_t sizes[3] = {7 * 5, 5, 7 * 5};
    for (int k = 0; k < 3; k++) {
        want[k] = calloc(sizes[k], sizeof(float));
        got[k] = calloc(sizes[k], sizeof(float));
    }
    run_interp(plain->graph, 7, want);
    nnd_options o;
    nnd_options_init(&o);
    o.init_random = 1; /* unit_compile's parameters: seed 0 */
    o.init_seed = 0;
    nnd_model *m = NULL;
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(nnd_model_compile_string(model, "t.nnd", NULL, &o, &m, &err), NND_OK);
    float x[7 * 6];
    for (int i = 0; i < 7 * 6; i++)
        x[i] = (float)((i * 37) % 23) / 7.0f - 1.5f;
    int64_t shape[2] = {7, 6};
    nnd_tensor in = {.data = x, .count = 42, .rank = 2, .shape = shape};
    nnd_tensor outs[3];
    for (int k = 0; k < 3; k++)
        outs[k] = (nnd_tensor){.data = got[k], .count = sizes[k]};
    nnd_context *ctx = NULL;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, outs, 3), NND_OK);
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < sizes[k]; i++)
            CU_ASSERT(fabsf(got[k][i] - want[k][i]) <= 1e-5f * (1.0f + fabsf(want[k][i])));
        free(want[k]);
        free(got[k]);
    }
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    compilation_free(plain);
}

static void test_fold_constants_leaves_inputs_and_big_values(void) {
    Compilation *c = unit_compile("model m {\n"
                                  "  input x : f32[N, 4]\n"
                                  "  a = param([4100, 1])\n"
                                  "  big = add(a, param([1, 4100], name=\"b\"))\n"
                                  "  output y = relu(x)\n"
                                  "  output s = big -> neg\n"
                                  "}\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    /* 4100 x 4100 floats is over the 64 MiB limit: big, and neg after it, stay computed */
    CU_ASSERT_FALSE(pass_fold_constants(c->graph, c->diag));
    CU_ASSERT_EQUAL(find(c->graph, "big")->op, OP_ADD);
    CU_ASSERT_EQUAL(find(c->graph, "s")->op, OP_NEG);
    CU_ASSERT_EQUAL(find(c->graph, "y")->op, OP_RELU);
    compilation_free(c);
}

NND_SUITE("fold_constants", test_fold_constants_folds_param_subgraphs,
          test_fold_constants_values_unchanged, test_fold_constants_jit_matches,
          test_fold_constants_leaves_inputs_and_big_values)
