/* parser.y: the grammar of a .nnd file (SPEC section 1.2), building the AST of ast.h.
 *
 * In: tokens from lexer.l, whose filter has already decided which newlines end a statement
 * (so every statement here ends with NEWLINE, also the last one before '}'). Out: statements
 * appended to the Parser's model; a chain `E -> op(args)` becomes the call op(E, args) with
 * `piped` set. Syntax errors are reported with the offending token's location, and the
 * `error` productions resynchronise at the next end of statement so that every error is
 * reported; a statement that failed after `NAME =` keeps its name (STMT_ERROR) so that later
 * stages do not cascade "unknown name" errors. Every production that contains `error` ends
 * with a token, so that no state is left by a default reduction before the bad tokens were
 * skipped (which would record one error statement per skipped token). */

%code top {
#define _POSIX_C_SOURCE 200809L
}

%require "3.6"
%define api.prefix {nnd_yy}
%define api.pure full
%define api.location.type {Loc}
%locations
%define parse.error custom
%define parse.lac full
%expect 0
%param {yyscan_t scanner}
%parse-param {Parser *p}

%code requires {
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>

#include "ast.h"

#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

/* A token's or rule's range: lines and 1-based byte columns, last_column one past the end. */
typedef struct Loc {
    int first_line, first_column, last_line, last_column;
} Loc;

/* Limits that keep every later recursion over the tree shallow. Brackets are counted by the
 * scanner, before the parser's stack could grow; the depth of the tree (which chains also
 * deepen) by the parser. */
enum { PARSE_MAX_BRACKETS = 256, PARSE_MAX_EXPR_DEPTH = 1024 };

typedef struct Parser Parser;

/* An expression with the depth of its tree. */
typedef struct ExprD {
    AstExpr *e;
    int depth;
} ExprD;

typedef struct ArgVec {
    AstArg *v;
    int n, cap, depth;
    bool named; /* a keyword argument was seen */
} ArgVec;

typedef struct ItemVec {
    AstExpr **v;
    int n, cap, depth;
} ItemVec;

typedef struct DimVec {
    AstDim *v;
    int n, cap;
} DimVec;
}

%code provides {
#define YYSTYPE NND_YYSTYPE
#define YYLTYPE NND_YYLTYPE

/* Everything one parse needs: the output, the diagnostics, and the scanner's state. */
struct Parser {
    Arena *arena;
    Diag *diag;
    const char *file;
    AstModel *model;
    int stmt_cap;
    Loc lbrace;             /* the model's '{', for the note under a missing '}' */
    bool closed;            /* the model's '}' was read */
    bool eof_reported;      /* an error at the end of the file was reported already */
    locale_t c_numeric;     /* for strtod; (locale_t)0 when newlocale failed */

    /* scanner */
    int line, col;          /* where the next byte is */
    int end_line, end_col;  /* the end of the last token that is not a newline */
    char text[40];          /* how the last identifier, number or string was written */

    /* the newline filter in lexer.l */
    int depth;              /* ( and [ nesting */
    bool too_deep;          /* "nesting too deep" was reported for this statement */
    int prev;               /* the last token handed to the parser, 0 at the start */
    int nbraces;            /* '{' handed out: the first is the model's */
    bool nl_pending;        /* a newline was scanned and not yet decided on */
    Loc nl_loc;
    bool have_buf;          /* a token scanned ahead, handed out after a NEWLINE */
    int buf_tok;
    YYSTYPE buf_val;
    Loc buf_loc;
    const char *nl_spell;   /* what the last NEWLINE stood for, for messages */
};

int nnd_yylex(YYSTYPE *lval, Loc *lloc, yyscan_t scanner);
void nnd_yyerror(Loc *lloc, yyscan_t scanner, Parser *p, const char *msg);

/* Helpers in ast.c shared by the scanner and the parser. */
SrcLoc parse_srcloc(const Parser *p, Loc l);
bool parse_float(Parser *p, const char *s, double *out);
}

