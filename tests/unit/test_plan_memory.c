/* test_plan_memory.c: pass_plan_memory (compiler/passes/plan_memory.c).
 *
 * Graphs come from the front end (up to STAGE_WEIGHTS, so no other pass has run); the pass
 * runs alone and every plan is checked against lifetimes recomputed here from the schedule:
 * the right values get buffers, buffers alive at the same time never overlap, and chains
 * fit in their two largest adjacent values. Then the same models run through the runtime at
 * -O2 and -O0 and must give the same outputs. */
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "jit.h"
#include "nnd.h"
#include "passes.h"
#include "unit_harness.h"
#include "unit_model.h"

static const char *mlp_src =
    "model mlp {\n"
    "  input x : f32[N, 784]\n"
    "  h1 = dense(x, 1024) -> relu\n"
    "  h2 = dense(h1, 512) -> relu\n"
    "  h3 = dense(h2, 256) -> relu\n"
    "  output y = dense(h3, 10)\n"
    "}\n";

static const char *cnn_src =
    "model lenet5 {\n"
    "  input x : f32[N, 1, 28, 28]\n"
    "  c1 = conv2d(x, 6, kernel=5, padding=2) -> relu -> maxpool2d(2)\n"
    "  c2 = conv2d(c1, 16, kernel=5) -> relu -> maxpool2d(2)\n"
    "  f3 = flatten(c2) -> dense(120) -> relu\n"
    "  f4 = dense(f3, 84) -> relu\n"
    "  output logits = dense(f4, 10)\n"
    "}\n";

static const char *residual_src =
    "model res {\n"
    "  input x : f32[N, 64]\n"
    "  a = dense(x, 64) -> relu\n"
    "  b = dense(a, 64) -> relu\n"
    "  c = dense(b, 64)\n"
    "  s = add(c, a)\n"
    "  output y = dense(s, 10)\n"
    "}\n";

/* r and f alias a: a must live until s reads f, long after reshape read it. */
static const char *views_src =
    "model views {\n"
    "  input x : f32[N, 32]\n"
    "  a = dense(x, 32)\n"
    "  r = reshape(a, [-1, 4, 8])\n"
    "  b = dense(x, 32) -> relu\n"
    "  c = dense(b, 32)\n"
    "  f = flatten(r)\n"
    "  s = add(c, f)\n"
    "  output y = dense(s, 4)\n"
    "}\n";

static const char *groups_src =
    "model groups {\n"
    "  input x : f32[N, 16]\n"
    "  input z : f32[4, 16]\n"
    "  input q : f32[N, M]\n"
    "  a = dense(x, 32)\n"
    "  output y = dense(a, 8)\n"
    "  b = dense(z, 32)\n"
    "  output w = dense(b, 8)\n"
    "  c = relu(q)\n"
    "  output u = neg(c)\n"
    "}\n";

static Compilation *front_end(const char *src) {
    Compilation *c = compilation_new();
    compile_set_source(c, "t.nnd", src, strlen(src));
    CompileOptions o;
    compile_options_init(&o);
    o.init_random = true;
    if (!compile_to(c, STAGE_WEIGHTS, &o))
        fputs(diag_text(c->diag), stderr);
    CU_ASSERT_EQUAL_FATAL(c->done, STAGE_WEIGHTS);
    CU_ASSERT_EQUAL_FATAL(diag_count(c->diag), 0);
    return c;
}

static Node *node(const Graph *g, const char *name) {
    for (int i = 0; i < g->nnodes; i++)
        if (strcmp(g->nodes[i]->name, name) == 0)
            return g->nodes[i];
    CU_FAIL_FATAL("no such node");
    return NULL;
}

/* --- the code generator's view of values, recomputed here ------------------------------- */

static bool is_view(const Node *n) {
    return n->op == OP_FLATTEN || n->op == OP_RESHAPE || n->op == OP_DROPOUT ||
           n->op == OP_IDENTITY;
}

static bool is_output(const Graph *g, const Node *n) {
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == n)
            return true;
    return false;
}

