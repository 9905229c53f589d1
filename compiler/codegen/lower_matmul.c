/* lower_matmul.c: matmul(a, b) with numpy.matmul semantics.
 *
 * a [..., M, K] @ b [..., K, P] -> y [..., M, P]; a 1-D a is [1, K] and a 1-D b is [K, 1],
 * with the added axis absent from y (shape inference already dropped it). The batch
 * dimensions broadcast as in lower_binary: each operand steps its own batch stride per
 * output batch dimension, 0 where it is broadcast. Each matrix of the batch is then:
 * - with K and P compile-time constants, lower_dense.c's register-tiled kernel over b as it
 *   lies (cg_gemm);
 * - with K or P symbolic (attention's q kᵀ and weights v over a symbolic sequence), a
 *   register tile of MM_ROWS rows x two native vectors of columns, k the inner loop, over
 *   runtime sizes (rows_tiled): a row loop y[m, :] += a[m, k] * b[k, :] that it replaced
 *   ran 4-5x slower at 128 x 64 x 128;
 * - with P = 1 (matrix-vector), a dot product of a[m, :] and b per y[m], a vectorized
 *   reduction.
 * The fused epilogue is applied to each vector or dot product before its store, and to the
 * columns of a cut last chunk in a loop of its own (stored as plain sums until then). */
#include <stdio.h>

#include "cg_vec.h"

enum { MM_ROWS = 6 }; /* rows per register tile of the symbolic-size kernel: 12 accumulators */

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

/* Rows [m0, m0 + mr) of y at the nv (2, or 1 in a cut chunk of at most V columns) vectors
 * of columns from col: mr x nv accumulator vectors over every k (a broadcast of a[m, k]
 * times b's line k of the chunk), then the fused epilogue and the stores. Each output is
 * one chain of FMAs over k from 0, whichever tile computes it. The last chunk, cut by P,
 * passes its lane masks: it reads and writes only those lanes, and leaves the epilogue to
 * epilogue_cols. */
static void tile_rows(Cg *cg, const Node *n, LLVMValueRef A, LLVMValueRef B, LLVMValueRef Y,
                      LLVMValueRef off[3], LLVMValueRef K, LLVMValueRef P, LLVMValueRef m0,
                      int mr, int nv, LLVMValueRef col, LLVMValueRef const *mask) {
    int V = cg_vec_native(cg);
    uint32_t all = (uint32_t)((1ull << V) - 1);
    /* Row r's offsets are the first row's plus r * K (r * P): offsets computed as
     * (m0 + r) * K, with m0 holding a task's runtime first row, came out of LLVM as one
     * multiplication per row inside the k loop (as in lower_dense.c). */
    LLVMValueRef arow[MM_ROWS], yrow[MM_ROWS];
    LLVMValueRef a0 = cg_add(cg, off[0], cg_mul(cg, m0, K));
    LLVMValueRef y0 = cg_add(cg, off[2], cg_mul(cg, m0, P));
    for (int r = 0; r < mr; r++) {
        arow[r] = cg_add(cg, a0, cg_mul(cg, cg_i64(cg, r), K));
        yrow[r] = cg_add(cg, y0, cg_mul(cg, cg_i64(cg, r), P));
    }
    CgLoop lk;
    LLVMValueRef bcol = cg_add(cg, off[1], col);
    LLVMValueRef k = cg_loop_begin(cg, &lk, K, "matmul.k");
    LLVMValueRef zero = cg_vec_splat_const(cg, 0.0, V), acc[2 * MM_ROWS], next[2 * MM_ROWS];
    for (int a = 0; a < nv * mr; a++)
        acc[a] = cg_loop_acc(cg, &lk, zero, "acc");
    LLVMValueRef line = cg_add(cg, bcol, cg_mul(cg, k, P)), w[2];
    for (int h = 0; h < nv; h++) {
        LLVMValueRef at = cg_addc(cg, line, (int64_t)h * V);
        w[h] = mask ? cg_vec_load_picked(cg, B, at, V, 1, mask[h], 0.0)
                    : cg_vec_load(cg, B, at, V, 1, all, 0.0);
    }
    for (int r = 0; r < mr; r++) {
        LLVMValueRef xs = cg_vec_splat(cg, cg_load(cg, A, cg_add(cg, arow[r], k)), V);
        for (int h = 0; h < nv; h++)
            next[nv * r + h] = cg_vec_fma(cg, xs, w[h], acc[nv * r + h]);
    }
    cg_loop_end(cg, &lk, next);
    for (int r = 0; r < mr; r++)
        for (int h = 0; h < nv; h++) {
            LLVMValueRef at = cg_addc(cg, cg_add(cg, yrow[r], col), (int64_t)h * V);
            if (mask) {
                cg_vec_store_picked(cg, lk.acc_out[nv * r + h], Y, at, mask[h]);
                continue;
            }
            LLVMValueRef v = cg_epilogue_lanes(cg, n, lk.acc_out[nv * r + h], at, all);
            cg_vec_store(cg, v, Y, at, V, all);
        }
}

/* Rows [first, first + count) of the nv vectors of columns from col, in the row tiles of
 * tile_rows (the cut chunk's masks, or NULL), then the last rows one at a time. */
