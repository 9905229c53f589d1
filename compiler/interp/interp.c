/* interp.c: the interpreter's driver: which function evaluates each op, one node at a time
 * (interp_node), and a whole graph in its topological order (interp_run); see interp.h.
 *
 * interp_run first sizes every value under the symbol values, so a size that overflows is
 * reported before anything runs; then evaluates the nodes in order into buffers of their
 * own (malloc'ed, each freed after its last reader), reading the model's inputs in place,
 * and finally copies each output into the caller's buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp_internal.h"

typedef bool (*InterpFn)(const Interp *ip);

static const InterpFn table[] = {
    [OP_DENSE] = interp_dense,
    [OP_CONV2D] = interp_conv2d,
    [OP_MAXPOOL2D] = interp_pool2d,
    [OP_AVGPOOL2D] = interp_pool2d,
    [OP_GLOBAL_AVGPOOL] = interp_global_avgpool,
    [OP_BATCHNORM] = interp_batchnorm,
    [OP_LAYERNORM] = interp_layernorm,
    [OP_FLATTEN] = interp_copy,
    [OP_RESHAPE] = interp_copy,
    [OP_TRANSPOSE] = interp_transpose,
    [OP_ADD] = interp_binary,
    [OP_SUB] = interp_binary,
    [OP_MUL] = interp_binary,
    [OP_DIV] = interp_binary,
    [OP_MATMUL] = interp_matmul,
    [OP_CONCAT] = interp_concat,
    [OP_SOFTMAX] = interp_softmax,
    [OP_LOG_SOFTMAX] = interp_softmax,
    [OP_DROPOUT] = interp_copy,
    [OP_PARAM] = interp_param_value,
    [OP_RELU] = interp_unary,
    [OP_SIGMOID] = interp_unary,
    [OP_TANH] = interp_unary,
    [OP_LEAKY_RELU] = interp_unary,
    [OP_ELU] = interp_unary,
    [OP_SELU] = interp_unary,
    [OP_GELU] = interp_unary,
    [OP_SILU] = interp_unary,
    [OP_SOFTPLUS] = interp_unary,
    [OP_SOFTSIGN] = interp_unary,
    [OP_HARD_SIGMOID] = interp_unary,
    [OP_RELU6] = interp_unary,
    [OP_IDENTITY] = interp_copy,
    [OP_EXP] = interp_unary,
    [OP_LOG] = interp_unary,
    [OP_SQRT] = interp_unary,
    [OP_ABS] = interp_unary,
    [OP_NEG] = interp_unary,
    [OP_CLIP] = interp_unary,
};

/* An op added at the end of ops.def without an entry here fails to compile; one added in the
 * middle shows up as a NULL entry, which test_interp checks for. */
_Static_assert(sizeof table / sizeof table[0] == OP_COUNT, "ops.def and the interpreter disagree");

bool interp_can_run(OpKind op) { return (unsigned)op < OP_COUNT && table[op] != NULL; }

/* Writes msg followed by arg; returns false. */
static bool set_err(char *err, size_t errlen, const char *msg, const char *arg) {
    if (err && errlen)
        snprintf(err, errlen, "%s%s", msg, arg ? arg : "");
    return false;
}

bool interp_node(const Graph *g, const Node *n, const int64_t *sym_values,
                 const float *const *ins, float *out, char *err, size_t errlen) {
    Interp ip = {.g = g, .n = n, .syms = sym_values, .ins = ins, .out = out, .err = err,
                 .errlen = errlen};
    static const int64_t no_syms[MAX_SYMS];
    if (err && errlen)
        err[0] = 0;
    if (!g || !n)
        return set_err(err, errlen, "interp_node: a NULL graph or node", NULL);
    if (!sym_values && g->nsyms == 0)
        ip.syms = sym_values = no_syms;
    if (!sym_values)
        return interp_fail(&ip, "no symbol values");
    if (!interp_can_run(n->op))
        return interp_fail(&ip, "the interpreter does not evaluate this op");
    if (n->bad || n->shape.rank < 0 || n->shape.rank > MAX_RANK)
        return interp_fail(&ip, "has no valid shape");
    ip.y.rank = n->shape.rank;
    /* No shape text here: it would allocate in the graph's arena, which threads share. */
    if (!shape_eval(&n->shape, sym_values, ip.y.d, &ip.y.numel))
        return interp_fail(&ip, "its output is too large for these symbol values");
    if (!out || (n->nin && !ins))
        return interp_fail(&ip, "no buffer for its value or its inputs");
    for (int i = 0; i < n->nin; i++)
        if (!ins[i])
            return interp_fail(&ip, "input %d has no value", i + 1);
    return table[n->op](&ip);
}

/* --- whole graphs ---------------------------------------------------------------------- */

typedef struct Run {
    const Graph *g;
    int64_t *numel;     /* per node */
    int *last_use;      /* the last node that reads it (nnodes: an output, kept to the end) */
    const float **val;  /* per node: its value, once computed */
    float **owned;      /* per node: the buffer this run allocated for it, or NULL */
    const float **args; /* scratch: one node's input values */
    char *err;
    size_t errlen;
} Run;

