/* lower_matmul.c: matmul(a, b) with numpy.matmul semantics.
 *
 * a [..., M, K] @ b [..., K, P] -> y [..., M, P]; a 1-D a is [1, K] and a 1-D b is [K, 1],
 * with the added axis absent from y (shape inference already dropped it). The batch
 * dimensions broadcast as in lower_binary: each operand steps its own batch stride per
 * output batch dimension, 0 where it is broadcast. Per batch and row m, y[m, :] is zeroed,
 * then y[m, :] += a[m, k] * b[k, :] for each k, so the innermost loop runs over p with unit
 * stride in b and y and vectorizes. When K and P are compile-time constants, each matrix is
 * instead lower_dense.c's register-tiled kernel over b as it lies (cg_gemm), 5-8x faster.
 * When P is 1 (matrix-vector) that loop would be empty of
 * work, so each y[m] is instead a dot product of a[m, :] and b, a vectorized reduction.
 * The fused epilogue is applied to each dot product before its store, or to each finished
 * row of y in a loop of its own (the row is its accumulator until then). */
#include <stdio.h>

#include "cg.h"

typedef struct Mm {
    Dim M, K, P;
    int nb;                  /* batch dimensions of y */
    Dim size[MAX_RANK];      /* y's batch sizes */
    Dim stride[2][MAX_RANK]; /* a's and b's batch strides, zero where broadcast */
} Mm;

/* Batch strides of an operand whose matrices hold `mat` elements, aligned right. */
static void batch_strides(const Shape *s, int nbatch_s, const Mm *mm, Dim mat, Dim *stride) {
    Dim st = mat;
    for (int i = mm->nb - 1; i >= 0; i--) {
        int k = i - (mm->nb - nbatch_s);
        if (k < 0 || (dim_is(s->d[k], 1) && !dim_is(mm->size[i], 1))) {
            stride[i] = dim_const(0);
            continue;
        }
        stride[i] = st;
        dim_mul(st, s->d[k], &st);
    }
}

static Mm plan(const Node *n) {
    const Shape *a = &n->in[0]->shape, *b = &n->in[1]->shape, *y = &n->shape;
    Mm mm = {0};
    mm.M = a->rank >= 2 ? a->d[a->rank - 2] : dim_const(1);
    mm.K = a->d[a->rank - 1];
    mm.P = b->rank >= 2 ? b->d[b->rank - 1] : dim_const(1);
    mm.nb = y->rank - (a->rank >= 2) - (b->rank >= 2);
    for (int i = 0; i < mm.nb; i++)
        mm.size[i] = y->d[i];
    Dim amat, bmat;
    dim_mul(mm.M, mm.K, &amat);
    dim_mul(mm.K, mm.P, &bmat);
    batch_strides(a, a->rank > 2 ? a->rank - 2 : 0, &mm, amat, mm.stride[0]);
    batch_strides(b, b->rank > 2 ? b->rank - 2 : 0, &mm, bmat, mm.stride[1]);
    return mm;
}

/* y[m, :] = sum over k of a[m, k] * b[k, :], for a, b, y at the given offsets. */
static void rows_axpy(Cg *cg, const Node *n, LLVMValueRef A, LLVMValueRef B, LLVMValueRef Y,
                      LLVMValueRef off[3], const Mm *mm) {
    LLVMValueRef K = cg_dim(cg, mm->K), P = cg_dim(cg, mm->P);
    CgLoop lm, lz, lk, lp;
    LLVMValueRef m = cg_loop_begin(cg, &lm, cg_dim(cg, mm->M), "matmul.m");
    LLVMValueRef arow = cg_add(cg, off[0], cg_mul(cg, m, K));
    LLVMValueRef yrow = cg_add(cg, off[2], cg_mul(cg, m, P));
    LLVMValueRef p = cg_loop_begin(cg, &lz, P, "matmul.zero");
    cg_store(cg, cg_f32(cg, 0.0), Y, cg_add(cg, yrow, p));
    cg_loop_end(cg, &lz, NULL);
    LLVMValueRef k = cg_loop_begin(cg, &lk, K, "matmul.k");
    LLVMValueRef amk = cg_load(cg, A, cg_add(cg, arow, k));
    LLVMValueRef brow = cg_add(cg, off[1], cg_mul(cg, k, P));
    p = cg_loop_begin(cg, &lp, P, "matmul.p");
    LLVMValueRef yat = cg_add(cg, yrow, p);
    LLVMValueRef prod = cg_fmul(cg, amk, cg_load(cg, B, cg_add(cg, brow, p)));
    cg_store(cg, cg_fadd(cg, cg_load(cg, Y, yat), prod), Y, yat);
    cg_loop_end(cg, &lp, NULL);
    cg_loop_end(cg, &lk, NULL);
    if (n->nepi) { /* the row is complete: its epilogue, in place */
        p = cg_loop_begin(cg, &lp, P, "matmul.epi");
        yat = cg_add(cg, yrow, p);
        cg_store(cg, cg_epilogue(cg, n, cg_load(cg, Y, yat), yat), Y, yat);
        cg_loop_end(cg, &lp, NULL);
    }
    cg_loop_end(cg, &lm, NULL);
}

