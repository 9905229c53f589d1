/* check.c: `nndc check MODEL`: parse, shape-check and (when the model names a weights file)
 * load and check the weights; print one row per node: name, op, output shape, parameters. */
#include <string.h>

#include "nndc.h"

static void print_count(FILE *out, int64_t n) {
    /* 1234567 -> 1,234,567 */
    char digits[32], buf[48];
    int len = snprintf(digits, sizeof digits, "%lld", (long long)n), k = 0;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = 0;
    fputs(buf, out);
}

static int64_t param_count(const Node *n) {
    int64_t total = 0;
    for (int i = 0; i < n->nparams; i++) {
        Dim d;
        shape_numel(&n->params[i].shape, &d);
        total += d.c;
    }
    return total;
}

int cmd_check(const Options *o) {
    CompileOptions co;
    options_to_compile(o, &co);
    int status;
    Compilation *c = compile_model(o, &co, STAGE_GRAPH, &status);
    if (!c)
        return status;
    if ((c->graph->weights_path || co.init_random) && !compile_to(c, STAGE_WEIGHTS, &co)) {
        status = report_failure(c);
        compilation_free(c);
        return status;
    }
    Graph *g = c->graph;
    int wname = 4, wop = 2, wshape = 12;
    for (int i = 0; i < g->nnodes; i++) {
        int n = (int)strlen(g->nodes[i]->name), s = (int)strlen(node_shape_str(g, g->nodes[i]));
        wname = n > wname ? n : wname;
        wop = (int)strlen(op_name(g->nodes[i]->op)) > wop ? (int)strlen(op_name(g->nodes[i]->op)) : wop;
        wshape = s > wshape ? s : wshape;
    }
    printf("model %s (%s)\n\n", g->name, g->file);
    printf("%-*s  %-*s  %-*s  %s\n", wname, "node", wop, "op", wshape, "output shape", "parameters");
    int64_t total = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = g->nodes[i];
        printf("%-*s  %-*s  %-*s  ", wname, n->name, wop, op_name(n->op), wshape,
               node_shape_str(g, n));
        if (n->nparams) {
            int64_t k = param_count(n);
            total += k;
            print_count(stdout, k);
            for (int j = 0; j < n->nparams; j++)
                printf("%s%s %s", j ? ", " : " (", n->params[j].name,
                       graph_shape_str(g, &n->params[j].shape));
            printf(")");
        }
        printf("\n");
    }
    printf("\ninputs: ");
    for (int i = 0; i < g->ninputs; i++)
        printf("%s%s %s", i ? ", " : "", g->inputs[i]->name, node_shape_str(g, g->inputs[i]));
    printf("\noutputs: ");
    for (int i = 0; i < g->noutputs; i++)
        printf("%s%s %s", i ? ", " : "", g->output_names[i], node_shape_str(g, g->outputs[i]));
    printf("\nparameters: ");
    print_count(stdout, total);
    printf(" (%.1f KiB as f32)%s\n", (double)total * 4 / 1024,
           g->weights_path ? "" : co.init_random ? ", filled from --init" : ", no weights file checked");
    compilation_free(c);
    return status;
}
