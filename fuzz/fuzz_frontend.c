/* fuzz_frontend.c: the front end on arbitrary source text.
 *
 * In: bytes taken as a .nnd file. Out: nothing; the run fails only on a crash, a sanitizer
 * report, a leak or a hang. The text goes through the scanner, the parser, graph building
 * and shape inference (compile_to STAGE_GRAPH), and the diagnostics are rendered with their
 * quoted lines and carets. What nndc would print is printed (to /dev/null): the AST of a
 * text that parsed, the graph (text and dot) of a model that checks. When such a model's
 * parameters are small, it is also given seeded weights (a weights statement is ignored),
 * optimized (fold, fuse, plan memory) and dumped again. No code generation: too slow here. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "passes.h"

/* Larger inputs only make each run slower; the parser's limits do not depend on size. */
enum { MAX_INPUT = 1 << 16, MAX_PARAM_FLOATS = 1 << 20 };

static FILE *sink(void) {
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    return f;
}

/* Total parameter elements, to keep the fill and the passes fast. */
static int64_t param_floats(const Graph *g) {
    int64_t total = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int k = 0; k < g->nodes[i]->nparams; k++) {
            Dim n;
            if (!shape_numel(&g->nodes[i]->params[k].shape, &n))
                return INT64_MAX;
            total += n.c;
            if (total > MAX_PARAM_FLOATS)
                return total;
        }
    return total;
}

static void optimize(Compilation *c, FILE *out) {
    CompileOptions o;
    compile_options_init(&o);
    o.init_random = true;
    o.seed = 1;
    if (param_floats(c->graph) > MAX_PARAM_FLOATS)
        return;
    c->graph->weights_path = NULL; /* no file access: parameters are always seeded */
    if (compile_to(c, STAGE_OPT, &o))
        graph_dump_opt(out, c->graph, 3);
    else
        fputs(diag_text(c->diag), out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_INPUT)
        return 0;
    FILE *out = sink();
    Compilation *c = compilation_new();
    char *text = malloc(size + 1);
    if (!c || !text || !out) {
        compilation_free(c);
        free(text);
        return 0;
    }
    memcpy(text, data, size);
    text[size] = 0;
    compile_set_source(c, "fuzz.nnd", text, size);
    CompileOptions o;
    compile_options_init(&o);
    /* As nndc does: the AST is dumped only when it parsed without errors. */
    if (compile_to(c, STAGE_PARSE, &o))
        ast_dump(out, c->ast);
    bool ok = compile_to(c, STAGE_GRAPH, &o);
    fputs(diag_text(c->diag), out);
    if (ok) {
        graph_dump(out, c->graph);
        graph_dump_dot(out, c->graph);
        optimize(c, out);
    }
    compilation_free(c);
    free(text);
    return 0;
}
