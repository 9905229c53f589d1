/* build_graph.c: binds a parsed model into the graph IR; see build_graph.h. */
#include "build_graph.h"

#include <string.h>

#include "attrs.h"
#include "ops.h"

/* Names in scope: an open-addressing table, so huge models stay linear. */
typedef struct Binding {
    const char *name;
    Node *node;     /* the node, or the builder's `bad` node after an error */
    SrcLoc where;   /* where it was defined, for "redefinition" notes */
} Binding;

typedef struct Builder {
    Graph *g;
    Diag *d;
    Binding *table;
    size_t cap, count;
    Node *bad;         /* stands for any value whose definition failed */
    /* The statement being built: its calls, so they can be named once it is complete. */
    Node **calls;
    int ncalls, calls_cap;
} Builder;

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static Binding *slot(Builder *b, const char *name) {
    size_t i = hash(name) & (b->cap - 1);
    while (b->table[i].name && strcmp(b->table[i].name, name) != 0)
        i = (i + 1) & (b->cap - 1);
    return &b->table[i];
}

static Binding *lookup(Builder *b, const char *name) {
    Binding *s = slot(b, name);
    return s->name ? s : NULL;
}

static void bind(Builder *b, const char *name, Node *n, SrcLoc where) {
    if (2 * (b->count + 1) > b->cap) {
        Binding *old = b->table;
        size_t old_cap = b->cap;
        b->cap = old_cap ? old_cap * 2 : 64;
        b->table = arena_array(b->g->arena, b->cap, sizeof(Binding));
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].name)
                *slot(b, old[i].name) = old[i];
    }
    Binding *s = slot(b, name);
    if (!s->name)
        b->count++;
    *s = (Binding){name, n, where};
}

/* The name in scope nearest to `name`, for "did you mean". Once errors are no longer shown
 * nothing is searched: a model with many unknown names stays linear in time and memory. */
static const char *suggest_name(Builder *b, const char *name) {
    if (diag_count(b->d) >= DIAG_MAX_ERRORS)
        return NULL;
    DiagNearest near;
    diag_nearest_begin(&near, name);
    for (size_t i = 0; i < b->cap; i++)
        if (b->table[i].name)
            diag_nearest_offer(&near, b->table[i].name);
    return near.best;
}

/* Reports `name` as already defined unless it is new. */
static bool check_new_name(Builder *b, const char *name, SrcLoc at) {
    Binding *old = lookup(b, name);
    if (!old)
        return true;
    diag_error(b->d, at, "redefinition of '%s'", name);
    if (old->where.line)
        diag_note(b->d, old->where, "'%s' was defined here", name);
    return false;
}

static const char *kind_name(AstKind k) {
    switch (k) {
    case AST_NAME: return "a name";
    case AST_INT: return "an integer";
    case AST_FLOAT: return "a number";
    case AST_STRING: return "a string";
    case AST_BOOL: return "a boolean";
    case AST_LIST: return "a list";
    case AST_CALL: return "a call";
    }
    return "a value";
}

static bool is_tensor_expr(const AstExpr *e) { return e->kind == AST_NAME || e->kind == AST_CALL; }

static bool is_identifier(const char *s) {
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.'))
            return false;
    return true;
}

static Literal to_literal(const AstExpr *e) {
    Literal l;
    memset(&l, 0, sizeof l);
    switch (e->kind) {
    case AST_INT: l.kind = LIT_INT; l.i = e->u.i; break;
    case AST_FLOAT: l.kind = LIT_FLOAT; l.f = e->u.f; break;
    case AST_BOOL: l.kind = LIT_BOOL; l.b = e->u.b; break;
    case AST_STRING: l.kind = LIT_STRING; l.s = e->u.s; break;
    case AST_LIST:
        l.kind = LIT_LIST;
        l.n = e->u.list.n;
        l.list_ok = l.n <= MAX_RANK;
        for (int i = 0; i < l.n && l.list_ok; i++) {
            if (e->u.list.items[i]->kind != AST_INT)
                l.list_ok = false;
            else
                l.v[i] = e->u.list.items[i]->u.i;
        }
        break;
    default: l.kind = LIT_STRING; l.s = NULL; break; /* never accepted: reported by the caller */
    }
    return l;
}

