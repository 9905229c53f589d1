/* ops.c: names and argument schemas of the operators, from ops.def; see ops.h. */
#include "ops.h"

#include <string.h>

typedef struct OpRow {
    const char *name;
    const char *schema; /* NULL: not callable */
} OpRow;

static const OpRow rows[] = {
#define OP(e, name, schema, shape, lower) [OP_##e] = {name, schema},
#include "ops.def"
#undef OP
};

_Static_assert(sizeof rows / sizeof rows[0] == OP_COUNT, "ops.def and OpKind disagree");

const char *op_name(OpKind op) { return op < OP_COUNT ? rows[op].name : "?"; }

bool ops_lookup(const char *name, OpKind *out) {
    for (int i = 0; i < OP_COUNT; i++)
        if (rows[i].schema && strcmp(rows[i].name, name) == 0) {
            *out = (OpKind)i;
            return true;
        }
    return false;
}

const char *ops_suggest(const char *name) {
    const char *names[OP_COUNT];
    int n = 0;
    for (int i = 0; i < OP_COUNT; i++)
        if (rows[i].schema)
            names[n++] = rows[i].name;
    return diag_nearest(name, names, n);
}

static bool parse_type(const char *s, size_t n, ArgType *t) {
    static const struct {
        const char *text;
        ArgType type;
    } types[] = {
        {"t", ARG_TENSOR}, {"t*", ARG_TENSORS}, {"tn", ARG_TENSOR_OR_NUM}, {"i", ARG_INT},
        {"f", ARG_FLOAT},  {"b", ARG_BOOL},     {"s", ARG_STRING},         {"i2", ARG_INT2},
        {"pad", ARG_PAD},  {"ints", ARG_INTS},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strlen(types[i].text) == n && memcmp(types[i].text, s, n) == 0) {
            *t = types[i].type;
            return true;
        }
    return false;
}

/* Copies at most cap-1 bytes of [s, s+n) into dst. */
static void copy(char *dst, size_t cap, const char *s, size_t n) {
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

int ops_schema(OpKind op, ArgSpec *out) {
    const char *p = op < OP_COUNT ? rows[op].schema : NULL;
    int n = 0;
    while (p && *p && n < MAX_ARGS) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, ' ');
        if (!end)
            end = p + strlen(p);
        const char *colon = memchr(p, ':', (size_t)(end - p));
        ArgSpec *a = &out[n];
        memset(a, 0, sizeof *a);
        if (!colon)
            break; /* ops.def is ours; a malformed row is caught by the ops tests */
        copy(a->name, sizeof a->name, p, (size_t)(colon - p));
        const char *t = colon + 1, *te = t;
        while (te < end && *te != '=' && *te != '?')
            te++;
        if (!parse_type(t, (size_t)(te - t), &a->type))
            break;
        if (te < end && *te == '=') {
            a->has_default = true;
            copy(a->def, sizeof a->def, te + 1, (size_t)(end - te - 1));
        } else if (te == end) {
            a->required = true;
        }
        n++;
        p = end;
    }
    return n;
}

bool ops_is_parametric(OpKind op) {
    return op == OP_DENSE || op == OP_CONV2D || op == OP_BATCHNORM || op == OP_LAYERNORM ||
           op == OP_PARAM;
}
