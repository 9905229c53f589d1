/* flops.c: FLOP counting; see flops.h. */
#include "flops.h"

static double numel(const Shape *s, const int64_t *syms) {
    double n = 1;
    for (int i = 0; i < s->rank; i++) {
        int64_t v;
        n *= dim_eval(s->d[i], syms, &v) ? (double)v : 0;
    }
    return n;
}

double node_flops_per_output(const Node *n) {
    switch (n->op) {
    case OP_DENSE:
    case OP_MATMUL: {
        const Shape *x = &n->in[0]->shape;
        return 2 * (double)x->d[x->rank - 1].c;
    }
    case OP_CONV2D: {
        const Param *w = node_param(n, "weight");
        return w ? 2 * (double)(w->shape.d[1].c * w->shape.d[2].c * w->shape.d[3].c) : 0;
    }
    case OP_MAXPOOL2D:
    case OP_AVGPOOL2D: {
        const Attr *k = node_attr(n, "kernel");
        return k ? (double)(k->v[0] * k->v[1]) : 1;
    }
    default: return 0;
    }
}

static double node_flops(const Node *n, const int64_t *syms) {
    double out = numel(&n->shape, syms);
    switch (n->op) {
    case OP_INPUT:
    case OP_FLATTEN:
    case OP_RESHAPE:
    case OP_DROPOUT:
    case OP_IDENTITY:
    case OP_TRANSPOSE:
    case OP_CONCAT: return 0;
    case OP_MATMUL: { /* K may be symbolic (attention over a symbolic sequence) */
        const Shape *x = &n->in[0]->shape;
        int64_t k;
        return dim_eval(x->d[x->rank - 1], syms, &k) ? out * 2 * (double)k : 0;
    }
    case OP_DENSE:
    case OP_CONV2D:
    case OP_MAXPOOL2D:
    case OP_AVGPOOL2D: return out * node_flops_per_output(n);
    case OP_GLOBAL_AVGPOOL:
    case OP_SOFTMAX:
    case OP_LOG_SOFTMAX:
    case OP_LAYERNORM:
    case OP_BATCHNORM: return numel(&n->in[0]->shape, syms) * (n->op == OP_GLOBAL_AVGPOOL ? 1 : 4);
    default: return out;
    }
}

double graph_flops(const Graph *g, const int64_t *sym_values) {
    double total = 0;
    for (int i = 0; i < g->nnodes; i++)
        total += node_flops(g->nodes[i], sym_values);
    return total;
}
