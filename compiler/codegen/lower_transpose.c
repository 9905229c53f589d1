/* lower_transpose.c: transpose(x, perm), y.shape[i] = x.shape[perm[i]], any rank.
 *
 * One loop per output dimension in C order, so the innermost loop writes y with unit
 * stride; x is read at sum(i_k * xstride[perm[k]]). Output dimensions of size 1 are dropped,
 * and runs of output dimensions that are also consecutive in x are merged (transposing
 * [N, 3, 4, 5] by [0, 3, 1, 2] is a [N, 5, 12] walk), so an identity permutation is one flat
 * copy loop. Sizes may be symbolic. */
#include <stdio.h>

#include "cg.h"

typedef struct TWalk {
    int rank;
    Dim size[MAX_RANK];
    Dim xstride[MAX_RANK];
} TWalk;

static TWalk plan(const Node *n) {
    const Shape *x = &n->in[0]->shape;
    const Attr *perm = node_attr(n, "perm");
    Dim st[MAX_RANK], s = dim_const(1);
    for (int j = x->rank - 1; j >= 0; j--) {
        st[j] = s;
        dim_mul(s, x->d[j], &s);
    }
    TWalk w = {0};
    for (int i = 0; i < n->shape.rank; i++) {
        Dim size = n->shape.d[i], xs = st[perm->v[i]], run;
        if (dim_is(size, 1))
            continue;
        int r = w.rank;
        /* Stepping the outer dimension once equals stepping this one `size` times. */
        if (r > 0 && dim_mul(xs, size, &run) && dim_eq(w.xstride[r - 1], run)) {
            dim_mul(w.size[r - 1], size, &w.size[r - 1]);
            w.xstride[r - 1] = xs;
            continue;
        }
        w.size[r] = size;
        w.xstride[r] = xs;
        w.rank++;
    }
    return w;
}

bool lower_transpose(Cg *cg, Node *n) {
    TWalk w = plan(n);
    LLVMValueRef X = cg->buf[n->in[0]->id], Y = cg->buf[n->id];
    LLVMValueRef ystride[MAX_RANK], st = cg_i64(cg, 1);
    for (int d = w.rank - 1; d >= 0; d--) {
        ystride[d] = st;
        st = cg_mul(cg, st, cg_dim(cg, w.size[d]));
    }
    CgLoop loops[MAX_RANK];
    LLVMValueRef xoff = cg_i64(cg, 0), yoff = cg_i64(cg, 0);
    for (int d = 0; d < w.rank; d++) {
        char name[32];
        snprintf(name, sizeof name, "transpose.d%d", d);
        LLVMValueRef i = cg_loop_begin(cg, &loops[d], cg_dim(cg, w.size[d]), name);
        xoff = cg_add(cg, xoff, cg_mul(cg, i, cg_dim(cg, w.xstride[d])));
        yoff = cg_add(cg, yoff, cg_mul(cg, i, ystride[d]));
    }
    cg_store(cg, cg_load(cg, X, xoff), Y, yoff);
    for (int d = w.rank - 1; d >= 0; d--)
        cg_loop_end(cg, &loops[d], NULL);
    return true;
}
