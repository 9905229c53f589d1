/* dump_opt.c: `nndc emit opt`: what the optimizer made of a graph.
 *
 * One line per kernel (a node with the elementwise ops fused into its loops), with where its
 * result lives (a caller's output, a view of another value, or a workspace buffer with its
 * offset; a value that holds one image, a pooling tail computed inside its convolution and
 * the convolutions of an image chain are marked); then
 * the planned buffers and the workspace size as a formula in the symbolic
 * dimensions and as bytes when every symbol is `batch`. */
#include <string.h>

#include "passes.h"

static void print_location(FILE *out, const Graph *g, const Node *r) {
    int slot = value_output_slot(g, r);
    if (slot >= 0)
        fprintf(out, "output '%s'", g->output_names[slot]);
    else if (r->op == OP_PARAM)
        fprintf(out, "constant");
    else if (value_is_view(r->op))
        fprintf(out, "view of %s", r->in[0]->name);
    else if (g->plan.done && r->buf >= 0) {
        const Buffer *b = &g->plan.bufs[r->buf];
        fprintf(out, "buf%d", r->buf);
        (void)b;
    } else
        fprintf(out, "own buffer");
}

static void print_kernel(FILE *out, const Graph *g, const Node *k) {
    const Node *r = kernel_result((Node *)k);
    fprintf(out, "  %-16s = %s", r->name, op_name(k->op));
    for (int i = 0; i < k->nepi; i++)
        fprintf(out, "+%s", op_name(k->epi[i]->op));
    fprintf(out, "(");
    int printed = 0;
    for (int j = 0; j < k->nin; j++)
        fprintf(out, "%s%s", printed++ ? ", " : "", k->in[j]->name);
    for (int i = 0; i < k->nepi; i++)
        for (int j = 1; j < k->epi[i]->nin; j++)
            fprintf(out, "%s%s", printed++ ? ", " : "", k->epi[i]->in[j]->name);
    fprintf(out, ") : %s -> ", node_shape_str(g, r));
    print_location(out, g, r);
    if (r->one_image)
        fprintf(out, " (one image)");
    if (k->tail_of)
        fprintf(out, " [inside %s]", kernel_result(k->tail_of)->name);
    if (k->chain)
        fprintf(out, " [image chain %s .. %s]", kernel_result(k->chain)->name,
                kernel_result(g->nodes[k->chain->chain_end])->name);
    fprintf(out, "\n");
}

static int64_t eval_or_zero(Dim d, const int64_t *syms) {
    int64_t v;
    return dim_eval(d, syms, &v) ? v : 0;
}

/* total + a * b * c, or -1 once anything overflows (any --batch, any model). */
static int64_t add_product(int64_t total, int64_t a, int64_t b, int64_t c) {
    int64_t p;
    if (total < 0 || __builtin_mul_overflow(a, b, &p) || __builtin_mul_overflow(p, c, &p) ||
        __builtin_add_overflow(total, p, &total))
        return -1;
    return total;
}

static void print_total(FILE *out, int64_t total) {
    if (total < 0)
        fprintf(out, "more than 2^63");
    else
        fprintf(out, "%lld", (long long)total);
}

void graph_dump_opt(FILE *out, const Graph *g, int64_t batch) {
    int64_t syms[MAX_SYMS];
    for (int i = 0; i < MAX_SYMS; i++)
        syms[i] = batch;
    syms_derive(g->sym_def, g->nsyms, syms);
    int kernels = 0, ops = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = g->nodes[i];
        if (n->op == OP_INPUT || n->op == OP_PARAM)
            continue; /* values given to the kernels, not computed */
        ops++;
        kernels += !n->host && !n->tail_of && !value_is_view(n->op);
    }
    fprintf(out, "optimized graph %s: %d kernels for %d operators\n", g->name, kernels, ops);
    for (int i = 0; i < g->ninputs; i++)
        fprintf(out, "  input %s : %s\n", g->inputs[i]->name, node_shape_str(g, g->inputs[i]));
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = g->nodes[i];
        if (n->op != OP_INPUT && !n->host)
            print_kernel(out, g, n);
    }
    const Plan *p = &g->plan;
    int64_t total = 0;
    if (!p->done) {
        for (int i = 0; i < g->nnodes; i++) {
            const Node *n = g->nodes[i];
            if (!value_in_workspace(g, n))
                continue;
            Dim numel;
            shape_numel(&n->shape, &numel);
            int64_t elems = eval_or_zero(numel, syms);
            total = add_product(total, elems / 16 + (elems % 16 != 0), 64, 1); /* 64-byte lines */
        }
        fprintf(out, "workspace: not planned (one buffer per value): ");
        print_total(out, total);
        fprintf(out, " bytes at batch %lld\n", (long long)batch);
        return;
    }
    fprintf(out, "buffers:\n");
    for (int i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        const char *unit = dim_is(b->unit, 1) ? "" : dim_str(g->arena, b->unit, g->syms);
        fprintf(out, "  buf%-3d group %d  offset %lld%s%s  size %lld%s%s floats  (", i, b->group,
                (long long)b->offset, *unit ? "*" : "", unit, (long long)b->floats,
                *unit ? "*" : "", unit);
        int k = 0;
        for (int j = 0; j < g->nnodes; j++)
            if (g->nodes[j]->buf == i && (g->nodes[j]->host ? kernel_result(g->nodes[j]->host) ==
                                                                  g->nodes[j]
                                                            : true))
                fprintf(out, "%s%s", k++ ? ", " : "", g->nodes[j]->name);
        fprintf(out, ")\n");
    }
    fprintf(out, "workspace: ");
    for (int k = 0; k < p->ngroups; k++) {
        const char *unit = dim_is(p->group_unit[k], 1) ? "" : dim_str(g->arena, p->group_unit[k], g->syms);
        fprintf(out, "%s%lld%s%s", k ? " + " : "", (long long)p->group_floats[k] * 4,
                *unit ? "*" : "", unit);
        total = add_product(total, p->group_floats[k], 4, eval_or_zero(p->group_unit[k], syms));
    }
    fprintf(out, "%s bytes = ", p->ngroups ? "" : "0");
    print_total(out, total);
    fprintf(out, " bytes at batch %lld\n", (long long)batch);
}
