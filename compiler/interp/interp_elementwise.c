/* interp_elementwise.c: the activations and math functions, and the binary ops add, sub, mul,
 * div, each from its textbook definition in double (libm), rounded to float once.
 *
 * The definitions are PyTorch's: hard_sigmoid = relu6(x + 3) / 6; gelu exact
 * 0.5 x (1 + erf(x / sqrt 2)) or with approximate="tanh" 0.5 x (1 + tanh(sqrt(2/pi)
 * (x + 0.044715 x^3))); softplus (beta 1, threshold 20) returns x above 20; selu's constants;
 * clip with either bound optional. NaN goes through relu, relu6, clip and the comparisons as
 * it does in PyTorch.
 * Binary ops broadcast as in NumPy; a number operand (attribute "b", the node then having one
 * tensor input) is a float32 scalar, as PyTorch turns a Python number into the tensor's
 * dtype. add, sub, mul and div in double rounded once are float32's correctly rounded
 * results. */
#include <math.h>
#include <string.h>

#include "interp_internal.h"

typedef struct Unary {
    OpKind op;
    double alpha, lo, hi;
    bool has_lo, has_hi, gelu_tanh;
} Unary;

static const double SELU_ALPHA = 1.6732632423543772848170429916717;
static const double SELU_SCALE = 1.0507009873554804934193349852946;
static const double SQRT_2_OVER_PI = 0.79788456080286535587989211986876;

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static double gelu(double x, bool tanh_form) {
    if (tanh_form)
        return 0.5 * x * (1.0 + tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
    return 0.5 * x * erfc(-x / sqrt(2.0)); /* = 0.5 x (1 + erf(x / sqrt 2)) */
}

/* min(max(x, lo), hi) with either bound optional; NaN stays NaN. */
static double clamp(double x, bool has_lo, double lo, bool has_hi, double hi) {
    if (has_lo && x < lo)
        x = lo;
    if (has_hi && x > hi)
        x = hi;
    return x;
}

static double unary(const Unary *u, double x) {
    switch (u->op) {
    case OP_RELU: return clamp(x, true, 0.0, false, 0.0);
    case OP_RELU6: return clamp(x, true, 0.0, true, 6.0);
    case OP_SIGMOID: return sigmoid(x);
    case OP_TANH: return tanh(x);
    case OP_LEAKY_RELU: return x > 0 ? x : x * u->alpha;
    case OP_ELU: return x > 0 ? x : u->alpha * expm1(x);
    case OP_SELU: return SELU_SCALE * (x > 0 ? x : SELU_ALPHA * expm1(x));
    case OP_GELU: return gelu(x, u->gelu_tanh);
    case OP_SILU: return x * sigmoid(x);
    case OP_SOFTPLUS: return x > 20.0 ? x : log1p(exp(x));
    case OP_SOFTSIGN: return x / (1.0 + fabs(x));
    case OP_HARD_SIGMOID: return clamp(x + 3.0, true, 0.0, true, 6.0) / 6.0;
    case OP_EXP: return exp(x);
    case OP_LOG: return log(x);
    case OP_SQRT: return sqrt(x);
    case OP_ABS: return fabs(x);
    case OP_NEG: return -x;
    case OP_CLIP: return clamp(x, u->has_lo, u->lo, u->has_hi, u->hi);
    default: return x;
    }
}

/* The op's arguments, read once for the whole tensor. */
static Unary unary_args(const Node *n) {
    const Attr *lo = node_attr(n, "min"), *hi = node_attr(n, "max");
    const Attr *approx = node_attr(n, "approximate");
    return (Unary){.op = n->op, .alpha = attr_float(n, "alpha"), .lo = attr_float(n, "min"),
                   .hi = attr_float(n, "max"), .has_lo = lo && lo->set, .has_hi = hi && hi->set,
                   .gelu_tanh = approx && approx->set && approx->kind == ATTR_STRING &&
                                approx->s && strcmp(approx->s, "tanh") == 0};
}

bool interp_unary(const Interp *ip) {
    Dims x;
    if (!interp_in_dims_same_size(ip, &x))
        return false;
    Unary u = unary_args(ip->n);
    for (int64_t i = 0; i < x.numel; i++)
        ip->out[i] = (float)unary(&u, ip->ins[0][i]);
    return true;
}

static double binary(OpKind op, double a, double b) {
    switch (op) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    default: return a / b;
    }
}

/* The offsets into a and b of output element i (C order over y). */
static void operand_offsets(const Interp *ip, const int64_t st[2][MAX_RANK], int64_t i,
                            int64_t off[2]) {
    off[0] = off[1] = 0;
    for (int d = ip->y.rank - 1; d >= 0; d--) {
        int64_t idx = i % ip->y.d[d];
        i /= ip->y.d[d];
        off[0] += idx * st[0][d];
        off[1] += idx * st[1][d];
    }
}

bool interp_binary(const Interp *ip) {
    Dims a, b = {.rank = 0, .numel = 1};
    bool number = ip->n->nin == 1;
    const Attr *num = node_attr(ip->n, "b");
    if (number && !(num && num->set))
        return interp_fail(ip, "has one tensor operand and no number b");
    if (!interp_in_dims(ip, 0, &a) || (!number && !interp_in_dims(ip, 1, &b)))
        return false;
    int64_t st[2][MAX_RANK];
    if (!interp_bcast_strides(&a, ip->y.d, ip->y.rank, 1, st[0]) ||
        !interp_bcast_strides(&b, ip->y.d, ip->y.rank, 1, st[1]))
        return interp_fail(ip, "the operands do not broadcast to the output");
    float scalar = (float)attr_float(ip->n, "b"); /* used when b is a number */
    const float *B = number ? &scalar : ip->ins[1];
    for (int64_t i = 0; i < ip->y.numel; i++) {
        int64_t off[2];
        operand_offsets(ip, st, i, off);
        ip->out[i] = (float)binary(ip->n->op, ip->ins[0][off[0]], B[off[1]]);
    }
    return true;
}