%code {
#include <string.h>

static void append_stmt(Parser *p, AstStmt *s);
static AstStmt *new_stmt(Parser *p, AstStmtKind kind, Loc at);
static AstStmt *error_stmt(Parser *p, Loc at, const char *name, Loc name_loc);
static ExprD leaf(Parser *p, AstKind kind, Loc at);
static bool too_deep(Parser *p, int depth, Loc at);
static AstExpr *make_call(Parser *p, const char *op, Loc op_loc, Loc end, ArgVec *args,
                          AstExpr *piped_lhs);
static ArgVec *arg_push(Parser *p, ArgVec *v, const char *key, Loc key_loc, ExprD value,
                        Loc value_loc);
static ItemVec *item_push(Parser *p, ItemVec *v, ExprD e);
static DimVec *dim_push(Parser *p, DimVec *v, const char *sym, int64_t value, Loc at);
static Loc span(Loc a, Loc b);

#define L(l) parse_srcloc(p, (l))
}

%union {
    const char *str;
    int64_t i;
    double f;
    ExprD ex;
    ArgVec *args;
    ItemVec *items;
    DimVec *dims;
    AstStmt *stmt;
}

/* Declared in the order expected tokens are listed in messages. */
%token <str> IDENT "identifier"
%token <i> INT "integer"
%token <f> FLOAT "number"
%token <str> STRING "string"
%token TRUE "true" FALSE "false"
%token NEWLINE "end of line"
%token ')' ']' ',' '=' ':' '(' '[' '{' '}'
%token ARROW "->"
%token MODEL "model" INPUT "input" WEIGHTS "weights" OUTPUT "output"

%type <stmt> stmt
%type <ex> expr primary
%type <args> args arglist
%type <items> items itemlist
%type <dims> dims dimlist

%%

/* yyerrok wherever a rule ends with a token that recovery synchronised on, so that an error
 * right after it is reported too (bison stays silent until three tokens were shifted). */
file
    : header body '}'               { p->closed = true; yyerrok; }
    ;

header
    : MODEL IDENT '{'               { p->model->name = $2;
                                      p->model->loc = L(@2);
                                      p->lbrace = @3; }
    | error '{'                     { p->lbrace = @2; yyerrok; }
    ;

body
    : %empty
    | body line
    ;

line
    : NEWLINE                       { yyerrok; }
    | stmt NEWLINE                  { append_stmt(p, $1); yyerrok; }
    | IDENT '=' error NEWLINE       { append_stmt(p, error_stmt(p, @1, $1, @1)); yyerrok; }
    | OUTPUT IDENT '=' error NEWLINE
                                    { append_stmt(p, error_stmt(p, @1, $2, @2)); yyerrok; }
    | INPUT IDENT error NEWLINE     { append_stmt(p, error_stmt(p, @1, $2, @2)); yyerrok; }
    | error NEWLINE                 { append_stmt(p, error_stmt(p, @1, NULL, @1)); yyerrok; }
    ;

stmt
    : INPUT IDENT ':' IDENT '[' dims ']'
                                    { $$ = new_stmt(p, STMT_INPUT, @1);
                                      $$->name = $2;
                                      $$->name_loc = L(@2);
                                      $$->dtype = $4;
                                      $$->dtype_loc = L(@4);
                                      $$->dims = $6 ? $6->v : NULL;
                                      $$->ndims = $6 ? $6->n : 0; }
    | WEIGHTS STRING                { $$ = new_stmt(p, STMT_WEIGHTS, @1);
                                      $$->path = $2;
                                      $$->path_loc = L(@2); }
    | IDENT '=' expr                { $$ = new_stmt(p, STMT_ASSIGN, @1);
                                      $$->name = $1;
                                      $$->name_loc = L(@1);
                                      $$->expr = $3.e; }
    | OUTPUT IDENT                  { $$ = new_stmt(p, STMT_OUTPUT, @1);
                                      $$->name = $2;
                                      $$->name_loc = L(@2); }
    | OUTPUT IDENT '=' expr         { $$ = new_stmt(p, STMT_OUTPUT, @1);
                                      $$->name = $2;
                                      $$->name_loc = L(@2);
                                      $$->expr = $4.e; }
    ;

dims
    : %empty                        { $$ = NULL; }
    | dimlist
    | dimlist ','
    ;

dimlist
    : INT                           { $$ = dim_push(p, NULL, NULL, $1, @1); }
    | IDENT                         { $$ = dim_push(p, NULL, $1, 0, @1); }
    | dimlist ',' INT               { $$ = dim_push(p, $1, NULL, $3, @3); }
    | dimlist ',' IDENT             { $$ = dim_push(p, $1, $3, 0, @3); }
    ;