static bool needs_buffer(const Graph *g, const Node *n) {
    bool stored = n->host ? kernel_result(n->host) == n : n->nepi == 0;
    return stored && n->op != OP_INPUT && !is_view(n) && !is_output(g, n);
}

static int pos(const Node *n) { return n->host ? n->host->id : n->id; }

/* The last schedule position that reads n's memory, views' readers included. */
static int last_use(const Graph *g, const Node *n) {
    int last = pos(n);
    for (int i = n->id + 1; i < g->nnodes; i++) {
        const Node *m = g->nodes[i];
        for (int j = 0; j < m->nin; j++) {
            if (m->in[j] != n)
                continue;
            int t = pos(m);
            if (is_view(m) && !is_output(g, m) && !m->host) {
                int v = last_use(g, m);
                t = v > t ? v : t;
            }
            last = t > last ? t : last;
        }
    }
    return last;
}

static int64_t numel_c(const Node *n, Dim *unit) {
    Dim d;
    CU_ASSERT_FATAL(shape_numel(&n->shape, &d));
    int64_t c = d.c;
    d.c = 1;
    *unit = d;
    return c;
}

/* Checks every property of the plan; returns the number of buffers. */
static int check_plan(const Graph *g) {
    const Plan *p = &g->plan;
    CU_ASSERT_FATAL(p->done);
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = g->nodes[i];
        CU_ASSERT_EQUAL(n->buf >= 0, needs_buffer(g, n));
        if (n->buf < 0)
            continue;
        CU_ASSERT_FATAL(n->buf < p->nbufs);
        const Buffer *b = &p->bufs[n->buf];
        Dim unit;
        int64_t c = numel_c(n, &unit);
        CU_ASSERT(dim_eq(b->unit, unit));
        CU_ASSERT(b->floats >= c && b->floats % 16 == 0 && b->offset % 16 == 0);
        CU_ASSERT_FATAL(b->group >= 0 && b->group < p->ngroups);
        CU_ASSERT(dim_eq(p->group_unit[b->group], unit));
        CU_ASSERT(b->offset >= 0 && b->offset + b->floats <= p->group_floats[b->group]);
    }
    for (int i = 0; i < g->nnodes; i++)
        for (int j = i + 1; j < g->nnodes; j++) {
            const Node *u = g->nodes[i], *v = g->nodes[j];
            if (u->buf < 0 || v->buf < 0)
                continue;
            int ub = pos(u), ud = last_use(g, u), vb = pos(v), vd = last_use(g, v);
            bool live_together = ub <= vd && vb <= ud;
            const Buffer *x = &p->bufs[u->buf], *y = &p->bufs[v->buf];
            if (u->buf == v->buf) {
                /* In place: v, a unary op on u, is made where u dies. */
                CU_ASSERT(ud == vb);
                CU_ASSERT(v->in[0] == u || (v->host && v->host->in[0] == u));
            } else if (live_together && x->group == y->group) {
                CU_ASSERT(x->offset + x->floats <= y->offset || y->offset + y->floats <= x->offset);
            }
        }
    return p->nbufs;
}

/* The largest sum of a value and one made from it (through views), each with its own
 * buffer: what a chain's workspace must fit in. */
static int64_t adjacent_bound(const Graph *g) {
    int64_t best = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *v = g->nodes[i];
        if (v->buf < 0)
            continue;
        int64_t fv = g->plan.bufs[v->buf].floats;
        best = fv > best ? fv : best;
        for (int j = 0; j < v->nin; j++) {
            const Node *u = v->in[j];
            while (is_view(u) && u->nin > 0)
                u = u->in[0];
            if (u->buf >= 0 && u->buf != v->buf && fv + g->plan.bufs[u->buf].floats > best)
                best = fv + g->plan.bufs[u->buf].floats;
        }
    }
    return best;
}

/* What the workspace was without a plan: every buffer on its own. */
static int64_t unplanned(const Graph *g) {
    int64_t sum = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (needs_buffer(g, g->nodes[i])) {
            Dim unit;
            sum += (numel_c(g->nodes[i], &unit) + 15) / 16 * 16;
        }
    return sum;
}

/* --- the plans ---------------------------------------------------------------------------- */

