/* graph.c: building, querying and printing the graph IR; see graph.h. */
#include "graph.h"

#include <string.h>

Graph *graph_new(Arena *a, const char *name, const char *file) {
    Graph *g = arena_alloc(a, sizeof *g);
    g->arena = a;
    g->name = name ? arena_strdup(a, name) : "model";
    g->file = file ? arena_strdup(a, file) : "<string>";
    return g;
}

static void push(Arena *a, Node ***arr, int *n, Node *x) {
    /* Grows by doubling: the arena keeps old blocks, which is fine for graphs this size. */
    if ((*n & (*n - 1)) == 0) {
        size_t cap = *n ? (size_t)*n * 2 : 4;
        *arr = arena_grow(a, *arr, sizeof(Node *) * (size_t)*n, sizeof(Node *) * cap);
    }
    (*arr)[(*n)++] = x;
}

Node *graph_add_node(Graph *g, OpKind op, const char *name, SrcLoc loc, Node **in, int nin) {
    Node *n = arena_alloc(g->arena, sizeof *n);
    n->id = g->nnodes;
    n->op = op;
    n->name = name ? arena_strdup(g->arena, name) : arena_printf(g->arena, "%%%d", g->nnodes);
    n->prefix = n->name;
    n->loc = loc;
    n->nin = nin;
    n->in = arena_array(g->arena, (size_t)(nin ? nin : 1), sizeof(Node *));
    n->in_loc = arena_array(g->arena, (size_t)(nin ? nin : 1), sizeof(SrcLoc));
    for (int i = 0; i < nin; i++) {
        n->in[i] = in[i];
        n->in_loc[i] = loc;
        in[i]->nuses++;
    }
    push(g->arena, &g->nodes, &g->nnodes, n);
    if (op == OP_INPUT) {
        n->input_index = g->ninputs;
        push(g->arena, &g->inputs, &g->ninputs, n);
    }
    return n;
}

void graph_add_output(Graph *g, Node *n, const char *name) {
    n->nuses++;
    g->output_names = arena_grow(g->arena, g->output_names, sizeof(char *) * (size_t)g->noutputs,
                                 sizeof(char *) * ((size_t)g->noutputs + 1));
    g->output_names[g->noutputs] = arena_strdup(g->arena, name);
    push(g->arena, &g->outputs, &g->noutputs, n);
}

int graph_sym(Graph *g, const char *name) {
    for (int i = 0; i < g->nsyms; i++)
        if (strcmp(g->syms[i], name) == 0)
            return i;
    if (g->nsyms == MAX_SYMS)
        return -1;
    g->syms[g->nsyms] = arena_strdup(g->arena, name);
    return g->nsyms++;
}

bool graph_dim_add(Graph *g, Dim a, Dim b, Dim *out) {
    if (a.c == 0 || b.c == 0) {
        *out = a.c ? a : b;
        return true;
    }
    if (memcmp(a.e, b.e, sizeof a.e) == 0) {
        int64_t c;
        if (__builtin_add_overflow(a.c, b.c, &c) || c > DIM_MAX_ELEMENTS)
            return false;
        *out = a;
        out->c = c;
        return true;
    }
    for (int i = 0; i < g->nsyms; i++)
        if (g->sym_def[i].derived && dim_eq(g->sym_def[i].a, a) && dim_eq(g->sym_def[i].b, b)) {
            *out = dim_sym(i);
            return true;
        }
    if (g->nsyms == MAX_SYMS)
        return false;
    char *name = arena_printf(g->arena, "(%s+%s)", dim_str(g->arena, a, g->syms),
                              dim_str(g->arena, b, g->syms));
    g->syms[g->nsyms] = name;
    g->sym_def[g->nsyms] = (SymDef){true, a, b};
    *out = dim_sym(g->nsyms++);
    return true;
}

bool syms_derive(const SymDef *defs, int nsyms, int64_t *values) {
    for (int i = 0; i < nsyms; i++) {
        int64_t x, y;
        if (!defs[i].derived)
            continue;
        if (!dim_eval(defs[i].a, values, &x) || !dim_eval(defs[i].b, values, &y) ||
            __builtin_add_overflow(x, y, &values[i]))
            return false;
    }
    return true;
}

