/* cg_ir.c: small IR-building helpers shared by the lowerings: constants, dimensions, typed
 * loads and stores, float arithmetic with the kernels' flags, loops with accumulators. */
#include <stdio.h>
#include <string.h>

#include <llvm-c/DebugInfo.h>

#include "cg.h"

LLVMValueRef cg_i64(Cg *cg, int64_t v) { return LLVMConstInt(cg->i64, (unsigned long long)v, 1); }

LLVMValueRef cg_f32(Cg *cg, double v) { return LLVMConstReal(cg->f32, v); }

/* ConstantFP::get splats for a vector type, so this is cg_f32 for a scalar x. */
LLVMValueRef cg_const_like(Cg *cg, LLVMValueRef x, double v) {
    (void)cg;
    return LLVMConstReal(LLVMTypeOf(x), v);
}

LLVMValueRef cg_mul(Cg *cg, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef r = LLVMBuildMul(cg->b, a, b, "");
    if (!LLVMIsConstant(r)) {
        LLVMSetNSW(r, 1);
        LLVMSetNUW(r, 1);
    }
    return r;
}

LLVMValueRef cg_add(Cg *cg, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef r = LLVMBuildAdd(cg->b, a, b, "");
    if (!LLVMIsConstant(r)) {
        LLVMSetNSW(r, 1);
        LLVMSetNUW(r, 1);
    }
    return r;
}

LLVMValueRef cg_dim(Cg *cg, Dim d) {
    LLVMValueRef v = cg_i64(cg, d.c);
    for (int s = 0; s < MAX_SYMS; s++)
        for (int k = 0; k < d.e[s]; k++)
            v = cg_mul(cg, v, cg->sym[s]);
    return v;
}

LLVMValueRef cg_numel(Cg *cg, const Shape *s) {
    Dim n;
    if (!shape_numel(s, &n))
        n = dim_const(0); /* shape inference already refused overflowing shapes */
    return cg_dim(cg, n);
}

LLVMValueRef cg_elem_ptr(Cg *cg, LLVMValueRef base, LLVMValueRef index) {
    return LLVMBuildInBoundsGEP2(cg->b, cg->f32, base, &index, 1, "");
}

LLVMValueRef cg_load(Cg *cg, LLVMValueRef base, LLVMValueRef index) {
    LLVMValueRef v = LLVMBuildLoad2(cg->b, cg->f32, cg_elem_ptr(cg, base, index), "");
    LLVMSetAlignment(v, 4);
    return v;
}

void cg_store(Cg *cg, LLVMValueRef value, LLVMValueRef base, LLVMValueRef index) {
    LLVMValueRef s = LLVMBuildStore(cg->b, value, cg_elem_ptr(cg, base, index));
    LLVMSetAlignment(s, 4);
}

static LLVMValueRef flags(LLVMValueRef v) {
    if (LLVMCanValueUseFastMathFlags(v))
        LLVMSetFastMathFlags(v, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
    return v;
}

LLVMValueRef cg_fadd(Cg *cg, LLVMValueRef a, LLVMValueRef b) { return flags(LLVMBuildFAdd(cg->b, a, b, "")); }
LLVMValueRef cg_fsub(Cg *cg, LLVMValueRef a, LLVMValueRef b) { return flags(LLVMBuildFSub(cg->b, a, b, "")); }
LLVMValueRef cg_fmul(Cg *cg, LLVMValueRef a, LLVMValueRef b) { return flags(LLVMBuildFMul(cg->b, a, b, "")); }
LLVMValueRef cg_fdiv(Cg *cg, LLVMValueRef a, LLVMValueRef b) { return flags(LLVMBuildFDiv(cg->b, a, b, "")); }

static LLVMValueRef call_intrinsic(Cg *cg, const char *name, LLVMValueRef *args, unsigned n) {
    char full[64];
    snprintf(full, sizeof full, "llvm.%s", name);
    unsigned id = LLVMLookupIntrinsicID(full, strlen(full));
    LLVMTypeRef types[1] = {LLVMTypeOf(args[0])}; /* f32, or a vector of them */
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, types, 1);
    LLVMTypeRef fty = LLVMIntrinsicGetType(cg->ctx, id, types, 1);
    return flags(LLVMBuildCall2(cg->b, fty, fn, args, n, ""));
}

