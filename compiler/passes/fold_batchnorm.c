/* fold_batchnorm.c: batchnorm folded into the conv2d or dense that produces its input.
 *
 * Requires: a verified graph with its parameters filled, nothing fused yet. Guarantees: every
 * batchnorm whose input is a conv2d, or a dense with a rank-2 output [N, U] (BatchNorm1d
 * after Linear), is gone when that layer has no other reader and is not a model output. The
 * layer computes W'[c, ...] = W[c, ...] * s[c] and b'[c] = (b[c] - mean[c]) * s[c] + beta[c]
 * with s = gamma / sqrt(var + eps) (in double, rounded to float once), gains a bias when it
 * had none, and takes over the batchnorm's consumers and model outputs (the output keeps its
 * name). Inference batchnorm is affine per channel of axis 1, which is a conv's filters and
 * a rank-2 dense's units; a rank-3 dense's axis 1 is not its units, so it stays. */
#include <math.h>

#include "passes.h"

/* The layer bn can be folded into, or NULL. */
static Node *foldable_producer(const Graph *g, const Node *bn) {
    if (bn->op != OP_BATCHNORM || bn->bad || bn->nin != 1 || bn->host || bn->nepi)
        return NULL;
    Node *p = bn->in[0];
    bool layer = p->op == OP_CONV2D || (p->op == OP_DENSE && p->shape.rank == 2);
    if (!layer || p->bad || p->host || p->nepi || p->nuses != 1 || value_output_slot(g, p) >= 0)
        return NULL;
    const Param *w = node_param(p, "weight");
    if (!w || !w->data || w->shape.rank < 1 || !dim_is(w->shape.d[0], bn->shape.d[1].c))
        return NULL;
    static const char *const bn_params[] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++)
        if (!node_param(bn, bn_params[i]) || !node_param(bn, bn_params[i])->data)
            return NULL;
    return p;
}

/* The layer's bias, added (zeros, and the attribute the lowering reads set) when it has none. */
static Param *layer_bias(Graph *g, Node *p, int64_t C) {
    Param *b = node_param(p, "bias");
    if (b && b->data)
        return b;
    if (!b)
        b = node_add_param(g, p, "bias", (Shape){.rank = 1, .d = {dim_const(C)}}, PINIT_ZEROS, 0);
    b->data = arena_array(g->arena, (size_t)C, sizeof(float));
    Attr *a = node_add_attr(g, p, "bias", ATTR_BOOL);
    a->i = 1;
    a->set = true; /* attr_bool reads unset arguments as false */
    return b;
}

/* Rewrites p's weight and bias so that p computes bn(p(x)). */
static void fold_params(Graph *g, Node *p, const Node *bn) {
    int64_t C = bn->shape.d[1].c;
    const float *gamma = node_param(bn, "weight")->data, *beta = node_param(bn, "bias")->data;
    const float *mean = node_param(bn, "running_mean")->data,
                *var = node_param(bn, "running_var")->data;
    double eps = attr_float(bn, "eps");
    Param *b = layer_bias(g, p, C); /* first: adding a parameter may move p->params */
    Param *w = node_param(p, "weight");
    Dim numel;
    shape_numel(&w->shape, &numel);
    int64_t per = numel.c / C; /* weight elements per output channel */
    float *w2 = arena_array(g->arena, (size_t)numel.c, sizeof(float));
    float *b2 = arena_array(g->arena, (size_t)C, sizeof(float));
    for (int64_t c = 0; c < C; c++) {
        double s = (double)gamma[c] / sqrt((double)var[c] + eps);
        for (int64_t k = c * per; k < (c + 1) * per; k++)
            w2[k] = (float)((double)w->data[k] * s);
        b2[c] = (float)(((double)b->data[c] - (double)mean[c]) * s + (double)beta[c]);
    }
    w->data = w2;
    b->data = b2;
}

bool pass_fold_batchnorm(Graph *g, Diag *d) {
    (void)d;
    bool changed = false;
    /* In order, so that a second batchnorm in a row finds the layer as its input again. */
    for (int i = 0; i < g->nnodes; i++) {
        Node *bn = g->nodes[i];
        Node *p = foldable_producer(g, bn);
        if (!p)
            continue;
        fold_params(g, p, bn);
        graph_replace_uses(g, bn, p);
        p->nuses--; /* bn's own read of p goes with it */
        bn->id = -1;
        changed = true;
    }
    if (changed)
        graph_compact(g);
    return changed;
}