expr
    : primary
    | expr ARROW IDENT              { $$.depth = $1.depth + 1;
                                      if (too_deep(p, $$.depth, @3))
                                          YYERROR;
                                      $$.e = make_call(p, $3, @3, @3, NULL, $1.e); }
    | expr ARROW IDENT '(' args ')' { int d = $5 && $5->depth > $1.depth ? $5->depth : $1.depth;
                                      $$.depth = d + 1;
                                      if (too_deep(p, $$.depth, @3))
                                          YYERROR;
                                      $$.e = make_call(p, $3, @3, @6, $5, $1.e); }
    ;

primary
    : IDENT                         { $$ = leaf(p, AST_NAME, @1); $$.e->u.name = $1; }
    | INT                           { $$ = leaf(p, AST_INT, @1); $$.e->u.i = $1; }
    | FLOAT                         { $$ = leaf(p, AST_FLOAT, @1); $$.e->u.f = $1; }
    | STRING                        { $$ = leaf(p, AST_STRING, @1); $$.e->u.s = $1; }
    | TRUE                          { $$ = leaf(p, AST_BOOL, @1); $$.e->u.b = true; }
    | FALSE                         { $$ = leaf(p, AST_BOOL, @1); $$.e->u.b = false; }
    | IDENT '(' args ')'            { $$.depth = ($3 ? $3->depth : 0) + 1;
                                      if (too_deep(p, $$.depth, @1))
                                          YYERROR;
                                      $$.e = make_call(p, $1, @1, @4, $3, NULL); }
    | '[' items ']'                 { int d = ($2 ? $2->depth : 0) + 1;
                                      if (too_deep(p, d, @1))
                                          YYERROR;
                                      $$ = leaf(p, AST_LIST, span(@1, @3));
                                      $$.depth = d;
                                      $$.e->u.list.items = $2 ? $2->v : NULL;
                                      $$.e->u.list.n = $2 ? $2->n : 0; }
    ;

args
    : %empty                        { $$ = NULL; }
    | arglist
    | arglist ','
    ;

arglist
    : expr                          { $$ = arg_push(p, NULL, NULL, @1, $1, @1); }
    | IDENT '=' expr                { $$ = arg_push(p, NULL, $1, @1, $3, @3); }
    | arglist ',' expr              { $$ = arg_push(p, $1, NULL, @3, $3, @3); }
    | arglist ',' IDENT '=' expr    { $$ = arg_push(p, $1, $3, @3, $5, @5); }
    ;

items
    : %empty                        { $$ = NULL; }
    | itemlist
    | itemlist ','
    ;

itemlist
    : expr                          { $$ = item_push(p, NULL, $1); }
    | itemlist ',' expr             { $$ = item_push(p, $1, $3); }
    ;

%%

static Loc span(Loc a, Loc b) {
    return (Loc){a.first_line, a.first_column, b.last_line, b.last_column};
}

static void append_stmt(Parser *p, AstStmt *s) {
    AstModel *m = p->model;
    if (m->nstmts == p->stmt_cap) {
        int cap = p->stmt_cap ? p->stmt_cap * 2 : 16;
        m->stmts = arena_grow(p->arena, m->stmts, sizeof(AstStmt) * (size_t)p->stmt_cap,
                              sizeof(AstStmt) * (size_t)cap);
        p->stmt_cap = cap;
    }
    m->stmts[m->nstmts++] = *s;
}

static AstStmt *new_stmt(Parser *p, AstStmtKind kind, Loc at) {
    AstStmt *s = arena_alloc(p->arena, sizeof *s);
    s->kind = kind;
    s->loc = L(at);
    return s;
}

/* A statement that did not parse. With a name, `at` is its first token; without, `at` is the
 * error token, which covers everything skipped: the statement is then located at its start. */
static AstStmt *error_stmt(Parser *p, Loc at, const char *name, Loc name_loc) {
    AstStmt *s = new_stmt(p, STMT_ERROR, at);
    s->name = name;
    if (name)
        s->name_loc = L(name_loc);
    else
        s->loc.end_col = 0;
    return s;
}

static ExprD leaf(Parser *p, AstKind kind, Loc at) {
    AstExpr *e = arena_alloc(p->arena, sizeof *e);
    e->kind = kind;
    e->loc = L(at);
    return (ExprD){e, 1};
}

/* Reports a tree deeper than PARSE_MAX_EXPR_DEPTH (long chains): the caller then drops the
 * statement through YYERROR, which skips to its end without another message. */
