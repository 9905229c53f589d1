/* cg_epilogue.c: the elementwise ops fused into a kernel (pass_fuse), applied in its loops.
 *
 * In: a kernel node and the value it computed for one element of its output, or for a
 * vector of consecutive elements (conv2d's blocks), with the flat C-order index of that
 * (first) element. Out: the value of the kernel's last epilogue node at the same elements,
 * which the lowering stores in the kernel's buffer (the result's: cg.c). Each epilogue node
 * is applied in order: a unary op through cg_unary_op, a binary op with its number or with
 * its other operand, a tensor of the output's shape (pass_fuse guarantees it) and so read
 * at the same flat index. Lanes a masked store leaves out are not read from it either: a
 * narrow row's extra lanes may index past the end of the operand. */
#include <string.h>

#include "cg_vec.h"

static bool is_binary(OpKind op) {
    return op == OP_ADD || op == OP_SUB || op == OP_MUL || op == OP_DIV;
}

/* The lanes of v: 1 for a plain float. */
static int width_of(LLVMValueRef v) {
    LLVMTypeRef t = LLVMTypeOf(v);
    return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? (int)LLVMGetVectorSize(t) : 1;
}

/* The other operand of binary node e at the elements of `like`, in the lanes of the
 * run-time mask, or where it is NULL of `lanes`. */
static LLVMValueRef operand(Cg *cg, const Node *e, LLVMValueRef like, LLVMValueRef at,
                            uint32_t lanes, LLVMValueRef mask) {
    if (e->nin < 2)
        return cg_const_like(cg, like, attr_float(e, "b"));
    LLVMValueRef base = cg->buf[e->in[1]->id];
    return mask ? cg_vec_load_picked(cg, base, at, width_of(like), 1, mask, 0.0)
                : cg_vec_load(cg, base, at, width_of(like), 1, lanes, 0.0);
}

static LLVMValueRef apply(Cg *cg, const Node *kernel, LLVMValueRef value,
                          LLVMValueRef flat_index, uint32_t lanes, LLVMValueRef mask) {
    for (int i = 0; i < kernel->nepi; i++) {
        const Node *e = kernel->epi[i];
        LLVMValueRef v;
        if (is_binary(e->op))
            v = cg_binary_op(cg, e->op, value, operand(cg, e, value, flat_index, lanes, mask));
        else
            v = cg_unary_op(cg, e, value);
        /* Named after the node, so `nndc emit llvm` shows where each fused op went. */
        if (v != value && LLVMIsAInstruction(v))
            LLVMSetValueName2(v, e->name, strlen(e->name));
        value = v;
    }
    return value;
}

LLVMValueRef cg_epilogue_lanes(Cg *cg, const Node *kernel, LLVMValueRef value,
                               LLVMValueRef flat_index, uint32_t lanes) {
    return apply(cg, kernel, value, flat_index, lanes, NULL);
}

LLVMValueRef cg_epilogue_picked(Cg *cg, const Node *kernel, LLVMValueRef value,
                                LLVMValueRef flat_index, LLVMValueRef mask) {
    return apply(cg, kernel, value, flat_index, 0, mask);
}

LLVMValueRef cg_epilogue(Cg *cg, const Node *kernel, LLVMValueRef value, LLVMValueRef flat_index) {
    uint32_t all = (uint32_t)((1ull << width_of(value)) - 1);
    return cg_epilogue_lanes(cg, kernel, value, flat_index, all);
}