static Node *build_expr(Builder *b, const AstExpr *e);

/* The arguments of one call, matched to its schema. */
typedef struct Bound {
    const AstArg *arg[MAX_ARGS]; /* per schema entry; for t* the first of a run */
    const AstExpr *tensors[256]; /* the t* run */
    int ntensors;
    const AstArg *name_arg;
} Bound;

/* Matches positional and keyword arguments to the schema. False after reporting. */
static bool match_args(Builder *b, const AstExpr *call, const ArgSpec *spec, int ns, Bound *out) {
    const char *op = call->u.call.op;
    bool ok = true;
    int next = 0; /* the next schema entry a positional argument fills */
    memset(out, 0, sizeof *out);
    for (int i = 0; i < call->u.call.nargs; i++) {
        const AstArg *a = &call->u.call.args[i];
        if (!a->key) {
            if (next < ns && spec[next].type == ARG_TENSORS) {
                /* Variadic: every positional argument from here on; a leading list is the
                 * whole set, as in concat([a, b], axis=1). */
                const AstExpr *v = a->value;
                if (v->kind == AST_LIST && out->ntensors == 0) {
                    for (int k = 0; k < v->u.list.n && out->ntensors < 256; k++)
                        out->tensors[out->ntensors++] = v->u.list.items[k];
                    next++;
                } else if (out->ntensors < 256) {
                    out->tensors[out->ntensors++] = v;
                } else {
                    diag_error(b->d, v->loc, "%s takes at most 256 tensors", op);
                    ok = false;
                }
                out->arg[next < ns ? next : ns - 1] = a;
                continue;
            }
            if (next >= ns) {
                diag_error(b->d, a->value->loc, "%s takes at most %d argument%s, got more", op,
                           ns, ns == 1 ? "" : "s");
                ok = false;
                continue;
            }
            out->arg[next++] = a;
            continue;
        }
        if (strcmp(a->key, "name") == 0) {
            if (out->name_arg) {
                diag_error(b->d, a->key_loc, "argument 'name' given twice");
                ok = false;
            }
            out->name_arg = a;
            continue;
        }
        int k = 0;
        while (k < ns && strcmp(spec[k].name, a->key) != 0)
            k++;
        if (k == ns) {
            const char *names[MAX_ARGS + 1];
            for (int j = 0; j < ns; j++)
                names[j] = spec[j].name;
            names[ns] = "name";
            const char *near = diag_nearest(a->key, names, ns + 1);
            if (near)
                diag_error(b->d, a->key_loc, "%s has no argument '%s'; did you mean '%s'?", op,
                           a->key, near);
            else
                diag_error(b->d, a->key_loc, "%s has no argument '%s'", op, a->key);
            ok = false;
            continue;
        }
        if (out->arg[k] || (spec[k].type == ARG_TENSORS && out->ntensors)) {
            diag_error(b->d, a->key_loc, "argument '%s' of %s given twice", a->key, op);
            ok = false;
            continue;
        }
        if (spec[k].type == ARG_TENSORS) {
            const AstExpr *v = a->value;
            if (v->kind == AST_LIST)
                for (int j = 0; j < v->u.list.n && out->ntensors < 256; j++)
                    out->tensors[out->ntensors++] = v->u.list.items[j];
            else
                out->tensors[out->ntensors++] = v;
        }
        out->arg[k] = a;
    }
    for (int k = 0; k < ns; k++)
        if (spec[k].required && !out->arg[k]) {
            diag_error(b->d, call->loc, "%s is missing its argument '%s'", op, spec[k].name);
            ok = false;
        }
    return ok;
}

/* Builds a tensor-valued argument; reports non-tensors. */
static Node *tensor_arg(Builder *b, const char *op, const char *arg, const AstExpr *v) {
    if (!is_tensor_expr(v)) {
        diag_error(b->d, v->loc, "argument '%s' of %s expects a tensor, got %s", arg, op,
                   kind_name(v->kind));
        return b->bad;
    }
    return build_expr(b, v);
}

