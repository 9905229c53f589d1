/* cg_math.c: exp, log, tanh, erfc and friends as plain f32 IR.
 *
 * Calls to libm would stop the loop vectorizer and tie generated objects to a math library;
 * these are branch-free (selects), so a loop over them becomes vector code. Accuracy is a
 * few ulp over the whole range, including the edges users hit: exp overflow to inf and
 * underflow through subnormals to 0, log of 0/negative/subnormal, NaN in -> NaN out. The
 * polynomials are the classic minimax fits from the Cephes single-precision library (the
 * coefficients are facts; the code is ours). Each function also takes a vector of floats
 * (the conv2d epilogue's), lane by lane: constants and integer types follow x's type. */
#include "cg.h"

/* A type of x's shape: `elem` itself for a scalar x, a vector of as many `elem` as x has
 * lanes for a vector x. */
static LLVMTypeRef shaped_like(LLVMValueRef x, LLVMTypeRef elem) {
    LLVMTypeRef t = LLVMTypeOf(x);
    return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMVectorType(elem, LLVMGetVectorSize(t))
                                                    : elem;
}

static LLVMTypeRef i32_like(Cg *cg, LLVMValueRef x) { return shaped_like(x, cg->i32); }
static LLVMTypeRef f32_like(Cg *cg, LLVMValueRef x) { return shaped_like(x, cg->f32); }

enum { MAX_LANES = 64 };

/* The i32 constant v with x's shape (LLVMConstInt takes only a scalar type). */
static LLVMValueRef int_like(Cg *cg, LLVMValueRef x, unsigned v) {
    LLVMValueRef c = LLVMConstInt(cg->i32, v, 0);
    LLVMTypeRef t = LLVMTypeOf(x);
    if (LLVMGetTypeKind(t) != LLVMVectorTypeKind)
        return c;
    unsigned n = LLVMGetVectorSize(t);
    LLVMValueRef lanes[MAX_LANES];
    for (unsigned l = 0; l < n && l < MAX_LANES; l++)
        lanes[l] = c;
    return LLVMConstVector(lanes, n < MAX_LANES ? n : MAX_LANES);
}

/* The float constant v shaped like x (x itself may be a vector). */
static LLVMValueRef fc(Cg *cg, LLVMValueRef x, double v) { return cg_const_like(cg, x, v); }

static LLVMValueRef poly(Cg *cg, LLVMValueRef x, const double *c, int n) {
    LLVMValueRef r = fc(cg, x, c[0]);
    for (int i = 1; i < n; i++)
        r = cg_fadd(cg, cg_fmul(cg, r, x), fc(cg, x, c[i]));
    return r;
}

static LLVMValueRef is_nan(Cg *cg, LLVMValueRef x) {
    return LLVMBuildFCmp(cg->b, LLVMRealUNO, x, x, "");
}

static LLVMValueRef sel(Cg *cg, LLVMValueRef c, LLVMValueRef t, LLVMValueRef f) {
    return LLVMBuildSelect(cg->b, c, t, f, "");
}

static LLVMValueRef fcmp(Cg *cg, LLVMRealPredicate p, LLVMValueRef a, double b) {
    return LLVMBuildFCmp(cg->b, p, a, fc(cg, a, b), "");
}

/* 2^k for an i32 k in [-126, 127], as a float built from its exponent bits. */
static LLVMValueRef pow2i(Cg *cg, LLVMValueRef k) {
    LLVMValueRef bits = LLVMBuildShl(cg->b, LLVMBuildAdd(cg->b, k, int_like(cg, k, 127), ""),
                                     int_like(cg, k, 23), "");
    return LLVMBuildBitCast(cg->b, bits, f32_like(cg, k), "");
}

