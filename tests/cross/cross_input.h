/* cross_input.h: the fixed input shared by the native, aarch64 and Cortex-M4 hosts of
 * run_cross_tests.sh, so all three feed the generated forward function the same bytes.
 * Values are in [0, 1) (the digits model's pixel range) and exactly representable in f32,
 * so no host's float parsing or libm is involved in making them. */
#ifndef NND_CROSS_INPUT_H
#define NND_CROSS_INPUT_H
#include <stdint.h>

/* Element k of the input (row-major [rows, features]); a 32-bit LCG, the top 12 bits / 4096. */
static inline float cross_input_value(uint32_t k) {
    uint32_t s = 2463534242u ^ (k * 2654435761u);
    s = s * 1664525u + 1013904223u;
    s = s * 1664525u + 1013904223u;
    return (float)(s >> 20) / 4096.0f;
}

static inline void cross_fill_input(float *x, uint32_t n) {
    for (uint32_t k = 0; k < n; k++) x[k] = cross_input_value(k);
}

/* The bit pattern of an f32, for exact comparison (the comparator reads it back). */
static inline uint32_t cross_float_bits(float f) {
    union { float f; uint32_t u; } v;
    v.f = f;
    return v.u;
}
#endif
