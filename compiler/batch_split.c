/* batch_split.c: whether a forward pass may be split along its batch (see batch_split.h).
 *
 * A value is "batched" when its first dimension is exactly the symbol S and sample i of it
 * depends only on sample i of the inputs; "constant" when it depends on no input (params and
 * what is computed from them). The split is valid when every input is batched, every output
 * is batched, and every node is one or the other. S may appear nowhere but as a batched
 * value's first dimension, so the generated code sees a smaller batch and nothing else. */
#include "batch_split.h"

typedef enum Kind { K_BAD, K_CONST, K_BATCHED } Kind;

/* Whether d is exactly the symbol s. */
static bool dim_is_sym(Dim d, int s) {
    if (d.c != 1)
        return false;
    for (int i = 0; i < MAX_SYMS; i++)
        if (d.e[i] != (i == s))
            return false;
    return true;
}

static bool shape_uses(const Shape *sh, int s, int from) {
    for (int i = from; i < sh->rank; i++)
        if (sh->d[i].e[s])
            return true;
    return false;
}

/* A batched node's shape: S first, nowhere else. */
static bool batched_shape(const Shape *sh, int s) {
    return sh->rank >= 1 && dim_is_sym(sh->d[0], s) && !shape_uses(sh, s, 1);
}

/* Whether op, applied to batched operand 0, keeps samples apart. */
static bool per_sample(const Node *n) {
    int rank = n->nin ? n->in[0]->shape.rank : 0;
    switch (n->op) {
    case OP_DENSE:
    case OP_LAYERNORM:
        return rank >= 2; /* the last axis is not the batch */
    case OP_SOFTMAX:
    case OP_LOG_SOFTMAX:
    case OP_CONCAT:
        return attr_int(n, "axis") != 0;
    case OP_FLATTEN:
        return attr_int(n, "axis") >= 1;
    case OP_TRANSPOSE: {
        const Attr *p = node_attr(n, "perm");
        return p && p->set && p->n >= 1 && p->v[0] == 0; /* no perm reverses: S moves */
    }
    case OP_RESHAPE: /* C order: [S, ...] to [S, ...] keeps each sample's elements together */
    case OP_CONV2D:
    case OP_MAXPOOL2D:
    case OP_AVGPOOL2D:
    case OP_GLOBAL_AVGPOOL:
    case OP_BATCHNORM: /* inference form: per-channel constants */
    case OP_MATMUL:    /* checked operand by operand in kind_of */
    default:
        return true; /* elementwise and views */
    }
}

static Kind kind_of(const Node *n, const Kind *kinds, int s) {
    if (n->op == OP_INPUT)
        return batched_shape(&n->shape, s) ? K_BATCHED : K_BAD;
    int batched = 0;
    for (int i = 0; i < n->nin; i++) {
        Kind k = kinds[n->in[i]->id];
        if (k == K_BAD)
            return K_BAD;
        batched += k == K_BATCHED;
    }
    if (!batched)
        return shape_uses(&n->shape, s, 0) ? K_BAD : K_CONST;
    bool binary = n->op == OP_ADD || n->op == OP_SUB || n->op == OP_MUL || n->op == OP_DIV;
    if (!batched_shape(&n->shape, s) || (!binary && kinds[n->in[0]->id] != K_BATCHED) ||
        !per_sample(n))
        return K_BAD;
    /* Every other operand (each one of a binary op): constant (broadcast over the batch) or
     * batched of the output's rank (sample by sample); matmul's second operand only as a
     * batch of matrices. */
    for (int i = binary ? 0 : 1; i < n->nin; i++) {
        const Node *in = n->in[i];
        if (kinds[in->id] != K_BATCHED)
            continue;
        if (in->shape.rank != n->shape.rank || (n->op == OP_MATMUL && i == 1 && in->shape.rank < 3))
            return K_BAD;
    }
    return K_BATCHED;
}

static bool split_on(const Graph *g, int s, Kind *kinds) {
    for (int i = 0; i < g->nnodes; i++)
        if ((kinds[i] = kind_of(g->nodes[i], kinds, s)) == K_BAD)
            return false;
    for (int i = 0; i < g->noutputs; i++)
        if (kinds[g->outputs[i]->id] != K_BATCHED)
            return false;
    return g->ninputs > 0;
}

int graph_batch_symbol(const Graph *g) {
    if (g->ninputs < 1 || g->inputs[0]->shape.rank < 1)
        return -1;
    Dim d0 = g->inputs[0]->shape.d[0];
    int s = 0;
    while (s < g->nsyms && !d0.e[s])
        s++;
    if (s == g->nsyms || !dim_is_sym(d0, s) || g->sym_def[s].derived)
        return -1;
    for (int i = 0; i < g->nsyms; i++)
        if (g->sym_def[i].derived && (g->sym_def[i].a.e[s] || g->sym_def[i].b.e[s]))
            return -1;
    Kind *kinds = arena_array(g->arena, (size_t)g->nnodes + 1, sizeof(Kind));
    return split_on(g, s, kinds) ? s : -1;
}
