/* onnx_map_elementwise.c: ONNX's elementwise operators and softmax as .nnd statements.
 *
 * In: Add, Sub, Mul, Div (a tensor and a tensor or a scalar constant), the activations,
 * Clip, Dropout, Identity, Softmax and LogSoftmax. Out: one statement each; constants the
 * SPEC's operator lacks (HardSigmoid's alpha and beta, Selu's) are written out as a chain
 * of SPEC operators, and legacy semantics (broadcast before opset 7, Dropout's modes,
 * Softmax's 2-D coercion before opset 13) are mapped or refused by name. */
#include <math.h>
#include <string.h>

#include "onnx_internal.h"

/* Before opset 7, B broadcasts to A only with broadcast=1, its dimensions matching A's from
 * `axis` on; without axis they match A's last ones, which is NumPy's rule (and so is
 * broadcast=0, equal shapes). False after reporting an axis that is not NumPy's. */
static bool legacy_broadcast_is_numpy(const OnnxNode *n, const Value *a, const Value *b) {
    const Onnx__AttributeProto *ax = on_attr(n, "axis");
    if (n->x->opset >= 7 || !on_attr_i(n, "broadcast", 0) || !ax || on_is_scalar(b))
        return true;
    int rb = b->kind == VAL_TENSOR ? b->rank : b->kind == VAL_CONST ? b->c.rank : -1;
    if (a->kind == VAL_TENSOR && a->rank >= 0 && rb >= 0 && ax->i == a->rank - rb)
        return true;
    return on_fail(n, "%s", "legacy broadcasting of B from an axis other than A's last dimensions "
                   "is not supported");
}

/* Whether c is a one-value constant that broadcasts to t's shape unchanged (a [1, 1, 1]
 * constant would raise a 2-D tensor's rank). */
static bool scalar_for(const Value *c, const Value *t) {
    return on_is_scalar(c) && (c->c.rank <= 1 || (t->rank >= 0 && c->c.rank <= t->rank));
}

/* Why a binary operator with a constant or shape operand has no .nnd form. */
static const char *binary_refusal(const Value *a, const Value *b, const char *op) {
    const Value *other = a->kind == VAL_TENSOR ? b : a;
    if (a->kind != VAL_TENSOR && b->kind != VAL_TENSOR)
        return "arithmetic on two constants or shapes is not supported";
    if (on_is_scalar(other) && strcmp(op, "div") == 0)
        return "a number divided by a tensor is not supported: div takes a number only as its "
               "divisor";
    if (other->kind == VAL_CONST)
        return "a constant tensor operand is not supported: .nnd has numbers, not constant "
               "tensors";
    return "arithmetic on a shape is not supported";
}

bool onnx_map_binary(const OnnxNode *n) {
    static const char *const ops[][2] = {{"Add", "add"}, {"Sub", "sub"}, {"Mul", "mul"},
                                         {"Div", "div"}};
    const char *op = NULL;
    for (int i = 0; i < 4; i++)
        if (strcmp(n->op, ops[i][0]) == 0)
            op = ops[i][1];
    Value *a = on_in(n, 0), *b = on_in(n, 1);
    if (!a || !b)
        return a || b ? false : on_fail(n, "%s", "an operand is missing");
    if (!legacy_broadcast_is_numpy(n, a, b))
        return false;
    OnnxCtx *x = n->x;
    const Value *num = a->kind == VAL_TENSOR ? b : a;
    if (num->kind == VAL_CONST && num->c.numel == 1 && !isfinite(num->c.v[0]))
        return on_fail(n, "%s", arena_printf(x->a, "the constant operand is %g; only finite "
                                             "numbers are supported", num->c.v[0]));
    /* A constant tensor operand (not a number) becomes a param of the text. */
    Value ta, tb;
    if (a->kind == VAL_TENSOR && b->kind == VAL_CONST && !scalar_for(b, a)) {
        if (!onnx_const_tensor(x, n, b, &tb))
            return false;
        b = &tb;
    } else if (b->kind == VAL_TENSOR && a->kind == VAL_CONST &&
               (!scalar_for(a, b) || strcmp(op, "div") == 0)) {
        if (!onnx_const_tensor(x, n, a, &ta))
            return false;
        a = &ta;
    }
    if (a->kind == VAL_TENSOR && b->kind == VAL_TENSOR) {
        Value *o = on_out(n, -1);
        if (!o)
            return false;
        onnx_dims_broadcast(o, a, b);
        onnx_emit(x, "%s(%s, %s)\n", op, a->ident, b->ident);
    } else if (a->kind == VAL_TENSOR && scalar_for(b, a)) {
        Value *o = on_out_like(n, a);
        if (!o)
            return false;
        onnx_emit(x, "%s(%s, %s)\n", op, a->ident, onnx_num(x, b->c.v[0]));
    } else if (b->kind == VAL_TENSOR && scalar_for(a, b) && strcmp(op, "div") != 0) {
        Value *o = on_out_like(n, b);
        if (!o)
            return false;
        if (strcmp(op, "sub") == 0)
            onnx_emit(x, "neg(%s) -> add(%s)\n", b->ident, onnx_num(x, a->c.v[0]));
        else
            onnx_emit(x, "%s(%s, %s)\n", op, b->ident, onnx_num(x, a->c.v[0]));
    } else {
        return on_fail(n, "%s", binary_refusal(a, b, op));
    }
    return true;
}

