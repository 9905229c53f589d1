/* lower_softmax.c: softmax and log_softmax along one axis.
 *
 * The tensor is seen as [outer, L, inner] around the axis. For each (outer, inner) line:
 * m = max, s = sum exp(x - m), then y = exp(x - m) / s, or x - m - log(s). Subtracting the
 * maximum keeps exp from overflowing, as PyTorch does. log_softmax is (x - m) - log(s), in
 * that order: x - m is exact for the largest entries, while m + log(s) would round at the
 * magnitude of m.
 *
 * A unit-stride line of constant length (the last axis) runs in native vectors, the last
 * one masked: max, exp and sum as vectors, their lanes folded pairwise at the end. Lines of
 * up to SHORT_VECS vectors are unrolled and keep exp(x - m) in registers; longer ones store
 * it and scale it in a third pass. Scalar loops were slow: the loop vectorizer leaves the
 * maxnum and the sum serial (a 64 x 10 softmax took 5.5 us, now 1.2; 40% of a 1000-wide
 * one was its maximum). Other lines (an inner axis, a symbolic length) keep scalar loops. */
#include <stdio.h>

#include "cg_vec.h"

static Dim prod(const Shape *s, int from, int to) {
    Dim r = dim_const(1);
    for (int i = from; i < to; i++)
        dim_mul(r, s->d[i], &r);
    return r;
}

enum { SHORT_VECS = 4 }; /* lines of at most this many vectors are unrolled */

/* A contiguous line of constant length L, in native vectors: `full` of them in a loop, then
 * the last L % V elements as one vector whose lanes past the line are masked off (`tail`). */
typedef struct Line {
    LLVMValueRef X, Y, base;
    int V;
    int64_t full;
    uint32_t tail; /* 0: no partial vector */
    bool log;
} Line;

/* a + b, or maxnum(a, b). */
static LLVMValueRef fold(Cg *cg, LLVMValueRef a, LLVMValueRef b, bool max) {
    return max ? cg_intrinsic2(cg, "maxnum", a, b) : cg_fadd(cg, a, b);
}

/* v's lanes folded pairwise by fadd (or maxnum), halves first: log2(V) shuffles and ops.
 * LLVM's vector.reduce.fmax without fast-math flags is a serial chain of 16 scalar maxes. */
static LLVMValueRef tree(Cg *cg, LLVMValueRef v, int V, bool max) {
    LLVMTypeRef i32 = LLVMInt32TypeInContext(cg->ctx);
    LLVMValueRef undef = LLVMGetUndef(LLVMTypeOf(v));
    for (int w = V / 2; w >= 2; w /= 2) {
        LLVMValueRef lo[CG_VL], hi[CG_VL];
        for (int l = 0; l < w; l++) {
            lo[l] = LLVMConstInt(i32, (unsigned long long)l, 0);
            hi[l] = LLVMConstInt(i32, (unsigned long long)(l + w), 0);
        }
        v = fold(cg, LLVMBuildShuffleVector(cg->b, v, undef, LLVMConstVector(lo, (unsigned)w), ""),
                 LLVMBuildShuffleVector(cg->b, v, undef, LLVMConstVector(hi, (unsigned)w), ""), max);
        undef = LLVMGetUndef(LLVMTypeOf(v));
    }
    return fold(cg, LLVMBuildExtractElement(cg->b, v, LLVMConstInt(i32, 0, 0), ""),
                LLVMBuildExtractElement(cg->b, v, LLVMConstInt(i32, 1, 0), ""), max);
}

/* exp(d) in the lanes set, 0 in the others. Their d (-inf, from the masked load) goes
 * through exp as 0: cg_exp clamps -inf to -104, whose result underflows below the smallest
 * float, and that costs a microcode assist per lane (a 64 x 10 softmax took 5.5 us). */
static LLVMValueRef masked_exp(Cg *cg, LLVMValueRef d, uint32_t lanes, int V) {
    return cg_vec_keep_lanes(cg, cg_exp(cg, cg_vec_keep_lanes(cg, d, lanes, V, 0.0)), lanes, V, 0.0);
}

/* What the last pass applies: 1 / s for softmax, log(s) for log_softmax. */
static LLVMValueRef scale_of(Cg *cg, LLVMValueRef total, bool log) {
    return log ? cg_log(cg, total) : LLVMBuildFDiv(cg->b, cg_f32(cg, 1.0), total, "");
}