Attr *node_attr(const Node *n, const char *name) {
    for (int i = 0; i < n->nattrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

Attr *node_add_attr(Graph *g, Node *n, const char *name, AttrKind kind) {
    Attr *old = node_attr(n, name);
    if (old) {
        old->kind = kind;
        return old;
    }
    n->attrs = arena_grow(g->arena, n->attrs, sizeof(Attr) * (size_t)n->nattrs,
                          sizeof(Attr) * ((size_t)n->nattrs + 1));
    Attr *a = &n->attrs[n->nattrs++];
    a->name = arena_strdup(g->arena, name);
    a->kind = kind;
    a->loc = n->loc;
    return a;
}

int64_t attr_int(const Node *n, const char *name) {
    Attr *a = node_attr(n, name);
    return a && a->set ? a->i : 0;
}

double attr_float(const Node *n, const char *name) {
    Attr *a = node_attr(n, name);
    if (!a || !a->set)
        return 0;
    return a->kind == ATTR_FLOAT ? a->f : (double)a->i;
}

bool attr_bool(const Node *n, const char *name) { return attr_int(n, name) != 0; }

Param *node_add_param(Graph *g, Node *n, const char *suffix, Shape shape, ParamInit init,
                      int64_t fan_in) {
    n->params = arena_grow(g->arena, n->params, sizeof(Param) * (size_t)n->nparams,
                           sizeof(Param) * ((size_t)n->nparams + 1));
    Param *p = &n->params[n->nparams++];
    p->suffix = arena_strdup(g->arena, suffix);
    /* A param node's tensor is named by the layer alone (its suffix is empty). */
    p->name = *suffix ? arena_printf(g->arena, "%s.%s", n->prefix, suffix)
                      : arena_strdup(g->arena, n->prefix);
    p->shape = shape;
    p->init = init;
    p->fan_in = fan_in;
    return p;
}

Param *node_param(const Node *n, const char *suffix) {
    for (int i = 0; i < n->nparams; i++)
        if (strcmp(n->params[i].suffix, suffix) == 0)
            return &n->params[i];
    return NULL;
}

const char *graph_shape_str(const Graph *g, const Shape *s) {
    return shape_str(g->arena, s, g->syms);
}

const char *node_shape_str(const Graph *g, const Node *n) {
    return n->bad ? "[?]" : graph_shape_str(g, &n->shape);
}

static void dump_attr(FILE *out, const Attr *a) {
    fprintf(out, "%s=", a->name);
    switch (a->kind) {
    case ATTR_INT: fprintf(out, "%lld", (long long)a->i); break;
    case ATTR_FLOAT: fprintf(out, "%g", a->f); break;
    case ATTR_BOOL: fprintf(out, "%s", a->i ? "true" : "false"); break;
    case ATTR_STRING: fprintf(out, "\"%s\"", a->s); break;
    case ATTR_INTS:
        fputc('[', out);
        for (int i = 0; i < a->n; i++)
            fprintf(out, "%s%lld", i ? ", " : "", (long long)a->v[i]);
        fputc(']', out);
        break;
    }
}

void graph_dump(FILE *out, const Graph *g) {
    fprintf(out, "graph %s\n", g->name);
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = g->nodes[i];
        if (n->op == OP_INPUT) {
            fprintf(out, "  input %s : f32%s\n", n->name, node_shape_str(g, n));
            continue;
        }
        fprintf(out, "  %s = %s(", n->name, op_name(n->op));
        int k = 0;
        for (int j = 0; j < n->nin; j++)
            fprintf(out, "%s%s", k++ ? ", " : "", n->in[j]->name);
        for (int j = 0; j < n->nattrs; j++) {
            if (!n->attrs[j].set)
                continue;
            fprintf(out, "%s", k++ ? ", " : "");
            dump_attr(out, &n->attrs[j]);
        }
        fprintf(out, ") : %s", node_shape_str(g, n));
        for (int j = 0; j < n->nparams; j++)
            fprintf(out, "%s%s %s", j ? ", " : "  {", n->params[j].name,
                    graph_shape_str(g, &n->params[j].shape));
        fprintf(out, "%s\n", n->nparams ? "}" : "");
    }
    for (int i = 0; i < g->noutputs; i++)
        fprintf(out, "  output %s = %s : %s\n", g->output_names[i], g->outputs[i]->name,
                node_shape_str(g, g->outputs[i]));
}

/* Graphviz identifiers are quoted; names are identifiers or dotted, so escaping '"' and
 * '\\' is enough. */
static void dot_str(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void graph_dump_dot(FILE *out, const Graph *g) {
    fprintf(out, "digraph ");
    dot_str(out, g->name);
    fprintf(out, " {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = g->nodes[i];
        fprintf(out, "  n%d [label=", n->id);
        char label[512];
        snprintf(label, sizeof label, "%s\\n%s %s", n->name, op_name(n->op), node_shape_str(g, n));
        fprintf(out, "\"%s\"", label);
        if (n->op == OP_INPUT)
            fprintf(out, ", shape=ellipse");
        fprintf(out, "];\n");
        for (int j = 0; j < n->nin; j++)
            fprintf(out, "  n%d -> n%d;\n", n->in[j]->id, n->id);
    }
    for (int i = 0; i < g->noutputs; i++) {
        fprintf(out, "  out%d [label=", i);
        dot_str(out, g->output_names[i]);
        fprintf(out, ", shape=ellipse, style=bold];\n  n%d -> out%d;\n", g->outputs[i]->id, i);
    }
    fprintf(out, "}\n");
}
