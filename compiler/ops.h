/* ops.h: what the operator table (ops.def) says about each operator's arguments.
 *
 * In: an op name as written, or an OpKind. Out: its kind (with the nearest known name when
 * it is unknown) and its argument schema, parsed from the table's text on demand. */
#ifndef NND_OPS_H
#define NND_OPS_H

#include <stdbool.h>

#include "graph.h"

typedef enum ArgType {
    ARG_TENSOR,         /* t */
    ARG_TENSORS,        /* t*: one or more tensors, variadic */
    ARG_TENSOR_OR_NUM,  /* tn */
    ARG_INT,            /* i */
    ARG_FLOAT,          /* f */
    ARG_BOOL,           /* b */
    ARG_STRING,         /* s */
    ARG_INT2,           /* i2: int or [h, w] -> ints[2] */
    ARG_PAD,            /* pad: int, [h, w] or [top, left, bottom, right] -> ints[4]; or string */
    ARG_INTS,           /* ints: list of ints */
} ArgType;

typedef struct ArgSpec {
    char name[24];
    ArgType type;
    bool required;     /* no default and not optional: must be given */
    bool has_default;
    char def[24];      /* the default as text */
} ArgSpec;

enum { MAX_ARGS = 12 };

/* The op called `name`; false when there is none (INPUT is not callable). */
bool ops_lookup(const char *name, OpKind *out);
/* The known op nearest to `name`, for "did you mean" (NULL when nothing is close). */
const char *ops_suggest(const char *name);
/* The op's arguments in positional order; returns how many. */
int ops_schema(OpKind op, ArgSpec *out);
/* Whether the op owns parameters (so its statement gives them a prefix). */
bool ops_is_parametric(OpKind op);

#endif
