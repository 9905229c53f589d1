/* infer.c: the shape-inference driver and the helpers every rule shares.
 *
 * In: a graph whose inputs have their declared shapes and whose nodes have bound arguments.
 * Out: every node's output shape and parameters (via its rule from ops.def), or the node
 * marked bad. A node whose input is bad is marked bad without a new error, so one mistake
 * is reported once. Also checks that each node has the tensor inputs its schema asks for,
 * and that no output shape is too large to address. */
#include <string.h>

#include "ops.h"
#include "rules.h"

static const ShapeRule rules[] = {
#define OP(e, name, schema, shape, lower) [OP_##e] = shape,
#include "ops.def"
#undef OP
};

_Static_assert(sizeof rules / sizeof rules[0] == OP_COUNT, "ops.def and the rules disagree");

bool shape_input(Graph *g, Node *n, Diag *d) {
    (void)g, (void)n, (void)d; /* an input's shape is its declaration */
    return true;
}

/* Whether n has the tensor inputs its schema asks for; a `tn` argument given as a number is
 * an attribute instead. The binder guarantees this; graphs built by hand may not. */
static bool arity_ok(Graph *g, Node *n, Diag *d) {
    ArgSpec spec[MAX_ARGS];
    int ns = ops_schema(n->op, spec), want = 0;
    bool variadic = false;
    for (int i = 0; i < ns; i++) {
        const Attr *num = node_attr(n, spec[i].name);
        if (spec[i].type == ARG_TENSOR || spec[i].type == ARG_TENSORS)
            want++;
        else if (spec[i].type == ARG_TENSOR_OR_NUM && !(num && num->set))
            want++;
        variadic |= spec[i].type == ARG_TENSORS;
    }
    if (variadic ? n->nin >= want : n->nin == want)
        return true;
    shape_error(g, d, n->loc, n, "takes %s%d tensor input%s, got %d", variadic ? "at least " : "",
                want, want == 1 ? "" : "s", n->nin);
    return false;
}

static bool output_ok(Graph *g, Node *n, Diag *d) {
    Dim numel;
    if (shape_numel(&n->shape, &numel))
        return true;
    shape_error(g, d, n->loc, n, "output shape %s is too large", graph_shape_str(g, &n->shape));
    return false;
}

static bool any_input_bad(const Node *n) {
    for (int i = 0; i < n->nin; i++)
        if (n->in[i]->bad)
            return true;
    return false;
}

bool shape_infer(Graph *g, Diag *d) {
    bool ok = true;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = g->nodes[i];
        if (n->op != OP_INPUT && !n->bad && !any_input_bad(n))
            n->bad = !(arity_ok(g, n, d) && rules[n->op](g, n, d) && output_ok(g, n, d));
        else if (n->op != OP_INPUT)
            n->bad = true; /* already reported, here or upstream */
        ok &= !n->bad;
    }
    return ok;
}

int shape_axis(Graph *g, Node *n, Diag *d, const char *arg, int64_t axis, int rank) {
    if (axis >= -rank && axis < rank)
        return (int)(axis < 0 ? axis + rank : axis);
    if (rank == 0)
        shape_error(g, d, shape_arg_loc(n, arg), n,
                    "%s %lld is out of range: the input %s has no axes", arg, (long long)axis,
                    shape_in_str(g, n, 0));
    else
        shape_error(g, d, shape_arg_loc(n, arg), n,
                    "%s %lld is out of range for the %d-D input %s (expected %d to %d)", arg,
                    (long long)axis, rank, shape_in_str(g, n, 0), -rank, rank - 1);
    return -1;
}

bool shape_broadcast(const Shape *a, const Shape *b, Shape *out) {
    Shape r;
    memset(&r, 0, sizeof r);
    r.rank = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 1; i <= r.rank; i++) {
        Dim one = dim_const(1);
        Dim x = i <= a->rank ? a->d[a->rank - i] : one;
        Dim y = i <= b->rank ? b->d[b->rank - i] : one;
        if (dim_eq(x, y) || dim_is(y, 1))
            r.d[r.rank - i] = x;
        else if (dim_is(x, 1))
            r.d[r.rank - i] = y;
        else
            return false;
    }
    *out = r;
    return true;
}
