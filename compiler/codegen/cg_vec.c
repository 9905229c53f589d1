/* cg_vec.c: fixed-width vector loads and stores with masks and strides (see cg_vec.h).
 *
 * In: buffers, i64 indices and compile-time widths, strides and masks. Out: LLVM IR at the
 * builder's position; nothing is named, the lowerings name their loops. */
#include <string.h>

#include "cg_vec.h"

LLVMValueRef cg_add_signed(Cg *cg, LLVMValueRef v, int64_t off) {
    return off ? LLVMBuildNSWAdd(cg->b, v, cg_i64(cg, off), "") : v;
}

LLVMValueRef cg_addc(Cg *cg, LLVMValueRef v, int64_t c) {
    return c ? cg_add(cg, v, cg_i64(cg, c)) : v;
}

LLVMValueRef cg_mulc(Cg *cg, LLVMValueRef v, int64_t c) {
    return c != 1 ? cg_mul(cg, v, cg_i64(cg, c)) : v;
}

static bool has_feature(const Cg *cg, const char *f) {
    return cg->features && strstr(cg->features, f);
}

/* A CPU named without a feature list (`--cpu x86-64-v3`) implies its features: the x86 ones
 * nnd is built for, by name. */
static bool cpu_is(const Cg *cg, const char *const *names) {
    for (int i = 0; cg->cpu && names[i]; i++)
        if (strstr(cg->cpu, names[i]))
            return true;
    return false;
}

static bool has_avx512(const Cg *cg) {
    static const char *const cpus[] = {"x86-64-v4", "avx512", "icelake", "sapphirerapids",
                                       "cascadelake", "cooperlake", "tigerlake", "cannonlake",
                                       "rocketlake", "graniterapids", "emeraldrapids", "znver4",
                                       "znver5", NULL};
    return has_feature(cg, "+avx512f") || (!has_feature(cg, "-avx512f") && cpu_is(cg, cpus));
}

static bool has_avx(const Cg *cg) {
    static const char *const cpus[] = {"x86-64-v3", "haswell", "broadwell", "skylake", "alderlake",
                                       "raptorlake", "meteorlake", "arrowlake", "lunarlake",
                                       "znver", "sandybridge", "ivybridge", NULL};
    return has_avx512(cg) || has_feature(cg, "+avx,") || has_feature(cg, "+avx2") ||
           cpu_is(cg, cpus);
}

int cg_vec_native(const Cg *cg) { return has_avx512(cg) ? 16 : has_avx(cg) ? 8 : 4; }

int cg_vec_regs(const Cg *cg) {
    const char *triple = LLVMGetTarget(cg->mod);
    return has_avx512(cg) || strncmp(triple, "aarch64", 7) == 0 ? 32 : 16;
}

LLVMValueRef cg_contract(LLVMValueRef v) {
    if (LLVMCanValueUseFastMathFlags(v))
        LLVMSetFastMathFlags(v, LLVMFastMathAllowContract);
    return v;
}

LLVMValueRef cg_vec_fma(Cg *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef acc) {
    return cg_contract(LLVMBuildFAdd(cg->b, acc, cg_contract(LLVMBuildFMul(cg->b, a, b, "")), ""));
}

static LLVMTypeRef vec_type(Cg *cg, int width) {
    return width == 1 ? cg->f32 : LLVMVectorType(cg->f32, (unsigned)width);
}

LLVMValueRef cg_vec_splat(Cg *cg, LLVMValueRef s, int width) {
    if (width == 1)
        return s;
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(s), (unsigned)width);
    LLVMValueRef v = LLVMBuildInsertElement(cg->b, LLVMGetPoison(vt), s, cg_i64(cg, 0), "");
    return LLVMBuildShuffleVector(cg->b, v, LLVMGetPoison(vt),
                                  LLVMConstNull(LLVMVectorType(cg->i32, (unsigned)width)), "");
}

LLVMValueRef cg_vec_const(Cg *cg, const double *v, int width) {
    LLVMValueRef e[CG_MAX_SPAN];
    for (int l = 0; l < width; l++)
        e[l] = cg_f32(cg, v[l]);
    return width == 1 ? e[0] : LLVMConstVector(e, (unsigned)width);
}

LLVMValueRef cg_vec_splat_const(Cg *cg, double v, int width) {
    double e[CG_MAX_SPAN];
    for (int l = 0; l < width; l++)
        e[l] = v;
    return cg_vec_const(cg, e, width);
}

