/* fuzz_onnx.c: the ONNX reader on arbitrary bytes.
 *
 * In: bytes taken as an .onnx file. Out: nothing; the run fails only on a crash, a sanitizer
 * report, a leak or a hang. The bytes are unpacked by protobuf-c and converted to .nnd text
 * and parameters as every nndc command does with an .onnx file (compile_read_onnx_bytes);
 * a model that converts is then compiled as far as binding its parameters (parse, graph,
 * shapes, weights), as `nndc check` would, with every diagnostic rendered. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "compile.h"

enum { MAX_INPUT = 1 << 20 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_INPUT)
        return 0;
    Compilation *c = compilation_new();
    if (!c)
        return 0;
    if (compile_read_onnx_bytes(c, "fuzz.onnx", data, size)) {
        CompileOptions o;
        compile_options_init(&o);
        compile_to(c, STAGE_WEIGHTS, &o);
    }
    diag_text(c->diag);
    compilation_free(c);
    return 0;
}