static void run_free(Run *r) {
    for (int i = 0; r->owned && i < r->g->nnodes; i++)
        free(r->owned[i]);
    free(r->numel);
    free(r->last_use);
    free(r->val);
    free(r->owned);
    free(r->args);
}

/* The scratch arrays, sized by the graph. */
static bool run_alloc(Run *r) {
    const Graph *g = r->g;
    int maxin = 1;
    for (int i = 0; i < g->nnodes; i++)
        maxin = g->nodes[i]->nin > maxin ? g->nodes[i]->nin : maxin;
    size_t n = (size_t)g->nnodes + 1;
    r->numel = calloc(n, sizeof *r->numel);
    r->last_use = calloc(n, sizeof *r->last_use);
    r->val = calloc(n, sizeof *r->val);
    r->owned = calloc(n, sizeof *r->owned);
    r->args = calloc((size_t)maxin, sizeof *r->args);
    if (r->numel && r->last_use && r->val && r->owned && r->args)
        return true;
    return set_err(r->err, r->errlen, "out of memory: the interpreter's tables for ", g->name);
}

/* Every node's element count and last reader; false on an inconsistent graph or a size
 * that does not fit in memory. */
static bool run_plan(Run *r, const int64_t *syms) {
    const Graph *g = r->g;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = g->nodes[i];
        if (n->id != i)
            return set_err(r->err, r->errlen, "the graph's node ids are out of order at ",
                           n->name);
        if (n->shape.rank < 0 || n->shape.rank > MAX_RANK ||
            !shape_eval(&n->shape, syms, NULL, &r->numel[i]) ||
            r->numel[i] > (int64_t)(SIZE_MAX / sizeof(float)))
            return set_err(r->err, r->errlen, "too large for these symbol values: ", n->name);
        r->last_use[i] = i;
        for (int j = 0; j < n->nin; j++) {
            if (!n->in[j] || n->in[j]->id < 0 || n->in[j]->id >= i)
                return set_err(r->err, r->errlen, "an input is not an earlier node at ",
                               n->name);
            r->last_use[n->in[j]->id] = i;
        }
    }
    for (int k = 0; k < g->noutputs; k++) {
        if (!g->outputs[k] || g->outputs[k]->id < 0 || g->outputs[k]->id >= g->nnodes)
            return set_err(r->err, r->errlen, "not a node of the graph: output ",
                           g->output_names[k]);
        r->last_use[g->outputs[k]->id] = g->nnodes;
    }
    return true;
}

/* Evaluates node i into a buffer of its own, then frees the inputs it read last. */
static bool run_node(Run *r, const int64_t *syms, int i) {
    const Node *n = r->g->nodes[i];
    size_t bytes = (size_t)r->numel[i] * sizeof(float);
    r->owned[i] = malloc(bytes ? bytes : 1);
    if (!r->owned[i]) {
        if (r->err && r->errlen)
            snprintf(r->err, r->errlen, "out of memory: %zu bytes for the value of '%s'", bytes,
                     n->name);
        return false;
    }
    r->val[i] = r->owned[i];
    for (int j = 0; j < n->nin; j++)
        r->args[j] = r->val[n->in[j]->id];
    if (!interp_node(r->g, n, syms, r->args, r->owned[i], r->err, r->errlen))
        return false;
    for (int j = 0; j < n->nin; j++) {
        int k = n->in[j]->id;
        if (r->last_use[k] == i) {
            free(r->owned[k]);
            r->owned[k] = NULL;
            r->val[k] = NULL;
        }
    }
    return true;
}

static bool run_nodes(Run *r, const int64_t *syms, const float *const *inputs) {
    for (int i = 0; i < r->g->nnodes; i++) {
        const Node *n = r->g->nodes[i];
        if (n->op != OP_INPUT) {
            if (!run_node(r, syms, i))
                return false;
        } else if (n->input_index < 0 || n->input_index >= r->g->ninputs ||
                   !inputs[n->input_index]) {
            return set_err(r->err, r->errlen, "no value for input ", n->name);
        } else {
            r->val[i] = inputs[n->input_index];
        }
    }
    return true;
}

bool interp_run(const Graph *g, const int64_t *sym_values, const float *const *inputs,
                float *const *outputs, char *err, size_t errlen) {
    if (err && errlen)
        err[0] = 0;
    static const int64_t no_syms[MAX_SYMS];
    if (g && !sym_values && g->nsyms == 0)
        sym_values = no_syms;
    if (!g || !sym_values || (g->ninputs && !inputs) || (g->noutputs && !outputs))
        return set_err(err, errlen, "interp_run: a NULL graph, symbol values, inputs or outputs",
                       NULL);
    Run r = {.g = g, .err = err, .errlen = errlen};
    bool ok = run_alloc(&r) && run_plan(&r, sym_values) && run_nodes(&r, sym_values, inputs);
    for (int k = 0; ok && k < g->noutputs; k++) {
        const Node *n = g->outputs[k];
        if (!outputs[k])
            ok = set_err(err, errlen, "no buffer for output ", g->output_names[k]);
        else
            memcpy(outputs[k], r.val[n->id], (size_t)r.numel[n->id] * sizeof(float));
    }
    run_free(&r);
    return ok;
}