static void test_plan_memory_mlp_chain_fits_two_adjacent(void) {
    Compilation *c = front_end(mlp_src);
    Graph *g = c->graph;
    CU_ASSERT(pass_plan_memory(g, c->diag));
    CU_ASSERT_EQUAL(diag_count(c->diag), 0);
    check_plan(g);
    CU_ASSERT_EQUAL(g->plan.ngroups, 1);
    CU_ASSERT(!dim_is_const(g->plan.group_unit[0]));
    /* [N,1024] made from nothing in the workspace, [N,512] from it: 1024 + 512. */
    CU_ASSERT_EQUAL(g->plan.group_floats[0], 1024 + 512);
    CU_ASSERT(g->plan.group_floats[0] <= adjacent_bound(g));
    printf("\n    mlp workspace: N*%lld floats (unplanned N*%lld) ",
           (long long)g->plan.group_floats[0], (long long)unplanned(g));
    compilation_free(c);
}

static void test_plan_memory_cnn_chain_fits_two_adjacent(void) {
    Compilation *c = front_end(cnn_src);
    Graph *g = c->graph;
    CU_ASSERT(pass_plan_memory(g, c->diag));
    check_plan(g);
    CU_ASSERT_EQUAL(g->plan.ngroups, 1);
    /* conv1 [N,6,28,28] = 4704 and the pool made from it [N,6,14,14] = 1176 -> 1184. */
    CU_ASSERT_EQUAL(g->plan.group_floats[0], 4704 + 1184);
    CU_ASSERT(g->plan.group_floats[0] <= adjacent_bound(g));
    printf("\n    cnn workspace: N*%lld floats (unplanned N*%lld) ",
           (long long)g->plan.group_floats[0], (long long)unplanned(g));
    compilation_free(c);
}

/* Sizes (in 16-float lines) 10, 5, 11, 12: placing by birth peaks at 26 lines, largest first
 * at 28; alternating ends reaches 11 + 12. */
static void test_plan_memory_uneven_chain_fits_two_adjacent(void) {
    Compilation *c = front_end("model m {\n input x : f32[N, 8]\n a = dense(x, 160)\n"
                               " b = dense(a, 80)\n c = dense(b, 176)\n d = dense(c, 192)\n"
                               " output y = dense(d, 4)\n}\n");
    Graph *g = c->graph;
    CU_ASSERT(pass_plan_memory(g, c->diag));
    check_plan(g);
    CU_ASSERT_EQUAL(g->plan.group_floats[0], 176 + 192);
    CU_ASSERT_EQUAL(adjacent_bound(g), 176 + 192);
    compilation_free(c);
}

static void test_plan_memory_in_place_unary(void) {
    Compilation *c = front_end(mlp_src);
    Graph *g = c->graph;
    pass_plan_memory(g, c->diag);
    /* relu over a dense value that dies there writes over it. */
    CU_ASSERT_EQUAL(node(g, "h1")->buf, node(g, "h1.dense")->buf);
    CU_ASSERT_EQUAL(node(g, "h2")->buf, node(g, "h2.dense")->buf);
    CU_ASSERT_NOT_EQUAL(node(g, "h2")->buf, node(g, "h1")->buf);
    compilation_free(c);

    /* Not when the input is read later. */
    c = front_end("model m {\n input x : f32[N, 8]\n a = dense(x, 8)\n b = relu(a)\n"
                  " output s = add(a, b)\n}\n");
    g = c->graph;
    pass_plan_memory(g, c->diag);
    check_plan(g);
    CU_ASSERT(node(g, "a")->buf >= 0 && node(g, "b")->buf >= 0);
    CU_ASSERT_NOT_EQUAL(node(g, "a")->buf, node(g, "b")->buf);
    compilation_free(c);
}

static bool disjoint(const Graph *g, const Node *u, const Node *v) {
    const Buffer *x = &g->plan.bufs[u->buf], *y = &g->plan.bufs[v->buf];
    return x->group != y->group || x->offset + x->floats <= y->offset ||
           y->offset + y->floats <= x->offset;
}

