/* attrs.h: turning argument values into an op's normalized attributes.
 *
 * In: a literal (from the source, or a default written in ops.def) and the schema type it is
 * for. Out: the Attr every shape rule and lowering reads:
 *   i -> ATTR_INT;  f -> ATTR_FLOAT (ints accepted);  b -> ATTR_BOOL;  s -> ATTR_STRING;
 *   i2 -> ATTR_INTS n=2 (an int x means [x, x]);
 *   pad -> ATTR_INTS n=4 [top, left, bottom, right] (x -> all four, [h, w] -> [h, w, h, w]),
 *          or ATTR_STRING for "same" / "valid";
 *   ints -> ATTR_INTS with the list's length;  tn given a number -> ATTR_FLOAT.
 * The binder (AST -> graph) and ops_apply_defaults share this, so a default and the same
 * value written by the user give identical attributes. */
#ifndef NND_ATTRS_H
#define NND_ATTRS_H

#include "graph.h"
#include "ops.h"

typedef enum LitKind { LIT_INT, LIT_FLOAT, LIT_BOOL, LIT_STRING, LIT_LIST } LitKind;

typedef struct Literal {
    LitKind kind;
    int64_t i;
    double f;
    bool b;
    const char *s;
    int n;                  /* LIT_LIST: number of items (all ints) */
    int64_t v[MAX_RANK];
    bool list_ok;           /* LIT_LIST: every item was an int and there were <= MAX_RANK */
} Literal;

/* Sets a from lit for an argument of type t. Returns NULL on success, else a description of
 * what was expected ("an integer", "an integer or a list of 2 integers", ...). */
const char *attr_set(Attr *a, ArgType t, const Literal *lit);
/* Adds every non-tensor argument of n's op to n: defaults set, optional ones unset. Tensor
 * arguments are the node's inputs, not attributes. */
void ops_apply_defaults(Graph *g, Node *n);
/* The literal written as `text` in ops.def ("true", "1e-5", "none", "0"). */
Literal literal_parse(const char *text);

#endif