LLVMValueRef cg_exp(Cg *cg, LLVMValueRef x) {
    /* exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln2/2; 2^n applied in two halves so
     * results down to subnormals and up to overflow come out right. */
    static const double p[] = {1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                               4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1};
    /* Clamped with selects (a NaN passes through; it is returned as is at the end) and
     * rounded to an integer by adding and subtracting 1.5 * 2^23 (no fast-math flags, so
     * LLVM keeps both): plain IR on every target, where rint, fminf and fmaxf would become
     * libm calls on CPUs without the instructions. */
    LLVMValueRef xc = sel(cg, fcmp(cg, LLVMRealOLT, x, -104.0), fc(cg, x, -104.0), x);
    xc = sel(cg, fcmp(cg, LLVMRealOGT, xc, 89.0), fc(cg, x, 89.0), xc);
    LLVMValueRef t = cg_fmul(cg, xc, fc(cg, x, 1.44269504088896341));
    LLVMValueRef magic = fc(cg, x, 12582912.0);
    LLVMValueRef fn = LLVMBuildFSub(cg->b, LLVMBuildFAdd(cg->b, t, magic, ""), magic, "");
    /* ln 2 split in two so that n * C1 is exact. */
    LLVMValueRef r = LLVMBuildFSub(cg->b, xc, LLVMBuildFMul(cg->b, fn, fc(cg, x, 0.693359375), ""), "");
    r = LLVMBuildFSub(cg->b, r, LLVMBuildFMul(cg->b, fn, fc(cg, x, -2.12194440e-4), ""), "");
    LLVMValueRef r2 = cg_fmul(cg, r, r);
    LLVMValueRef y = cg_fadd(cg, cg_fadd(cg, cg_fmul(cg, poly(cg, r, p, 6), r2), r), fc(cg, x, 1.0));
    LLVMValueRef n = LLVMBuildFPToSI(cg->b, fn, i32_like(cg, x), "");
    LLVMValueRef n1 = LLVMBuildAShr(cg->b, n, int_like(cg, x, 1), "");
    LLVMValueRef n2 = LLVMBuildSub(cg->b, n, n1, "");
    y = LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, y, pow2i(cg, n1), ""), pow2i(cg, n2), "");
    return sel(cg, is_nan(cg, x), x, y);
}

LLVMValueRef cg_expm1(Cg *cg, LLVMValueRef x) {
    /* Kahan: with u = exp(x), expm1(x) = (u - 1) * x / log(u), exact enough near 0 where
     * u - 1 alone would cancel. */
    LLVMValueRef u = cg_exp(cg, x);
    LLVMValueRef um1 = LLVMBuildFSub(cg->b, u, fc(cg, x, 1.0), "");
    LLVMValueRef scaled = LLVMBuildFDiv(cg->b, LLVMBuildFMul(cg->b, um1, x, ""), cg_log(cg, u), "");
    LLVMValueRef r = sel(cg, fcmp(cg, LLVMRealOEQ, um1, 0.0), x, scaled);
    r = sel(cg, fcmp(cg, LLVMRealOEQ, um1, -1.0), um1, r);
    /* Large x: u is inf (or huge) and log(u) makes the ratio inf/inf. */
    return sel(cg, fcmp(cg, LLVMRealOGT, x, 80.0), um1, r);
}

LLVMValueRef cg_log(Cg *cg, LLVMValueRef x) {
    static const double p[] = {7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1,
                               -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
                               2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1};
    /* Subnormals are scaled into the normal range first. */
    LLVMValueRef sub = fcmp(cg, LLVMRealOLT, x, 1.17549435e-38);
    LLVMValueRef xs = sel(cg, sub, LLVMBuildFMul(cg->b, x, fc(cg, x, 8388608.0), ""), x);
    LLVMValueRef bits = LLVMBuildBitCast(cg->b, xs, i32_like(cg, x), "");
    LLVMValueRef e = LLVMBuildSub(cg->b, LLVMBuildLShr(cg->b, bits, int_like(cg, x, 23), ""),
                                  int_like(cg, x, 126), "");
    e = LLVMBuildSub(cg->b, e, LLVMBuildSelect(cg->b, sub, int_like(cg, x, 23),
                                               int_like(cg, x, 0), ""), "");
    LLVMValueRef mbits = LLVMBuildOr(cg->b, LLVMBuildAnd(cg->b, bits, int_like(cg, x, 0x807fffff), ""),
                                     int_like(cg, x, 0x3f000000), "");
    LLVMValueRef m = LLVMBuildBitCast(cg->b, mbits, f32_like(cg, x), ""); /* in [0.5, 1) */
    LLVMValueRef small = fcmp(cg, LLVMRealOLT, m, 0.707106781186547524);
    LLVMValueRef fe = LLVMBuildSIToFP(cg->b, e, f32_like(cg, x), "");
    fe = sel(cg, small, LLVMBuildFSub(cg->b, fe, fc(cg, x, 1.0), ""), fe);
    LLVMValueRef mm = sel(cg, small, LLVMBuildFAdd(cg->b, m, m, ""), m);
    mm = LLVMBuildFSub(cg->b, mm, fc(cg, x, 1.0), "");
    LLVMValueRef z = cg_fmul(cg, mm, mm);
    LLVMValueRef y = cg_fmul(cg, cg_fmul(cg, poly(cg, mm, p, 9), mm), z);
    y = cg_fadd(cg, y, cg_fmul(cg, fe, fc(cg, x, -2.12194440e-4)));
    y = cg_fsub(cg, y, cg_fmul(cg, z, fc(cg, x, 0.5)));
    LLVMValueRef r = cg_fadd(cg, cg_fadd(cg, mm, y), cg_fmul(cg, fe, fc(cg, x, 0.693359375)));
    r = sel(cg, fcmp(cg, LLVMRealOEQ, x, 0.0), fc(cg, x, -__builtin_inf()), r);
    r = sel(cg, fcmp(cg, LLVMRealOLT, x, 0.0), fc(cg, x, __builtin_nan("")), r);
    r = sel(cg, fcmp(cg, LLVMRealOEQ, x, __builtin_inf()), x, r);
    return sel(cg, is_nan(cg, x), x, r);
}