static bool too_deep(Parser *p, int depth, Loc at) {
    if (depth <= PARSE_MAX_EXPR_DEPTH)
        return false;
    diag_error(p->diag, L(at), "nesting too deep (more than %d levels in one expression)",
               PARSE_MAX_EXPR_DEPTH);
    return true;
}

static AstExpr *make_call(Parser *p, const char *op, Loc op_loc, Loc end, ArgVec *args,
                          AstExpr *piped_lhs) {
    AstExpr *e = leaf(p, AST_CALL, span(op_loc, end)).e;
    e->u.call.op = op;
    e->u.call.op_loc = L(op_loc);
    e->u.call.piped = piped_lhs != NULL;
    int n = (args ? args->n : 0) + (piped_lhs ? 1 : 0);
    if (!piped_lhs) {
        e->u.call.args = args ? args->v : NULL;
    } else {
        e->u.call.args = arena_array(p->arena, (size_t)n, sizeof(AstArg));
        e->u.call.args[0].value = piped_lhs;
        if (args)
            memcpy(e->u.call.args + 1, args->v, sizeof(AstArg) * (size_t)args->n);
    }
    e->u.call.nargs = n;
    return e;
}

static ArgVec *arg_push(Parser *p, ArgVec *v, const char *key, Loc key_loc, ExprD value,
                        Loc value_loc) {
    if (!v)
        v = arena_alloc(p->arena, sizeof *v);
    if (!key && v->named)
        diag_error(p->diag, L(value_loc), "positional argument follows keyword argument");
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        v->v = arena_grow(p->arena, v->v, sizeof(AstArg) * (size_t)v->cap,
                          sizeof(AstArg) * (size_t)cap);
        v->cap = cap;
    }
    v->v[v->n++] = (AstArg){key, key ? L(key_loc) : (SrcLoc){0}, value.e};
    v->named |= key != NULL;
    if (value.depth > v->depth)
        v->depth = value.depth;
    return v;
}

static ItemVec *item_push(Parser *p, ItemVec *v, ExprD e) {
    if (!v)
        v = arena_alloc(p->arena, sizeof *v);
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        v->v = arena_grow(p->arena, v->v, sizeof(AstExpr *) * (size_t)v->cap,
                          sizeof(AstExpr *) * (size_t)cap);
        v->cap = cap;
    }
    v->v[v->n++] = e.e;
    if (e.depth > v->depth)
        v->depth = e.depth;
    return v;
}

static DimVec *dim_push(Parser *p, DimVec *v, const char *sym, int64_t value, Loc at) {
    if (!v)
        v = arena_alloc(p->arena, sizeof *v);
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        v->v = arena_grow(p->arena, v->v, sizeof(AstDim) * (size_t)v->cap,
                          sizeof(AstDim) * (size_t)cap);
        v->cap = cap;
    }
    v->v[v->n++] = (AstDim){sym, sym ? 0 : value, L(at)};
    return v;
}

/* How a token reads in "unexpected X": with its spelling where it has one. */
static const char *describe_unexpected(Parser *p, yysymbol_kind_t t, char *buf, size_t n) {
    switch (t) {
    case YYSYMBOL_IDENT:
        snprintf(buf, n, "identifier '%s'", p->text);
        return buf;
    case YYSYMBOL_INT:
        snprintf(buf, n, "integer '%s'", p->text);
        return buf;
    case YYSYMBOL_FLOAT:
        snprintf(buf, n, "number '%s'", p->text);
        return buf;
    case YYSYMBOL_STRING:
        snprintf(buf, n, "string %s", p->text);
        return buf;
    case YYSYMBOL_NEWLINE:
        return p->nl_spell;
    default:
        return NULL;
    }
}

/* How a token reads in "expecting X": its kind, or the quoted punctuation or keyword. */
static const char *describe_expected(yysymbol_kind_t t, char *buf, size_t n) {
    switch (t) {
    case YYSYMBOL_YYEOF:
    case YYSYMBOL_IDENT:
    case YYSYMBOL_INT:
    case YYSYMBOL_FLOAT:
    case YYSYMBOL_STRING:
    case YYSYMBOL_NEWLINE:
        return yysymbol_name(t);
    default:
        break;
    }
    /* Bison's names for these are "->", "model", "'('": print all as '->', 'model', '('. */
    const char *name = yysymbol_name(t);
    if (name[0] == '\'')
        return name;
    snprintf(buf, n, "'%s'", name);
    return buf;
}

