/* cg_vec.h: fixed-width vectors of floats for the hand-vectorized lowerings (conv2d, pools).
 *
 * In: a buffer, an i64 index into it, a compile-time width (at most CG_VL; 1 gives a plain
 * float), stride and lane mask. Out: the IR that loads, builds or stores those `width`
 * floats: unit-stride loads are one vector load, strided ones load the span that covers
 * them and shuffle, and lanes outside the mask are neither read nor written (llvm.masked.load
 * / .store), so the index may point outside the buffer where those lanes are. Also the i64
 * index arithmetic with compile-time constants that these addresses are built from. */
#ifndef NND_CG_VEC_H
#define NND_CG_VEC_H

#include "cg.h"

enum {
    CG_VL = 16,       /* floats per vector at most */
    CG_MAX_SPAN = 32, /* floats one strided vector load covers at most */
};

/* --- i64 index arithmetic with a constant, folded away where it is a no-op --------------- */
/* v + off for off of either sign (cg_add's nuw would make a negative one poison). */
LLVMValueRef cg_add_signed(Cg *cg, LLVMValueRef v, int64_t off);
LLVMValueRef cg_addc(Cg *cg, LLVMValueRef v, int64_t c); /* v + c, c >= 0 */
LLVMValueRef cg_mulc(Cg *cg, LLVMValueRef v, int64_t c); /* v * c, c >= 0 */

/* --- the target's vectors ----------------------------------------------------------------- */
/* Floats per native vector: 16 with AVX-512, 8 with AVX, else 4 (SSE, NEON; narrower targets
 * split them). */
int cg_vec_native(const Cg *cg);
/* Vector registers: 32 with AVX-512 or on AArch64, else 16. */
int cg_vec_regs(const Cg *cg);
/* acc + a * b as one fused multiply-add (contraction only: chains of them are never
 * reassociated, so every sum is the same sequence of roundings wherever it is computed). */
LLVMValueRef cg_vec_fma(Cg *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef acc);
/* v with contraction allowed and nothing else (an fadd or fmul; anything else unchanged). */
LLVMValueRef cg_contract(LLVMValueRef v);

/* --- vectors of `width` floats (a plain float for width 1) ------------------------------- */
LLVMValueRef cg_vec_splat(Cg *cg, LLVMValueRef s, int width);  /* s (any scalar) in every lane */
LLVMValueRef cg_vec_const(Cg *cg, const double *v, int width); /* v[l] in lane l */
LLVMValueRef cg_vec_splat_const(Cg *cg, double v, int width);  /* v in every lane */
/* base[i], base[i + stride], ... (width of them), lane l only if bit l of mask is set and
 * `fill` otherwise. (width - 1) * stride + 1 is at most CG_MAX_SPAN. */
LLVMValueRef cg_vec_load(Cg *cg, LLVMValueRef base, LLVMValueRef i, int width, int64_t stride,
                         uint32_t mask, double fill);
/* One of n compile-time lane masks (as cg_vec_load takes them), chosen at run time by the
 * i64 `which` < n, for cg_vec_load_picked: an index into a constant table of the masks. NULL
 * when the n masks are all the same: then a plain cg_vec_load with masks[0] does. */
LLVMValueRef cg_vec_mask_pick(Cg *cg, const uint32_t *masks, int n, LLVMValueRef which, int width,
                              int64_t stride);
/* cg_vec_load with the lane mask cg_vec_mask_pick chose. */
LLVMValueRef cg_vec_load_picked(Cg *cg, LLVMValueRef base, LLVMValueRef i, int width,
                                int64_t stride, LLVMValueRef picked, double fill);
/* v in the lanes set in `lanes`, `other` in the rest. */
LLVMValueRef cg_vec_keep_lanes(Cg *cg, LLVMValueRef v, uint32_t lanes, int width, double other);
/* base[i..i+width) = v, only the lanes set in `lanes`. */
void cg_vec_store(Cg *cg, LLVMValueRef v, LLVMValueRef base, LLVMValueRef i, int width,
                  uint32_t lanes);
/* cg_vec_store with a run-time <width x i1> lane mask. */
void cg_vec_store_picked(Cg *cg, LLVMValueRef v, LLVMValueRef base, LLVMValueRef i,
                         LLVMValueRef mask);
/* The run-time lane mask of lanes l with first + l < n (an i64), for the _picked loads and
 * stores of a stride-1 vector. */
LLVMValueRef cg_vec_lanes_below(Cg *cg, int64_t first, LLVMValueRef n, int width);

#endif