/* The line's maximum: vectors folded with maxnum, then their lanes pairwise (tree).
 * Masked lanes read -inf. maxnum ignores a NaN as a scalar loop would (a NaN still reaches
 * every output through exp(x - m)). */
static LLVMValueRef line_max(Cg *cg, const Line *ln) {
    int V = ln->V;
    uint32_t all = (uint32_t)((1ull << V) - 1);
    LLVMValueRef m = cg_vec_splat_const(cg, -__builtin_inf(), V);
    if (ln->full > 0) {
        CgLoop lv;
        LLVMValueRef j = cg_loop_begin(cg, &lv, cg_i64(cg, ln->full), "softmax.max");
        LLVMValueRef acc = cg_loop_acc(cg, &lv, m, "vmax");
        LLVMValueRef x = cg_vec_load(cg, ln->X, cg_add(cg, ln->base, cg_mulc(cg, j, V)), V, 1, all,
                                     0.0);
        LLVMValueRef next = cg_intrinsic2(cg, "maxnum", acc, x);
        cg_loop_end(cg, &lv, &next);
        m = lv.acc_out[0];
    }
    if (ln->tail)
        m = cg_intrinsic2(cg, "maxnum", m,
                          cg_vec_load(cg, ln->X, cg_addc(cg, ln->base, ln->full * V), V, 1,
                                      ln->tail, -__builtin_inf()));
    return tree(cg, m, V, true);
}

/* One vector of the line at `at`: for the sum pass, acc + exp(x - m) (stored as well for
 * softmax, to be scaled in the write pass); for the write pass, the outputs. Masked lanes
 * read -inf, so their exp is 0. */
static LLVMValueRef line_step(Cg *cg, const Line *ln, LLVMValueRef at, uint32_t lanes, bool sum,
                              LLVMValueRef m, LLVMValueRef scale, LLVMValueRef acc) {
    int V = ln->V;
    LLVMValueRef d = cg_fsub(cg, cg_vec_load(cg, ln->X, at, V, 1, lanes, -__builtin_inf()), m);
    if (sum) {
        LLVMValueRef e = masked_exp(cg, d, lanes, V);
        if (!ln->log)
            cg_vec_store(cg, e, ln->Y, at, V, lanes);
        return cg_fadd(cg, acc, e);
    }
    LLVMValueRef y = ln->log ? LLVMBuildFSub(cg->b, d, scale, "")
                             : cg_fmul(cg, cg_vec_load(cg, ln->Y, at, V, 1, lanes, 0.0), scale);
    cg_vec_store(cg, y, ln->Y, at, V, lanes);
    return acc;
}

/* A pass over the line's vectors; the sum pass returns the sum of exp(x - m), its lanes
 * added pairwise. */
static LLVMValueRef line_pass(Cg *cg, const Line *ln, bool sum, LLVMValueRef m, LLVMValueRef scale) {
    int V = ln->V;
    uint32_t all = (uint32_t)((1ull << V) - 1);
    LLVMValueRef acc = cg_vec_splat_const(cg, 0.0, V);
    if (ln->full > 0) {
        CgLoop lv;
        LLVMValueRef j = cg_loop_begin(cg, &lv, cg_i64(cg, ln->full), sum ? "softmax.sum" : "softmax.write");
        LLVMValueRef a = cg_loop_acc(cg, &lv, acc, "vsum");
        LLVMValueRef next = line_step(cg, ln, cg_add(cg, ln->base, cg_mulc(cg, j, V)), all, sum, m,
                                      scale, a);
        cg_loop_end(cg, &lv, &next);
        acc = lv.acc_out[0];
    }
    if (ln->tail)
        acc = line_step(cg, ln, cg_addc(cg, ln->base, ln->full * V), ln->tail, sum, m, scale, acc);
    return sum ? tree(cg, acc, V, false) : NULL;
}

/* A line of at most SHORT_VECS vectors, unrolled, with exp(x - m) kept in registers (a
 * masked store reloaded at once cannot be forwarded). */
