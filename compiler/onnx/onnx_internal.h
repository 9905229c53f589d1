/* onnx_internal.h: what the ONNX importer's files share (not a public interface).
 *
 * onnx_tensor.c turns TensorProtos into numbers; onnx_import.c reads the model, tracks
 * every ONNX value and writes the .nnd text; onnx_ops.c dispatches one node to its mapper
 * (onnx_map_*.c, built on onnx_node.c), which writes one statement or folds the node. */
#ifndef NND_ONNX_INTERNAL_H
#define NND_ONNX_INTERNAL_H

#include "onnx.pb-c.h"
#include "onnx_import.h"
#include "strmap.h"

/* A constant tensor (initializer or Constant), any numeric dtype, as doubles. */
typedef struct OnnxConst {
    int rank;
    int64_t shape[MAX_RANK];
    int64_t numel;
    double *v;
    bool is_float;          /* float dtype (parameters must be) */
} OnnxConst;

/* One element of a folded shape vector: a number, or dimension `dim` of value `src`. */
typedef struct ShapeElem {
    const char *src;        /* NULL: the number */
    int64_t dim;
} ShapeElem;

/* What an ONNX value is to the importer: a tensor of the text, a constant, a folded shape
 * vector, or a graph input of a dtype other than FLOAT, which can only be given a value
 * (onnx_import_file_bound) where a constant is needed (a Reshape's shape, Pad's pads). */
typedef enum ValKind { VAL_TENSOR, VAL_CONST, VAL_SHAPE, VAL_OTHER } ValKind;

typedef struct Value {
    const char *onnx;       /* the ONNX name */
    ValKind kind;
    const char *ident;      /* VAL_TENSOR: the .nnd name */
    int rank;               /* VAL_TENSOR: -1 when not known */
    int64_t dims[MAX_RANK]; /* VAL_TENSOR: each size; -1 when symbolic or not known */
    bool padded;            /* VAL_TENSOR: a folded Pad's output, the same tensor as its */
    int64_t pad[4];         /* input (same ident, same dims) with these pads still to add: */
                            /* [top, left, bottom, right], for the window that reads it */
    OnnxConst c;            /* VAL_CONST */
    const char *param;      /* VAL_CONST: the .nnd param statement holding it, once written */
    bool is_init;           /* an initializer (may become a parameter) */
    bool is_input;          /* VAL_TENSOR, VAL_OTHER: a graph input */
    int dtype;              /* VAL_OTHER: its ONNX dtype */
    ShapeElem *elems;       /* VAL_SHAPE; nelems < 0: every dimension of elems[0].src */
    int nelems;
} Value;

typedef struct OnnxCtx {
    Arena *a;
    Diag *d;
    SrcLoc at;
    int opset;
    const Onnx__GraphProto *graph; /* for looking at a value's readers */
    Value *vals;
    int nvals, cap;
    StrMap val_index;       /* ONNX name -> index in vals of its latest definition */
    StrMap idents;          /* every identifier used in the text (value: unused) */
    StrMap ident_next;      /* sanitized base -> the next suffix worth trying */
    StrMap inits;           /* the graph's initializer names */
    char *text;
    size_t len, textcap;
    /* the parameters */
    const char **pnames;
    int *pranks;
    int64_t (*pshapes)[MAX_RANK];
    float **pdata;
    int nparams, pcap;
    StrMap taken_prefixes;  /* every "a" such that a parameter name starts with "a." */
    StrMap graph_idents;    /* the sanitized names of the graph's inputs and node outputs */
    bool graph_idents_ready;
} OnnxCtx;

/* onnx_tensor.c */
const char *onnx_dtype_name(int dtype);
bool onnx_tensor_const(OnnxCtx *x, const Onnx__TensorProto *t, const char *what, OnnxConst *out);