static void remember_call(Builder *b, Node *n) {
    if (b->ncalls == b->calls_cap) {
        int cap = b->calls_cap ? b->calls_cap * 2 : 8;
        b->calls = arena_grow(b->g->arena, b->calls, sizeof(Node *) * (size_t)b->calls_cap,
                              sizeof(Node *) * (size_t)cap);
        b->calls_cap = cap;
    }
    b->calls[b->ncalls++] = n;
}

static Node *build_call(Builder *b, const AstExpr *e) {
    const char *opname = e->u.call.op;
    OpKind op;
    if (!ops_lookup(opname, &op)) {
        const char *near = ops_suggest(opname);
        if (near)
            diag_error(b->d, e->u.call.op_loc, "unknown operator '%s'; did you mean '%s'?", opname,
                       near);
        else
            diag_error(b->d, e->u.call.op_loc, "unknown operator '%s'", opname);
        /* Still look inside, so mistakes in the arguments are reported too. */
        for (int i = 0; i < e->u.call.nargs; i++)
            if (is_tensor_expr(e->u.call.args[i].value))
                build_expr(b, e->u.call.args[i].value);
        return b->bad;
    }
    ArgSpec spec[MAX_ARGS];
    int ns = ops_schema(op, spec);
    Bound m;
    bool ok = match_args(b, e, spec, ns, &m);

    Node *in[256];
    SrcLoc in_loc[256];
    int nin = 0;
    bool bad_input = false;
    for (int k = 0; k < ns; k++) {
        const AstArg *a = m.arg[k];
        if (spec[k].type == ARG_TENSORS) {
            for (int j = 0; j < m.ntensors; j++) {
                in_loc[nin] = m.tensors[j]->loc;
                in[nin++] = tensor_arg(b, opname, spec[k].name, m.tensors[j]);
            }
        } else if (spec[k].type == ARG_TENSOR ||
                   (spec[k].type == ARG_TENSOR_OR_NUM && a && is_tensor_expr(a->value))) {
            if (!a)
                continue;
            in_loc[nin] = a->value->loc;
            in[nin++] = tensor_arg(b, opname, spec[k].name, a->value);
        }
    }
    for (int i = 0; i < nin; i++)
        bad_input |= in[i] == b->bad;
    if (bad_input)
        ok = false;
    /* The literal arguments are checked on a scratch node that joins the graph only when
     * the whole call is valid. */
    Node scratch = {.op = op, .loc = e->loc, .name = "%", .prefix = "%"};
    Node *n = &scratch;
    ops_apply_defaults(b->g, n);
    for (int k = 0; k < ns; k++) {
        const AstArg *a = m.arg[k];
        if (!a || spec[k].type == ARG_TENSOR || spec[k].type == ARG_TENSORS)
            continue;
        if (spec[k].type == ARG_TENSOR_OR_NUM && is_tensor_expr(a->value))
            continue;
        const AstExpr *v = a->value;
        Attr *at = node_add_attr(b->g, n, spec[k].name, ATTR_FLOAT);
        at->loc = v->loc;
        Literal lit = to_literal(v);
        if (is_tensor_expr(v))
            lit = (Literal){.kind = LIT_LIST, .list_ok = false}; /* matches no value type */
        const char *want = attr_set(at, spec[k].type, &lit);
        if (want) {
            diag_error(b->d, v->loc, "argument '%s' of %s expects %s, got %s", spec[k].name,
                       opname, want, kind_name(v->kind));
            ok = false;
        }
    }
    const char *layer_name = NULL;
    if (m.name_arg) {
        const AstExpr *v = m.name_arg->value;
        if (v->kind != AST_STRING || !is_identifier(v->u.s)) {
            diag_error(b->d, v->loc, "name= expects a string naming the layer (letters, digits, "
                       "'_' and '.')");
            ok = false;
        } else if (check_new_name(b, v->u.s, v->loc)) {
            layer_name = v->u.s;
        } else {
            ok = false;
        }
    }
    if (!ok) {
        if (layer_name)
            bind(b, layer_name, b->bad, m.name_arg->value->loc);
        return b->bad;
    }
    Node *node = graph_add_node(b->g, op, layer_name, e->loc, in, nin);
    for (int i = 0; i < nin; i++)
        node->in_loc[i] = in_loc[i];
    node->attrs = n->attrs;
    node->nattrs = n->nattrs;
    if (layer_name)
        bind(b, layer_name, node, m.name_arg->value->loc);
    else
        node->name = node->prefix = "%";
    remember_call(b, node);
    return node;
}

