/* safetensors.h: reading safetensors files (SPEC section 3).
 *
 * Format: an 8-byte little-endian header length H, H bytes of JSON mapping tensor names to
 * {"dtype", "shape", "data_offsets": [begin, end]} (plus an optional "__metadata__" object of
 * strings), then the data block; offsets are relative to the data block's start.
 * In: a path. Out: the tensors, each checked (dtype known, shape sane, offsets inside the data
 * block, byte count = elements * dtype size, no two tensors overlapping), or every problem
 * found reported at `at` (the model's `weights` statement). Never trusts a size from the
 * file before checking it against the file's real size. */
#ifndef NND_SAFETENSORS_H
#define NND_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"
#include "dim.h"

typedef enum StDtype {
    ST_F32, ST_F64, ST_F16, ST_BF16,             /* converted to f32 */
    ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL, /* recognised, not convertible */
    ST_OTHER,                                    /* any other dtype string */
} StDtype;

typedef struct StTensor {
    const char *name;
    StDtype dtype;
    const char *dtype_name; /* as written in the header */
    int rank;
    int64_t shape[MAX_RANK];
    int64_t numel;
    const uint8_t *data;    /* into StFile.bytes */
    size_t nbytes;
    bool used;              /* set by the weights binder */
} StTensor;

typedef struct StFile {
    const char *path;
    StTensor *tensors;      /* in header order */
    int ntensors;
    uint8_t *bytes;         /* the whole file, arena-owned */
    size_t size;
} StFile;

/* Files larger than this are refused before reading (16 GiB). */
#define ST_MAX_FILE_SIZE ((uint64_t)1 << 34)
/* Headers larger than this are refused (100 MB, as the reference implementation does). */
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

/* Reads and validates a whole file. Returns false after reporting to d at `at`. */
bool st_load(Arena *a, Diag *d, SrcLoc at, const char *path, StFile *out);
/* The same for bytes already in memory (name is used in messages). */
bool st_parse(Arena *a, Diag *d, SrcLoc at, const char *name, uint8_t *bytes, size_t size,
              StFile *out);
const StTensor *st_find(const StFile *f, const char *name);
/* Whether st_to_f32 converts t's dtype (F32, F64, F16, BF16). */
bool st_is_float(const StTensor *t);
/* Converts a tensor of a float dtype to f32 into dst (numel floats); false for other dtypes. */
bool st_to_f32(const StTensor *t, float *dst);
/* Writes tensors (f32) as a safetensors file; false (errno set) on an I/O error. Used by
 * tests and `nndc import`. */
bool st_write_f32(const char *path, int n, const char *const *names, const int *ranks,
                  const int64_t (*shapes)[MAX_RANK], const float *const *data);

/* Writes the F32 tensors of f (e.g. an ONNX import's parameters) as a safetensors file;
 * false (errno set) on an I/O error or when a tensor is not F32. */
bool st_write_file(const char *path, const StFile *f);

#endif