static bool close_to(double a, double b) { return fabs(a - b) <= 1e-6 * fabs(b); }

/* Selu with PyTorch's constants is selu; with others it is gamma * elu(x, alpha). */
static bool map_selu(const OnnxNode *n, const Value *xin) {
    OnnxCtx *x = n->x;
    double alpha = on_attr_f(n, "alpha", 1.67326319217681884765625);
    double gamma = on_attr_f(n, "gamma", 1.05070102214813232421875);
    Value *o = on_out_like(n, xin);
    if (!o)
        return false;
    if (close_to(alpha, 1.6732632423543772) && close_to(gamma, 1.0507009873554805))
        onnx_emit(x, "selu(%s)\n", xin->ident);
    else
        onnx_emit(x, "elu(%s, alpha=%s) -> mul(%s)\n", xin->ident, onnx_num(x, alpha),
                  onnx_num(x, gamma));
    return true;
}

/* HardSigmoid is max(0, min(1, alpha x + beta)); PyTorch's (alpha 1/6, beta 1/2) is
 * hard_sigmoid, other constants are written out. */
static bool map_hard_sigmoid(const OnnxNode *n, const Value *xin) {
    OnnxCtx *x = n->x;
    double alpha = on_attr_f(n, "alpha", 0.2), beta = on_attr_f(n, "beta", 0.5);
    Value *o = on_out_like(n, xin);
    if (!o)
        return false;
    if (close_to(alpha, 1.0 / 6) && close_to(beta, 0.5))
        onnx_emit(x, "hard_sigmoid(%s)\n", xin->ident);
    else
        onnx_emit(x, "mul(%s, %s) -> add(%s) -> clip(min=0, max=1)\n", xin->ident,
                  onnx_num(x, alpha), onnx_num(x, beta));
    return true;
}

/* Whether a Dropout node is the identity (inference): false after reporting. Before opset
 * 7, is_test defaults to 0, training; from 12, training_mode is an optional input. The mask
 * output is BOOL, a dtype outside SPEC 1.4. */
static bool dropout_is_inference(const OnnxNode *n) {
    if (n->p->n_output > 1 && n->p->output[1][0])
        return on_fail(n, "%s", "the mask output is not supported: its dtype is BOOL");
    if (n->x->opset < 7 && on_attr_i(n, "is_test", 0) != 1)
        return on_fail(n, "%s", "is_test=0 (training mode, the default before opset 7) is not "
                       "supported");
    bool has_tm = n->x->opset >= 12 && on_has(n, 2);
    Value *tm = has_tm ? on_const_in(n, 2, "training_mode") : NULL;
    if (has_tm && !tm)
        return false;
    if (tm && tm->c.numel != 1)
        return on_fail(n, "%s", "training_mode must be one value");
    if (tm && tm->c.v[0] != 0)
        return on_fail(n, "%s", "training_mode=true is not supported");
    return true;
}

