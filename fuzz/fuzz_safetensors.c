/* fuzz_safetensors.c: the safetensors loader on arbitrary bytes.
 *
 * In: bytes taken as a .safetensors file. Out: nothing; the run fails only on a crash, a
 * sanitizer report, a leak or a hang. The bytes are parsed and checked as st_load does after
 * reading a file (st_parse), every float tensor of a file that checks is converted to f32, and the
 * file is bound as the weights of a small fixed model (conv2d, batchnorm, dense, layernorm),
 * as the compiler binds a model's weights statement: names, shapes and dtypes against
 * parameters, with every diagnostic rendered. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bind_weights.h"
#include "compile.h"

/* A tensor's bytes are bounded by the input's size, so this only keeps runs fast. */
enum { MAX_INPUT = 1 << 20 };

static const char model[] = "model w {\n"
                            "  input x : f32[N, 1, 4, 4]\n"
                            "  weights \"w.safetensors\"\n"
                            "  c = conv2d(x, 2, 3, padding=1) -> batchnorm(name=\"bn\") -> relu\n"
                            "  f = flatten(c) -> dense(3, name=\"fc\")\n"
                            "  output y = layernorm(f)\n"
                            "}\n";

static void convert_all(const StFile *f) {
    for (int i = 0; i < f->ntensors; i++) {
        const StTensor *t = &f->tensors[i];
        /* st_parse checks the byte count of known dtypes only, so another dtype's shape is
         * not bounded by the input; the compiler likewise checks st_is_float first. */
        if (!st_is_float(t))
            continue;
        float *dst = malloc((size_t)t->numel * sizeof(float) + 1);
        if (dst)
            st_to_f32(t, dst);
        free(dst);
    }
}

static void bind(const StFile *f) {
    Compilation *c = compilation_new();
    if (!c)
        return;
    compile_set_source(c, "w.nnd", model, sizeof model - 1);
    c->preloaded_weights = f;
    CompileOptions o;
    compile_options_init(&o);
    compile_to(c, STAGE_WEIGHTS, &o);
    diag_text(c->diag);
    compilation_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_INPUT)
        return 0;
    Arena *a = arena_new();
    uint8_t *bytes = malloc(size ? size : 1);
    if (!a || !bytes) {
        arena_free(a);
        free(bytes);
        return 0;
    }
    memcpy(bytes, data, size);
    /* Out of memory in the arena is a clean failure, as in compile_to. */
    jmp_buf oom;
    arena_on_oom(a, &oom);
    if (setjmp(oom) == 0) {
        Diag *d = diag_new(a);
        StFile f;
        SrcLoc at = {"w.nnd", 3, 3, 10};
        if (st_parse(a, d, at, "w.safetensors", bytes, size, &f)) {
            convert_all(&f);
            bind(&f);
        }
        diag_text(d);
    }
    arena_free(a);
    free(bytes);
    return 0;
}
