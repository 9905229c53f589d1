/* ast.c: the parser's driver and the tree's printer; see ast.h.
 *
 * parse_model runs the reentrant scanner (lexer.l) and parser (parser.y) over one buffer;
 * everything they allocate, flex's buffers included, lives in the compilation's arena.
 * ast_dump prints the tree back in the language's own syntax, chains as chains, with the
 * line:col of each statement, for `nndc emit ast` and the golden files. */
#define _POSIX_C_SOURCE 200809L
#include "ast.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"
#include "lexer.h"

SrcLoc parse_srcloc(const Parser *p, Loc l) {
    return (SrcLoc){p->file, l.first_line, l.first_column,
                    l.first_line == l.last_line ? l.last_column : 0};
}

/* strtod in the "C" locale whatever the host program set (a decimal comma would silently
 * turn 0.01 into 0). False when the number does not fit a double. */
bool parse_float(Parser *p, const char *s, double *out) {
    if (!p->c_numeric)
        p->c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t old = p->c_numeric ? uselocale(p->c_numeric) : (locale_t)0;
    errno = 0;
    double v = strtod(s, NULL);
    bool ok = !(errno == ERANGE && isinf(v));
    if (old)
        uselocale(old);
    *out = v;
    return ok;
}

AstModel *parse_model(Arena *a, Diag *d, const char *file, const char *text, size_t len) {
    Parser p = {0};
    p.arena = a;
    p.diag = d;
    p.file = arena_strdup(a, file ? file : "<input>");
    p.model = arena_alloc(a, sizeof *p.model);
    p.model->loc = (SrcLoc){p.file, 1, 1, 0}; /* until the header is read */
    p.line = p.col = p.end_line = p.end_col = 1;
    p.nl_spell = "end of line";
    if (len > (size_t)INT_MAX - 2) {
        diag_error(d, (SrcLoc){p.file, 0, 0, 0}, "file too large (more than %d bytes)",
                   INT_MAX - 2);
        return p.model;
    }
    /* A UTF-8 byte order mark is not part of the text; columns still count its bytes. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
        p.col = 4;
    }

    yyscan_t scanner;
    if (nnd_yylex_init_extra(&p, &scanner) != 0) {
        diag_error(d, (SrcLoc){p.file, 0, 0, 0}, "internal error: cannot start the scanner");
        return p.model;
    }
    nnd_yy_scan_bytes(text ? text : "", (int)len, scanner);
    nnd_yyparse(scanner, &p);
    nnd_yylex_destroy(scanner);
    if (p.c_numeric)
        freelocale(p.c_numeric);
    return p.model;
}

/* --- ast_dump ---------------------------------------------------------------------------- */

/* A line being printed, so that the location comments can be aligned. */
typedef struct Line {
    char *s;
    size_t len, cap;
    bool failed;
} Line;

static void put(Line *l, const char *s, size_t n) {
    if (l->failed)
        return;
    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 128;
        while (cap < l->len + n + 1)
            cap *= 2;
        char *s2 = realloc(l->s, cap);
        if (!s2) {
            l->failed = true;
            return;
        }
        l->s = s2;
        l->cap = cap;
    }
    memcpy(l->s + l->len, s, n);
    l->len += n;
    l->s[l->len] = 0;
}

static void puts_(Line *l, const char *s) { put(l, s, strlen(s)); }

static void put_string(Line *l, const char *s) {
    puts_(l, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        switch (*c) {
        case '"':
            puts_(l, "\\\"");
            break;
        case '\\':
            puts_(l, "\\\\");
            break;
        case '\n':
            puts_(l, "\\n");
            break;
        case '\t':
            puts_(l, "\\t");
            break;
        default:
            if (*c < 0x20 || *c == 0x7f) {
                snprintf(esc, sizeof esc, "\\x%02X", *c);
                puts_(l, esc);
            } else {
                put(l, (const char *)c, 1);
            }
        }
    }
    puts_(l, "\"");
}

static void put_float(Line *l, double f) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", f);
    puts_(l, buf);
    /* Keep it a float when read back: 1.0, not 1. */
    if (!strpbrk(buf, ".eEin"))
        puts_(l, ".0");
}

static void put_expr(Line *l, const AstExpr *e);