LLVMValueRef cg_log1p(Cg *cg, LLVMValueRef x) {
    /* log1p(x) = log(w) * x / (w - 1) with w = 1 + x rounded: the classic correction. */
    LLVMValueRef w = LLVMBuildFAdd(cg->b, x, fc(cg, x, 1.0), "");
    LLVMValueRef d = LLVMBuildFSub(cg->b, w, fc(cg, x, 1.0), "");
    LLVMValueRef r = LLVMBuildFDiv(cg->b, LLVMBuildFMul(cg->b, cg_log(cg, w), x, ""), d, "");
    r = sel(cg, fcmp(cg, LLVMRealOEQ, d, 0.0), x, r);
    return sel(cg, fcmp(cg, LLVMRealOEQ, w, __builtin_inf()), w, r);
}

LLVMValueRef cg_tanh(Cg *cg, LLVMValueRef x) {
    static const double p[] = {-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
                               1.33314422036e-1, -3.33332819422e-1};
    LLVMValueRef ax = cg_intrinsic1(cg, "fabs", x);
    /* |x| < 0.625: odd polynomial. */
    LLVMValueRef z = cg_fmul(cg, x, x);
    LLVMValueRef small = cg_fadd(cg, cg_fmul(cg, cg_fmul(cg, poly(cg, z, p, 5), z), x), x);
    /* Otherwise 1 - 2 / (exp(2|x|) + 1), with the sign of x. */
    LLVMValueRef e = cg_exp(cg, LLVMBuildFMul(cg->b, ax, fc(cg, x, 2.0), ""));
    LLVMValueRef big = LLVMBuildFSub(cg->b, fc(cg, x, 1.0),
                                     LLVMBuildFDiv(cg->b, fc(cg, x, 2.0),
                                                   LLVMBuildFAdd(cg->b, e, fc(cg, x, 1.0), ""), ""), "");
    big = cg_intrinsic2(cg, "copysign", big, x);
    LLVMValueRef r = sel(cg, fcmp(cg, LLVMRealOLT, ax, 0.625), small, big);
    return sel(cg, is_nan(cg, x), x, r);
}

LLVMValueRef cg_sigmoid(Cg *cg, LLVMValueRef x) {
    /* 1 / (1 + exp(-x)): exp(-x) overflows to inf for very negative x, giving exactly 0. */
    LLVMValueRef e = cg_exp(cg, LLVMBuildFNeg(cg->b, x, ""));
    return LLVMBuildFDiv(cg->b, fc(cg, x, 1.0), LLVMBuildFAdd(cg->b, e, fc(cg, x, 1.0), ""), "");
}

LLVMValueRef cg_erfc(Cg *cg, LLVMValueRef x) {
    /* A Chebyshev fit with relative error below 1.2e-7 over the whole line (so erfc of large
     * x keeps its precision where 1 - erf(x) would cancel). */
    static const double p[] = {0.17087277,  -0.82215223, 1.48851587, -1.13520398, 0.27886807,
                               -0.18628806, 0.09678418,  0.37409196, 1.00002368,  -1.26551223};
    LLVMValueRef z = cg_intrinsic1(cg, "fabs", x);
    LLVMValueRef t = LLVMBuildFDiv(cg->b, fc(cg, x, 1.0),
                                   LLVMBuildFAdd(cg->b, fc(cg, x, 1.0),
                                                 LLVMBuildFMul(cg->b, z, fc(cg, x, 0.5), ""), ""), "");
    LLVMValueRef arg = cg_fadd(cg, cg_fmul(cg, LLVMBuildFNeg(cg->b, z, ""), z), poly(cg, t, p, 10));
    LLVMValueRef ans = LLVMBuildFMul(cg->b, t, cg_exp(cg, arg), "");
    return sel(cg, fcmp(cg, LLVMRealOGE, x, 0.0), ans, LLVMBuildFSub(cg->b, fc(cg, x, 2.0), ans, ""));
}
