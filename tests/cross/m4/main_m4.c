/* main_m4.c: the Cortex-M4 host of run_cross_tests.sh. Same input and output format as
 * ../host_aarch64.c ("<index> 0x<f32 bits>" per output value), but bare metal: no heap, no
 * stdio; the input, output and workspace are static arrays and lines go out through
 * semihosting. xc_workspace_size is a function, so the fit of the static workspace is checked
 * at run time and a shortfall fails loudly. */
#include <stdint.h>

#include "../cross_model.h"
#include "semihost.h"
#ifndef M4_WORKSPACE_BYTES
#define M4_WORKSPACE_BYTES (8u << 20) /* in the 16 MiB PSRAM, see m4.ld */
#endif

static float x[CROSS_ROWS * CROSS_IN] __attribute__((aligned(64)));
static float y[CROSS_ROWS * CROSS_OUT] __attribute__((aligned(64)));
static uint8_t workspace[M4_WORKSPACE_BYTES] __attribute__((aligned(64), section(".bss.psram")));

static char *put_u(char *p, uint64_t v) {
    char tmp[24];
    int n = 0;
    do tmp[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
    while (n) *p++ = tmp[--n];
    return p;
}
static char *put_s(char *p, const char *s) {
    while (*s) *p++ = *s++;
    return p;
}
static char *put_hex8(char *p, uint32_t v) {
    for (int sh = 28; sh >= 0; sh -= 4) *p++ = "0123456789abcdef"[(v >> sh) & 0xF];
    return p;
}

int main(void) {
    char line[128], *p;
    const int64_t symbols[1] = {CROSS_ROWS};
    int64_t ws_bytes = xc_workspace_size(symbols);
    if (ws_bytes < 0 || (uint64_t)ws_bytes > M4_WORKSPACE_BYTES) {
        p = put_s(line, "M4 FAIL: xc_workspace_size() = ");
        if (ws_bytes < 0) p = put_s(p, "negative");
        else p = put_u(p, (uint64_t)ws_bytes);
        p = put_s(p, " bytes, static workspace holds ");
        p = put_u(p, M4_WORKSPACE_BYTES);
        p = put_s(p, " (raise M4_WORKSPACE_BYTES)\n");
        *p = 0;
        sh_puts(line);
        return 1;
    }
    cross_fill_input(x, CROSS_ROWS * CROSS_IN);
    for (int i = 0; i < CROSS_ROWS * CROSS_OUT; i++) y[i] = -12345.0f;

    const float *inputs[1] = {x};
    float *outputs[1] = {y};
    xc_forward(inputs, outputs, symbols, workspace);

    p = put_s(line, "# rows=");
    p = put_u(p, CROSS_ROWS);
    p = put_s(p, " out=");
    p = put_u(p, CROSS_OUT);
    p = put_s(p, " workspace=");
    p = put_u(p, (uint64_t)ws_bytes);
    p = put_s(p, "\n");
    *p = 0;
    sh_puts(line);
    for (int i = 0; i < CROSS_ROWS * CROSS_OUT; i++) {
        p = put_u(line, (uint64_t)i);
        p = put_s(p, " 0x");
        p = put_hex8(p, cross_float_bits(y[i]));
        p = put_s(p, "\n");
        *p = 0;
        sh_puts(line);
    }
    sh_puts("M4 DONE\n");
    return 0;
}
