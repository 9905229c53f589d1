/* pipeline.c: the optimizer's passes in order, and the graph surgery they share.
 *
 * The table below is the whole optimizer. Each pass is a file in compiler/passes/ with one
 * entry point; after each one, graph_verify checks the invariants of passes.h (always: it
 * is cheap next to code generation). `nndc emit opt --after NAME` stops after NAME; -O0
 * runs nothing. */
#include <string.h>

#include "passes.h"

static const Pass pipeline[] = {
    {"fold", pass_fold_constants},    /* needs: parameters filled */
    {"dce", pass_dce},                /* needs: a verified graph; after fold, which strands params */
    {"fold-bn", pass_fold_batchnorm}, /* needs: parameters filled */
    {"fuse", pass_fuse},              /* needs: fold-bn (a folded batchnorm fuses nothing) */
    {"fuse-pool", pass_fuse_pool},    /* needs: fuse (a conv's epilogue complete) */
    {"chain", pass_chain_images},     /* needs: fuse-pool (a conv's tail known) */
    {"plan", pass_plan_memory},       /* needs: fuse; last */
};

enum { NPASSES = sizeof pipeline / sizeof pipeline[0] };

const char *const *passes_names(void) {
    static const char *names[NPASSES + 1];
    for (int i = 0; i < NPASSES; i++)
        names[i] = pipeline[i].name;
    names[NPASSES] = NULL;
    return names;
}

bool passes_run(Graph *g, Diag *d, int opt_level, const char *stop_after) {
    int last = NPASSES - 1;
    if (stop_after) {
        for (last = 0; last < NPASSES && strcmp(pipeline[last].name, stop_after) != 0; last++)
            ;
        if (last == NPASSES) {
            diag_error(d, (SrcLoc){.file = g->file}, "no pass named '%s'", stop_after);
            return false;
        }
    }
    if (opt_level <= 0)
        return true;
    for (int i = 0; i <= last; i++) {
        pipeline[i].run(g, d);
        if (diag_count(d) > 0 || !graph_verify(g, d))
            return false;
    }
    return true;
}

Node *kernel_result(Node *n) { return n->nepi ? n->epi[n->nepi - 1] : n; }

void graph_compact(Graph *g) {
    int k = 0;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = g->nodes[i];
        if (n->id < 0)
            continue;
        n->id = k;
        g->nodes[k++] = n;
    }
    g->nnodes = k;
}

void graph_replace_uses(Graph *g, Node *old, Node *repl) {
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = g->nodes[i];
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] == old) {
                n->in[j] = repl;
                old->nuses--;
                repl->nuses++;
            }
    }
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == old) {
            g->outputs[i] = repl;
            old->nuses--;
            repl->nuses++;
        }
}

static bool broken(const Graph *g, Diag *d, const Node *n, const char *what) {
    diag_error(d, n ? n->loc : (SrcLoc){.file = g->file},
               "internal error: the optimized graph is inconsistent at '%s': %s",
               n ? n->name : "?", what);
    return false;
}

bool graph_verify(const Graph *g, Diag *d) {
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = g->nodes[i];
        if (n->id != i)
            return broken(g, d, n, "node numbering");
        for (int j = 0; j < n->nin; j++) {
            const Node *in = n->in[j];
            if (in->id < 0 || in->id >= i || g->nodes[in->id] != in)
                return broken(g, d, n, "an input that is not an earlier node");
            /* A fused value may only be read outside its kernel when it is the result. */
            if (in->host && in->host != n->host && kernel_result(in->host) != in && in->host != n)
                return broken(g, d, n, "reads a value fused inside another kernel");
        }
        if (n->host) {
            const Node *h = n->host;
            int k = 0;
            while (k < h->nepi && h->epi[k] != n)
                k++;
            if (k == h->nepi)
                return broken(g, d, n, "fused but missing from its kernel's epilogue");
            const Node *prev = k ? h->epi[k - 1] : h;
            if (n->nin < 1 || n->in[0] != prev)
                return broken(g, d, n, "an epilogue that is not a chain");
        }
        const Node *r = kernel_result((Node *)n);
        if (n->tail && (n->op != OP_CONV2D || n->host || n->tail->tail_of != n ||
                        n->tail->in[0] != r || r->nuses != 1 || value_output_slot(g, r) >= 0))
            return broken(g, d, n, "a pooling tail that is not its result's only reader");
        if (n->tail_of && n->tail_of->tail != n)
            return broken(g, d, n, "a pooling tail missing from its convolution");
        if (n->chain && (n->op != OP_CONV2D || n->host || n->chain->chain != n->chain ||
                         n->id < n->chain->id || n->id > n->chain->chain_end))
            return broken(g, d, n, "an image chain that is not consecutive convolutions");
        if (n->one_image && (n->nuses != 1 || value_output_slot(g, n) >= 0))
            return broken(g, d, n, "a value of one image read by more than its next kernel");
    }
    for (int i = 0; i < g->noutputs; i++) {
        const Node *o = g->outputs[i];
        if (o->id < 0 || g->nodes[o->id] != o)
            return broken(g, d, o, "an output that is not in the graph");
        if (o->host && kernel_result(o->host) != o)
            return broken(g, d, o, "an output fused inside a kernel");
    }
    for (int i = 0; i < g->ninputs; i++)
        if (g->inputs[i]->id < 0 || g->nodes[g->inputs[i]->id] != g->inputs[i])
            return broken(g, d, g->inputs[i], "an input that is not in the graph");
    return true;
}
