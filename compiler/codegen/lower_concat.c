/* lower_concat.c: concat(x1, x2, ..., axis), torch.cat along a non-negative axis.
 *
 * Around the axis every tensor is [outer, rest], where rest = size along the axis times
 * the sizes after it: input j is `outer` contiguous blocks of rest_j floats, and block o
 * of y is the concatenation of the inputs' blocks o. So each input is one memcpy per
 * outer index into y at (o * rest_y + the rests of the inputs before it); one memcpy in
 * all when outer is 1 (axis 0, or only ones before it). */
#include "cg.h"

static Dim prod(const Shape *s, int from, int to) {
    Dim r = dim_const(1);
    for (int i = from; i < to; i++)
        dim_mul(r, s->d[i], &r);
    return r;
}

bool lower_concat(Cg *cg, Node *n) {
    int axis = (int)attr_int(n, "axis"), rank = n->shape.rank;
    Dim outer = prod(&n->shape, 0, axis);
    LLVMValueRef rest_y = cg_dim(cg, prod(&n->shape, axis, rank));
    LLVMValueRef Y = cg->buf[n->id], at = cg_i64(cg, 0);
    LLVMTypeRef f32 = cg->f32;
    for (int j = 0; j < n->nin; j++) {
        const Node *x = n->in[j];
        LLVMValueRef rest = cg_dim(cg, prod(&x->shape, axis, rank)), X = cg->buf[x->id];
        if (dim_is(outer, 1)) {
            cg_memcpy(cg, LLVMBuildInBoundsGEP2(cg->b, f32, Y, &at, 1, ""), X, rest);
        } else {
            CgLoop lo;
            LLVMValueRef o = cg_loop_begin(cg, &lo, cg_dim(cg, outer), "concat.outer");
            LLVMValueRef yoff = cg_add(cg, cg_mul(cg, o, rest_y), at), xoff = cg_mul(cg, o, rest);
            cg_memcpy(cg, LLVMBuildInBoundsGEP2(cg->b, f32, Y, &yoff, 1, ""),
                      LLVMBuildInBoundsGEP2(cg->b, f32, X, &xoff, 1, ""), rest);
            cg_loop_end(cg, &lo, NULL);
        }
        at = cg_add(cg, at, rest);
    }
    return true;
}