static void tile_all_rows(Cg *cg, const Node *n, LLVMValueRef A, LLVMValueRef B,
                          LLVMValueRef Y, LLVMValueRef off[3], LLVMValueRef K, LLVMValueRef P,
                          LLVMValueRef first, LLVMValueRef count, int nv, LLVMValueRef col,
                          LLVMValueRef const *mask) {
    LLVMValueRef blocks = LLVMBuildUDiv(cg->b, count, cg_i64(cg, MM_ROWS), "matmul.blocks");
    LLVMValueRef done = cg_mulc(cg, blocks, MM_ROWS);
    CgLoop lb, lr;
    LLVMValueRef b = cg_loop_begin(cg, &lb, blocks, "matmul.block");
    tile_rows(cg, n, A, B, Y, off, K, P, cg_add(cg, first, cg_mulc(cg, b, MM_ROWS)), MM_ROWS,
              nv, col, mask);
    cg_loop_end(cg, &lb, NULL);
    LLVMValueRef r = cg_loop_begin(cg, &lr, LLVMBuildSub(cg->b, count, done, ""), "matmul.row");
    tile_rows(cg, n, A, B, Y, off, K, P, cg_add(cg, cg_add(cg, first, done), r), 1, nv, col,
              mask);
    cg_loop_end(cg, &lr, NULL);
}

/* The fused epilogue over columns [col, P) of rows [first, first + count), in place (the
 * cut chunk's outputs, stored as plain sums). */
static void epilogue_cols(Cg *cg, const Node *n, LLVMValueRef Y, LLVMValueRef yoff,
                          LLVMValueRef first, LLVMValueRef count, LLVMValueRef P,
                          LLVMValueRef col) {
    CgLoop lm, lp;
    LLVMValueRef m = cg_add(cg, first, cg_loop_begin(cg, &lm, count, "matmul.epi.m"));
    LLVMValueRef yrow = cg_add(cg, cg_add(cg, yoff, cg_mul(cg, m, P)), col);
    LLVMValueRef p = cg_loop_begin(cg, &lp, LLVMBuildSub(cg->b, P, col, ""), "matmul.epi");
    LLVMValueRef at = cg_add(cg, yrow, p);
    cg_store(cg, cg_epilogue(cg, n, cg_load(cg, Y, at), at), Y, at);
    cg_loop_end(cg, &lp, NULL);
    cg_loop_end(cg, &lm, NULL);
}

/* y = a b for symbolic K or P, this task's share of the rows of each matrix (a parallel
 * region, as the constant-size kernel is): per whole chunk of 2V columns (the outer loop,
 * so that b's chunk stays in cache while the rows pass over it: rows outside ran at half
 * the speed), tiles of MM_ROWS rows and the last rows one at a time; then the columns
 * left, fewer than 2V, the same way with lane masks. */
static void rows_tiled(Cg *cg, const Node *n, LLVMValueRef A, LLVMValueRef B, LLVMValueRef Y,
                       LLVMValueRef off[3], const Mm *mm) {
    int V = cg_vec_native(cg);
    LLVMValueRef K = cg_dim(cg, mm->K), P = cg_dim(cg, mm->P), M = cg_dim(cg, mm->M);
    LLVMValueRef chunks = LLVMBuildUDiv(cg->b, P, cg_i64(cg, 2 * V), "matmul.chunks");
    LLVMValueRef first, count;
    cg_task_part(cg, M, &first, &count);
    CgLoop lc;
    LLVMValueRef col = cg_mulc(cg, cg_loop_begin(cg, &lc, chunks, "matmul.chunk"), 2 * V);
    tile_all_rows(cg, n, A, B, Y, off, K, P, first, count, 2, col, NULL);
    cg_loop_end(cg, &lc, NULL);
    col = cg_mulc(cg, chunks, 2 * V);
    LLVMValueRef left = LLVMBuildSub(cg->b, P, col, "matmul.left");
    CgIf f;
    cg_if_begin(cg, &f, LLVMBuildICmp(cg->b, LLVMIntNE, left, cg_i64(cg, 0), ""), "matmul.cut");
    LLVMValueRef mask[2] = {cg_vec_lanes_below(cg, 0, left, V), cg_vec_lanes_below(cg, V, left, V)};
    /* Both vectors where more than V columns are left; else only the first. */
    LLVMValueRef wide = LLVMBuildICmp(cg->b, LLVMIntUGT, left, cg_i64(cg, V), "");
    CgIf f2, f1;
    cg_if_begin(cg, &f2, wide, "matmul.cut2");
    tile_all_rows(cg, n, A, B, Y, off, K, P, first, count, 2, col, mask);
    cg_if_end(cg, &f2);
    cg_if_begin(cg, &f1, LLVMBuildNot(cg->b, wide, ""), "matmul.cut1");
    tile_all_rows(cg, n, A, B, Y, off, K, P, first, count, 1, col, mask);
    cg_if_end(cg, &f1);
    if (n->nepi)
        epilogue_cols(cg, n, Y, off[2], first, count, P, col);
    cg_if_end(cg, &f);
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

bool cg_matmul_parallel(const Node *n) {
    return !dim_is(plan(n).P, 1);
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
        rows_tiled(cg, n, A, B, Y, off, &mm);
    for (int d = mm.nb - 1; d >= 0; d--)
        if (looped[d])
            cg_loop_end(cg, &loops[d], NULL);
    return true;
}
