/* onnx_tensor.c: ONNX TensorProtos as numbers; see onnx_import.h and onnx_internal.h.
 *
 * A tensor's values come from raw_data (little-endian) or from the typed repeated field its
 * dtype uses; the count must match the dims exactly. Float, double, the integer dtypes and
 * BOOL are read (integers for shapes, axes and pads); every other dtype (FLOAT16, BFLOAT16,
 * STRING, complex) is refused by name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"
#include "read_file.h"

enum { MAX_TENSOR_FILE = 1 << 30 };

const char *onnx_dtype_name(int dtype) {
    static const char *const names[] = {
        "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING",
        "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
    };
    if (dtype >= 0 && dtype < (int)(sizeof names / sizeof names[0]))
        return names[dtype];
    return "unknown";
}

/* The bytes of one element in raw_data; 0 for a dtype that is not read. */
static int dtype_size(int dtype) {
    switch (dtype) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: return 2;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: return 2;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return 1;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: return 1;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return 1;
    default: return 0;
    }
}

static uint64_t le_bytes(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static double from_raw(const uint8_t *p, int dtype) {
    uint64_t bits = le_bytes(p, dtype_size(dtype));
    switch (dtype) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        return f;
    }
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
        double f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return (double)(int32_t)(uint32_t)bits;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: return (double)(int16_t)(uint16_t)bits;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return (double)(int8_t)(uint8_t)bits;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return (double)(int64_t)bits;
    default: return (double)bits; /* unsigned, BOOL */
    }
}

/* The typed field's length, and value i of it (ONNX keeps the small integer types and
 * BOOL in int32_data, UINT32 and UINT64 in uint64_data). */
static size_t typed_count(const Onnx__TensorProto *t) {
    switch (t->data_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: return t->n_float_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return t->n_double_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return t->n_int64_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: return t->n_uint64_data;
    default: return t->n_int32_data;
    }
}

static double typed_value(const Onnx__TensorProto *t, size_t i) {
    switch (t->data_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: return t->float_data[i];
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return t->double_data[i];
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return (double)t->int64_data[i];
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: return (double)t->uint64_data[i];
    default: return t->int32_data[i];
    }
}

static bool read_values(Arena *a, Diag *d, SrcLoc at, const Onnx__TensorProto *t,
                        const char *what, OnnxConst *out) {
    memset(out, 0, sizeof *out);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        diag_error(d, at, "%s: external tensor data is not supported", what);
        return false;
    }
    if (dtype_size(t->data_type) == 0) {
        diag_error(d, at, "%s has dtype %s; only FLOAT, DOUBLE, integer and BOOL tensors are "
                   "supported", what, onnx_dtype_name(t->data_type));
        return false;
    }
    if (t->n_dims > MAX_RANK) {
        diag_error(d, at, "%s has rank %zu; at most %d is supported", what, t->n_dims, MAX_RANK);
        return false;
    }
    out->rank = (int)t->n_dims;
    out->numel = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || (t->dims[i] > 0 && out->numel > ((int64_t)1 << 40) / t->dims[i])) {
            diag_error(d, at, "%s has an invalid dimension %lld", what, (long long)t->dims[i]);
            return false;
        }
        out->shape[i] = t->dims[i];
        out->numel *= t->dims[i];
    }
    out->is_float = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
                    t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    int size = dtype_size(t->data_type);
    size_t have = t->has_raw_data ? t->raw_data.len / (size_t)size : typed_count(t);
    if ((t->has_raw_data && t->raw_data.len % (size_t)size) || have != (size_t)out->numel) {
        diag_error(d, at, "%s holds %zu values, but its shape needs %lld", what, have,
                   (long long)out->numel);
        return false;
    }
    out->v = arena_array(a, (size_t)out->numel + 1, sizeof(double));
    for (int64_t i = 0; i < out->numel; i++)
        out->v[i] = t->has_raw_data ? from_raw(t->raw_data.data + (size_t)i * (size_t)size,
                                               t->data_type)
                                    : typed_value(t, (size_t)i);
    return true;
}

/* Fills *out, or leaves it empty (no values, numel 0) after reporting: a caller that goes
 * on after the error never sees a shape without its values. */
static bool tensor_values(Arena *a, Diag *d, SrcLoc at, const Onnx__TensorProto *t,
                          const char *what, OnnxConst *out) {
    bool ok = read_values(a, d, at, t, what, out);
    if (!ok)
        memset(out, 0, sizeof *out);
    return ok;
}

bool onnx_tensor_const(OnnxCtx *x, const Onnx__TensorProto *t, const char *what, OnnxConst *out) {
    return tensor_values(x->a, x->d, x->at, t, what, out);
}

bool onnx_read_tensor_file(Arena *a, Diag *d, const char *path, OnnxTensor *out) {
    SrcLoc at = {.file = path};
    memset(out, 0, sizeof *out);
    size_t len;
    uint8_t *buf = read_whole_file(d, at, path, "tensor", MAX_TENSOR_FILE, &len);
    bool ok = buf != NULL;
    Onnx__TensorProto *t = ok ? onnx__tensor_proto__unpack(NULL, len, buf) : NULL;
    free(buf);
    if (!ok)
        return false;
    if (!t) {
        diag_error(d, at, "not a valid ONNX tensor (protobuf parse failed)");
        return false;
    }
    OnnxConst c;
    ok = tensor_values(a, d, at, t, arena_printf(a, "tensor '%s'", onnx_str(t->name)), &c);
    if (ok) {
        out->is_integer = !c.is_float;
        out->name = arena_strdup(a, onnx_str(t->name));
        out->rank = c.rank;
        memcpy(out->shape, c.shape, sizeof out->shape);
        out->numel = c.numel;
        out->data = arena_array(a, (size_t)c.numel + 1, sizeof(float));
        for (int64_t i = 0; i < c.numel; i++)
            out->data[i] = (float)c.v[i];
    }
    onnx__tensor_proto__free_unpacked(t, NULL);
    return ok;
}

bool onnx_is_onnx_path(const char *path) {
    size_t n = path ? strlen(path) : 0;
    return n >= 5 && strcmp(path + n - 5, ".onnx") == 0;
}