static void test_plan_memory_residual_skip_stays_alive(void) {
    Compilation *c = front_end(residual_src);
    Graph *g = c->graph;
    CU_ASSERT(pass_plan_memory(g, c->diag));
    check_plan(g);
    Node *a = node(g, "a");
    CU_ASSERT_EQUAL(last_use(g, a), node(g, "s")->id);
    const char *between[] = {"b.dense", "b", "c", "s"};
    for (int i = 0; i < 4; i++)
        CU_ASSERT(disjoint(g, a, node(g, between[i])));
    /* a, b and c (or s) are alive at once: three buffers of 64. */
    CU_ASSERT_EQUAL(g->plan.group_floats[0], 3 * 64);
    compilation_free(c);
}

static void test_plan_memory_views_extend_lifetimes(void) {
    Compilation *c = front_end(views_src);
    Graph *g = c->graph;
    CU_ASSERT(pass_plan_memory(g, c->diag));
    check_plan(g);
    Node *a = node(g, "a");
    CU_ASSERT_EQUAL(node(g, "r")->buf, -1);
    CU_ASSERT_EQUAL(node(g, "f")->buf, -1);
    CU_ASSERT_EQUAL(last_use(g, a), node(g, "s")->id);
    const char *between[] = {"b.dense", "b", "c"};
    for (int i = 0; i < 3; i++)
        CU_ASSERT(disjoint(g, a, node(g, between[i])));
    compilation_free(c);
}

static void test_plan_memory_groups_by_symbols(void) {
    Compilation *c = front_end(groups_src);
    Graph *g = c->graph;
    CU_ASSERT(pass_plan_memory(g, c->diag));
    check_plan(g);
    CU_ASSERT_EQUAL(g->plan.ngroups, 3);
    const Buffer *a = &g->plan.bufs[node(g, "a")->buf], *b = &g->plan.bufs[node(g, "b")->buf],
                 *q = &g->plan.bufs[node(g, "c")->buf];
    CU_ASSERT(a->group != b->group && a->group != q->group && b->group != q->group);
    CU_ASSERT(dim_is_const(b->unit) && b->unit.c == 1);
    CU_ASSERT(!dim_is_const(a->unit) && !dim_is_const(q->unit) && !dim_eq(a->unit, q->unit));
    CU_ASSERT_EQUAL(a->floats, 32);
    CU_ASSERT_EQUAL(b->floats, 128); /* 4*32, fixed */
    CU_ASSERT_EQUAL(q->floats, 16);  /* N*M, rounded up to a 64-byte line of them */
    compilation_free(c);
}

static void test_plan_memory_inputs_outputs_get_none(void) {
    Compilation *c = front_end("model m {\n input x : f32[N, 8]\n output y = dense(x, 4)\n"
                               " output z = flatten(x)\n}\n");
    Graph *g = c->graph;
    CU_ASSERT_FALSE(pass_plan_memory(g, c->diag)); /* nothing to plan */
    CU_ASSERT(g->plan.done);
    CU_ASSERT_EQUAL(g->plan.nbufs, 0);
    for (int i = 0; i < g->nnodes; i++)
        CU_ASSERT_EQUAL(g->nodes[i]->buf, -1);
    compilation_free(c);

    c = front_end(mlp_src);
    g = c->graph;
    pass_plan_memory(g, c->diag);
    CU_ASSERT_EQUAL(node(g, "x")->buf, -1);
    CU_ASSERT_EQUAL(node(g, "y")->buf, -1);
    compilation_free(c);
}

/* Fusion as pass_fuse leaves it, by hand: each relu in its dense's epilogue. The dense value
 * is never stored; the relu is, born at the dense's position. */
static void test_plan_memory_fused_epilogues(void) {
    Compilation *c = front_end(mlp_src);
    Graph *g = c->graph;
    const char *layers[] = {"h1", "h2", "h3"};
    for (int i = 0; i < 3; i++) {
        Node *r = node(g, layers[i]), *k = r->in[0];
        k->epi = arena_array(g->arena, 1, sizeof(Node *));
        k->epi[0] = r;
        k->nepi = 1;
        r->host = k;
    }
    CU_ASSERT_FATAL(graph_verify(g, c->diag));
    CU_ASSERT(pass_plan_memory(g, c->diag));
    CU_ASSERT_EQUAL(check_plan(g), 3);
    CU_ASSERT_EQUAL(node(g, "h1.dense")->buf, -1);
    CU_ASSERT(node(g, "h1")->buf >= 0);
    CU_ASSERT_EQUAL(g->plan.group_floats[0], 1024 + 512);
    compilation_free(c);
}