LLVMValueRef cg_intrinsic1(Cg *cg, const char *name, LLVMValueRef x) {
    return call_intrinsic(cg, name, &x, 1);
}

LLVMValueRef cg_intrinsic2(Cg *cg, const char *name, LLVMValueRef x, LLVMValueRef y) {
    LLVMValueRef args[2] = {x, y};
    return call_intrinsic(cg, name, args, 2);
}

LLVMValueRef cg_select_lt(Cg *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef t, LLVMValueRef f) {
    return LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOLT, a, b, ""), t, f, "");
}

/* p declared, and recorded in cg->linked. */
static LLVMValueRef linked_param(Cg *cg, const Param *p, int64_t n) {
    if (cg->nlinked == cg->linked_cap) {
        int cap = cg->linked_cap ? 2 * cg->linked_cap : 16;
        cg->linked = arena_grow(cg->g->arena, cg->linked,
                                (size_t)cg->linked_cap * sizeof *cg->linked,
                                (size_t)cap * sizeof *cg->linked);
        cg->linked_cap = cap;
    }
    LLVMValueRef gv = LLVMAddGlobal(cg->mod, LLVMArrayType2(cg->f32, (uint64_t)n),
                                    arena_printf(cg->g->arena, "nnd.w.%s", p->name));
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetAlignment(gv, 64);
    size_t len; /* LLVM's name: a second parameter of the same name gets a suffix */
    const char *name = LLVMGetValueName2(gv, &len);
    cg->linked[cg->nlinked++] = (CgLinkedParam){.symbol = arena_strdup(cg->g->arena, name),
                                                .data = p->data,
                                                .bytes = (size_t)n * sizeof(float)};
    return gv;
}

static bool linked(const Cg *cg, int64_t nfloats) {
    return cg->link_params && (size_t)nfloats * sizeof(float) > CG_LINKED_MIN_BYTES;
}

bool cg_param_data_needed(const Cg *cg, int64_t nfloats) {
    return !(cg->again && linked(cg, nfloats));
}

LLVMValueRef cg_param(Cg *cg, const Param *p) {
    Dim n;
    shape_numel(&p->shape, &n);
    /* For the JIT, a large parameter stays out of LLVM (the JIT links it, jit.c): as a
     * constant it was copied into LLVM (hashed on the way), into an object file and into
     * the JIT's memory, and mlp_l's 11.6 MB took a fifth of its compile time. */
    if (linked(cg, n.c))
        return linked_param(cg, p, n.c);
    /* Raw bytes, not one constant per element: ~100x faster to build and to JIT. Parameters
     * are stored in the host's byte order, which is the target's for every target nnd
     * builds for (little-endian). */
    LLVMValueRef init = LLVMConstStringInContext2(cg->ctx, (const char *)p->data,
                                                  (size_t)n.c * sizeof(float), 1);
    LLVMValueRef gv = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), p->name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetUnnamedAddr(gv, 1);
    LLVMSetAlignment(gv, 64);
    return gv;
}

void cg_memcpy(Cg *cg, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef nfloats) {
    LLVMBuildMemCpy(cg->b, dst, 4, src, 4, cg_mul(cg, nfloats, cg_i64(cg, 4)));
}

LLVMValueRef cg_loop_begin(Cg *cg, CgLoop *l, LLVMValueRef n, const char *name) {
    memset(l, 0, sizeof *l);
    l->n = n;
    l->rolled = cg->rolled_loops;
    l->pre = LLVMGetInsertBlock(cg->b);
    char label[96];
    snprintf(label, sizeof label, "%s.body", name);
    l->body = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, label);
    snprintf(label, sizeof label, "%s.done", name);
    l->exit = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, label);
    LLVMValueRef any = LLVMBuildICmp(cg->b, LLVMIntSGT, n, cg_i64(cg, 0), "");
    LLVMBuildCondBr(cg->b, any, l->body, l->exit);
    LLVMPositionBuilderAtEnd(cg->b, l->body);
    l->i = LLVMBuildPhi(cg->b, cg->i64, name);
    LLVMValueRef zero = cg_i64(cg, 0);
    LLVMAddIncoming(l->i, &zero, &l->pre, 1);
    return l->i;
}