static bool has(const yysymbol_kind_t *v, int n, yysymbol_kind_t t) {
    for (int i = 0; i < n; i++)
        if (v[i] == t)
            return true;
    return false;
}

/* Drops the tokens of a group (an expression, a statement) from the expected list. */
static int drop(yysymbol_kind_t *v, int n, const yysymbol_kind_t *group, int ngroup) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!has(group, ngroup, v[i]))
            v[k++] = v[i];
    return k;
}

/* Appends ", expecting A, B or C" to msg: groups of tokens by their name (a statement, an
 * expression), and nothing when there are too many to help. */
static void append_expected(char *msg, size_t cap, yysymbol_kind_t *exp, int n) {
    const yysymbol_kind_t expr_first[] = {YYSYMBOL_IDENT,  YYSYMBOL_INT,  YYSYMBOL_FLOAT,
                                          YYSYMBOL_STRING, YYSYMBOL_TRUE, YYSYMBOL_FALSE,
                                          YYTRANSLATE('[')};
    const yysymbol_kind_t stmt_first[] = {YYSYMBOL_IDENT, YYSYMBOL_INPUT, YYSYMBOL_WEIGHTS,
                                          YYSYMBOL_OUTPUT, YYSYMBOL_NEWLINE};
    const char *group = NULL;
    if (has(exp, n, YYSYMBOL_INPUT)) {
        group = "a statement";
        n = drop(exp, n, stmt_first, 5);
    } else if (has(exp, n, YYSYMBOL_INT) && has(exp, n, YYSYMBOL_IDENT) &&
               has(exp, n, YYTRANSLATE('['))) {
        group = "an expression";
        n = drop(exp, n, expr_first, 7);
    }
    int total = n + (group != NULL);
    if (total == 0 || total > 5)
        return;
    size_t len = strlen(msg);
    for (int i = 0; i < total && len < cap; i++) {
        char buf[32];
        const char *name = group && i == 0 ? group
                                           : describe_expected(exp[i - (group != NULL)], buf,
                                                               sizeof buf);
        const char *sep = i == 0 ? ", expecting " : i == total - 1 ? " or " : ", ";
        snprintf(msg + len, cap - len, "%s%s", sep, name);
        len += strlen(msg + len);
    }
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, Parser *p) {
    (void)scanner;
    yysymbol_kind_t tok = yypcontext_token(ctx);
    SrcLoc at = L(*yypcontext_location(ctx));
    /* The end of the file is reported once, not again by every rule it cuts short. */
    bool at_eof = tok == YYSYMBOL_YYEOF ||
                  (tok == YYSYMBOL_NEWLINE && strcmp(p->nl_spell, "end of file") == 0);
    if (at_eof && p->eof_reported)
        return 0;
    p->eof_reported |= at_eof;

    char what_buf[96];
    const char *what = describe_unexpected(p, tok, what_buf, sizeof what_buf);
    if (!what)
        what = describe_expected(tok, what_buf, sizeof what_buf);
    if (p->closed) {
        if (tok == YYSYMBOL_MODEL)
            diag_error(p->diag, at, "only one model per file is allowed");
        else
            diag_error(p->diag, at, "unexpected %s after the end of the model", what);
        return 0;
    }

    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    if (n < 0)
        n = 0;
    if (has(exp, n, YYSYMBOL_MODEL)) {
        if (tok == YYSYMBOL_YYEOF)
            diag_error(p->diag, at, "expected 'model'");
        else
            diag_error(p->diag, at, "expected 'model', found %s", what);
    } else if (tok == YYSYMBOL_YYEOF && has(exp, n, YYTRANSLATE('}'))) {
        diag_error(p->diag, at, "expected '}' at end of file");
        diag_note(p->diag, L(p->lbrace), "to match this '{'");
    } else {
        char msg[512];
        snprintf(msg, sizeof msg, "syntax error, unexpected %s", what);
        append_expected(msg, sizeof msg, exp, n);
        diag_error(p->diag, at, "%s", msg);
    }
    return 0;
}

void nnd_yyerror(Loc *lloc, yyscan_t scanner, Parser *p, const char *msg) {
    (void)scanner;
    diag_error(p->diag, L(*lloc), "%s", msg);
}