static void put_args(Line *l, const AstArg *args, int n) {
    for (int i = 0; i < n; i++) {
        if (i)
            puts_(l, ", ");
        if (args[i].key) {
            puts_(l, args[i].key);
            puts_(l, "=");
        }
        put_expr(l, args[i].value);
    }
}

/* Recursion is bounded by the parser's PARSE_MAX_EXPR_DEPTH. */
static void put_expr(Line *l, const AstExpr *e) {
    char buf[32];
    if (!e) {
        puts_(l, "<null>");
        return;
    }
    switch (e->kind) {
    case AST_NAME:
        puts_(l, e->u.name);
        break;
    case AST_INT:
        snprintf(buf, sizeof buf, "%" PRId64, e->u.i);
        puts_(l, buf);
        break;
    case AST_FLOAT:
        put_float(l, e->u.f);
        break;
    case AST_STRING:
        put_string(l, e->u.s);
        break;
    case AST_BOOL:
        puts_(l, e->u.b ? "true" : "false");
        break;
    case AST_LIST:
        puts_(l, "[");
        for (int i = 0; i < e->u.list.n; i++) {
            if (i)
                puts_(l, ", ");
            put_expr(l, e->u.list.items[i]);
        }
        puts_(l, "]");
        break;
    case AST_CALL:
        if (e->u.call.piped && e->u.call.nargs > 0) {
            put_expr(l, e->u.call.args[0].value);
            puts_(l, " -> ");
            puts_(l, e->u.call.op);
            if (e->u.call.nargs > 1) {
                puts_(l, "(");
                put_args(l, e->u.call.args + 1, e->u.call.nargs - 1);
                puts_(l, ")");
            }
        } else {
            puts_(l, e->u.call.op);
            puts_(l, "(");
            put_args(l, e->u.call.args, e->u.call.nargs);
            puts_(l, ")");
        }
        break;
    }
}

static void put_stmt(Line *l, const AstStmt *s) {
    char buf[32];
    switch (s->kind) {
    case STMT_INPUT:
        puts_(l, "input ");
        puts_(l, s->name);
        puts_(l, " : ");
        puts_(l, s->dtype);
        puts_(l, "[");
        for (int i = 0; i < s->ndims; i++) {
            if (i)
                puts_(l, ", ");
            if (s->dims[i].sym) {
                puts_(l, s->dims[i].sym);
            } else {
                snprintf(buf, sizeof buf, "%" PRId64, s->dims[i].value);
                puts_(l, buf);
            }
        }
        puts_(l, "]");
        break;
    case STMT_WEIGHTS:
        puts_(l, "weights ");
        put_string(l, s->path);
        break;
    case STMT_ASSIGN:
        puts_(l, s->name);
        puts_(l, " = ");
        put_expr(l, s->expr);
        break;
    case STMT_OUTPUT:
        puts_(l, "output ");
        puts_(l, s->name);
        if (s->expr) {
            puts_(l, " = ");
            put_expr(l, s->expr);
        }
        break;
    case STMT_ERROR:
        if (s->name) {
            puts_(l, s->name);
            puts_(l, " = ");
        }
        puts_(l, "<error>");
        break;
    }
}

enum { DUMP_COMMENT_COLUMN = 41 }; /* where the "# line:col" comments start */

void ast_dump(FILE *out, const AstModel *m) {
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t old = c ? uselocale(c) : (locale_t)0;
    fprintf(out, "model %s\n", m->name ? m->name : "<error>");
    Line l = {0};
    for (int i = 0; i < m->nstmts; i++) {
        const AstStmt *s = &m->stmts[i];
        l.len = 0;
        l.failed = false;
        puts_(&l, "  ");
        put_stmt(&l, s);
        if (l.failed) {
            fprintf(out, "  <out of memory>  # %d:%d\n", s->loc.line, s->loc.col);
            continue;
        }
        int pad = DUMP_COMMENT_COLUMN - 1 - (int)l.len;
        if (pad < 2)
            pad = 2;
        fprintf(out, "%s%*s# %d:%d\n", l.s, pad, "", s->loc.line, s->loc.col);
    }
    free(l.s);
    if (old)
        uselocale(old);
    if (c)
        freelocale(c);
}