/* A residual add fused into c's kernel, with another kernel (o) between them in node order:
 * s is made, and a last read, at c's position, before o runs. */
static void test_plan_memory_fused_read_at_host_position(void) {
    Compilation *c = front_end("model m {\n input x : f32[N, 64]\n a = dense(x, 64) -> relu\n"
                               " c = dense(a, 64)\n o = dense(x, 64)\n s = add(c, a)\n"
                               " output y = add(s, o)\n}\n");
    Graph *g = c->graph;
    Node *k = node(g, "c"), *s = node(g, "s");
    k->epi = arena_array(g->arena, 1, sizeof(Node *));
    k->epi[0] = s;
    k->nepi = 1;
    s->host = k;
    CU_ASSERT_FATAL(graph_verify(g, c->diag));
    CU_ASSERT(pass_plan_memory(g, c->diag));
    check_plan(g);
    CU_ASSERT_EQUAL(k->buf, -1);
    CU_ASSERT(disjoint(g, s, node(g, "o")));
    CU_ASSERT(disjoint(g, s, node(g, "a")));
    /* a dies where s is made, so o can have its memory: two buffers, not three. */
    CU_ASSERT_EQUAL(g->plan.group_floats[0], 2 * 64);
    compilation_free(c);
}

/* A pooling tail (fuse_pool.c) is made at its convolution's position, while the
 * convolution still reads its input a: at its own position, after a's death, it would get
 * a's memory. The convolution's result holds one image (16 x 8 x 8), a group of its own. */
static void test_plan_memory_pool_tail_at_conv_position(void) {
    Compilation *c = front_end("model m {\n input x : f32[N, 4, 8, 8]\n"
                               " a = conv2d(x, 8, kernel=3, padding=1)\n"
                               " b = conv2d(a, 16, kernel=3, padding=1) -> relu -> maxpool2d(2)\n"
                               " output y = dense(flatten(b), 4)\n}\n");
    Graph *g = c->graph;
    CU_ASSERT(pass_fuse(g, c->diag));
    CU_ASSERT(pass_fuse_pool(g, c->diag));
    CU_ASSERT_FATAL(graph_verify(g, c->diag));
    CU_ASSERT(pass_plan_memory(g, c->diag));
    Node *a = node(g, "a"), *conv = node(g, "b.conv2d"), *pool = node(g, "b");
    CU_ASSERT_PTR_EQUAL_FATAL(conv->tail, pool);
    CU_ASSERT_FATAL(a->buf >= 0 && pool->buf >= 0 && node(g, "b.relu")->buf >= 0);
    CU_ASSERT(disjoint(g, a, pool));
    const Buffer *r = &g->plan.bufs[node(g, "b.relu")->buf];
    CU_ASSERT(dim_is(r->unit, 1));
    CU_ASSERT_EQUAL(r->floats, 16 * 8 * 8);
    compilation_free(c);
}

/* An image chain (chain_images.c) runs its kernels once per image: its whole-batch result o
 * is written from the chain's start, so the values passed along it, rewritten for every
 * image, never share o's memory (at a constant batch they are in one group); and x's copy p,
 * made before the chain and read by its first conv, lives to the chain's end. */
