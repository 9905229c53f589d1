/* matmul.c: matmul(a, b) with numpy.matmul (= torch.matmul) semantics.
 *
 * Checks: neither operand is a scalar; a's last dimension equals b's second-to-last (b's
 * only one when b is 1-D); the batch dimensions (all but the last two) broadcast.
 * Produces batch + [M] + [P], where a 1-D a contributes no M and a 1-D b no P (NumPy
 * promotes them to [1, K] and [K, 1], then drops the added axis). */
#include "rules.h"

bool shape_matmul(Graph *g, Node *n, Diag *d) {
    const Shape *a = &n->in[0]->shape, *b = &n->in[1]->shape;
    if (a->rank == 0 || b->rank == 0) {
        shape_error(g, d, n->loc, n, "needs operands with at least 1 dimension, got %s and %s",
                    shape_in_str(g, n, 0), shape_in_str(g, n, 1));
        return false;
    }
    Dim ka = a->d[a->rank - 1], kb = b->d[b->rank == 1 ? 0 : b->rank - 2];
    bool ok = dim_eq(ka, kb);
    if (!ok)
        shape_error(g, d, n->loc, n, "cannot multiply %s by %s: inner dimensions %s and %s differ",
                    shape_in_str(g, n, 0), shape_in_str(g, n, 1), shape_dim_str(g, ka),
                    shape_dim_str(g, kb));
    Shape ba = *a, bb = *b, out;
    ba.rank = a->rank > 2 ? a->rank - 2 : 0;
    bb.rank = b->rank > 2 ? b->rank - 2 : 0;
    if (!shape_broadcast(&ba, &bb, &out)) {
        shape_error(g, d, n->loc, n, "cannot broadcast the batch dimensions of %s and %s",
                    shape_in_str(g, n, 0), shape_in_str(g, n, 1));
        return false;
    }
    if (a->rank >= 2)
        out.d[out.rank++] = a->d[a->rank - 2];
    if (b->rank >= 2)
        out.d[out.rank++] = b->d[b->rank - 1];
    n->shape = out;
    return ok;
}