LLVMValueRef cg_loop_acc(Cg *cg, CgLoop *l, LLVMValueRef init, const char *name) {
    LLVMValueRef phi = LLVMBuildPhi(cg->b, LLVMTypeOf(init), name);
    LLVMAddIncoming(phi, &init, &l->pre, 1);
    l->acc[l->nacc] = phi;
    l->acc_init[l->nacc] = init;
    l->nacc++;
    return phi;
}

/* A loop ID !{self, !{"llvm.loop.unroll.disable"}}: the self-reference (through a temporary
 * node) makes every loop's ID its own node, as LLVM requires. */
static LLVMValueRef loop_rolled(Cg *cg) {
    LLVMMetadataRef tmp = LLVMTemporaryMDNode(cg->ctx, NULL, 0);
    LLVMMetadataRef name = LLVMMDStringInContext2(cg->ctx, "llvm.loop.unroll.disable", 24);
    LLVMMetadataRef ops[2] = {tmp, LLVMMDNodeInContext2(cg->ctx, &name, 1)};
    LLVMMetadataRef id = LLVMMDNodeInContext2(cg->ctx, ops, 2);
    LLVMMetadataReplaceAllUsesWith(tmp, id);
    return LLVMMetadataAsValue(cg->ctx, id);
}

void cg_loop_end(Cg *cg, CgLoop *l, const LLVMValueRef *acc_next) {
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(cg->b);
    LLVMValueRef next = cg_add(cg, l->i, cg_i64(cg, 1));
    LLVMValueRef more = LLVMBuildICmp(cg->b, LLVMIntSLT, next, l->n, "");
    LLVMValueRef br = LLVMBuildCondBr(cg->b, more, l->body, l->exit);
    if (l->rolled)
        LLVMSetMetadata(br, LLVMGetMDKindIDInContext(cg->ctx, "llvm.loop", 9), loop_rolled(cg));
    LLVMAddIncoming(l->i, &next, &latch, 1);
    for (int k = 0; k < l->nacc; k++)
        LLVMAddIncoming(l->acc[k], (LLVMValueRef *)&acc_next[k], &latch, 1);
    LLVMPositionBuilderAtEnd(cg->b, l->exit);
    for (int k = 0; k < l->nacc; k++) {
        LLVMValueRef phi = LLVMBuildPhi(cg->b, LLVMTypeOf(l->acc_init[k]), "");
        LLVMValueRef vals[2] = {l->acc_init[k], acc_next[k]};
        LLVMBasicBlockRef from[2] = {l->pre, latch};
        LLVMAddIncoming(phi, vals, from, 2);
        l->acc_out[k] = phi;
    }
}

void cg_prefetch_l2(Cg *cg, LLVMValueRef base, LLVMValueRef i) {
    LLVMTypeRef types[1] = {cg->ptr};
    unsigned id = LLVMLookupIntrinsicID("llvm.prefetch", strlen("llvm.prefetch"));
    LLVMValueRef args[4] = {LLVMBuildGEP2(cg->b, cg->f32, base, &i, 1, ""),
                            LLVMConstInt(cg->i32, 0, 0), LLVMConstInt(cg->i32, 2, 0),
                            LLVMConstInt(cg->i32, 1, 0)};
    LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, types, 1),
                   LLVMGetIntrinsicDeclaration(cg->mod, id, types, 1), args, 4, "");
}

void cg_if_begin(Cg *cg, CgIf *f, LLVMValueRef cond, const char *name) {
    char label[96];
    snprintf(label, sizeof label, "%s.then", name);
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, label);
    snprintf(label, sizeof label, "%s.done", name);
    f->done = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, label);
    LLVMBuildCondBr(cg->b, cond, then, f->done);
    LLVMPositionBuilderAtEnd(cg->b, then);
}

void cg_if_end(Cg *cg, CgIf *f) {
    LLVMBuildBr(cg->b, f->done);
    LLVMPositionBuilderAtEnd(cg->b, f->done);
}
