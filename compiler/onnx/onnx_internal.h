/* onnx_internal.h: what the ONNX importer's files share (not a public interface).
 *
 * onnx_tensor.c turns TensorProtos into numbers; onnx_import.c reads the model, tracks
 * every ONNX value and writes the .nnd text; onnx_ops.c maps one node onto one statement. */
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

typedef enum ValKind { VAL_TENSOR, VAL_CONST, VAL_SHAPE } ValKind;

typedef struct Value {
    const char *onnx;       /* the ONNX name */
    ValKind kind;
    const char *ident;      /* VAL_TENSOR: the .nnd name */
    int rank;               /* VAL_TENSOR: -1 when not known */
    OnnxConst c;            /* VAL_CONST */
    bool is_init;           /* an initializer (may become a parameter) */
    ShapeElem *elems;       /* VAL_SHAPE; nelems < 0: every dimension of elems[0].src */
    int nelems;
} Value;

typedef struct OnnxCtx {
    Arena *a;
    Diag *d;
    SrcLoc at;
    int opset;
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

/* onnx_ops.c: one node; false after reporting. */
bool onnx_map_node(OnnxCtx *x, const Onnx__NodeProto *n);

static inline const char *onnx_str(const char *s) { return s ? s : ""; }

#endif
