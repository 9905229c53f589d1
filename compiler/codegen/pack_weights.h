/* pack_weights.h: weights rearranged at compile time into the layouts the kernels read.
 *
 * In: a layer's parameter in PyTorch's layout and the kernel's blocking. Out: a new array
 * (in the arena) in the kernel's layout, zero where the blocking runs past the tensor; the
 * lowering embeds it instead of the original (named PARAM.packed in the module).
 *
 *   dense  weight [U][K] -> [P][K][NR], P = ceil(U / NR): panel p, line k holds
 *          W[p*NR + c][k] for c < NR; the bias [U] -> [P*NR].
 *   conv2d weight [F][T] (T = C/groups * kh * kw taps) -> [F/fb][T][fb]: the fb filters of a
 *          block side by side for each tap.
 *
 * dense_k_chunks splits a panel's K lines of line_bytes into the fewest chunks of at most
 * max_bytes (at least one line each): returns their count n and sets *Kc, the lines of every
 * chunk but the last, which has K - (n - 1) * Kc, between 1 and Kc. */
#ifndef NND_PACK_WEIGHTS_H
#define NND_PACK_WEIGHTS_H

#include <stdint.h>

#include "arena.h"

float *pack_dense_weight(Arena *a, const float *w, int64_t U, int64_t K, int64_t NR);
float *pack_dense_bias(Arena *a, const float *b, int64_t U, int64_t NR);
float *pack_conv_weight(Arena *a, const float *w, int64_t F, int64_t taps, int64_t fb);
int64_t dense_k_chunks(int64_t K, int64_t line_bytes, int64_t max_bytes, int64_t *Kc);

#endif
