/* onnx_import.h: ONNX models in, .nnd source and parameters out (issue 6).
 *
 * In: a serialized ONNX ModelProto (read with protobuf-c; the C code is generated at build
 * time by protoc-c from the onnx.proto of Debian's libonnx-dev). Out: the model as .nnd
 * source text (readable: one statement per ONNX node, named after it) plus the initializers
 * that became layer parameters, named PREFIX.weight / PREFIX.bias / ... as the .nnd text's
 * layers expect, as an in-memory safetensors file. Shape-only subgraphs that PyTorch's
 * exporter emits (Shape, Gather, Unsqueeze, Concat of constants feeding Reshape) are folded
 * into the reshape's literal dims. Anything that cannot be expressed (an operator outside
 * SPEC 1.4, a non-float dtype, a dynamic shape) is reported by name with the node's name,
 * at the file. Malformed or truncated files are errors, never crashes. */
#ifndef NND_ONNX_IMPORT_H
#define NND_ONNX_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"
#include "safetensors.h"

typedef struct OnnxImport {
    const char *nnd_text;   /* NUL-terminated, arena-owned */
    size_t nnd_len;
    const char *weights_name; /* the file name the text's `weights` statement names (NULL: none) */
    StFile weights;         /* the parameters, F32, as if read from that file (arena-owned) */
} OnnxImport;

/* A TensorProto file (the conformance data's input_N.pb / output_N.pb) as f32 (integer
 * values, such as a Reshape's shape given as a graph input, convert exactly up to 2^24). */
typedef struct OnnxTensor {
    const char *name;
    int rank;
    int64_t shape[MAX_RANK];
    int64_t numel;
    float *data;            /* arena-owned */
    bool is_integer;        /* an integer or BOOL dtype, converted (else FLOAT or DOUBLE) */
} OnnxTensor;

/* Reads and converts the model at path. model_name becomes the .nnd model's name (NULL: from
 * the ONNX graph's name or the file name). False after reporting every problem to d. */
bool onnx_import_file(Arena *a, Diag *d, const char *path, const char *model_name,
                      OnnxImport *out);

/* The same, with values for named graph inputs (bound[i].name): those inputs become
 * constants, as if they were initializers (ONNX's node tests give weights as graph inputs
 * with their values in the data sets). A name that is not a graph input is an error.
 * onnx_import_file is this with nbound = 0. */
bool onnx_import_file_bound(Arena *a, Diag *d, const char *path, const char *model_name,
                            const OnnxTensor *bound, int nbound, OnnxImport *out);

/* The same for a serialized model already in memory; path names it in messages and
 * decides the default model name, as for a file. */
bool onnx_import_bytes(Arena *a, Diag *d, const char *path, const uint8_t *bytes, size_t len,
                       const char *model_name, const OnnxTensor *bound, int nbound,
                       OnnxImport *out);

bool onnx_read_tensor_file(Arena *a, Diag *d, const char *path, OnnxTensor *out);

/* Whether the path names an ONNX file (ends in ".onnx"). */
bool onnx_is_onnx_path(const char *path);

#endif