static void test_plan_memory_image_chain_lifetimes(void) {
    Compilation *c = front_end("model m {\n input x : f32[3, 16, 16, 16]\n"
                               " p = relu(x)\n"
                               " a = conv2d(p, 16, kernel=3, padding=1)\n"
                               " b = conv2d(a, 16, kernel=3, padding=1)\n"
                               " o = conv2d(b, 16, kernel=3, padding=1)\n"
                               " output y = dense(flatten(o), 4)\n}\n");
    Graph *g = c->graph;
    pass_fuse(g, c->diag);
    pass_fuse_pool(g, c->diag);
    CU_ASSERT(pass_chain_images(g, c->diag));
    CU_ASSERT_FATAL(graph_verify(g, c->diag));
    CU_ASSERT(pass_plan_memory(g, c->diag));
    Node *p = node(g, "p"), *a = node(g, "a"), *b = node(g, "b"), *o = node(g, "o");
    CU_ASSERT_PTR_EQUAL(o->chain, a);
    CU_ASSERT(a->one_image && b->one_image && !o->one_image);
    CU_ASSERT_FATAL(p->buf >= 0 && a->buf >= 0 && b->buf >= 0 && o->buf >= 0);
    CU_ASSERT(disjoint(g, o, a));
    CU_ASSERT(disjoint(g, o, b));
    CU_ASSERT(disjoint(g, p, b));
    CU_ASSERT(disjoint(g, p, o));
    CU_ASSERT_EQUAL(g->plan.bufs[a->buf].floats, 16 * 16 * 16);
    compilation_free(c);
}

/* Ten distinct units and nine groups: no plan, so the code generator's own layout. */
static void test_plan_memory_too_many_units(void) {
    char src[1024] = "model many {\n";
    const char *syms = "ABCDEFGH";
    for (int i = 0; i < 8; i++) {
        char line[96];
        snprintf(line, sizeof line, " input x%d : f32[%c]\n a%d = relu(x%d)\n output y%d = neg(a%d)\n",
                 i, syms[i], i, i, i, i);
        strcat(src, line);
    }
    strcat(src, " input p : f32[A, B]\n ap = relu(p)\n output yp = neg(ap)\n"
                " input k : f32[4]\n ak = relu(k)\n output yk = neg(ak)\n}\n");
    Compilation *c = front_end(src);
    Graph *g = c->graph;
    CU_ASSERT_FALSE(pass_plan_memory(g, c->diag));
    CU_ASSERT_FALSE(g->plan.done);
    for (int i = 0; i < g->nnodes; i++)
        CU_ASSERT_EQUAL(g->nodes[i]->buf, -1);
    compilation_free(c);
}

/* --- end to end: -O2 against -O0 ---------------------------------------------------------- */

static nnd_model *compile_at(const char *src, int opt_level) {
    nnd_options o;
    nnd_options_init(&o);
    o.opt_level = opt_level;
    o.init_random = 1;
    o.init_seed = 3;
    return unit_model(src, &o);
}

/* Runs m with every symbol = batch on deterministic inputs; returns the outputs, one
 * malloc'd block per output (outs[i]) with counts[i] elements. */
