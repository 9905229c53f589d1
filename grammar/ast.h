/* ast.h: the syntax tree of one .nnd file (SPEC section 1), every node located.
 *
 * In: source text. Out: an AstModel owned by the compilation's arena. The parser desugars a
 * chain `E -> op(args)` into the call op(E, args) with `piped` set, so later stages see only
 * calls; ast_dump prints chains back as written. */
#ifndef NND_AST_H
#define NND_AST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"

typedef enum AstKind {
    AST_NAME,   /* a reference to an input or an earlier statement's target */
    AST_INT,
    AST_FLOAT,
    AST_STRING,
    AST_BOOL,
    AST_LIST,   /* [e1, e2, ...] */
    AST_CALL,   /* op(args) */
} AstKind;

typedef struct AstExpr AstExpr;

typedef struct AstArg {
    const char *key; /* NULL for a positional argument */
    SrcLoc key_loc;
    AstExpr *value;
} AstArg;

struct AstExpr {
    AstKind kind;
    SrcLoc loc; /* the whole expression; for a call, from the op name to the ')' */
    union {
        const char *name;  /* AST_NAME */
        int64_t i;         /* AST_INT */
        double f;          /* AST_FLOAT */
        const char *s;     /* AST_STRING, escapes resolved */
        bool b;            /* AST_BOOL */
        struct {
            AstExpr **items;
            int n;
        } list;
        struct {
            const char *op;
            SrcLoc op_loc;  /* the op name alone */
            AstArg *args;   /* for a piped call args[0] is the left-hand side of -> */
            int nargs;
            bool piped;
        } call;
    } u;
};

typedef enum AstStmtKind {
    STMT_INPUT,   /* input NAME : f32[d, ...] */
    STMT_WEIGHTS, /* weights "PATH" */
    STMT_ASSIGN,  /* NAME = EXPR */
    STMT_OUTPUT,  /* output NAME  |  output NAME = EXPR */
    STMT_ERROR,   /* a statement with a syntax error; name is set when the target was read */
} AstStmtKind;

typedef struct AstDim {
    const char *sym; /* NULL for a fixed size */
    int64_t value;   /* the fixed size (sym == NULL) */
    SrcLoc loc;
} AstDim;

typedef struct AstStmt {
    AstStmtKind kind;
    SrcLoc loc;         /* the statement's first token */
    const char *name;   /* input, assignment or output target (may be NULL for STMT_ERROR) */
    SrcLoc name_loc;
    const char *dtype;  /* STMT_INPUT: as written ("f32"); checked by the graph builder */
    SrcLoc dtype_loc;
    AstDim *dims;       /* STMT_INPUT */
    int ndims;
    const char *path;   /* STMT_WEIGHTS, as written */
    SrcLoc path_loc;
    AstExpr *expr;      /* STMT_ASSIGN, STMT_OUTPUT with '=' (else NULL) */
} AstStmt;

typedef struct AstModel {
    const char *name; /* NULL when the header did not parse */
    SrcLoc loc;
    AstStmt *stmts;
    int nstmts;
} AstModel;

/* Parses text (len bytes, NUL bytes included) read from `file`. Syntax errors go to d; the
 * parser recovers at the next statement so that every error is reported. Returns the model
 * with the statements it could read (never NULL). The arena must have an OOM handler. */
AstModel *parse_model(Arena *a, Diag *d, const char *file, const char *text, size_t len);

/* Prints the tree, one statement per line, as `nndc emit ast` shows it. */
void ast_dump(FILE *out, const AstModel *m);

#endif
