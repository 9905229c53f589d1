/* fold_constants.c: constant folding.
 *
 * Requires: a verified graph with its parameters filled. Guarantees: no node whose tensor
 * inputs are all constants (params, or values folded before it) is left to compute at run
 * time; each such node becomes a param holding its value, computed now by the reference
 * interpreter (compiler/interp/), which implements every operator exactly as the generated
 * code must. Layers count as constants when their input is (their weights are). A value
 * larger than MAX_FOLD_FLOATS stays computed at run time rather than bloat the binary, and
 * so does everything after it. The inputs that become unused are left for dce. */
#include <stdio.h>
#include <string.h>

#include "interp.h"
#include "passes.h"

enum { MAX_FOLD_FLOATS = 16 << 20 }; /* 64 MiB of f32 */

static bool foldable(const Node *n, int64_t *numel) {
    if (n->op == OP_INPUT || n->op == OP_PARAM || n->nin == 0)
        return false;
    for (int i = 0; i < n->nin; i++)
        if (n->in[i]->op != OP_PARAM)
            return false;
    Dim count;
    if (!shape_numel(&n->shape, &count) || !dim_is_const(count) || count.c > MAX_FOLD_FLOATS)
        return false;
    *numel = count.c;
    return true;
}

/* Turns n into a param holding its value; false after reporting when evaluation failed. */
static bool fold(Graph *g, Node *n, int64_t numel, Diag *d) {
    const float **ins = arena_array(g->arena, (size_t)n->nin, sizeof *ins);
    for (int i = 0; i < n->nin; i++)
        ins[i] = n->in[i]->params[0].data;
    float *value = arena_array(g->arena, (size_t)numel, sizeof(float));
    int64_t syms[MAX_SYMS] = {0};
    char err[256];
    if (!interp_node(g, n, syms, ins, value, err, sizeof err)) {
        diag_error(d, n->loc, "internal error: folding %s '%s' at compile time: %s",
                   op_name(n->op), n->name, err);
        return false;
    }
    for (int i = 0; i < n->nin; i++)
        n->in[i]->nuses--;
    n->op = OP_PARAM;
    n->nin = 0;
    n->nattrs = 0;
    n->nparams = 0;
    n->params = NULL;
    n->prefix = n->name;
    Param *p = node_add_param(g, n, "", n->shape, PINIT_ZEROS, 0);
    p->data = value;
    return true;
}

bool pass_fold_constants(Graph *g, Diag *d) {
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = g->nodes[i];
        int64_t numel;
        if (!foldable(n, &numel))
            continue;
        if (!fold(g, n, numel, d))
            return changed;
        changed = true;
    }
    return changed;
}