static void short_line(Cg *cg, const Line *ln) {
    int V = ln->V, nv = (int)ln->full + (ln->tail != 0);
    uint32_t all = (uint32_t)((1ull << V) - 1), lanes[SHORT_VECS];
    LLVMValueRef at[SHORT_VECS], x[SHORT_VECS], m = NULL, sum = NULL;
    for (int v = 0; v < nv; v++) {
        lanes[v] = v < ln->full ? all : ln->tail;
        at[v] = cg_addc(cg, ln->base, (int64_t)v * V);
        x[v] = cg_vec_load(cg, ln->X, at[v], V, 1, lanes[v], -__builtin_inf());
        m = m ? cg_intrinsic2(cg, "maxnum", m, x[v]) : x[v];
    }
    m = cg_vec_splat(cg, tree(cg, m, V, true), V);
    for (int v = 0; v < nv; v++) {
        x[v] = cg_fsub(cg, x[v], m);
        LLVMValueRef e = masked_exp(cg, x[v], lanes[v], V);
        sum = sum ? cg_fadd(cg, sum, e) : e;
        if (!ln->log)
            x[v] = e;
    }
    LLVMValueRef scale = cg_vec_splat(cg, scale_of(cg, tree(cg, sum, V, false), ln->log), V);
    for (int v = 0; v < nv; v++)
        cg_vec_store(cg, ln->log ? LLVMBuildFSub(cg->b, x[v], scale, "") : cg_fmul(cg, x[v], scale),
                     ln->Y, at[v], V, lanes[v]);
}

/* softmax over a contiguous line of constant length, in vectors. */
static void softmax_line(Cg *cg, const Line *ln) {
    int V = ln->V;
    if (ln->full + (ln->tail != 0) <= SHORT_VECS) {
        short_line(cg, ln);
        return;
    }
    LLVMValueRef m = cg_vec_splat(cg, line_max(cg, ln), V);
    LLVMValueRef scale = scale_of(cg, line_pass(cg, ln, true, m, NULL), ln->log);
    line_pass(cg, ln, false, m, cg_vec_splat(cg, scale, V));
}

/* softmax over any line, element by element: x[base + l * inner] for l < L. */
static void scalar_line(Cg *cg, LLVMValueRef X, LLVMValueRef Y, LLVMValueRef base, LLVMValueRef L,
                        LLVMValueRef inner, bool log) {
#define AT(l) cg_add(cg, base, cg_mul(cg, (l), inner))
    CgLoop l1, l2, l3;
    LLVMValueRef k = cg_loop_begin(cg, &l1, L, "softmax.max");
    LLVMValueRef m = cg_loop_acc(cg, &l1, cg_f32(cg, -__builtin_inf()), "max");
    LLVMValueRef mnext = cg_intrinsic2(cg, "maxnum", m, cg_load(cg, X, AT(k)));
    cg_loop_end(cg, &l1, &mnext);
    LLVMValueRef max = l1.acc_out[0];

    k = cg_loop_begin(cg, &l2, L, "softmax.sum");
    LLVMValueRef sum = cg_loop_acc(cg, &l2, cg_f32(cg, 0.0), "sum");
    LLVMValueRef e = cg_exp(cg, cg_fsub(cg, cg_load(cg, X, AT(k)), max));
    if (!log)
        cg_store(cg, e, Y, AT(k)); /* kept, then scaled in the third pass */
    LLVMValueRef snext = cg_fadd(cg, sum, e);
    cg_loop_end(cg, &l2, &snext);

    LLVMValueRef scale = scale_of(cg, l2.acc_out[0], log);
    k = cg_loop_begin(cg, &l3, L, "softmax.write");
    LLVMValueRef y = log ? LLVMBuildFSub(cg->b, LLVMBuildFSub(cg->b, cg_load(cg, X, AT(k)), max, ""),
                                         scale, "")
                         : cg_fmul(cg, cg_load(cg, Y, AT(k)), scale);
    cg_store(cg, y, Y, AT(k));
    cg_loop_end(cg, &l3, NULL);
#undef AT
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

    CgLoop lo, li;
    LLVMValueRef o = cg_loop_begin(cg, &lo, outer, "softmax.outer");
    LLVMValueRef i = cg_loop_begin(cg, &li, inner, "softmax.inner");
    LLVMValueRef base = cg_add(cg, cg_mul(cg, cg_mul(cg, o, L), inner), i);
    if (dim_is(prod(s, axis + 1, s->rank), 1) && dim_is_const(s->d[axis])) {
        int V = cg_vec_native(cg);
        int64_t Lc = s->d[axis].c;
        Line ln = {.X = X, .Y = Y, .base = base, .V = V, .full = Lc / V,
                   .tail = (uint32_t)((1ull << (Lc % V)) - 1), .log = log};
        softmax_line(cg, &ln);
    } else {
        scalar_line(cg, X, Y, base, L, inner, log);
    }
    cg_loop_end(cg, &li, NULL);
    cg_loop_end(cg, &lo, NULL);
    return true;
}
