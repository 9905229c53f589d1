/* interp_internal.h: what the interpreter's op families share; private to compiler/interp/.
 *
 * In: one node being evaluated (an Interp: the node, its inputs' values, its output buffer
 * and its output shape under the symbol values). Out: checked reads of its operands' shapes,
 * attributes and parameters, each failure reported as "OP 'NAME': ..." in the caller's
 * error buffer; and one function per op family that writes the node's value. */
#ifndef NND_INTERP_INTERNAL_H
#define NND_INTERP_INTERNAL_H

#include "interp.h"

/* A shape with every dimension evaluated. */
typedef struct Dims {
    int rank;
    int64_t d[MAX_RANK];
    int64_t numel;
} Dims;

typedef struct Interp {
    const Graph *g;
    const Node *n;
    const int64_t *syms;
    const float *const *ins; /* n->nin values */
    float *out;
    Dims y;                  /* the node's output shape */
    char *err;
    size_t errlen;
} Interp;

/* Reports "OP 'NAME': " and the formatted text; returns false. */
bool interp_fail(const Interp *ip, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The shape of input i; false after reporting. */
bool interp_in_dims(const Interp *ip, int i, Dims *out);
/* The shape of input 0, which must have as many elements as the output; false after
 * reporting (the elementwise ops and the copies). */
bool interp_in_dims_same_size(const Interp *ip, Dims *out);
/* The ATTR_INTS argument `name` holding exactly count ints (shape inference normalizes
 * padding, strides and perm into this form); NULL after reporting. */
const int64_t *interp_ints(const Interp *ip, const char *name, int count);
/* The data of parameter `suffix`, which must hold numel floats. Absent and not required:
 * true with *out NULL. False after reporting. */
bool interp_param(const Interp *ip, const char *suffix, bool required, int64_t numel,
                  const float **out);
/* The product of d's dimensions [from, to). */
int64_t interp_prod(const Dims *d, int from, int to);
/* NumPy broadcasting of x against the `rank` output sizes `size`, aligned right: x's stride
 * for each output dimension in units of `inner` elements, 0 where x is broadcast or absent.
 * False when x does not broadcast to size. */
bool interp_bcast_strides(const Dims *x, const int64_t *size, int rank, int64_t inner,
                          int64_t *stride);

/* The op families: each writes ip->out for ip->n. */
bool interp_dense(const Interp *ip);          /* interp_dense.c */
bool interp_matmul(const Interp *ip);
bool interp_conv2d(const Interp *ip);         /* interp_conv.c */
bool interp_pool2d(const Interp *ip);         /* interp_window.c */
bool interp_global_avgpool(const Interp *ip);
bool interp_batchnorm(const Interp *ip);      /* interp_norm.c */
bool interp_layernorm(const Interp *ip);
bool interp_softmax(const Interp *ip);
bool interp_unary(const Interp *ip);          /* interp_elementwise.c */
bool interp_binary(const Interp *ip);
bool interp_copy(const Interp *ip);           /* interp_shape.c */
bool interp_param_value(const Interp *ip);    /* interp_shape.c */
bool interp_transpose(const Interp *ip);
bool interp_concat(const Interp *ip);

#endif
