/* fuse.c: elementwise tails fused into the kernel that produces their input.
 *
 * Requires: a verified graph, after fold-bn (a batchnorm folded away leaves its activation
 * right after the conv2d or dense). Guarantees: each elementwise node E whose first input
 * is the current result of a kernel K, used by E alone, is appended to K's epilogue
 * (E->host = K, K->epi gains E), so K's loops compute E too and only the chain's last value
 * is stored (code generation: cg_epilogue). Model outputs are never fused past; the
 * invariants of passes.h hold.
 *
 * E is elementwise: an activation (relu ... clip, identity aside: it is a view), or
 * add/sub/mul/div with a number or with a tensor of exactly E's shape that is ready before
 * K runs and is not computed inside K. E must have the shape of its first input (so it is
 * applied once per element of K's output, never broadcasting that input). K is dense,
 * conv2d, matmul, or an elementwise node itself, so chains of elementwise ops become one
 * loop nest (a binary host may broadcast: the epilogue applies per output element). */
#include "passes.h"

static bool is_unary(OpKind op) { return op >= OP_RELU && op <= OP_CLIP && op != OP_IDENTITY; }

static bool is_binary(OpKind op) {
    return op == OP_ADD || op == OP_SUB || op == OP_MUL || op == OP_DIV;
}

/* Whether a node's loops can apply an epilogue before their stores (its lowering does). */
static bool hosts_epilogue(OpKind op) {
    return op == OP_DENSE || op == OP_CONV2D || op == OP_MATMUL || is_unary(op) || is_binary(op);
}

/* Where a value is computed in the generated code: fused values inside their kernel, the
 * model's inputs and params before anything runs. */
static int emitted_at(const Node *n) {
    return n->op == OP_INPUT || n->op == OP_PARAM ? -1 : n->host ? n->host->id : n->id;
}

/* Whether the operand t of an epilogue node of kernel k is read at the same elements and is
 * already computed when k runs (k is emitted at its own position, before its epilogue's). */
static bool operand_ok(const Node *k, const Node *e, const Node *t) {
    return shape_eq(&t->shape, &e->shape) && t != k && t->host != k && emitted_at(t) < k->id;
}

/* The kernel e can be fused into, or NULL. */
static Node *fusion_host(const Graph *g, const Node *e) {
    if (!(is_unary(e->op) || is_binary(e->op)) || e->nin < 1)
        return NULL;
    Node *v = e->in[0];
    Node *k = v->host ? v->host : v;
    if (kernel_result(k) != v || !hosts_epilogue(k->op) || v->nuses != 1 ||
        value_output_slot(g, v) >= 0)
        return NULL;
    if (!shape_eq(&e->shape, &v->shape))
        return NULL;
    for (int j = 1; j < e->nin; j++)
        if (!operand_ok(k, e, e->in[j]))
            return NULL;
    return k;
}

static void append_epilogue(Graph *g, Node *k, Node *e) {
    size_t sz = sizeof(Node *);
    k->epi = arena_grow(g->arena, k->epi, (size_t)k->nepi * sz, (size_t)(k->nepi + 1) * sz);
    k->epi[k->nepi++] = e;
    e->host = k;
}

bool pass_fuse(Graph *g, Diag *d) {
    (void)d;
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++) {
        Node *e = g->nodes[i];
        Node *k = e->host ? NULL : fusion_host(g, e);
        if (k) {
            append_epilogue(g, k, e);
            changed = true;
        }
    }
    return changed;
}