/* Activations and the other one-input operators. */
bool onnx_map_unary(const OnnxNode *n) {
    static const char *const ops[][2] = {
        {"Relu", "relu"}, {"Sigmoid", "sigmoid"}, {"Tanh", "tanh"}, {"Softplus", "softplus"},
        {"Softsign", "softsign"}, {"Exp", "exp"}, {"Log", "log"}, {"Sqrt", "sqrt"},
        {"Abs", "abs"}, {"Neg", "neg"}, {"Identity", "identity"}, {"Dropout", "dropout"},
        {"LeakyRelu", "leaky_relu"}, {"Elu", "elu"}, {"Selu", "selu"},
        {"HardSigmoid", "hard_sigmoid"},
    };
    const char *op = NULL;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(n->op, ops[i][0]) == 0)
            op = ops[i][1];
    Value *c = on_in(n, 0);
    if (c && c->kind == VAL_CONST && strcmp(op, "identity") == 0) /* of a weight: folded */
        return onnx_fold_copy(n, c, c->c.shape, c->c.rank);
    Value *xin = on_tensor_in(n, 0);
    if (!xin)
        return false;
    OnnxCtx *x = n->x;
    const char *args = "";
    if (strcmp(op, "leaky_relu") == 0)
        args = arena_printf(x->a, ", alpha=%s", onnx_num(x, on_attr_f(n, "alpha", 0.01)));
    else if (strcmp(op, "elu") == 0)
        args = arena_printf(x->a, ", alpha=%s", onnx_num(x, on_attr_f(n, "alpha", 1.0)));
    else if (strcmp(op, "selu") == 0)
        return map_selu(n, xin);
    else if (strcmp(op, "hard_sigmoid") == 0)
        return map_hard_sigmoid(n, xin);
    if (strcmp(op, "dropout") == 0 && !dropout_is_inference(n))
        return false;
    Value *o = on_out_like(n, xin);
    if (!o)
        return false;
    onnx_emit(x, "%s(%s%s)\n", op, xin->ident, args);
    return true;
}

bool onnx_map_clip(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0);
    if (!xin)
        return false;
    double lo = -INFINITY, hi = INFINITY;
    if (n->x->opset < 11) {
        lo = on_attr_f(n, "min", lo);
        hi = on_attr_f(n, "max", hi);
    } else {
        /* bounds as inputs: constants (initializers, Constant nodes) fold into the clip */
        Value *a = on_has(n, 1) ? on_const_in(n, 1, "min") : NULL;
        Value *b = on_has(n, 2) ? on_const_in(n, 2, "max") : NULL;
        if ((on_has(n, 1) && !a) || (on_has(n, 2) && !b))
            return false;
        if ((a && a->c.numel != 1) || (b && b->c.numel != 1))
            return on_fail(n, "%s", "min and max must be scalars");
        lo = a ? a->c.v[0] : lo;
        hi = b ? b->c.v[0] : hi;
    }
    Value *o = on_out_like(n, xin);
    if (!o)
        return false;
    OnnxCtx *x = n->x;
    if (!isfinite(lo) && !isfinite(hi)) { /* no bounds: ONNX's Clip is then the identity */
        onnx_emit(x, "identity(%s)\n", xin->ident);
        return true;
    }
    onnx_emit(x, "clip(%s", xin->ident);
    if (isfinite(lo))
        onnx_emit(x, ", min=%s", onnx_num(x, lo));
    if (isfinite(hi))
        onnx_emit(x, ", max=%s", onnx_num(x, hi));
    onnx_emit(x, ")\n");
    return true;
}

bool onnx_map_softmax(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0);
    if (!xin)
        return false;
    bool old = n->x->opset < 13;
    int64_t axis = on_attr_i(n, "axis", old ? 1 : -1);
    if (old) { /* flatten-to-2-D semantics: the same as ours only on the last axis */
        bool last = axis == -1 || (xin->rank > 0 && axis == xin->rank - 1);
        if (!last)
            return on_fail(n, "%s", "before opset 13, only the last axis (of a tensor of known "
                           "rank) is supported");
    }
    Value *o = on_out_like(n, xin);
    if (!o)
        return false;
    onnx_emit(n->x, "%s(%s, axis=%lld)\n", strcmp(n->op, "Softmax") == 0 ? "softmax" :
              "log_softmax", xin->ident, (long long)axis);
    return true;
}
