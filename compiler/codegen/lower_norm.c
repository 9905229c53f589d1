/* lower_norm.c: batchnorm (inference form, channel axis 1) and layernorm (last axis).
 *
 * batchnorm: x [N, C, ...] -> y = x * scale[c] + shift[c], where scale = weight /
 * sqrt(running_var + eps) and shift = bias - running_mean * scale are computed here, at
 * compile time, in double and rounded to float once, into two new constant globals: the
 * emitted code is one fma per element, over [outer, C, inner] with the inner run contiguous.
 *
 * layernorm: x [..., D] -> per row of D: the mean, then the biased variance (as PyTorch)
 * from a second pass over d = x - mean (E[x^2] - mean^2 cancels catastrophically when
 * |mean| >> std), which also sums d to correct the mean's rounding, then
 * y = (x - mean) * rstd * weight + bias. Each pass is a unit-stride loop over constant D. */
#include <math.h>

#include "cg.h"

static Dim prod(const Shape *s, int from, int to) {
    Dim r = dim_const(1);
    for (int i = from; i < to; i++)
        dim_mul(r, s->d[i], &r);
    return r;
}

/* A constant [C] global named PREFIX.SUFFIX holding v (double) rounded to float. */
static LLVMValueRef const_channels(Cg *cg, Node *n, const char *suffix, const double *v,
                                   int64_t C) {
    Arena *a = cg->g->arena;
    float *data = arena_array(a, (size_t)C, sizeof(float));
    for (int64_t c = 0; c < C; c++)
        data[c] = (float)v[c];
    Param p = {
        .name = arena_printf(a, "%s.%s", n->prefix ? n->prefix : n->name, suffix),
        .suffix = suffix,
        .shape = {.rank = 1, .d = {dim_const(C)}},
        .data = data,
    };
    return cg_param(cg, &p);
}

/* Folds the four parameters and eps into per-channel scale and shift globals. */
static void batchnorm_consts(Cg *cg, Node *n, int64_t C, LLVMValueRef *scale, LLVMValueRef *shift) {
    const float *w = node_param(n, "weight")->data, *b = node_param(n, "bias")->data;
    const float *mean = node_param(n, "running_mean")->data,
                *var = node_param(n, "running_var")->data;
    double eps = attr_float(n, "eps");
    double *s = arena_array(cg->g->arena, (size_t)C, sizeof(double));
    double *t = arena_array(cg->g->arena, (size_t)C, sizeof(double));
    for (int64_t c = 0; c < C; c++) {
        s[c] = (double)w[c] / sqrt((double)var[c] + eps);
        t[c] = (double)b[c] - (double)mean[c] * s[c];
    }
    *scale = const_channels(cg, n, "bn_scale", s, C);
    *shift = const_channels(cg, n, "bn_shift", t, C);
}

bool lower_batchnorm(Cg *cg, Node *n) {
    const Shape *sh = &n->shape;
    int64_t C = sh->d[1].c;
    LLVMValueRef S, T;
    batchnorm_consts(cg, n, C, &S, &T);
    LLVMValueRef X = cg->buf[n->in[0]->id], Y = cg->buf[n->id];
    Dim inner_d = prod(sh, 2, sh->rank);
    LLVMValueRef inner = cg_dim(cg, inner_d);

    CgLoop lo, lc, li;
    LLVMValueRef o = cg_loop_begin(cg, &lo, cg_dim(cg, sh->d[0]), "bn.n");
    LLVMValueRef c = cg_loop_begin(cg, &lc, cg_i64(cg, C), "bn.c");
    LLVMValueRef s = cg_load(cg, S, c), t = cg_load(cg, T, c);
    LLVMValueRef base = cg_mul(cg, cg_add(cg, cg_mul(cg, o, cg_i64(cg, C)), c), inner);
    /* Rank 2 has no inner run: the channel loop is then the unit-stride one. */
    bool has_inner = !dim_is(inner_d, 1);
    LLVMValueRef at = base;
    if (has_inner)
        at = cg_add(cg, base, cg_loop_begin(cg, &li, inner, "bn.i"));
    cg_store(cg, cg_fadd(cg, cg_fmul(cg, cg_load(cg, X, at), s), t), Y, at);
    if (has_inner)
        cg_loop_end(cg, &li, NULL);
    cg_loop_end(cg, &lc, NULL);
    cg_loop_end(cg, &lo, NULL);
    return true;
}

