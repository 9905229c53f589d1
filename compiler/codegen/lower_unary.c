/* lower_unary.c: the elementwise activations and math functions of SPEC 1.4.
 *
 * One flat loop over the tensor applies cg_unary_op, the scalar definition of each op with
 * PyTorch's semantics (hard_sigmoid = relu6(x + 3) / 6, gelu exact or tanh form, softplus
 * with beta 1, ...), written so the loop vectorizes. NaN propagates where PyTorch's does.
 * cg_unary_op also takes a vector (a conv2d epilogue's) and the loop applies the node's own
 * epilogue before its store. */
#include <stdio.h>
#include <string.h>

#include "cg.h"

/* The float constant v shaped like x (x itself may be a vector). */
static LLVMValueRef fc(Cg *cg, LLVMValueRef x, double v) { return cg_const_like(cg, x, v); }

static LLVMValueRef fcmp(Cg *cg, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildFCmp(cg->b, p, a, b, "");
}

static LLVMValueRef sel(Cg *cg, LLVMValueRef c, LLVMValueRef t, LLVMValueRef f) {
    return LLVMBuildSelect(cg->b, c, t, f, "");
}

/* min(max(x, lo), hi) that lets NaN through, as torch.clamp does. */
static LLVMValueRef clamp(Cg *cg, LLVMValueRef x, LLVMValueRef lo, LLVMValueRef hi) {
    if (lo)
        x = sel(cg, fcmp(cg, LLVMRealOLT, x, lo), lo, x);
    if (hi)
        x = sel(cg, fcmp(cg, LLVMRealOGT, x, hi), hi, x);
    return x;
}

/* x if x > 0, else neg(x): the shape of relu, leaky_relu, elu and selu. */
static LLVMValueRef positive_or(Cg *cg, LLVMValueRef x, LLVMValueRef neg) {
    return sel(cg, fcmp(cg, LLVMRealOGT, x, fc(cg, x, 0.0)), x, neg);
}

static LLVMValueRef gelu(Cg *cg, const Node *n, LLVMValueRef x) {
    Attr *a = node_attr(n, "approximate");
    if (a && a->set && strcmp(a->s, "tanh") == 0) {
        /* 0.5 x (1 + tanh(u)) = x * sigmoid(2u): no cancellation for negative x. */
        LLVMValueRef x3 = cg_fmul(cg, cg_fmul(cg, x, x), x);
        LLVMValueRef u = cg_fmul(cg, cg_fadd(cg, x, cg_fmul(cg, x3, fc(cg, x, 0.044715))),
                                 fc(cg, x, 0.7978845608028654));
        return cg_fmul(cg, x, cg_sigmoid(cg, cg_fmul(cg, u, fc(cg, x, 2.0))));
    }
    /* 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2). */
    LLVMValueRef t = cg_erfc(cg, cg_fmul(cg, x, fc(cg, x, -0.7071067811865476)));
    return cg_fmul(cg, cg_fmul(cg, x, fc(cg, x, 0.5)), t);
}

LLVMValueRef cg_unary_op(Cg *cg, const Node *n, LLVMValueRef x) {
    LLVMValueRef zero = fc(cg, x, 0.0), one = fc(cg, x, 1.0);
    switch (n->op) {
    case OP_RELU: return clamp(cg, x, zero, NULL);
    case OP_RELU6: return clamp(cg, x, zero, fc(cg, x, 6.0));
    case OP_SIGMOID: return cg_sigmoid(cg, x);
    case OP_TANH: return cg_tanh(cg, x);
    case OP_LEAKY_RELU:
        return positive_or(cg, x, cg_fmul(cg, x, fc(cg, x, attr_float(n, "alpha"))));
    case OP_ELU:
        return positive_or(cg, x, cg_fmul(cg, cg_expm1(cg, x), fc(cg, x, attr_float(n, "alpha"))));
    case OP_SELU: {
        const double alpha = 1.6732632423543772848170429916717;
        const double scale = 1.0507009873554804934193349852946;
        LLVMValueRef v = positive_or(cg, x, cg_fmul(cg, cg_expm1(cg, x), fc(cg, x, alpha)));
        return cg_fmul(cg, v, fc(cg, x, scale));
    }
    case OP_GELU: return gelu(cg, n, x);
    case OP_SILU: return cg_fmul(cg, x, cg_sigmoid(cg, x));
    case OP_SOFTPLUS: {
        /* max(x, 0) + log1p(exp(-|x|)); PyTorch returns x itself above its threshold 20. */
        LLVMValueRef ax = cg_intrinsic1(cg, "fabs", x);
        LLVMValueRef v = cg_fadd(cg, clamp(cg, x, zero, NULL),
                                 cg_log1p(cg, cg_exp(cg, LLVMBuildFNeg(cg->b, ax, ""))));
        return sel(cg, fcmp(cg, LLVMRealOGT, x, fc(cg, x, 20.0)), x, v);
    }
    case OP_SOFTSIGN:
        return cg_fdiv(cg, x, cg_fadd(cg, one, cg_intrinsic1(cg, "fabs", x)));
    case OP_HARD_SIGMOID:
        return cg_fdiv(cg, clamp(cg, cg_fadd(cg, x, fc(cg, x, 3.0)), zero, fc(cg, x, 6.0)),
                       fc(cg, x, 6.0));
    case OP_EXP: return cg_exp(cg, x);
    case OP_LOG: return cg_log(cg, x);
    case OP_SQRT: return cg_intrinsic1(cg, "sqrt", x);
    case OP_ABS: return cg_intrinsic1(cg, "fabs", x);
    case OP_NEG: return LLVMBuildFNeg(cg->b, x, "");
    case OP_CLIP: {
        Attr *lo = node_attr(n, "min"), *hi = node_attr(n, "max");
        return clamp(cg, x, lo && lo->set ? fc(cg, x, attr_float(n, "min")) : NULL,
                     hi && hi->set ? fc(cg, x, attr_float(n, "max")) : NULL);
    }
    default: return x;
    }
}

bool lower_unary(Cg *cg, Node *n) {
    LLVMValueRef X = cg->buf[n->in[0]->id], Y = cg->buf[n->id];
    CgLoop l;
    char name[64];
    snprintf(name, sizeof name, "%s.i", op_name(n->op));
    LLVMValueRef i = cg_loop_begin(cg, &l, cg_numel(cg, &n->shape), name);
    cg_store(cg, cg_epilogue(cg, n, cg_unary_op(cg, n, cg_load(cg, X, i)), i), Y, i);
    cg_loop_end(cg, &l, NULL);
    return true;
}