static bool run_model(nnd_model *m, int64_t batch, float **outs, size_t *counts) {
    size_t ni = nnd_model_num_inputs(m), no = nnd_model_num_outputs(m);
    nnd_tensor in[16], out[16];
    int64_t shapes[16][NND_MAX_RANK];
    if (ni > 16 || no > 16)
        return false;
    uint32_t seed = 12345;
    for (size_t i = 0; i < ni; i++) {
        const nnd_tensor_info *t = nnd_model_input(m, i);
        size_t count = 1;
        for (size_t d = 0; d < t->rank; d++) {
            shapes[i][d] = t->dims[d] < 0 ? batch : t->dims[d];
            count *= (size_t)shapes[i][d];
        }
        float *x = malloc(count * sizeof *x);
        for (size_t k = 0; k < count; k++) {
            seed = seed * 1664525u + 1013904223u;
            x[k] = (float)(seed >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
        }
        in[i] = (nnd_tensor){x, count, t->rank, shapes[i], {0}};
    }
    int64_t sym_values[8] = {batch, batch, batch, batch, batch, batch, batch, batch};
    for (size_t i = 0; i < no; i++) {
        int64_t dims[NND_MAX_RANK];
        nnd_model_output_shape(m, i, sym_values, dims);
        size_t count = 1;
        for (size_t d = 0; d < nnd_model_output(m, i)->rank; d++)
            count *= (size_t)dims[d];
        counts[i] = count;
        outs[i] = calloc(count + 1, sizeof(float));
        out[i] = (nnd_tensor){outs[i], count, 0, NULL, {0}};
    }
    nnd_context *ctx;
    bool ok = nnd_context_create(m, &ctx) == NND_OK;
    if (ok && nnd_run(ctx, in, ni, out, no) != NND_OK) {
        fprintf(stderr, "%s\n", nnd_context_error(ctx));
        ok = false;
    }
    nnd_context_destroy(ctx);
    for (size_t i = 0; i < ni; i++)
        free(in[i].data);
    return ok;
}

static void same_at_o2_and_o0(const char *src) {
    nnd_model *m0 = compile_at(src, 0), *m2 = compile_at(src, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m2);
    for (int64_t batch = 1; batch <= 5; batch += 4) {
        float *o0[16] = {0}, *o2[16] = {0};
        size_t c0[16], c2[16];
        CU_ASSERT_FATAL(run_model(m0, batch, o0, c0));
        CU_ASSERT_FATAL(run_model(m2, batch, o2, c2));
        for (size_t i = 0; i < nnd_model_num_outputs(m0); i++) {
            CU_ASSERT_EQUAL_FATAL(c0[i], c2[i]);
            double worst = 0;
            for (size_t k = 0; k < c0[i]; k++) {
                double e = (double)o0[i][k] - (double)o2[i][k];
                e = e < 0 ? -e : e;
                double scale = o0[i][k] < 0 ? -(double)o0[i][k] : (double)o0[i][k];
                e /= scale > 1 ? scale : 1;
                worst = e > worst ? e : worst;
            }
            /* LLVM's -O2 reassociates and vectorizes sums (cg_fadd allows it), so the last
             * bits may differ from -O0's; a wrong buffer would be off by far more. */
            CU_ASSERT(worst <= 1e-5);
            free(o0[i]);
            free(o2[i]);
        }
    }
    nnd_model_destroy(m0);
    nnd_model_destroy(m2);
}

static void test_plan_memory_end_to_end_matches_o0(void) {
    same_at_o2_and_o0(mlp_src);
    same_at_o2_and_o0(cnn_src);
    same_at_o2_and_o0(residual_src);
    same_at_o2_and_o0(views_src);
    same_at_o2_and_o0(groups_src);
    same_at_o2_and_o0("model m {\n input x : f32[N, 8]\n a = dense(x, 8)\n b = relu(a)\n"
                      " output s = add(a, b)\n}\n");
}

/* --- the same kernels with and without a plan: bit for bit ------------------------------- */


/* The pass run just before "plan", or NULL when the pipeline has no plan yet. */
static const char *pass_before_plan(void) {
    const char *const *names = passes_names();
    for (int i = 1; names[i]; i++)
        if (strcmp(names[i], "plan") == 0)
            return names[i - 1];
    return NULL;
}

typedef struct Jitted {
    Compilation *c;
    Jit *jit;
    CgForwardFn forward;
    CgWorkspaceFn workspace_size;
} Jitted;

static bool jit_model(Jitted *j, const char *src, const char *stop_after) {
    memset(j, 0, sizeof *j);
    j->c = compilation_new();
    compile_set_source(j->c, "t.nnd", src, strlen(src));
    CompileOptions o;
    compile_options_init(&o);
    o.init_random = true;
    o.stop_after = stop_after;
    if (!compile_to(j->c, STAGE_LLVM_OPT, &o)) {
        fputs(diag_text(j->c->diag), stderr);
        return false;
    }
    char *err = NULL;
    j->jit = compile_jit(j->c, o.opt_level, 0, &j->forward, NULL, &j->workspace_size, &err);
    if (err)
        fprintf(stderr, "%s\n", err);
    free(err);
    return j->jit != NULL;
}

static void jit_free(Jitted *j) {
    jit_dispose(j->jit);
    compilation_free(j->c);
}

/* Elements of a shape with every symbol at its value. */
static size_t numel_at(const Shape *s, const int64_t *syms) {
    Dim d;
    int64_t v = 0;
    CU_ASSERT_FATAL(shape_numel(s, &d) && dim_eval(d, syms, &v));
    return (size_t)v;
}

/* Runs both builds of a model on the same inputs, each with a workspace full of NaNs;
 * their outputs must be the same bits, and with `smaller` the planned workspace no larger.
 * (Not always: a plan rounds c*M up to whole 16*M, where unplanned values round c*M to 16.) */
static void planned_matches_unplanned(const char *src, const char *before_plan, bool smaller) {
    Jitted a, b;
    CU_ASSERT_FATAL(jit_model(&a, src, before_plan));
    CU_ASSERT_FATAL(jit_model(&b, src, NULL));
    const Graph *g = a.c->graph;
    CU_ASSERT_FATAL(b.c->graph->plan.done || !before_plan);
    for (int64_t batch = 1; batch <= 9; batch += 4) {
        int64_t syms[MAX_SYMS];
        for (int i = 0; i < MAX_SYMS; i++)
            syms[i] = batch;
        CU_ASSERT_FATAL(syms_derive(g->sym_def, g->nsyms, syms));
        float *ins[16], *oa[16], *ob[16];
        CU_ASSERT_FATAL(g->ninputs <= 16 && g->noutputs <= 16);
        uint32_t seed = 99;
        for (int i = 0; i < g->ninputs; i++) {
            size_t n = numel_at(&g->inputs[i]->shape, syms);
            ins[i] = malloc(n * sizeof(float) + 1);
            for (size_t k = 0; k < n; k++) {
                seed = seed * 1664525u + 1013904223u;
                ins[i][k] = (float)(seed >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
            }
        }
        for (int i = 0; i < g->noutputs; i++) {
            size_t n = numel_at(&g->outputs[i]->shape, syms);
            oa[i] = calloc(n + 1, sizeof(float));
            ob[i] = calloc(n + 1, sizeof(float));
        }
        int64_t wa = a.workspace_size(syms), wb = b.workspace_size(syms);
        CU_ASSERT(wb <= wa || !smaller);
        void *ws_a = malloc((size_t)wa + 64), *ws_b = malloc((size_t)wb + 64);
        memset(ws_a, 0xff, (size_t)wa + 64);
        memset(ws_b, 0xff, (size_t)wb + 64);
        a.forward((const float *const *)ins, oa, syms, ws_a);
        b.forward((const float *const *)ins, ob, syms, ws_b);
        for (int i = 0; i < g->noutputs; i++) {
            size_t n = numel_at(&g->outputs[i]->shape, syms);
            CU_ASSERT_EQUAL(memcmp(oa[i], ob[i], n * sizeof(float)), 0);
            free(oa[i]);
            free(ob[i]);
        }
        for (int i = 0; i < g->ninputs; i++)
            free(ins[i]);
        free(ws_a);
        free(ws_b);
    }
    jit_free(&a);
    jit_free(&b);
}

static void test_plan_memory_planned_matches_unplanned(void) {
    const char *before = pass_before_plan();
    if (!before)
        printf("\n    (no \"plan\" pass in the pipeline yet: both builds are the same) ");
    const char *srcs[] = {mlp_src, cnn_src, residual_src, views_src};
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++)
        planned_matches_unplanned(srcs[i], before, true);
    /* [N, M] with c = 1 takes 16*N*M floats planned. */
    planned_matches_unplanned(groups_src, before, false);
    planned_matches_unplanned("model m {\n input x : f32[N, 8]\n a = dense(x, 8)\n b = relu(a)\n"
                              " output s = add(a, b)\n}\n",
                              before, false);
}

NND_SUITE("plan_memory", test_plan_memory_mlp_chain_fits_two_adjacent,
          test_plan_memory_cnn_chain_fits_two_adjacent,
          test_plan_memory_uneven_chain_fits_two_adjacent, test_plan_memory_in_place_unary,
          test_plan_memory_residual_skip_stays_alive, test_plan_memory_views_extend_lifetimes,
          test_plan_memory_groups_by_symbols, test_plan_memory_inputs_outputs_get_none,
          test_plan_memory_fused_epilogues, test_plan_memory_fused_read_at_host_position,
          test_plan_memory_pool_tail_at_conv_position, test_plan_memory_image_chain_lifetimes,
          test_plan_memory_too_many_units,
          test_plan_memory_end_to_end_matches_o0, test_plan_memory_planned_matches_unplanned)