static Node *build_expr(Builder *b, const AstExpr *e) {
    switch (e->kind) {
    case AST_NAME: {
        Binding *bd = lookup(b, e->u.name);
        if (bd)
            return bd->node;
        const char *near = suggest_name(b, e->u.name);
        if (near)
            diag_error(b->d, e->loc, "unknown name '%s'; did you mean '%s'?", e->u.name, near);
        else
            diag_error(b->d, e->loc, "unknown name '%s'", e->u.name);
        bind(b, e->u.name, b->bad, (SrcLoc){0}); /* report each unknown name once */
        return b->bad;
    }
    case AST_CALL:
        return build_call(b, e);
    default:
        diag_error(b->d, e->loc, "expected a tensor expression, got %s", kind_name(e->kind));
        return b->bad;
    }
}

/* Names the calls a statement made: the outermost takes the target's name, the others
 * target.op (unless named with name=); parameters of an unnamed layer take the target as
 * prefix, which only one layer per statement may do (SPEC 1.3). */
static void name_calls(Builder *b, Node *result, const char *target, SrcLoc target_loc) {
    Node *prefixed = NULL;
    for (int i = 0; i < b->ncalls; i++) {
        Node *n = b->calls[i];
        bool named = n->name[0] != '%';
        if (!named) {
            if (n == result) {
                n->name = target;
            } else {
                const char *base = arena_printf(b->g->arena, "%s.%s", target, op_name(n->op));
                const char *name = base;
                for (int k = 2; lookup(b, name); k++)
                    name = arena_printf(b->g->arena, "%s_%d", base, k);
                n->name = name;
                bind(b, name, n, n->loc);
            }
            n->prefix = target;
        }
        if (!named && ops_is_parametric(n->op)) {
            if (prefixed) {
                diag_error(b->d, n->loc,
                           "statement '%s' has more than one unnamed layer with parameters (%s "
                           "and %s); give all but one of them a name=\"...\"",
                           target, op_name(prefixed->op), op_name(n->op));
                n->bad = true;
            }
            prefixed = n;
        }
    }
    (void)target_loc;
}

/* NAME = EXPR (also output NAME = EXPR): the node the name stands for. */
static Node *build_assign(Builder *b, const AstStmt *s) {
    bool fresh = check_new_name(b, s->name, s->name_loc);
    b->ncalls = 0;
    Node *n = build_expr(b, s->expr);
    if (n != b->bad && (b->ncalls == 0 || b->calls[b->ncalls - 1] != n)) {
        /* `y = x`: an alias gets its own node so that y is a distinct value and output. */
        Node *in[1] = {n};
        n = graph_add_node(b->g, OP_IDENTITY, NULL, s->expr->loc, in, 1);
        n->in_loc[0] = s->expr->loc;
        ops_apply_defaults(b->g, n);
        remember_call(b, n);
    }
    if (n != b->bad)
        name_calls(b, n, s->name, s->name_loc);
    if (fresh)
        bind(b, s->name, n, s->name_loc);
    return n;
}

