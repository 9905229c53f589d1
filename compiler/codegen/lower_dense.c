/* lower_dense.c: dense(x, units) = x · Wᵀ + b over the last axis of x.
 *
 * x [..., K], weight [U, K] (PyTorch layout), bias [U] -> y [..., U]. Every row of x is
 * dotted with every row of W: both are contiguous in k, so the inner loop is a vectorized
 * reduction (reassociation allowed) over constant K with constant weights. The fused
 * epilogue is applied to each sum with its bias, before the store. */
#include "cg.h"

bool lower_dense(Cg *cg, Node *n) {
    Node *x = n->in[0];
    int rank = x->shape.rank;
    int64_t K = x->shape.d[rank - 1].c, U = n->shape.d[rank - 1].c;
    Dim numel, rows;
    if (!shape_numel(&x->shape, &numel) || !dim_div(numel, dim_const(K), &rows))
        return false; /* shape inference guarantees both */
    const Param *wp = node_param(n, "weight"), *bp = node_param(n, "bias");
    LLVMValueRef W = cg_param(cg, wp), B = bp ? cg_param(cg, bp) : NULL;
    LLVMValueRef X = cg->buf[x->id], Y = cg->buf[n->id];

    CgLoop lm, lj, lk;
    LLVMValueRef m = cg_loop_begin(cg, &lm, cg_dim(cg, rows), "dense.m");
    LLVMValueRef xrow = cg_mul(cg, m, cg_i64(cg, K));
    LLVMValueRef yrow = cg_mul(cg, m, cg_i64(cg, U));
    LLVMValueRef j = cg_loop_begin(cg, &lj, cg_i64(cg, U), "dense.j");
    LLVMValueRef wrow = cg_mul(cg, j, cg_i64(cg, K));
    LLVMValueRef k = cg_loop_begin(cg, &lk, cg_i64(cg, K), "dense.k");
    LLVMValueRef acc = cg_loop_acc(cg, &lk, cg_f32(cg, 0.0), "acc");
    LLVMValueRef prod = cg_fmul(cg, cg_load(cg, X, cg_add(cg, xrow, k)), cg_load(cg, W, cg_add(cg, wrow, k)));
    LLVMValueRef next = cg_fadd(cg, acc, prod);
    cg_loop_end(cg, &lk, &next);
    LLVMValueRef sum = lk.acc_out[0];
    if (B)
        sum = cg_fadd(cg, sum, cg_load(cg, B, j));
    LLVMValueRef at = cg_add(cg, yrow, j);
    cg_store(cg, cg_epilogue(cg, n, sum, at), Y, at);
    cg_loop_end(cg, &lj, NULL);
    cg_loop_end(cg, &lm, NULL);
    return true;
}
