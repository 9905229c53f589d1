/* elementwise.c: activations (shape unchanged) and the binary ops add, sub, mul, div.
 *
 * Checks: gelu's approximate is "none" or "tanh"; clip has min or max and min <= max when it
 * has both (torch.clamp needs at least one bound); the binary ops' operands broadcast as in
 * NumPy (a dimension 1 stretches, symbolic dimensions match when their monomials are equal).
 * Produces the input's shape, or the broadcast shape; a number `b` (attribute "b", one
 * tensor input) leaves `a`'s shape. */
#include <string.h>

#include "rules.h"

bool shape_same(Graph *g, Node *n, Diag *d) {
    (void)g, (void)d;
    n->shape = n->in[0]->shape;
    return true;
}

bool shape_gelu(Graph *g, Node *n, Diag *d) {
    const Attr *a = shape_arg(g, n, d, "approximate", ATTR_STRING);
    if (!a)
        return false;
    if (!a->s || (strcmp(a->s, "none") != 0 && strcmp(a->s, "tanh") != 0)) {
        shape_error(g, d, a->loc, n, "approximate must be \"none\" or \"tanh\", got \"%s\"",
                    a->s ? a->s : "");
        return false;
    }
    n->shape = n->in[0]->shape;
    return true;
}

bool shape_clip(Graph *g, Node *n, Diag *d) {
    const Attr *lo = node_attr(n, "min"), *hi = node_attr(n, "max");
    bool has_lo = lo && lo->set, has_hi = hi && hi->set;
    if (!has_lo && !has_hi) {
        shape_error(g, d, n->loc, n, "needs min or max (or both)");
        return false;
    }
    if (has_lo && has_hi && !(attr_float(n, "min") <= attr_float(n, "max"))) {
        shape_error(g, d, lo->loc, n, "min %g is greater than max %g", attr_float(n, "min"),
                    attr_float(n, "max"));
        return false;
    }
    n->shape = n->in[0]->shape;
    return true;
}

bool shape_binary(Graph *g, Node *n, Diag *d) {
    if (n->nin == 1) { /* b is a number: the arity check saw attribute "b" set */
        n->shape = n->in[0]->shape;
        return true;
    }
    if (shape_broadcast(&n->in[0]->shape, &n->in[1]->shape, &n->shape))
        return true;
    shape_error(g, d, n->loc, n, "cannot broadcast %s with %s", shape_in_str(g, n, 0),
                shape_in_str(g, n, 1));
    return false;
}
