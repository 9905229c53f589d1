/* test_parser.c: the front end (grammar/): source text in, AST and diagnostics out.
 *
 * Each test parses a small .nnd text and checks the statements, arguments and locations it
 * produced, or the exact errors it reported. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "unit_harness.h"

typedef struct Parsed {
    Arena *arena;
    Diag *diag;
    AstModel *m;
} Parsed;

static Parsed parse_len(const char *src, size_t len) {
    Parsed r = {arena_new(), NULL, NULL};
    CU_ASSERT_FATAL(r.arena != NULL);
    jmp_buf oom;
    arena_on_oom(r.arena, &oom);
    if (setjmp(oom)) {
        CU_FAIL_FATAL("out of memory");
    }
    r.diag = diag_new(r.arena);
    diag_add_source(r.diag, "t.nnd", src, len);
    r.m = parse_model(r.arena, r.diag, "t.nnd", src, len);
    CU_ASSERT_FATAL(r.m != NULL);
    arena_on_oom(r.arena, NULL);
    return r;
}

static Parsed parse(const char *src) { return parse_len(src, strlen(src)); }

static void done(Parsed *p) { arena_free(p->arena); }

/* The ast_dump of src, malloc'ed. */
static char *dump(const AstModel *m) {
    /* A temporary file rather than open_memstream: GCC's -O3 dangling-pointer analysis
     * misreads the stream's hold on a local buffer pointer. */
    FILE *f = tmpfile();
    CU_ASSERT_FATAL(f != NULL);
    ast_dump(f, m);
    long len = ftell(f);
    CU_ASSERT_FATAL(len >= 0);
    char *buf = malloc((size_t)len + 1);
    CU_ASSERT_FATAL(buf != NULL);
    rewind(f);
    CU_ASSERT_FATAL(fread(buf, 1, (size_t)len, f) == (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

static const AstExpr *arg(const AstExpr *call, int i) {
    CU_ASSERT_FATAL(call->kind == AST_CALL && i < call->u.call.nargs);
    return call->u.call.args[i].value;
}

static bool loc_is(SrcLoc l, int line, int col, int end_col) {
    return l.line == line && l.col == col && l.end_col == end_col && l.file &&
           strcmp(l.file, "t.nnd") == 0;
}

static bool is_name(const AstExpr *e, const char *name) {
    return e && e->kind == AST_NAME && strcmp(e->u.name, name) == 0;
}

static bool is_int(const AstExpr *e, int64_t v) { return e && e->kind == AST_INT && e->u.i == v; }

static bool is_call(const AstExpr *e, const char *op, int nargs, bool piped) {
    return e && e->kind == AST_CALL && strcmp(e->u.call.op, op) == 0 &&
           e->u.call.nargs == nargs && e->u.call.piped == piped;
}

static bool msg_is(const Parsed *p, int i, const char *msg) {
    const char *m = diag_message(p->diag, i);
    if (!m || strcmp(m, msg) != 0) {
        fprintf(stderr, "\n  diagnostic %d: got \"%s\", want \"%s\"\n", i, m ? m : "(none)", msg);
        return false;
    }
    return true;
}

/* The line number of the i-th error, read back from the rendered text. */
static int error_line(const Parsed *p, int i) {
    const char *t = diag_text(p->diag);
    for (int k = 0; t; k++) {
        const char *e = strstr(t, "t.nnd:");
        if (!e)
            return -1;
        int line = 0, col = 0;
        char kind[8] = "";
        if (sscanf(e, "t.nnd:%d:%d: %7[a-z]", &line, &col, kind) == 3 &&
            strcmp(kind, "error") == 0 && k == i)
            return line;
        if (strcmp(kind, "error") != 0)
            k--;
        t = e + 1;
    }
    return -1;
}

static const char digits_src[] =
    "# digits.nnd: the seed's picture, input layer -> hidden layers -> output layer\n"
    "model digits {\n"
    "  input  pixels : f32[N, 64]          # N is a symbolic dimension, bound at run time\n"
    "  weights \"digits.safetensors\"        # path relative to this file\n"
    "\n"
    "  hidden1 = dense(pixels, 32) -> relu  # a = g(W\xc2\xb7" "a_prev + b)\n"
    "  hidden2 = dense(hidden1, 16) -> sigmoid\n"
    "  output probs = dense(hidden2, 10) -> softmax\n"
    "}\n";

static const char lenet_src[] =
    "model lenet5 {\n"
    "  input x : f32[N, 1, 28, 28]\n"
    "  c1 = conv2d(x, 6, kernel=5, padding=2) -> relu -> maxpool2d(2)\n"
    "  c2 = conv2d(c1, 16, kernel=5) -> relu -> maxpool2d(2)\n"
    "  f3 = flatten(c2) -> dense(120) -> relu      # parameters f3.weight [120, 400]\n"
    "  f4 = dense(f3, 84) -> relu\n"
    "  output logits = dense(f4, 10)\n"
    "}\n";

static void test_parser_digits_example(void) {
    Parsed p = parse(digits_src);
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    const AstModel *m = p.m;
    CU_ASSERT_STRING_EQUAL(m->name, "digits");
    CU_ASSERT_TRUE(loc_is(m->loc, 2, 7, 13));
    CU_ASSERT_EQUAL_FATAL(m->nstmts, 5);

    const AstStmt *in = &m->stmts[0];
    CU_ASSERT_EQUAL(in->kind, STMT_INPUT);
    CU_ASSERT_TRUE(loc_is(in->loc, 3, 3, 8));
    CU_ASSERT_STRING_EQUAL(in->name, "pixels");
    CU_ASSERT_TRUE(loc_is(in->name_loc, 3, 10, 16));
    CU_ASSERT_STRING_EQUAL(in->dtype, "f32");
    CU_ASSERT_TRUE(loc_is(in->dtype_loc, 3, 19, 22));
    CU_ASSERT_EQUAL_FATAL(in->ndims, 2);
    CU_ASSERT_STRING_EQUAL(in->dims[0].sym, "N");
    CU_ASSERT_TRUE(loc_is(in->dims[0].loc, 3, 23, 24));
    CU_ASSERT_PTR_NULL(in->dims[1].sym);
    CU_ASSERT_EQUAL(in->dims[1].value, 64);
    CU_ASSERT_TRUE(loc_is(in->dims[1].loc, 3, 26, 28));

    const AstStmt *w = &m->stmts[1];
    CU_ASSERT_EQUAL(w->kind, STMT_WEIGHTS);
    CU_ASSERT_STRING_EQUAL(w->path, "digits.safetensors");
    CU_ASSERT_TRUE(loc_is(w->loc, 4, 3, 10));
    CU_ASSERT_TRUE(loc_is(w->path_loc, 4, 11, 31));

    const AstStmt *h1 = &m->stmts[2];
    CU_ASSERT_EQUAL(h1->kind, STMT_ASSIGN);
    CU_ASSERT_STRING_EQUAL(h1->name, "hidden1");
    CU_ASSERT_TRUE(loc_is(h1->loc, 6, 3, 10));
    CU_ASSERT_TRUE(loc_is(h1->name_loc, 6, 3, 10));
    const AstExpr *relu = h1->expr;
    CU_ASSERT_FATAL(is_call(relu, "relu", 1, true));
    CU_ASSERT_TRUE(loc_is(relu->loc, 6, 34, 38));
    CU_ASSERT_TRUE(loc_is(relu->u.call.op_loc, 6, 34, 38));
    const AstExpr *dense = arg(relu, 0);
    CU_ASSERT_FATAL(is_call(dense, "dense", 2, false));
    CU_ASSERT_PTR_NULL(relu->u.call.args[0].key);
    CU_ASSERT_TRUE(loc_is(dense->loc, 6, 13, 30));
    CU_ASSERT_TRUE(loc_is(dense->u.call.op_loc, 6, 13, 18));
    CU_ASSERT_TRUE(is_name(arg(dense, 0), "pixels"));
    CU_ASSERT_TRUE(loc_is(arg(dense, 0)->loc, 6, 19, 25));
    CU_ASSERT_TRUE(is_int(arg(dense, 1), 32));
    CU_ASSERT_TRUE(loc_is(arg(dense, 1)->loc, 6, 27, 29));

    CU_ASSERT_TRUE(is_call(m->stmts[3].expr, "sigmoid", 1, true));
    const AstStmt *out = &m->stmts[4];
    CU_ASSERT_EQUAL(out->kind, STMT_OUTPUT);
    CU_ASSERT_STRING_EQUAL(out->name, "probs");
    CU_ASSERT_TRUE(loc_is(out->loc, 8, 3, 9));
    CU_ASSERT_TRUE(loc_is(out->name_loc, 8, 10, 15));
    CU_ASSERT_TRUE(is_call(out->expr, "softmax", 1, true));
    CU_ASSERT_TRUE(is_call(arg(out->expr, 0), "dense", 2, false));
    done(&p);
}

static void test_parser_lenet5_example(void) {
    Parsed p = parse(lenet_src);
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_STRING_EQUAL(p.m->name, "lenet5");
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 6);
    const AstStmt *in = &p.m->stmts[0];
    CU_ASSERT_EQUAL_FATAL(in->ndims, 4);
    CU_ASSERT_STRING_EQUAL(in->dims[0].sym, "N");
    CU_ASSERT_EQUAL(in->dims[1].value, 1);
    CU_ASSERT_EQUAL(in->dims[3].value, 28);

    /* c1 = conv2d(x, 6, kernel=5, padding=2) -> relu -> maxpool2d(2) */
    const AstExpr *pool = p.m->stmts[1].expr;
    CU_ASSERT_FATAL(is_call(pool, "maxpool2d", 2, true));
    CU_ASSERT_TRUE(is_int(arg(pool, 1), 2));
    CU_ASSERT_TRUE(loc_is(pool->loc, 3, 53, 65));
    const AstExpr *relu = arg(pool, 0);
    CU_ASSERT_FATAL(is_call(relu, "relu", 1, true));
    const AstExpr *conv = arg(relu, 0);
    CU_ASSERT_FATAL(is_call(conv, "conv2d", 4, false));
    CU_ASSERT_TRUE(is_name(arg(conv, 0), "x"));
    CU_ASSERT_TRUE(is_int(arg(conv, 1), 6));
    CU_ASSERT_PTR_NULL(conv->u.call.args[1].key);
    CU_ASSERT_STRING_EQUAL(conv->u.call.args[2].key, "kernel");
    CU_ASSERT_TRUE(loc_is(conv->u.call.args[2].key_loc, 3, 21, 27));
    CU_ASSERT_TRUE(is_int(arg(conv, 2), 5));
    CU_ASSERT_STRING_EQUAL(conv->u.call.args[3].key, "padding");
    CU_ASSERT_TRUE(is_int(arg(conv, 3), 2));

    /* f3 = flatten(c2) -> dense(120) -> relu */
    const AstExpr *f3 = p.m->stmts[3].expr;
    CU_ASSERT_FATAL(is_call(f3, "relu", 1, true));
    const AstExpr *d = arg(f3, 0);
    CU_ASSERT_FATAL(is_call(d, "dense", 2, true));
    CU_ASSERT_TRUE(is_call(arg(d, 0), "flatten", 1, false));
    CU_ASSERT_TRUE(is_int(arg(d, 1), 120));

    const AstStmt *out = &p.m->stmts[5];
    CU_ASSERT_EQUAL(out->kind, STMT_OUTPUT);
    CU_ASSERT_STRING_EQUAL(out->name, "logits");
    CU_ASSERT_TRUE(is_call(out->expr, "dense", 2, false));
    done(&p);
}

static void test_parser_chain_is_left_associative(void) {
    Parsed p = parse("model m {\n  y = a -> f -> g(1) -> h(k=2)\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 1);
    const AstExpr *h = p.m->stmts[0].expr;
    CU_ASSERT_FATAL(is_call(h, "h", 2, true));
    CU_ASSERT_STRING_EQUAL(h->u.call.args[1].key, "k");
    const AstExpr *g = arg(h, 0);
    CU_ASSERT_FATAL(is_call(g, "g", 2, true));
    CU_ASSERT_TRUE(is_int(arg(g, 1), 1));
    CU_ASSERT_TRUE(loc_is(g->loc, 2, 17, 21));
    const AstExpr *f = arg(g, 0);
    CU_ASSERT_FATAL(is_call(f, "f", 1, true));
    CU_ASSERT_TRUE(loc_is(f->loc, 2, 12, 13));
    CU_ASSERT_TRUE(is_name(arg(f, 0), "a"));
    done(&p);
}

static void test_parser_named_args_and_nested_calls(void) {
    Parsed p = parse("model m {\n  y = add(dense(x, 8, name=\"a\"), y0, alpha=relu(z) -> neg)\n}");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 1);
    const AstExpr *add = p.m->stmts[0].expr;
    CU_ASSERT_FATAL(is_call(add, "add", 3, false));
    const AstExpr *dense = arg(add, 0);
    CU_ASSERT_FATAL(is_call(dense, "dense", 3, false));
    CU_ASSERT_STRING_EQUAL(dense->u.call.args[2].key, "name");
    CU_ASSERT_EQUAL(arg(dense, 2)->kind, AST_STRING);
    CU_ASSERT_STRING_EQUAL(arg(dense, 2)->u.s, "a");
    CU_ASSERT_TRUE(is_name(arg(add, 1), "y0"));
    CU_ASSERT_STRING_EQUAL(add->u.call.args[2].key, "alpha");
    const AstExpr *neg = arg(add, 2);
    CU_ASSERT_TRUE(is_call(neg, "neg", 1, true));
    CU_ASSERT_TRUE(is_call(arg(neg, 0), "relu", 1, false));
    done(&p);
}

static void test_parser_lists(void) {
    Parsed p = parse("model m {\n  a = reshape(x, [1, [2, 3,], [], -1,])\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 1);
    const AstExpr *l = arg(p.m->stmts[0].expr, 1);
    CU_ASSERT_EQUAL_FATAL(l->kind, AST_LIST);
    CU_ASSERT_TRUE(loc_is(l->loc, 2, 18, 39));
    CU_ASSERT_EQUAL_FATAL(l->u.list.n, 4);
    CU_ASSERT_TRUE(is_int(l->u.list.items[0], 1));
    const AstExpr *inner = l->u.list.items[1];
    CU_ASSERT_EQUAL_FATAL(inner->kind, AST_LIST);
    CU_ASSERT_EQUAL_FATAL(inner->u.list.n, 2);
    CU_ASSERT_TRUE(is_int(inner->u.list.items[1], 3));
    CU_ASSERT_EQUAL(l->u.list.items[2]->kind, AST_LIST);
    CU_ASSERT_EQUAL(l->u.list.items[2]->u.list.n, 0);
    CU_ASSERT_TRUE(is_int(l->u.list.items[3], -1));
    done(&p);
}

static void test_parser_numbers_and_bools(void) {
    Parsed p = parse("model m {\n  a = f(-3, -3.5, 0.01, 1e-5, 2E+3, .5, 1., -9223372036854775808, "
                     "9223372036854775807, true, false, 007)\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 1);
    const AstExpr *f = p.m->stmts[0].expr;
    CU_ASSERT_FATAL(is_call(f, "f", 12, false));
    CU_ASSERT_TRUE(is_int(arg(f, 0), -3));
    CU_ASSERT_TRUE(loc_is(arg(f, 0)->loc, 2, 9, 11));
    const double want[] = {-3.5, 0.01, 1e-5, 2000.0, 0.5, 1.0};
    for (int i = 0; i < 6; i++) {
        CU_ASSERT_EQUAL(arg(f, 1 + i)->kind, AST_FLOAT);
        CU_ASSERT_DOUBLE_EQUAL(arg(f, 1 + i)->u.f, want[i], 0.0);
    }
    CU_ASSERT_TRUE(is_int(arg(f, 7), INT64_MIN));
    CU_ASSERT_TRUE(is_int(arg(f, 8), INT64_MAX));
    CU_ASSERT_EQUAL(arg(f, 9)->kind, AST_BOOL);
    CU_ASSERT_TRUE(arg(f, 9)->u.b);
    CU_ASSERT_EQUAL(arg(f, 10)->kind, AST_BOOL);
    CU_ASSERT_FALSE(arg(f, 10)->u.b);
    CU_ASSERT_TRUE(is_int(arg(f, 11), 7));
    done(&p);
}

static void test_parser_newlines_inside_brackets(void) {
    Parsed p = parse("model m {\n"
                     "  c = conv2d(\n"
                     "      x, 6,   # filters\n"
                     "\n"
                     "      kernel=[3,\n"
                     "              3]\n"
                     "  )\n"
                     "  output c\n"
                     "}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 2);
    const AstExpr *c = p.m->stmts[0].expr;
    CU_ASSERT_FATAL(is_call(c, "conv2d", 3, false));
    /* A range over several lines has no end column. */
    CU_ASSERT_TRUE(loc_is(c->loc, 2, 7, 0));
    CU_ASSERT_TRUE(loc_is(c->u.call.op_loc, 2, 7, 13));
    CU_ASSERT_EQUAL(arg(c, 2)->kind, AST_LIST);
    CU_ASSERT_TRUE(loc_is(arg(c, 2)->loc, 5, 14, 0));
    CU_ASSERT_EQUAL(p.m->stmts[1].kind, STMT_OUTPUT);
    done(&p);
}

static void test_parser_continuation_before_arrow(void) {
    Parsed p = parse("model m {\n"
                     "  h = dense(x, 8)\n"
                     "\n"
                     "      # a comment between\n"
                     "      -> relu\n"
                     "      -> dense(4)\n"
                     "  output h\n"
                     "}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 2);
    const AstExpr *d = p.m->stmts[0].expr;
    CU_ASSERT_FATAL(is_call(d, "dense", 2, true));
    CU_ASSERT_TRUE(loc_is(d->loc, 6, 10, 18));
    CU_ASSERT_TRUE(is_call(arg(d, 0), "relu", 1, true));
    CU_ASSERT_TRUE(is_call(arg(arg(d, 0), 0), "dense", 2, false));
    done(&p);
}

static void test_parser_continuation_after_arrow_comma_equals(void) {
    Parsed p = parse("model m {\n"
                     "  h = dense(x, 8) ->\n"
                     "      relu\n"
                     "  g =\n"
                     "\n"
                     "      h\n"
                     "  output h\n"
                     "}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 3);
    CU_ASSERT_TRUE(is_call(p.m->stmts[0].expr, "relu", 1, true));
    CU_ASSERT_TRUE(is_name(p.m->stmts[1].expr, "h"));
    CU_ASSERT_TRUE(loc_is(p.m->stmts[1].expr->loc, 6, 7, 8));
    CU_ASSERT_EQUAL(p.m->stmts[2].kind, STMT_OUTPUT);
    done(&p);
}

static void test_parser_semicolons_and_blank_statements(void) {
    Parsed p = parse("\n\n# leading comment\nmodel m {;; a = x; b = a -> relu;\n;\n output b }\n\n# end\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 3);
    CU_ASSERT_STRING_EQUAL(p.m->stmts[0].name, "a");
    CU_ASSERT_TRUE(loc_is(p.m->stmts[0].loc, 4, 13, 14));
    CU_ASSERT_STRING_EQUAL(p.m->stmts[1].name, "b");
    CU_ASSERT_EQUAL(p.m->stmts[2].kind, STMT_OUTPUT);
    CU_ASSERT_PTR_NULL(p.m->stmts[2].expr);
    done(&p);
}

static void test_parser_comments(void) {
    Parsed p = parse("# model x {\nmodel m { # { not a brace\n  a = f(x) # -> g\n  # b = 1\n}#");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_STRING_EQUAL(p.m->name, "m");
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 1);
    CU_ASSERT_TRUE(is_call(p.m->stmts[0].expr, "f", 1, false));
    done(&p);
}

static void test_parser_string_escapes(void) {
    Parsed p = parse("model m {\n  weights \"dir/w \\\"1\\\".safetensors\"\n"
                     "  a = f(s=\"tab\\there\\nback\\\\slash # not a comment\")\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 2);
    CU_ASSERT_STRING_EQUAL(p.m->stmts[0].path, "dir/w \"1\".safetensors");
    CU_ASSERT_TRUE(loc_is(p.m->stmts[0].path_loc, 2, 11, 36));
    CU_ASSERT_STRING_EQUAL(arg(p.m->stmts[1].expr, 0)->u.s,
                           "tab\there\nback\\slash # not a comment");
    done(&p);
}

static void test_parser_outputs(void) {
    Parsed p = parse("model m {\n  input x : f32[2]\n  output x\n  output y = relu(x)\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 3);
    CU_ASSERT_EQUAL(p.m->stmts[1].kind, STMT_OUTPUT);
    CU_ASSERT_STRING_EQUAL(p.m->stmts[1].name, "x");
    CU_ASSERT_PTR_NULL(p.m->stmts[1].expr);
    CU_ASSERT_EQUAL(p.m->stmts[2].kind, STMT_OUTPUT);
    CU_ASSERT_STRING_EQUAL(p.m->stmts[2].name, "y");
    CU_ASSERT_TRUE(is_call(p.m->stmts[2].expr, "relu", 1, false));
    done(&p);
}

static void test_parser_input_dims(void) {
    Parsed p = parse("model m {\n  input a : f32[N,\n   3, batch_2,]\n  input s : f32[]\n"
                     "  input h : f16[4]\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 3);
    const AstStmt *a = &p.m->stmts[0];
    CU_ASSERT_EQUAL_FATAL(a->ndims, 3);
    CU_ASSERT_EQUAL(a->dims[1].value, 3);
    CU_ASSERT_TRUE(loc_is(a->dims[1].loc, 3, 4, 5));
    CU_ASSERT_STRING_EQUAL(a->dims[2].sym, "batch_2");
    CU_ASSERT_EQUAL(p.m->stmts[1].ndims, 0);
    /* The dtype is checked by the graph builder, not here. */
    CU_ASSERT_STRING_EQUAL(p.m->stmts[2].dtype, "f16");
    done(&p);
}

static void test_parser_empty_model(void) {
    Parsed p = parse("model m {}");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_STRING_EQUAL(p.m->name, "m");
    CU_ASSERT_EQUAL(p.m->nstmts, 0);
    done(&p);

    p = parse("model m\n{\n\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL(p.m->nstmts, 0);
    done(&p);
}

static void test_parser_empty_file_error(void) {
    Parsed p = parse("");
    CU_ASSERT_EQUAL(diag_count(p.diag), 1);
    CU_ASSERT_TRUE(msg_is(&p, 0, "expected 'model'"));
    CU_ASSERT_PTR_NULL(p.m->name);
    CU_ASSERT_EQUAL(p.m->nstmts, 0);
    done(&p);

    p = parse("# only comments\n\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 1);
    CU_ASSERT_TRUE(msg_is(&p, 0, "expected 'model'"));
    done(&p);

    p = parse("input x : f32[1]\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 1);
    CU_ASSERT_TRUE(msg_is(&p, 0, "expected 'model', found 'input'"));
    done(&p);
}

static void test_parser_unterminated_string_error(void) {
    Parsed p = parse("model m {\n  weights \"w.safetensors\n  a = f(\"x\n  b = a\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 2);
    CU_ASSERT_TRUE(msg_is(&p, 0, "unterminated string"));
    CU_ASSERT_TRUE(msg_is(&p, 1, "unterminated string"));
    CU_ASSERT_EQUAL(error_line(&p, 0), 2);
    CU_ASSERT_EQUAL(error_line(&p, 1), 3);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 3);
    CU_ASSERT_EQUAL(p.m->stmts[1].kind, STMT_ERROR);
    CU_ASSERT_STRING_EQUAL(p.m->stmts[1].name, "a");
    CU_ASSERT_EQUAL(p.m->stmts[2].kind, STMT_ASSIGN);
    done(&p);
}

static void test_parser_bad_character_error(void) {
    Parsed p = parse("model m {\n  a = relu(x) $\n  b = f(a\x01)\n  c = \xc3\xa9\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 4);
    CU_ASSERT_TRUE(msg_is(&p, 0, "unexpected character '$'"));
    CU_ASSERT_TRUE(msg_is(&p, 1, "unexpected character '\\x01'"));
    CU_ASSERT_TRUE(msg_is(&p, 2, "unexpected character '\xc3\xa9'"));
    /* The scanner skips the character and goes on: a and b are fine statements. */
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 3);
    CU_ASSERT_EQUAL(p.m->stmts[0].kind, STMT_ASSIGN);
    CU_ASSERT_EQUAL(p.m->stmts[1].kind, STMT_ASSIGN);
    CU_ASSERT_EQUAL(p.m->stmts[2].kind, STMT_ERROR);
    CU_ASSERT_STRING_EQUAL(p.m->stmts[2].name, "c");
    done(&p);
}

static void test_parser_integer_overflow_error(void) {
    Parsed p = parse("model m {\n  a = dense(x, 99999999999999999999)\n  b = f(1e999)\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 2);
    CU_ASSERT_TRUE(msg_is(&p, 0, "integer literal out of range"));
    CU_ASSERT_TRUE(msg_is(&p, 1, "number out of range"));
    CU_ASSERT_NOT_EQUAL(strstr(diag_text(p.diag), "t.nnd:2:16: error"), NULL);
    CU_ASSERT_EQUAL(p.m->nstmts, 2);
    done(&p);
}

static void test_parser_invalid_number_error(void) {
    Parsed p = parse("model m {\n  input x : f32[N, 3x]\n  a = f(1.2.3)\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 2);
    CU_ASSERT_TRUE(msg_is(&p, 0, "invalid number '3x'"));
    CU_ASSERT_TRUE(msg_is(&p, 1, "invalid number '1.2.3'"));
    CU_ASSERT_EQUAL(p.m->nstmts, 2);
    done(&p);
}

static void test_parser_unknown_escape_error(void) {
    Parsed p = parse("model m {\n  weights \"a\\qb\"\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 1);
    CU_ASSERT_TRUE(msg_is(&p, 0, "unknown escape sequence '\\q'"));
    CU_ASSERT_NOT_EQUAL(strstr(diag_text(p.diag), "t.nnd:2:13: error"), NULL);
    done(&p);
}

static void test_parser_positional_after_keyword_error(void) {
    Parsed p = parse("model m {\n  a = conv2d(x, kernel=3, 6)\n  b = a -> f(k=1, 2, 3)\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 3);
    CU_ASSERT_TRUE(msg_is(&p, 0, "positional argument follows keyword argument"));
    CU_ASSERT_NOT_EQUAL(strstr(diag_text(p.diag), "t.nnd:2:27: error"), NULL);
    CU_ASSERT_EQUAL(error_line(&p, 1), 3);
    CU_ASSERT_EQUAL(error_line(&p, 2), 3);
    /* Reported, and the statements are still built. */
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 2);
    CU_ASSERT_TRUE(is_call(p.m->stmts[0].expr, "conv2d", 3, false));
    CU_ASSERT_TRUE(is_call(p.m->stmts[1].expr, "f", 4, true));
    done(&p);
}

static void test_parser_missing_brace_error(void) {
    Parsed p = parse("model m {\n  a = f(x)\n\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 1);
    CU_ASSERT_TRUE(msg_is(&p, 0, "expected '}' at end of file"));
    const char *want = "t.nnd:2:11: error: expected '}' at end of file\n"
                       "    2 |   a = f(x)\n"
                       "      |           ^\n"
                       "t.nnd:1:9: note: to match this '{'\n"
                       "    1 | model m {\n"
                       "      |         ^\n";
    CU_ASSERT_STRING_EQUAL(diag_text(p.diag), want);
    CU_ASSERT_EQUAL(p.m->nstmts, 1);
    done(&p);

    /* Ending inside a call: one error, not a second one for the brace. */
    p = parse("model m {\n  a = f(x,");
    CU_ASSERT_EQUAL(diag_count(p.diag), 1);
    CU_ASSERT_TRUE(msg_is(&p, 0, "syntax error, unexpected end of file, expecting an expression "
                                 "or ')'"));
    done(&p);
}

static void test_parser_junk_after_model_error(void) {
    Parsed p = parse("model m {\n  a = x\n}\n\n# fine\nb = y\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 1);
    CU_ASSERT_TRUE(msg_is(&p, 0, "unexpected identifier 'b' after the end of the model"));
    CU_ASSERT_EQUAL(error_line(&p, 0), 6);
    CU_ASSERT_EQUAL(p.m->nstmts, 1);
    done(&p);

    p = parse("model m {}\nmodel n {}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 1);
    CU_ASSERT_TRUE(msg_is(&p, 0, "only one model per file is allowed"));
    done(&p);
}

static void test_parser_three_errors_three_lines(void) {
    Parsed p = parse("model m {\n"
                     "  a = dense(x 3)\n"
                     "  = 2\n"
                     "  ok = relu(x)\n"
                     "  output c d\n"
                     "}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 3);
    CU_ASSERT_EQUAL(error_line(&p, 0), 2);
    CU_ASSERT_EQUAL(error_line(&p, 1), 3);
    CU_ASSERT_EQUAL(error_line(&p, 2), 5);
    CU_ASSERT_TRUE(msg_is(&p, 0, "syntax error, unexpected integer '3', expecting ')', ',', "
                                 "'=', '(' or '->'"));
    CU_ASSERT_TRUE(msg_is(&p, 1, "syntax error, unexpected '=', expecting a statement or '}'"));
    CU_ASSERT_TRUE(msg_is(&p, 2, "syntax error, unexpected identifier 'd', expecting end of "
                                 "line or '='"));
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 4);
    CU_ASSERT_EQUAL(p.m->stmts[2].kind, STMT_ASSIGN);
    /* An error statement without a name is located at its first token, as a point. */
    CU_ASSERT_TRUE(loc_is(p.m->stmts[3].loc, 5, 3, 0));
    done(&p);

    /* Errors on consecutive lines, each at the first token: still one each. */
    p = parse("model m {\n  )\n  ]\n  ,\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 3);
    CU_ASSERT_EQUAL(p.m->nstmts, 3);
    done(&p);
}

static void test_parser_error_statement_keeps_name(void) {
    Parsed p = parse("model m {\n"
                     "  input x : f32[N 3]\n"
                     "  h = dense(x, , 3)\n"
                     "  output y = relu(h))\n"
                     "  z w\n"
                     "}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 4);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 4);
    const char *names[] = {"x", "h", "y", NULL};
    for (int i = 0; i < 4; i++) {
        const AstStmt *s = &p.m->stmts[i];
        CU_ASSERT_EQUAL(s->kind, STMT_ERROR);
        CU_ASSERT_EQUAL(s->loc.line, i + 2);
        CU_ASSERT_EQUAL(s->loc.col, 3);
        if (names[i]) {
            CU_ASSERT_STRING_EQUAL(s->name, names[i]);
            CU_ASSERT_EQUAL(s->name_loc.line, i + 2);
        } else {
            CU_ASSERT_PTR_NULL(s->name);
        }
    }
    CU_ASSERT_TRUE(loc_is(p.m->stmts[2].name_loc, 4, 10, 11));
    done(&p);
}

static void test_parser_unclosed_bracket_recovers(void) {
    Parsed p = parse("model m {\n  a = dense(x, 3\n  b = relu(a)\n  c = [1, 2\n  output b\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 2);
    CU_ASSERT_TRUE(msg_is(&p, 0, "syntax error, unexpected end of line, expecting ')', ',' or "
                                 "'->'"));
    CU_ASSERT_NOT_EQUAL(strstr(diag_text(p.diag), "t.nnd:2:17: error"), NULL);
    CU_ASSERT_EQUAL(error_line(&p, 1), 4);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 4);
    CU_ASSERT_EQUAL(p.m->stmts[0].kind, STMT_ERROR);
    CU_ASSERT_EQUAL(p.m->stmts[1].kind, STMT_ASSIGN);
    CU_ASSERT_STRING_EQUAL(p.m->stmts[1].name, "b");
    CU_ASSERT_EQUAL(p.m->stmts[2].kind, STMT_ERROR);
    CU_ASSERT_EQUAL(p.m->stmts[3].kind, STMT_OUTPUT);
    done(&p);
}

static void test_parser_header_error_recovers(void) {
    Parsed p = parse("model 3 {\n  a = x\n  b = = 1\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 2);
    CU_ASSERT_TRUE(msg_is(&p, 0, "syntax error, unexpected integer '3', expecting identifier"));
    CU_ASSERT_PTR_NULL(p.m->name);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 2);
    CU_ASSERT_EQUAL(p.m->stmts[0].kind, STMT_ASSIGN);
    CU_ASSERT_EQUAL(p.m->stmts[1].kind, STMT_ERROR);
    done(&p);

    /* An error in the first statement right after a bad header is reported too. */
    p = parse("model {\n  = 1\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 2);
    CU_ASSERT_EQUAL(error_line(&p, 0), 1);
    CU_ASSERT_EQUAL(error_line(&p, 1), 2);
    CU_ASSERT_EQUAL(p.m->nstmts, 1);
    done(&p);
}

static void test_parser_keywords_are_reserved(void) {
    Parsed p = parse("model m {\n  input = relu(x)\n  a = output\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 2);
    CU_ASSERT_TRUE(msg_is(&p, 0, "syntax error, unexpected '=', expecting identifier"));
    done(&p);
}

static void test_parser_nul_byte(void) {
    static const char src[] = "model m {\n  a = f(x)\0\n  b = \"p\0q\"\n  # c\0mment\n  c = b\n}\n";
    Parsed p = parse_len(src, sizeof src - 1);
    CU_ASSERT_EQUAL(diag_count(p.diag), 2);
    CU_ASSERT_TRUE(msg_is(&p, 0, "unexpected character '\\x00'"));
    CU_ASSERT_NOT_EQUAL(strstr(diag_text(p.diag), "t.nnd:2:11: error"), NULL);
    CU_ASSERT_TRUE(msg_is(&p, 1, "NUL byte in string"));
    CU_ASSERT_NOT_EQUAL(strstr(diag_text(p.diag), "t.nnd:3:9: error"), NULL);
    /* The text after each NUL byte was read. */
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 3);
    CU_ASSERT_STRING_EQUAL(p.m->stmts[2].name, "c");
    done(&p);
}

static void test_parser_crlf(void) {
    Parsed p = parse("model m {\r\n  a = f(x,\r\n        y) # c\r\n\r\n  output a\r\n}\r\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 2);
    CU_ASSERT_TRUE(is_name(arg(p.m->stmts[0].expr, 1), "y"));
    CU_ASSERT_TRUE(loc_is(arg(p.m->stmts[0].expr, 1)->loc, 3, 9, 10));
    CU_ASSERT_TRUE(loc_is(p.m->stmts[1].loc, 5, 3, 9));
    done(&p);

    /* The quoted line has no \r, and the column is right. */
    p = parse("model m {\r\n  a = 1 2\r\n}\r\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 1);
    CU_ASSERT_NOT_EQUAL(strstr(diag_text(p.diag), "t.nnd:2:9: error"), NULL);
    CU_ASSERT_PTR_NULL(strchr(diag_text(p.diag), '\r'));
    done(&p);
}

static void test_parser_byte_order_mark(void) {
    Parsed p = parse("\xEF\xBB\xBFmodel m {\n  a = x\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_TRUE(loc_is(p.m->loc, 1, 10, 11));
    done(&p);
}

/* A string of n copies of s. */
static char *repeat(const char *s, int n) {
    size_t k = strlen(s);
    char *r = malloc(k * (size_t)n + 1);
    CU_ASSERT_FATAL(r != NULL);
    for (int i = 0; i < n; i++)
        memcpy(r + k * (size_t)i, s, k);
    r[k * (size_t)n] = 0;
    return r;
}

static void test_parser_deep_nesting_error(void) {
    char *open = repeat("[", 10000), *close = repeat("]", 10000);
    char *calls = repeat("f(", 10000), *parens = repeat(")", 10000);
    size_t n = 6 * 10000 + 200;
    char *src = malloc(n);
    CU_ASSERT_FATAL(src != NULL);
    snprintf(src, n, "model m {\n  a = %s%s\n  b = %sx%s\n  c = 1\n}\n", open, close, calls,
             parens);
    Parsed p = parse(src);
    CU_ASSERT_EQUAL(diag_count(p.diag), 2);
    CU_ASSERT_TRUE(msg_is(&p, 0, "nesting too deep (more than 256 levels of brackets)"));
    CU_ASSERT_NOT_EQUAL(strstr(diag_text(p.diag), "t.nnd:2:263: error"), NULL);
    CU_ASSERT_EQUAL(error_line(&p, 1), 3);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 3);
    CU_ASSERT_EQUAL(p.m->stmts[0].kind, STMT_ERROR);
    CU_ASSERT_STRING_EQUAL(p.m->stmts[0].name, "a");
    CU_ASSERT_EQUAL(p.m->stmts[2].kind, STMT_ASSIGN);
    done(&p);

    /* At the limit it is fine. */
    snprintf(src, n, "model m {\n  a = %.256s%.256s\n}\n", open, close);
    p = parse(src);
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    done(&p);
    free(open), free(close), free(calls), free(parens), free(src);
}

static void test_parser_long_chain_error(void) {
    char *chain = repeat(" -> relu", 5000);
    size_t n = strlen(chain) + 100;
    char *src = malloc(n);
    CU_ASSERT_FATAL(src != NULL);
    snprintf(src, n, "model m {\n  a = x%s\n  output a\n}\n", chain);
    Parsed p = parse(src);
    CU_ASSERT_EQUAL(diag_count(p.diag), 1);
    CU_ASSERT_TRUE(msg_is(&p, 0, "nesting too deep (more than 1024 levels in one expression)"));
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, 2);
    CU_ASSERT_EQUAL(p.m->stmts[0].kind, STMT_ERROR);
    CU_ASSERT_EQUAL(p.m->stmts[1].kind, STMT_OUTPUT);
    done(&p);
    free(chain);
    free(src);
}

static void test_parser_large_input(void) {
    enum { N = 50000 };
    size_t cap = (size_t)N * 80 + 100, len = 0;
    char *src = malloc(cap);
    CU_ASSERT_FATAL(src != NULL);
    len += (size_t)snprintf(src + len, cap - len, "model big {\n  input h0 : f32[N, 8]\n");
    for (int i = 1; i < N; i++)
        len += (size_t)snprintf(src + len, cap - len,
                                "  h%d = dense(h%d, 8) -> relu  # layer %d\n", i, i - 1, i);
    len += (size_t)snprintf(src + len, cap - len, "  output h%d\n}\n", N - 1);
    Parsed p = parse_len(src, len);
    CU_ASSERT_EQUAL(diag_count(p.diag), 0);
    CU_ASSERT_EQUAL_FATAL(p.m->nstmts, N + 1);
    CU_ASSERT_STRING_EQUAL(p.m->stmts[N - 1].name, "h49999");
    CU_ASSERT_EQUAL(p.m->stmts[N - 1].loc.line, N + 1);
    done(&p);
    free(src);
}

static void test_parser_diag_text_format(void) {
    Parsed p = parse("model m {\n  b = relu(a) xyz\n}\n");
    CU_ASSERT_EQUAL(diag_count(p.diag), 1);
    const char *want =
        "t.nnd:2:15: error: syntax error, unexpected identifier 'xyz', expecting end of line "
        "or '->'\n"
        "    2 |   b = relu(a) xyz\n"
        "      |               ^~~\n";
    CU_ASSERT_STRING_EQUAL(diag_text(p.diag), want);
    done(&p);
}

static void test_parser_dump_digits(void) {
    Parsed p = parse(digits_src);
    char *got = dump(p.m);
    const char *want = "model digits\n"
                       "  input pixels : f32[N, 64]             # 3:3\n"
                       "  weights \"digits.safetensors\"          # 4:3\n"
                       "  hidden1 = dense(pixels, 32) -> relu   # 6:3\n"
                       "  hidden2 = dense(hidden1, 16) -> sigmoid  # 7:3\n"
                       "  output probs = dense(hidden2, 10) -> softmax  # 8:3\n";
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
    done(&p);
}

static void test_parser_dump_literals_and_errors(void) {
    Parsed p = parse("model m {\n  a = f([1, -2.5, 1.0, 1e-5, \"q\\\"\\\\\\n\\t\"], k=true) -> g()\n"
                     "  b = = 1\n  output c = a -> h(1, x=[]) -> i\n}\n");
    char *got = dump(p.m);
    const char *want =
        "model m\n"
        "  a = f([1, -2.5, 1.0, 1e-05, \"q\\\"\\\\\\n\\t\"], k=true) -> g  # 2:3\n"
        "  b = <error>                           # 3:3\n"
        "  output c = a -> h(1, x=[]) -> i       # 4:3\n";
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
    done(&p);
}

/* Printing what ast_dump printed (without the comments) gives the same tree again. */
static void test_parser_dump_reparses(void) {
    Parsed p = parse(lenet_src);
    char *first = dump(p.m);
    done(&p);
    /* The dump's first line is "model lenet5": add the braces around the statements. */
    char *src = malloc(strlen(first) + 16);
    CU_ASSERT_FATAL(src != NULL);
    sprintf(src, "model lenet5 {%s}\n", strchr(first, '\n'));
    Parsed q = parse(src);
    CU_ASSERT_EQUAL(diag_count(q.diag), 0);
    CU_ASSERT_EQUAL(q.m->nstmts, 6);
    char *second = dump(q.m);
    /* Only the line:col comments may differ. */
    CU_ASSERT_EQUAL(strlen(first), strlen(second));
    CU_ASSERT_NOT_EQUAL(strstr(second, "c1 = conv2d(x, 6, kernel=5, padding=2) -> relu -> "
                                       "maxpool2d(2)"),
                        NULL);
    free(first);
    free(second);
    free(src);
    done(&q);
}

NND_SUITE("parser", test_parser_digits_example, test_parser_lenet5_example,
          test_parser_chain_is_left_associative, test_parser_named_args_and_nested_calls,
          test_parser_lists, test_parser_numbers_and_bools, test_parser_newlines_inside_brackets,
          test_parser_continuation_before_arrow, test_parser_continuation_after_arrow_comma_equals,
          test_parser_semicolons_and_blank_statements, test_parser_comments,
          test_parser_string_escapes, test_parser_outputs, test_parser_input_dims,
          test_parser_empty_model, test_parser_empty_file_error,
          test_parser_unterminated_string_error, test_parser_bad_character_error,
          test_parser_integer_overflow_error, test_parser_invalid_number_error,
          test_parser_unknown_escape_error, test_parser_positional_after_keyword_error,
          test_parser_missing_brace_error, test_parser_junk_after_model_error,
          test_parser_three_errors_three_lines, test_parser_error_statement_keeps_name,
          test_parser_unclosed_bracket_recovers, test_parser_header_error_recovers,
          test_parser_keywords_are_reserved, test_parser_nul_byte, test_parser_crlf,
          test_parser_byte_order_mark, test_parser_deep_nesting_error,
          test_parser_long_chain_error, test_parser_large_input, test_parser_diag_text_format,
          test_parser_dump_digits, test_parser_dump_literals_and_errors,
          test_parser_dump_reparses)
