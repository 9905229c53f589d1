/* npy.h: NumPy .npy tensors in and out (SPEC 4: little-endian f32 C order out; f32 or f64 in).
 *
 * Format: "\x93NUMPY", major, minor, a 2-byte (v1) or 4-byte (v2, v3) little-endian header
 * length, an ASCII Python dict {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces to a multiple of 64 and ending in '\n', then the raw data.
 * In: a path or bytes. Out: an f32 array (f64 converted) with its shape, or a clear message
 * in err (unreadable, bad magic, truncated, unsupported dtype or Fortran order, shape/size
 * mismatch). Never reads past the buffer or trusts a size before checking it. */
#ifndef NND_NPY_H
#define NND_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dim.h"

typedef struct NpyArray {
    int rank;
    int64_t shape[MAX_RANK];
    int64_t numel;
    float *data; /* malloc'd; npy_free releases it */
} NpyArray;

/* Refuses arrays over this many bytes before allocating (16 GiB). */
#define NPY_MAX_BYTES ((uint64_t)1 << 34)

bool npy_read(const char *path, NpyArray *out, char *err, size_t errlen);
bool npy_parse(const uint8_t *bytes, size_t size, NpyArray *out, char *err, size_t errlen);
/* Writes f32 data as a version 1.0 .npy; false (message in err) on an I/O error. */
bool npy_write(const char *path, int rank, const int64_t *shape, const float *data, char *err,
               size_t errlen);
void npy_free(NpyArray *a);

#endif