/* sum over k < D of X[row + k]. */
static LLVMValueRef row_sum(Cg *cg, LLVMValueRef X, LLVMValueRef row, int64_t D) {
    CgLoop l;
    LLVMValueRef k = cg_loop_begin(cg, &l, cg_i64(cg, D), "ln.sum");
    LLVMValueRef acc = cg_loop_acc(cg, &l, cg_f32(cg, 0.0), "sum");
    LLVMValueRef next = cg_fadd(cg, acc, cg_load(cg, X, cg_add(cg, row, k)));
    cg_loop_end(cg, &l, &next);
    return l.acc_out[0];
}

/* The corrected two-pass algorithm (Chan, Golub, LeVeque): with d = x - mean0, the exact
 * mean is mean0 + sum(d)/D and the variance (sum(d^2) - sum(d)^2/D)/D. sum(d) is tiny but
 * repairs the rounding of the first pass's sum, which at -O0 (one serial accumulator) is
 * otherwise visible for inputs far from zero. Sets *mean and *var. */
static void row_moments(Cg *cg, LLVMValueRef X, LLVMValueRef row, int64_t D, LLVMValueRef *mean,
                        LLVMValueRef *var) {
    LLVMValueRef fD = cg_f32(cg, (double)D);
    LLVMValueRef mean0 = LLVMBuildFDiv(cg->b, row_sum(cg, X, row, D), fD, "mean0");
    CgLoop l;
    LLVMValueRef k = cg_loop_begin(cg, &l, cg_i64(cg, D), "ln.var");
    LLVMValueRef s1 = cg_loop_acc(cg, &l, cg_f32(cg, 0.0), "s1");
    LLVMValueRef s2 = cg_loop_acc(cg, &l, cg_f32(cg, 0.0), "s2");
    /* A plain fsub: with reassociation sum(x - mean0) could become sum(x) - D * mean0. */
    LLVMValueRef dx = LLVMBuildFSub(cg->b, cg_load(cg, X, cg_add(cg, row, k)), mean0, "");
    LLVMValueRef next[2] = {cg_fadd(cg, s1, dx), cg_fadd(cg, s2, cg_fmul(cg, dx, dx))};
    cg_loop_end(cg, &l, next);
    LLVMValueRef shift = LLVMBuildFDiv(cg->b, l.acc_out[0], fD, "");
    *mean = LLVMBuildFAdd(cg->b, mean0, shift, "mean");
    LLVMValueRef ss =
        LLVMBuildFSub(cg->b, l.acc_out[1], LLVMBuildFMul(cg->b, l.acc_out[0], shift, ""), "");
    /* >= 0 despite rounding (a select, not maxnum: no libm call on any target). */
    ss = cg_select_lt(cg, ss, cg_f32(cg, 0.0), cg_f32(cg, 0.0), ss);
    *var = LLVMBuildFDiv(cg->b, ss, fD, "var");
}

bool lower_layernorm(Cg *cg, Node *n) {
    const Shape *sh = &n->shape;
    int64_t D = sh->d[sh->rank - 1].c;
    LLVMValueRef W = cg_param(cg, node_param(n, "weight")), B = cg_param(cg, node_param(n, "bias"));
    LLVMValueRef X = cg->buf[n->in[0]->id], Y = cg->buf[n->id];

    CgLoop lr, lk;
    LLVMValueRef r = cg_loop_begin(cg, &lr, cg_dim(cg, prod(sh, 0, sh->rank - 1)), "ln.row");
    LLVMValueRef row = cg_mul(cg, r, cg_i64(cg, D));
    LLVMValueRef mean, var;
    row_moments(cg, X, row, D, &mean, &var);
    LLVMValueRef std =
        cg_intrinsic1(cg, "sqrt", LLVMBuildFAdd(cg->b, var, cg_f32(cg, attr_float(n, "eps")), ""));
    LLVMValueRef rstd = LLVMBuildFDiv(cg->b, cg_f32(cg, 1.0), std, "rstd");
    LLVMValueRef k = cg_loop_begin(cg, &lk, cg_i64(cg, D), "ln.write");
    LLVMValueRef at = cg_add(cg, row, k);
    LLVMValueRef xhat = cg_fmul(cg, LLVMBuildFSub(cg->b, cg_load(cg, X, at), mean, ""), rstd);
    cg_store(cg, cg_fadd(cg, cg_fmul(cg, xhat, cg_load(cg, W, k)), cg_load(cg, B, k)), Y, at);
    cg_loop_end(cg, &lk, NULL);
    cg_loop_end(cg, &lr, NULL);
    return true;
}
