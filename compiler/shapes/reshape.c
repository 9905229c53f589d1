/* reshape.c: the ops that only rearrange or pass elements through: flatten, reshape,
 * transpose and dropout (identity at inference).
 *
 * Checks: flatten's axis in range; reshape's list has sizes >= 1 and at most one -1, and
 * holds as many elements as the input (the -1 is the exact quotient, so it may stand for a
 * symbolic size: [N, 3, 4] with [-1, 12] gives [N, 12]); transpose's perm is a permutation
 * of the input's axes; dropout's p is in [0, 1).
 * Produces the output shape; flatten's axis is stored non-negative, transpose's perm is
 * stored non-negative (reversed axes when unset). Reshape's list is left as written: its -1
 * may be symbolic, so n->shape carries the result. */
#include "rules.h"

/* torch.flatten(x, start_dim=axis): keeps the dimensions before axis, merges the rest. */
bool shape_flatten(Graph *g, Node *n, Diag *d) {
    const Shape *x = &n->in[0]->shape;
    /* A scalar flattens to [1], and its axis may be 0 or -1, as in PyTorch. */
    int axis = shape_arg_axis(g, n, d, x->rank);
    if (axis < 0)
        return false;
    Dim rest = dim_const(1);
    for (int i = axis; i < x->rank; i++)
        if (!dim_mul(rest, x->d[i], &rest)) {
            shape_error(g, d, n->loc, n, "input %s is too large", shape_in_str(g, n, 0));
            return false;
        }
    n->shape = *x;
    n->shape.rank = axis + 1;
    n->shape.d[axis] = rest;
    return true;
}

/* Checks the list's entries; the product of the given sizes goes to *known, the position
 * of the -1 to *infer (-1 when there is none). */
static bool reshape_list(Graph *g, Node *n, Diag *d, const Attr *a, Dim *known, int *infer) {
    const char *list = shape_ints_str(g, a->v, a->n);
    *known = dim_const(1);
    *infer = -1;
    for (int i = 0; i < a->n; i++) {
        int64_t v = a->v[i];
        if (v == -1 && *infer >= 0) {
            shape_error(g, d, a->loc, n, "shape %s has more than one -1", list);
            return false;
        }
        if (v == -1)
            *infer = i;
        else if (v < 1) {
            shape_error(g, d, a->loc, n, "shape %s has size %lld; sizes must be >= 1 or -1", list,
                        (long long)v);
            return false;
        } else if (!dim_mul(*known, dim_const(v), known)) {
            shape_error(g, d, a->loc, n, "shape %s is too large", list);
            return false;
        }
    }
    return true;
}

bool shape_reshape(Graph *g, Node *n, Diag *d) {
    const Attr *a = shape_arg(g, n, d, "shape", ATTR_INTS);
    Dim known, total, missing = dim_const(1);
    int infer;
    if (!a || !reshape_list(g, n, d, a, &known, &infer))
        return false;
    const char *list = shape_ints_str(g, a->v, a->n);
    if (!shape_numel(&n->in[0]->shape, &total)) {
        shape_error(g, d, n->loc, n, "input %s is too large", shape_in_str(g, n, 0));
        return false;
    }
    bool fits = infer >= 0 ? dim_div(total, known, &missing) : dim_eq(total, known);
    if (!fits) {
        shape_error(g, d, a->loc, n, "cannot reshape %s (%s elements) into %s%s",
                    shape_in_str(g, n, 0), shape_dim_str(g, total), list,
                    infer < 0 && !dim_is_const(total) ? " (a -1 may stand for a symbolic size)"
                                                      : "");
        return false;
    }
    n->shape.rank = a->n;
    for (int i = 0; i < a->n; i++)
        n->shape.d[i] = i == infer ? missing : dim_const(a->v[i]);
    return true;
}

/* Normalizes perm in place; false after reporting one that is not a permutation. */
static bool perm_ok(Graph *g, Node *n, Diag *d, Attr *p, int rank) {
    const char *orig = shape_ints_str(g, p->v, p->n);
    bool seen[MAX_RANK] = {false};
    if (p->n != rank) {
        shape_error(g, d, p->loc, n, "perm %s has %d entries, but the input %s has %d axes", orig,
                    p->n, shape_in_str(g, n, 0), rank);
        return false;
    }
    for (int i = 0; i < rank; i++) {
        int64_t v = p->v[i] < 0 ? p->v[i] + rank : p->v[i];
        if (v < 0 || v >= rank || seen[v]) {
            shape_error(g, d, p->loc, n, "perm %s is not a permutation of the axes of %s", orig,
                        shape_in_str(g, n, 0));
            return false;
        }
        seen[v] = true;
    }
    for (int i = 0; i < rank; i++)
        p->v[i] = p->v[i] < 0 ? p->v[i] + rank : p->v[i];
    return true;
}

bool shape_transpose(Graph *g, Node *n, Diag *d) {
    const Shape *x = &n->in[0]->shape;
    Attr *p = node_attr(n, "perm");
    if (p && !p->set) { /* no perm: reverse the axes, like numpy.transpose */
        int64_t rev[MAX_RANK];
        for (int i = 0; i < x->rank; i++)
            rev[i] = x->rank - 1 - i;
        shape_set_ints(p, x->rank, rev);
    } else if (!(p = shape_arg(g, n, d, "perm", ATTR_INTS)) || !perm_ok(g, n, d, p, x->rank)) {
        return false;
    }
    n->shape.rank = x->rank;
    for (int i = 0; i < x->rank; i++)
        n->shape.d[i] = x->d[p->v[i]];
    return true;
}

bool shape_dropout(Graph *g, Node *n, Diag *d) {
    const Attr *p = shape_arg(g, n, d, "p", ATTR_FLOAT);
    if (!p)
        return false;
    if (!(p->f >= 0 && p->f < 1)) {
        shape_error(g, d, p->loc, n, "p must be in [0, 1), got %g", p->f);
        return false;
    }
    n->shape = n->in[0]->shape;
    return true;
}
