/* dce.c: dead-node elimination.
 *
 * Requires: a verified graph. Guarantees: every remaining node contributes to a model output
 * (model inputs always stay: they are part of the interface even when unused). A node is
 * live when an output is it or reads it, transitively; the rest are removed. */
#include <stdlib.h>

#include "passes.h"

bool pass_dce(Graph *g, Diag *d) {
    (void)d;
    bool *live = arena_array(g->arena, (size_t)g->nnodes + 1, sizeof(bool));
    for (int i = 0; i < g->noutputs; i++)
        live[g->outputs[i]->id] = true;
    /* Nodes are in topological order: one backward sweep marks everything live. */
    for (int i = g->nnodes - 1; i >= 0; i--) {
        Node *n = g->nodes[i];
        if (n->op == OP_INPUT)
            live[i] = true;
        if (!live[i])
            continue;
        for (int j = 0; j < n->nin; j++)
            live[n->in[j]->id] = true;
    }
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = g->nodes[i];
        if (live[i])
            continue;
        for (int j = 0; j < n->nin; j++)
            n->in[j]->nuses--;
        n->id = -1;
        changed = true;
    }
    if (changed)
        graph_compact(g);
    return changed;
}
