/* host_aarch64.c: a plain C host for an `nndc build` object, built both natively (cc) and for
 * aarch64 (aarch64-linux-gnu-gcc, run under qemu-aarch64) by run_cross_tests.sh.
 *
 * It includes the generated header (CROSS_HEADER, default "xc.h"; the model is built with
 * --name xc), fills CROSS_ROWS rows of CROSS_IN features with the fixed input of cross_input.h,
 * runs xc_forward with N = CROSS_ROWS and prints one line per output value:
 *     <index> 0x<f32 bits> <value as %.9g>
 * compare.c reads the bits; the decimal is for people. Exit status 0 on success. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cross_model.h"

int main(void) {
    static float x[CROSS_ROWS * CROSS_IN];
    static float y[CROSS_ROWS * CROSS_OUT];
    const int64_t symbols[1] = {CROSS_ROWS};
    cross_fill_input(x, CROSS_ROWS * CROSS_IN);
    for (int i = 0; i < CROSS_ROWS * CROSS_OUT; i++) y[i] = -12345.0f; /* catch unwritten outputs */

    int64_t ws_bytes = xc_workspace_size(symbols);
    if (ws_bytes < 0) {
        fprintf(stderr, "host: xc_workspace_size returned %" PRId64 "\n", ws_bytes);
        return 1;
    }
    void *ws = NULL;
    if (ws_bytes > 0) {
        size_t rounded = ((size_t)ws_bytes + 63) & ~(size_t)63;
        ws = aligned_alloc(64, rounded);
        if (!ws) {
            fprintf(stderr, "host: cannot allocate %" PRId64 " workspace bytes\n", ws_bytes);
            return 1;
        }
    }
    const float *inputs[1] = {x};
    float *outputs[1] = {y};
    xc_forward(inputs, outputs, symbols, ws);

    printf("# rows=%d out=%d workspace=%" PRId64 "\n", CROSS_ROWS, CROSS_OUT, ws_bytes);
    for (int i = 0; i < CROSS_ROWS * CROSS_OUT; i++)
        printf("%d 0x%08" PRIx32 " %.9g\n", i, cross_float_bits(y[i]), (double)y[i]);
    free(ws);
    return 0;
}