static void build_input(Builder *b, const AstStmt *s) {
    bool ok = check_new_name(b, s->name, s->name_loc);
    if (strcmp(s->dtype, "f32") != 0) {
        diag_error(b->d, s->dtype_loc, "input '%s' has type '%s'; nnd inputs are f32", s->name,
                   s->dtype);
        ok = false;
    }
    Shape sh = {0};
    if (s->ndims > MAX_RANK) {
        diag_error(b->d, s->loc, "input '%s' has %d dimensions; at most %d are supported",
                   s->name, s->ndims, MAX_RANK);
        ok = false;
    }
    for (int i = 0; i < s->ndims && i < MAX_RANK; i++) {
        const AstDim *d = &s->dims[i];
        if (d->sym) {
            int k = graph_sym(b->g, d->sym);
            if (k < 0) {
                diag_error(b->d, d->loc, "too many symbolic dimensions (at most %d)", MAX_SYMS);
                ok = false;
                continue;
            }
            sh.d[i] = dim_sym(k);
        } else if (d->value < 1 || d->value > DIM_MAX_ELEMENTS) {
            diag_error(b->d, d->loc, "dimension %d of input '%s' is %lld; it must be between 1 "
                       "and %lld", i, s->name, (long long)d->value, (long long)DIM_MAX_ELEMENTS);
            ok = false;
        } else {
            sh.d[i] = dim_const(d->value);
        }
    }
    sh.rank = s->ndims <= MAX_RANK ? s->ndims : MAX_RANK;
    Dim total;
    if (ok && !shape_numel(&sh, &total)) {
        diag_error(b->d, s->loc, "input '%s' is too large (more than %lld elements)", s->name,
                   (long long)DIM_MAX_ELEMENTS);
        ok = false;
    }
    if (!ok) {
        if (!lookup(b, s->name))
            bind(b, s->name, b->bad, s->name_loc);
        return;
    }
    Node *n = graph_add_node(b->g, OP_INPUT, s->name, s->loc, NULL, 0);
    n->shape = sh;
    bind(b, s->name, n, s->name_loc);
}

static void build_output(Builder *b, const AstStmt *s) {
    Node *n;
    if (s->expr) {
        n = build_assign(b, s);
    } else {
        Binding *bd = lookup(b, s->name);
        if (!bd) {
            const char *near = suggest_name(b, s->name);
            if (near)
                diag_error(b->d, s->name_loc, "unknown name '%s'; did you mean '%s'?", s->name,
                           near);
            else
                diag_error(b->d, s->name_loc, "unknown name '%s'", s->name);
            return;
        }
        n = bd->node;
    }
    if (n == b->bad)
        return;
    for (int i = 0; i < b->g->noutputs; i++)
        if (b->g->outputs[i] == n) {
            diag_error(b->d, s->name_loc, "'%s' is already an output", s->name);
            return;
        }
    graph_add_output(b->g, n, s->name);
}

Graph *build_graph(Arena *a, Diag *d, const AstModel *m, const char *file) {
    Builder b = {0};
    b.g = graph_new(a, m->name, file);
    b.d = d;
    b.cap = 64;
    b.table = arena_array(a, b.cap, sizeof(Binding));
    b.bad = arena_alloc(a, sizeof(Node));
    b.bad->bad = true;
    b.bad->name = "<error>";
    b.bad->prefix = b.bad->name;
    for (int i = 0; i < m->nstmts; i++) {
        const AstStmt *s = &m->stmts[i];
        switch (s->kind) {
        case STMT_INPUT: build_input(&b, s); break;
        case STMT_WEIGHTS:
            if (b.g->weights_path) {
                diag_error(d, s->loc, "a second weights statement (one weights file per model)");
                diag_note(d, b.g->weights_loc, "the first is here");
            } else {
                b.g->weights_path = s->path;
                b.g->weights_loc = s->path_loc;
            }
            break;
        case STMT_ASSIGN: build_assign(&b, s); break;
        case STMT_OUTPUT: build_output(&b, s); break;
        case STMT_ERROR:
            /* Already reported by the parser; its target exists, so uses of it stay quiet. */
            if (s->name && !lookup(&b, s->name))
                bind(&b, s->name, b.bad, s->name_loc);
            break;
        }
    }
    if (b.g->noutputs == 0 && diag_count(d) == 0)
        diag_error(d, m->loc, "model '%s' declares no output (add `output NAME`)",
                   m->name ? m->name : "?");
    return b.g;
}
