/* lower_binary.c: add, sub, mul, div with NumPy broadcasting, or with a number.
 *
 * The output is walked in C order by one loop per dimension; each operand advances by its
 * own stride in each dimension, 0 where it is broadcast. Dimensions of size 1 in the
 * output are skipped and runs of dimensions where every operand is contiguous are merged,
 * so same-shape operands take one flat loop and the innermost loop is unit-stride (or
 * stride 0) for the vectorizer. The walk is in the output's C order, so the output offset is
 * also each element's flat index, where the node's epilogue (fused elementwise ops that
 * follow it) is applied before the store. */
#include <stdio.h>

#include "cg.h"

typedef struct Walk {
    int rank;
    Dim size[MAX_RANK];
    Dim stride[2][MAX_RANK]; /* per operand; a zero Dim means broadcast */
} Walk;

/* Strides of operand s (aligned to the output's rank from the right). */
static void operand_strides(const Shape *s, const Shape *out, Dim *stride) {
    Dim st = dim_const(1);
    for (int i = out->rank - 1; i >= 0; i--) {
        int k = i - (out->rank - s->rank);
        if (k < 0 || (dim_is(s->d[k], 1) && !dim_is(out->d[i], 1))) {
            stride[i] = dim_const(0);
            continue;
        }
        stride[i] = st;
        dim_mul(st, s->d[k], &st);
    }
}

static Walk plan(const Node *n) {
    Walk raw = {.rank = n->shape.rank};
    for (int i = 0; i < n->shape.rank; i++)
        raw.size[i] = n->shape.d[i];
    for (int k = 0; k < 2; k++) {
        if (k < n->nin)
            operand_strides(&n->in[k]->shape, &n->shape, raw.stride[k]);
        else
            for (int i = 0; i < n->shape.rank; i++)
                raw.stride[k][i] = dim_const(0); /* a number */
    }
    /* Drop size-1 dimensions, then merge a dimension into the next inner one when, for
     * every operand, stepping it equals stepping the inner one size times. */
    Walk w = {0};
    for (int i = 0; i < raw.rank; i++) {
        if (dim_is(raw.size[i], 1))
            continue;
        int r = w.rank;
        if (r > 0) {
            bool merge = true;
            for (int k = 0; k < 2 && merge; k++) {
                Dim outer_step = w.stride[k][r - 1], inner_run;
                if (!dim_mul(raw.stride[k][i], raw.size[i], &inner_run))
                    merge = false;
                else
                    merge = dim_eq(outer_step, inner_run);
            }
            if (merge) {
                Dim merged;
                dim_mul(w.size[r - 1], raw.size[i], &merged);
                w.size[r - 1] = merged;
                for (int k = 0; k < 2; k++)
                    w.stride[k][r - 1] = raw.stride[k][i];
                continue;
            }
        }
        w.size[r] = raw.size[i];
        for (int k = 0; k < 2; k++)
            w.stride[k][r] = raw.stride[k][i];
        w.rank++;
    }
    return w;
}

LLVMValueRef cg_binary_op(Cg *cg, OpKind op, LLVMValueRef a, LLVMValueRef b) {
    switch (op) {
    case OP_ADD: return cg_fadd(cg, a, b);
    case OP_SUB: return cg_fsub(cg, a, b);
    case OP_MUL: return cg_fmul(cg, a, b);
    default: return LLVMBuildFDiv(cg->b, a, b, ""); /* exact division: no reciprocal */
    }
}

bool lower_binary(Cg *cg, Node *n) {
    Walk w = plan(n);
    LLVMValueRef A = cg->buf[n->in[0]->id];
    LLVMValueRef B = n->nin > 1 ? cg->buf[n->in[1]->id] : NULL;
    LLVMValueRef number = n->nin > 1 ? NULL : cg_f32(cg, attr_float(n, "b"));
    LLVMValueRef Y = cg->buf[n->id];

    CgLoop loops[MAX_RANK];
    LLVMValueRef off[3] = {cg_i64(cg, 0), cg_i64(cg, 0), cg_i64(cg, 0)}; /* a, b, y */
    LLVMValueRef ystride[MAX_RANK];
    LLVMValueRef st = cg_i64(cg, 1);
    for (int d = w.rank - 1; d >= 0; d--) {
        ystride[d] = st;
        st = cg_mul(cg, st, cg_dim(cg, w.size[d]));
    }
    for (int d = 0; d < w.rank; d++) {
        char name[64];
        snprintf(name, sizeof name, "%s.d%d", op_name(n->op), d);
        LLVMValueRef i = cg_loop_begin(cg, &loops[d], cg_dim(cg, w.size[d]), name);
        for (int k = 0; k < 2; k++)
            if (!dim_is(w.stride[k][d], 0))
                off[k] = cg_add(cg, off[k], cg_mul(cg, i, cg_dim(cg, w.stride[k][d])));
        off[2] = cg_add(cg, off[2], cg_mul(cg, i, ystride[d]));
    }
    LLVMValueRef a = cg_load(cg, A, off[0]);
    LLVMValueRef b = B ? cg_load(cg, B, off[1]) : number;
    cg_store(cg, cg_epilogue(cg, n, cg_binary_op(cg, n->op, a, b), off[2]), Y, off[2]);
    for (int d = w.rank - 1; d >= 0; d--)
        cg_loop_end(cg, &loops[d], NULL);
    return true;
}
