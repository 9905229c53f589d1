/* attrs.c: argument values to attributes; see attrs.h. */
#include "attrs.h"

#include <stdlib.h>
#include <string.h>

static AttrKind kind_of(ArgType t) {
    switch (t) {
    case ARG_INT: return ATTR_INT;
    case ARG_BOOL: return ATTR_BOOL;
    case ARG_STRING: return ATTR_STRING;
    case ARG_INT2:
    case ARG_PAD:
    case ARG_INTS: return ATTR_INTS;
    default: return ATTR_FLOAT;
    }
}

const char *attr_set(Attr *a, ArgType t, const Literal *lit) {
    a->kind = kind_of(t);
    a->set = true;
    switch (t) {
    case ARG_INT:
        if (lit->kind != LIT_INT)
            return "an integer";
        a->i = lit->i;
        return NULL;
    case ARG_FLOAT:
    case ARG_TENSOR_OR_NUM:
        if (lit->kind == LIT_INT)
            a->f = (double)lit->i;
        else if (lit->kind == LIT_FLOAT)
            a->f = lit->f;
        else
            return t == ARG_FLOAT ? "a number" : "a tensor or a number";
        return NULL;
    case ARG_BOOL:
        if (lit->kind != LIT_BOOL)
            return "true or false";
        a->i = lit->b;
        return NULL;
    case ARG_STRING:
        if (lit->kind != LIT_STRING)
            return "a string";
        a->s = lit->s;
        return NULL;
    case ARG_INT2:
        if (lit->kind == LIT_INT) {
            a->n = 2;
            a->v[0] = a->v[1] = lit->i;
            return NULL;
        }
        if (lit->kind == LIT_LIST && lit->list_ok && lit->n == 2) {
            a->n = 2;
            a->v[0] = lit->v[0];
            a->v[1] = lit->v[1];
            return NULL;
        }
        return "an integer or a list of 2 integers";
    case ARG_PAD:
        if (lit->kind == LIT_STRING) {
            a->kind = ATTR_STRING;
            a->s = lit->s;
            return NULL;
        }
        a->n = 4;
        if (lit->kind == LIT_INT) {
            a->v[0] = a->v[1] = a->v[2] = a->v[3] = lit->i;
            return NULL;
        }
        if (lit->kind == LIT_LIST && lit->list_ok && lit->n == 2) {
            a->v[0] = a->v[2] = lit->v[0];
            a->v[1] = a->v[3] = lit->v[1];
            return NULL;
        }
        if (lit->kind == LIT_LIST && lit->list_ok && lit->n == 4) {
            memcpy(a->v, lit->v, sizeof(int64_t) * 4);
            return NULL;
        }
        return "an integer, [h, w], [top, left, bottom, right] or \"same\"";
    case ARG_INTS:
        if (lit->kind == LIT_INT) {
            a->n = 1;
            a->v[0] = lit->i;
            return NULL;
        }
        if (lit->kind == LIT_LIST && lit->list_ok) {
            a->n = lit->n;
            memcpy(a->v, lit->v, sizeof(int64_t) * (size_t)lit->n);
            return NULL;
        }
        return "a list of at most 8 integers";
    case ARG_TENSOR:
    case ARG_TENSORS:
        return "a tensor";
    }
    return "a value";
}

Literal literal_parse(const char *text) {
    Literal l;
    memset(&l, 0, sizeof l);
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
        l.kind = LIT_BOOL;
        l.b = text[0] == 't';
        return l;
    }
    char *end;
    long long i = strtoll(text, &end, 10);
    if (*text && *end == 0) {
        l.kind = LIT_INT;
        l.i = i;
        return l;
    }
    double f = strtod(text, &end);
    if (*text && *end == 0) {
        l.kind = LIT_FLOAT;
        l.f = f;
        return l;
    }
    l.kind = LIT_STRING;
    l.s = text;
    return l;
}

void ops_apply_defaults(Graph *g, Node *n) {
    ArgSpec spec[MAX_ARGS];
    int ns = ops_schema(n->op, spec);
    for (int i = 0; i < ns; i++) {
        if (spec[i].type == ARG_TENSOR || spec[i].type == ARG_TENSORS ||
            spec[i].type == ARG_TENSOR_OR_NUM)
            continue;
        Attr *a = node_add_attr(g, n, spec[i].name, kind_of(spec[i].type));
        a->loc = n->loc;
        if (spec[i].has_default) {
            Literal lit = literal_parse(spec[i].def);
            if (lit.kind == LIT_STRING)
                lit.s = arena_strdup(g->arena, spec[i].def);
            attr_set(a, spec[i].type, &lit);
        } else {
            a->set = false;
        }
    }
}