/* onnx_import.c */
Value *onnx_value(OnnxCtx *x, const char *name);
Value *onnx_define(OnnxCtx *x, const char *name, ValKind kind);
const char *onnx_ident(OnnxCtx *x, const char *name);  /* a fresh unique identifier */
void onnx_emit(OnnxCtx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *onnx_param_prefix(OnnxCtx *x, const char *init_name, const char *fallback);
void onnx_add_param(OnnxCtx *x, const char *prefix, const char *suffix, const OnnxConst *c,
                    int rank, const int64_t *shape, bool transpose2d);
const char *onnx_num(OnnxCtx *x, double v);

/* onnx_dims.c: static sizes (-1: not known). */
void onnx_dims_unknown(Value *v);
void onnx_dims_like(Value *o, const Value *src);       /* rank and sizes */
void onnx_dims_broadcast(Value *o, const Value *a, const Value *b);
int64_t onnx_dims_product(const Value *v, int from, int to); /* of dims [from, to); -1 */
int64_t onnx_window_size(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                         int64_t pad0, int64_t pad1, bool ceil_mode);
bool onnx_same_pads(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, bool upper,
                    int64_t *pad0, int64_t *pad1);

/* onnx_ops.c: one node; false after reporting. */
bool onnx_map_node(OnnxCtx *x, const Onnx__NodeProto *n);

/* onnx_node.c: one node as its mapper sees it. */
typedef struct OnnxNode {
    OnnxCtx *x;
    const Onnx__NodeProto *p;
    const char *op, *label;  /* the operator; the node's name (or its first output's) */
} OnnxNode;

/* Reports "ONNX operator 'OP' (node 'NAME'): " + fmt (with what); false. Quiet when an
 * input is undefined after an earlier error: that error is the one that matters. */
bool on_fail(const OnnxNode *n, const char *fmt, const char *what);
const Onnx__AttributeProto *on_attr(const OnnxNode *n, const char *name);
int64_t on_attr_i(const OnnxNode *n, const char *name, int64_t def);
/* A float attribute; a nan or infinite one is reported (the .nnd text cannot spell it) and
 * def returned. on_attr_f_any returns it as it is (a Pad's -inf, folded into a MaxPool). */
double on_attr_f(const OnnxNode *n, const char *name, double def);
double on_attr_f_any(const OnnxNode *n, const char *name, double def);
/* A constant's value as a size, an index or pads. Constants are held as doubles (any dtype),
 * and converting nan or a value beyond int64_t is undefined: those are false, and so is
 * anything past 2^62, which no size can be. */
bool on_as_int(double v, int64_t *out);

/* onnx_const_tensor.c: a float constant (initializer or Constant) used where a tensor is
 * needed, as a `param([dims])` statement written once per constant, whose tensor, named by
 * its identifier, holds the values. *out is the tensor view of v. False after reporting at
 * n (NULL: at the model) for an integer constant. */
bool onnx_const_tensor(OnnxCtx *x, const OnnxNode *n, Value *v, Value *out);
int on_attr_ints(const OnnxNode *n, const char *name, int64_t *v, int max); /* -1: absent */
const char *on_attr_s(const OnnxNode *n, const char *name, const char *def);
int on_nin(const OnnxNode *n);
bool on_has(const OnnxNode *n, int i);           /* input i is named (not absent, not "") */
Value *on_in_any(const OnnxNode *n, int i);      /* NULL: absent, or undefined (reported) */
Value *on_in(const OnnxNode *n, int i);          /* the same, VAL_OTHER reported by dtype */
Value *on_tensor_in(const OnnxNode *n, int i);   /* a computed tensor, else reported */
Value *on_const_in(const OnnxNode *n, int i, const char *role); /* a constant, else reported */
/* Defines output 0 as a tensor of the given rank and writes "  IDENT = "; the caller writes
 * the expression. NULL after reporting (no output, or other outputs named). */
Value *on_out(const OnnxNode *n, int rank);
Value *on_out_like(const OnnxNode *n, const Value *src); /* src's rank and sizes */
Value *on_out_at(const OnnxNode *n, int i, int rank);    /* output i (named), unchecked */
const char *on_ints_str(OnnxCtx *x, const int64_t *v, int k);  /* [1, 2, 3] */
const char *on_pair_str(OnnxCtx *x, const int64_t *v);          /* 3, or [3, 4] */
bool on_is_scalar(const Value *v);                              /* a one-value constant */

/* onnx_fold.c: arithmetic on constants. src's values with another shape as output 0, and
 * Concat of constants along axis; false after reporting. */
bool onnx_fold_copy(const OnnxNode *n, const Value *src, const int64_t *shape, int rank);
bool onnx_fold_concat(const OnnxNode *n, int64_t axis);

/* The mappers, one per operator family (onnx_map_*.c, onnx_fold.c); false after
 * reporting. */
bool onnx_map_conv(const OnnxNode *n);
bool onnx_map_pool(const OnnxNode *n);
bool onnx_map_global_avgpool(const OnnxNode *n);
bool onnx_map_pad(const OnnxNode *n);
bool onnx_map_gemm(const OnnxNode *n);
bool onnx_map_matmul(const OnnxNode *n);
bool onnx_map_batchnorm(const OnnxNode *n);
bool onnx_map_layernorm(const OnnxNode *n);
bool onnx_map_reshape(const OnnxNode *n);
bool onnx_map_flatten(const OnnxNode *n);
bool onnx_map_transpose(const OnnxNode *n);
bool onnx_map_concat(const OnnxNode *n);
bool onnx_map_shape(const OnnxNode *n);
bool onnx_map_gather(const OnnxNode *n);
bool onnx_map_unsqueeze(const OnnxNode *n);
bool onnx_map_squeeze(const OnnxNode *n);
bool onnx_map_constant(const OnnxNode *n);
bool onnx_map_cast(const OnnxNode *n);
bool onnx_map_constant_of_shape(const OnnxNode *n);
bool onnx_map_slice(const OnnxNode *n);
bool onnx_map_binary(const OnnxNode *n);
bool onnx_map_unary(const OnnxNode *n);
bool onnx_map_clip(const OnnxNode *n);
bool onnx_map_softmax(const OnnxNode *n);

static inline const char *onnx_str(const char *s) { return s ? s : ""; }

#endif