/* The lane mask `bits` as a constant <n x i1>. */
static LLVMValueRef mask_vec(Cg *cg, uint32_t bits, int n) {
    LLVMValueRef e[CG_MAX_SPAN];
    for (int l = 0; l < n; l++)
        e[l] = LLVMConstInt(cg->i1, (bits >> l) & 1, 0);
    return LLVMConstVector(e, (unsigned)n);
}

LLVMValueRef cg_vec_keep_lanes(Cg *cg, LLVMValueRef v, uint32_t lanes, int width, double other) {
    if (lanes == (uint32_t)((1ull << width) - 1))
        return v;
    return LLVMBuildSelect(cg->b, mask_vec(cg, lanes, width), v,
                           cg_vec_splat_const(cg, other, width), "");
}

/* llvm.masked.load of `span` floats at p: lanes whose bit of the <span x i1> mask is clear
 * are not read and give `fill`. p may lie outside the buffer where those lanes are. */
static LLVMValueRef masked_load(Cg *cg, LLVMValueRef p, int span, LLVMValueRef mask, double fill) {
    LLVMTypeRef vt = LLVMVectorType(cg->f32, (unsigned)span), types[2] = {vt, cg->ptr};
    unsigned id = LLVMLookupIntrinsicID("llvm.masked.load", strlen("llvm.masked.load"));
    LLVMValueRef fills[CG_MAX_SPAN];
    for (int l = 0; l < span; l++)
        fills[l] = cg_f32(cg, fill);
    LLVMValueRef args[4] = {p, LLVMConstInt(cg->i32, 4, 0), mask,
                            LLVMConstVector(fills, (unsigned)span)};
    return LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, types, 2),
                          LLVMGetIntrinsicDeclaration(cg->mod, id, types, 2), args, 4, "");
}

static int span_of(int width, int64_t stride) { return (int)((width - 1) * stride + 1); }

/* The lanes of `mask` at their places in the span that a strided load covers. */
static uint32_t span_mask(uint32_t mask, int width, int64_t stride) {
    uint32_t m = 0;
    for (int l = 0; l < width; l++)
        m |= ((mask >> l) & 1u) << (l * stride);
    return m;
}

/* The span's lanes picked out for a strided row. */
static LLVMValueRef gather_lanes(Cg *cg, LLVMValueRef v, int width, int64_t stride) {
    if (stride == 1)
        return v;
    LLVMValueRef pick[CG_VL];
    for (int l = 0; l < width; l++)
        pick[l] = LLVMConstInt(cg->i32, (unsigned long long)(l * stride), 0);
    return LLVMBuildShuffleVector(cg->b, v, LLVMGetPoison(LLVMTypeOf(v)),
                                  LLVMConstVector(pick, (unsigned)width), "");
}

