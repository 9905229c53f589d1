/* lower_softmax.c: softmax and log_softmax along one axis.
 *
 * The tensor is seen as [outer, L, inner] around the axis. For each (outer, inner) line:
 * m = max, s = sum exp(x - m), then y = exp(x - m) / s, or x - m - log(s). Subtracting the
 * maximum keeps exp from overflowing, as PyTorch does. The loop vectorizer leaves a maxnum
 * reduction serial (one maxnum per element, four cycles each: 40% of a 1000-wide softmax),
 * so a unit-stride line takes its maximum in explicit vectors (max_of_line). */
#include <stdio.h>

#include "cg_vec.h"

static Dim prod(const Shape *s, int from, int to) {
    Dim r = dim_const(1);
    for (int i = from; i < to; i++)
        dim_mul(r, s->d[i], &r);
    return r;
}

/* max(m, x[base + k] for k < L) of a contiguous line of constant length L: native vectors
 * folded with maxnum, their lanes by llvm.vector.reduce.fmax, then the last L % V elements.
 * maxnum ignores a NaN as the scalar loop did (a NaN still reaches every output through
 * exp(x - m)). */
static LLVMValueRef max_of_line(Cg *cg, LLVMValueRef X, LLVMValueRef base, int64_t L, LLVMValueRef m) {
    int V = cg_vec_native(cg);
    int64_t full = L / V;
    if (full > 0) {
        CgLoop lv;
        LLVMValueRef j = cg_loop_begin(cg, &lv, cg_i64(cg, full), "softmax.maxv");
        LLVMValueRef acc = cg_loop_acc(cg, &lv, cg_vec_splat_const(cg, -__builtin_inf(), V), "vmax");
        LLVMValueRef x = cg_vec_load(cg, X, cg_add(cg, base, cg_mulc(cg, j, V)), V, 1,
                                     (uint32_t)((1ull << V) - 1), 0.0);
        LLVMValueRef next = cg_intrinsic2(cg, "maxnum", acc, x);
        cg_loop_end(cg, &lv, &next);
        m = cg_intrinsic2(cg, "maxnum", m, cg_intrinsic1(cg, "vector.reduce.fmax", lv.acc_out[0]));
    }
    for (int64_t k = full * V; k < L; k++)
        m = cg_intrinsic2(cg, "maxnum", m, cg_load(cg, X, cg_addc(cg, base, k)));
    return m;
}

bool lower_softmax(Cg *cg, Node *n) {
    const Shape *s = &n->shape;
    int axis = (int)attr_int(n, "axis");
    if (axis < 0)
        axis += s->rank;
    LLVMValueRef outer = cg_dim(cg, prod(s, 0, axis));
    LLVMValueRef L = cg_dim(cg, s->d[axis]);
    LLVMValueRef inner = cg_dim(cg, prod(s, axis + 1, s->rank));
    LLVMValueRef X = cg->buf[n->in[0]->id], Y = cg->buf[n->id];
    bool log = n->op == OP_LOG_SOFTMAX;

    CgLoop lo, li, l1, l2, l3;
    LLVMValueRef o = cg_loop_begin(cg, &lo, outer, "softmax.outer");
    LLVMValueRef i = cg_loop_begin(cg, &li, inner, "softmax.inner");
    LLVMValueRef base = cg_add(cg, cg_mul(cg, cg_mul(cg, o, L), inner), i);
#define AT(l) cg_add(cg, base, cg_mul(cg, (l), inner))

    LLVMValueRef k, max;
    if (dim_is(prod(s, axis + 1, s->rank), 1) && dim_is_const(s->d[axis])) {
        max = max_of_line(cg, X, base, s->d[axis].c, cg_f32(cg, -__builtin_inf()));
    } else {
        k = cg_loop_begin(cg, &l1, L, "softmax.max");
        LLVMValueRef m = cg_loop_acc(cg, &l1, cg_f32(cg, -__builtin_inf()), "max");
        LLVMValueRef mnext = cg_intrinsic2(cg, "maxnum", m, cg_load(cg, X, AT(k)));
        cg_loop_end(cg, &l1, &mnext);
        max = l1.acc_out[0];
    }

    k = cg_loop_begin(cg, &l2, L, "softmax.sum");
    LLVMValueRef sum = cg_loop_acc(cg, &l2, cg_f32(cg, 0.0), "sum");
    LLVMValueRef e = cg_exp(cg, cg_fsub(cg, cg_load(cg, X, AT(k)), max));
    if (!log)
        cg_store(cg, e, Y, AT(k)); /* kept, then scaled in the third pass */
    LLVMValueRef snext = cg_fadd(cg, sum, e);
    cg_loop_end(cg, &l2, &snext);
    LLVMValueRef total = l2.acc_out[0];

    /* log_softmax is (x - m) - log(s), in that order: x - m is exact for the largest
     * entries, while m + log(s) would round at the magnitude of m. */
    LLVMValueRef scale = log ? cg_log(cg, total) : LLVMBuildFDiv(cg->b, cg_f32(cg, 1.0), total, "");
    k = cg_loop_begin(cg, &l3, L, "softmax.write");
    LLVMValueRef y = log ? LLVMBuildFSub(cg->b, LLVMBuildFSub(cg->b, cg_load(cg, X, AT(k)), max, ""),
                                         scale, "")
                         : cg_fmul(cg, cg_load(cg, Y, AT(k)), scale);
    cg_store(cg, y, Y, AT(k));
    cg_loop_end(cg, &l3, NULL);
#undef AT
    cg_loop_end(cg, &li, NULL);
    cg_loop_end(cg, &lo, NULL);
    return true;
}