/* y[m] = sum over k of a[m, k] * b[k], for P == 1. */
static void rows_dot(Cg *cg, const Node *n, LLVMValueRef A, LLVMValueRef B, LLVMValueRef Y,
                     LLVMValueRef off[3], const Mm *mm) {
    LLVMValueRef K = cg_dim(cg, mm->K);
    CgLoop lm, lk;
    LLVMValueRef m = cg_loop_begin(cg, &lm, cg_dim(cg, mm->M), "matmul.m");
    LLVMValueRef arow = cg_add(cg, off[0], cg_mul(cg, m, K));
    LLVMValueRef k = cg_loop_begin(cg, &lk, K, "matmul.k");
    LLVMValueRef acc = cg_loop_acc(cg, &lk, cg_f32(cg, 0.0), "acc");
    LLVMValueRef prod =
        cg_fmul(cg, cg_load(cg, A, cg_add(cg, arow, k)), cg_load(cg, B, cg_add(cg, off[1], k)));
    LLVMValueRef next = cg_fadd(cg, acc, prod);
    cg_loop_end(cg, &lk, &next);
    LLVMValueRef at = cg_add(cg, off[2], m);
    cg_store(cg, cg_epilogue(cg, n, lk.acc_out[0], at), Y, at);
    cg_loop_end(cg, &lm, NULL);
}

bool cg_matmul_tiled(const Node *n) {
    Mm mm = plan(n);
    return !dim_is(mm.P, 1) && dim_is_const(mm.K) && dim_is_const(mm.P);
}

bool lower_matmul(Cg *cg, Node *n) {
    Mm mm = plan(n);
    LLVMValueRef A = cg->buf[n->in[0]->id], B = cg->buf[n->in[1]->id], Y = cg->buf[n->id];
    Dim ymat;
    dim_mul(mm.M, mm.P, &ymat);
    LLVMValueRef ystride[MAX_RANK], st = cg_dim(cg, ymat);
    for (int d = mm.nb - 1; d >= 0; d--) {
        ystride[d] = st;
        st = cg_mul(cg, st, cg_dim(cg, mm.size[d]));
    }
    CgLoop loops[MAX_RANK];
    bool looped[MAX_RANK] = {false};
    LLVMValueRef off[3] = {cg_i64(cg, 0), cg_i64(cg, 0), cg_i64(cg, 0)}; /* a, b, y */
    for (int d = 0; d < mm.nb; d++) {
        if (dim_is(mm.size[d], 1))
            continue; /* index 0 throughout */
        char name[32];
        snprintf(name, sizeof name, "matmul.b%d", d);
        LLVMValueRef i = cg_loop_begin(cg, &loops[d], cg_dim(cg, mm.size[d]), name);
        looped[d] = true;
        for (int k = 0; k < 2; k++)
            if (!dim_is(mm.stride[k][d], 0))
                off[k] = cg_add(cg, off[k], cg_mul(cg, i, cg_dim(cg, mm.stride[k][d])));
        off[2] = cg_add(cg, off[2], cg_mul(cg, i, ystride[d]));
    }
    if (dim_is(mm.P, 1))
        rows_dot(cg, n, A, B, Y, off, &mm);
    else if (cg_matmul_tiled(n))
        cg_gemm(cg, n, &(CgGemm){.M = cg_dim(cg, mm.M), .K = mm.K.c, .N = mm.P.c, .A = A,
                                 .aoff = off[0], .B = B, .boff = off[1], .Y = Y, .yoff = off[2]});
    else
        rows_axpy(cg, n, A, B, Y, off, &mm);
    for (int d = mm.nb - 1; d >= 0; d--)
        if (looped[d])
            cg_loop_end(cg, &loops[d], NULL);
    return true;
}
