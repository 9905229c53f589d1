/* common.c: argument checks, error wording, parameters and window arithmetic shared by the
 * shape rules; see rules.h.
 *
 * In: a node under inference. Out: checked argument values, errors that start with the op
 * and the node's name, and parameters declared idempotently. */
#include "rules.h"

#include <stdarg.h>
#include <string.h>

void shape_error(Graph *g, Diag *d, SrcLoc at, const Node *n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const char *msg = arena_vprintf(g->arena, fmt, ap);
    va_end(ap);
    diag_error(d, at, "%s '%s' %s", op_name(n->op), n->name, msg);
}

const char *shape_in_str(Graph *g, const Node *n, int i) { return node_shape_str(g, n->in[i]); }

const char *shape_dim_str(Graph *g, Dim x) { return dim_str(g->arena, x, g->syms); }

const char *shape_ints_str(Graph *g, const int64_t *v, int count) {
    const char *s = "[";
    for (int i = 0; i < count; i++)
        s = arena_printf(g->arena, "%s%s%lld", s, i ? ", " : "", (long long)v[i]);
    return arena_printf(g->arena, "%s]", s);
}

SrcLoc shape_arg_loc(const Node *n, const char *name) {
    const Attr *a = node_attr(n, name);
    return a ? a->loc : n->loc;
}

Attr *shape_arg(Graph *g, Node *n, Diag *d, const char *name, AttrKind kind) {
    Attr *a = node_attr(n, name);
    if (a && a->set && a->kind == kind)
        return a;
    /* The binder guarantees every schema argument; this guards graphs built by hand. */
    shape_error(g, d, a ? a->loc : n->loc, n, "has no valid %s argument", name);
    return NULL;
}

int shape_arg_axis(Graph *g, Node *n, Diag *d, int rank) {
    Attr *a = shape_arg(g, n, d, "axis", ATTR_INT);
    int axis = a ? shape_axis(g, n, d, "axis", a->i, rank ? rank : 1) : -1;
    if (axis >= 0)
        a->i = axis;
    return axis;
}

bool shape_arg_int(Graph *g, Node *n, Diag *d, const char *name, int64_t min, int64_t *out) {
    const Attr *a = shape_arg(g, n, d, name, ATTR_INT);
    if (!a)
        return false;
    if (a->i < min) {
        shape_error(g, d, a->loc, n, "%s must be at least %lld, got %lld", name, (long long)min,
                    (long long)a->i);
        return false;
    }
    *out = a->i;
    return true;
}

Attr *shape_arg_ints(Graph *g, Node *n, Diag *d, const char *name, int count, int64_t min) {
    Attr *a = shape_arg(g, n, d, name, ATTR_INTS);
    if (!a)
        return NULL;
    if (a->n != count) {
        shape_error(g, d, a->loc, n, "%s needs %d integers, got %s", name, count,
                    shape_ints_str(g, a->v, a->n));
        return NULL;
    }
    for (int i = 0; i < count; i++)
        if (a->v[i] < min) {
            shape_error(g, d, a->loc, n, "%s must be at least %lld, got %s", name, (long long)min,
                        shape_ints_str(g, a->v, a->n));
            return NULL;
        }
    return a;
}

bool shape_arg_positive(Graph *g, Node *n, Diag *d, const char *name, double *out) {
    const Attr *a = shape_arg(g, n, d, name, ATTR_FLOAT);
    if (!a)
        return false;
    if (!(a->f > 0)) { /* also rejects NaN */
        shape_error(g, d, a->loc, n, "%s must be greater than 0, got %g", name, a->f);
        return false;
    }
    *out = a->f;
    return true;
}

void shape_set_ints(Attr *a, int count, const int64_t *v) {
    a->kind = ATTR_INTS;
    a->set = true;
    a->s = NULL;
    a->n = count;
    for (int i = 0; i < count; i++)
        a->v[i] = v[i];
}

bool shape_need_fixed(Graph *g, Node *n, Diag *d, int from, int to, const char *what) {
    const Shape *s = &n->in[0]->shape;
    for (int i = from; i < to && i < s->rank; i++)
        if (!dim_is_const(s->d[i])) {
            shape_error(g, d, n->loc, n, "needs %s, got %s", what, shape_in_str(g, n, 0));
            return false;
        }
    return true;
}

bool shape_need_rank(Graph *g, Node *n, Diag *d, int lo, int hi, const char *what) {
    int r = n->in[0]->shape.rank;
    if (r >= lo && r <= hi)
        return true;
    shape_error(g, d, n->loc, n, "expects %s, got %s", what, shape_in_str(g, n, 0));
    return false;
}

Shape shape_make(int rank, const int64_t *v) {
    Shape s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    for (int i = 0; i < rank; i++)
        s.d[i] = dim_const(v[i]);
    return s;
}

const Param *shape_bound_param(const Node *n, const char *suffix) {
    const Param *p = node_param(n, suffix);
    return p && p->data ? p : NULL;
}

bool shape_param(Graph *g, Node *n, Diag *d, const char *suffix, Shape s, ParamInit init,
                 int64_t fan_in) {
    Dim numel;
    if (!shape_numel(&s, &numel)) {
        shape_error(g, d, n->loc, n, "parameter '%s.%s' %s is too large", n->prefix, suffix,
                    graph_shape_str(g, &s));
        return false;
    }
    Param *p = node_param(n, suffix);
    if (!p) {
        node_add_param(g, n, suffix, s, init, fan_in);
        return true;
    }
    if (!shape_eq(&p->shape, &s)) {
        if (p->data) {
            shape_error(g, d, n->loc, n, "parameter '%s' is %s, but this layer needs %s", p->name,
                        graph_shape_str(g, &p->shape), graph_shape_str(g, &s));
            return false;
        }
        p->shape = s;
    }
    p->init = init;
    p->fan_in = fan_in;
    return true;
}

/* Division rounding toward negative infinity (PyTorch's div_rtn), b > 0. */
static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

bool shape_window(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel, int64_t stride,
                  int64_t dilation, bool ceil_mode, int64_t *out) {
    int64_t reach, span, begin;
    if (__builtin_mul_overflow(dilation, kernel - 1, &reach) ||
        __builtin_add_overflow(in, pad_begin, &begin) ||
        __builtin_add_overflow(begin, pad_end, &span) ||
        __builtin_sub_overflow(span, reach, &span) || __builtin_sub_overflow(span, 1, &span) ||
        (ceil_mode && __builtin_add_overflow(span, stride - 1, &span)))
        return false;
    int64_t o = floor_div(span, stride) + 1;
    /* ceil_mode: the last window must start inside the input or its left padding. */
    if (ceil_mode && o > 0 && (o - 1) * stride >= begin)
        o--;
    *out = o;
    return true;
}