LLVMValueRef cg_vec_mask_pick(Cg *cg, const uint32_t *masks, int n, LLVMValueRef which, int width,
                              int64_t stride) {
    int i = 1;
    while (i < n && masks[i] == masks[0])
        i++;
    if (i == n)
        return NULL;
    LLVMValueRef *el = arena_array(cg->g->arena, (size_t)n, sizeof *el);
    for (i = 0; i < n; i++)
        el[i] = LLVMConstInt(cg->i32, span_mask(masks[i], width, stride), 0);
    LLVMTypeRef at = LLVMArrayType2(cg->i32, (uint64_t)n);
    LLVMValueRef table = LLVMAddGlobal(cg->mod, at, "lane_masks");
    LLVMSetInitializer(table, LLVMConstArray2(cg->i32, el, (uint64_t)n));
    LLVMSetGlobalConstant(table, 1);
    LLVMSetLinkage(table, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(table, LLVMGlobalUnnamedAddr);
    LLVMValueRef m = LLVMBuildLoad2(
        cg->b, cg->i32, LLVMBuildInBoundsGEP2(cg->b, cg->i32, table, &which, 1, ""), "");
    int span = span_of(width, stride);
    LLVMTypeRef bits = LLVMIntTypeInContext(cg->ctx, (unsigned)span);
    return LLVMBuildBitCast(cg->b, span < 32 ? LLVMBuildTrunc(cg->b, m, bits, "") : m,
                            LLVMVectorType(cg->i1, (unsigned)span), "");
}

LLVMValueRef cg_vec_load_picked(Cg *cg, LLVMValueRef base, LLVMValueRef i, int width,
                                int64_t stride, LLVMValueRef picked, double fill) {
    LLVMValueRef p = LLVMBuildGEP2(cg->b, cg->f32, base, &i, 1, "");
    LLVMValueRef v = masked_load(cg, p, span_of(width, stride), picked, fill);
    if (width == 1)
        return LLVMBuildExtractElement(cg->b, v, cg_i64(cg, 0), "");
    return gather_lanes(cg, v, width, stride);
}

/* A strided vector with every lane on, from two loads of half the power of two that covers
 * its span, one at each end of it (they overlap unless the span is that power of two), and
 * one two-source shuffle (vpermt2ps with AVX-512). A load of the span itself (<31 x float>
 * for 16 lanes at stride 2) is split by the back end into a chain of inserts and shuffles:
 * a 64->128 3x3 stride-2 convolution ran at a third of the FMA peak. Reads nothing outside
 * the span. */
static LLVMValueRef strided_load(Cg *cg, LLVMValueRef base, LLVMValueRef i, int width,
                                 int64_t stride) {
    int span = span_of(width, stride), half = 1;
    while (2 * half < span)
        half *= 2;
    LLVMTypeRef vt = vec_type(cg, half);
    LLVMValueRef at[2] = {i, cg_addc(cg, i, span - half)}, part[2];
    for (int k = 0; k < 2; k++) {
        part[k] = LLVMBuildLoad2(cg->b, vt, LLVMBuildInBoundsGEP2(cg->b, cg->f32, base, &at[k], 1, ""), "");
        LLVMSetAlignment(part[k], 4);
    }
    LLVMValueRef pick[CG_VL];
    for (int l = 0; l < width; l++) {
        int64_t e = l * stride; /* < half: the first load's lane e; else the second's */
        pick[l] = LLVMConstInt(cg->i32, (unsigned long long)(e < half ? e : half + e - (span - half)), 0);
    }
    return LLVMBuildShuffleVector(cg->b, part[0], part[1], LLVMConstVector(pick, (unsigned)width), "");
}

LLVMValueRef cg_vec_load(Cg *cg, LLVMValueRef base, LLVMValueRef i, int width, int64_t stride,
                         uint32_t mask, double fill) {
    if (width == 1)
        return cg_load(cg, base, i);
    int span = span_of(width, stride);
    LLVMValueRef v;
    if (mask == (uint32_t)((1ull << width) - 1) && stride > 1)
        return strided_load(cg, base, i, width, stride);
    if (mask == (uint32_t)((1ull << width) - 1)) {
        v = LLVMBuildLoad2(cg->b, vec_type(cg, span),
                           LLVMBuildInBoundsGEP2(cg->b, cg->f32, base, &i, 1, ""), "");
        LLVMSetAlignment(v, 4);
    } else {
        v = masked_load(cg, LLVMBuildGEP2(cg->b, cg->f32, base, &i, 1, ""), span,
                        mask_vec(cg, span_mask(mask, width, stride), span), fill);
    }
    return gather_lanes(cg, v, width, stride);
}

/* A plain store unless some lanes are off, then llvm.masked.store. */
void cg_vec_store(Cg *cg, LLVMValueRef v, LLVMValueRef base, LLVMValueRef i, int width,
                  uint32_t lanes) {
    if (lanes == (uint32_t)((1ull << width) - 1)) {
        LLVMValueRef p = LLVMBuildInBoundsGEP2(cg->b, cg->f32, base, &i, 1, "");
        LLVMSetAlignment(LLVMBuildStore(cg->b, v, p), 4);
        return;
    }
    cg_vec_store_picked(cg, v, base, i, mask_vec(cg, lanes, width));
}

void cg_vec_store_picked(Cg *cg, LLVMValueRef v, LLVMValueRef base, LLVMValueRef i,
                         LLVMValueRef mask) {
    LLVMTypeRef types[2] = {LLVMTypeOf(v), cg->ptr};
    unsigned id = LLVMLookupIntrinsicID("llvm.masked.store", strlen("llvm.masked.store"));
    /* A plain GEP: the start may lie past the buffer where the first lanes are off. */
    LLVMValueRef args[4] = {v, LLVMBuildGEP2(cg->b, cg->f32, base, &i, 1, ""),
                            LLVMConstInt(cg->i32, 4, 0), mask};
    LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, types, 2),
                   LLVMGetIntrinsicDeclaration(cg->mod, id, types, 2), args, 4, "");
}

LLVMValueRef cg_vec_lanes_below(Cg *cg, int64_t first, LLVMValueRef n, int width) {
    LLVMValueRef idx[CG_MAX_SPAN];
    for (int l = 0; l < width; l++)
        idx[l] = cg_i64(cg, first + l);
    return LLVMBuildICmp(cg->b, LLVMIntSLT, LLVMConstVector(idx, (unsigned)width),
                         cg_vec_splat(cg, n, width), "lanes");
}
