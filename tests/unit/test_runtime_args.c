/* test_runtime_args.c: every bad argument to the public runtime API (runtime/nnd.h) is a
 * status and a message, never a crash (issue 7): NULL pointers, handles that are not live
 * handles of their kind, a model destroyed before its contexts, unknown options, wrong
 * ranks, dimensions and buffer sizes, symbol values up to 2^63, sizes that overflow only in
 * intermediate tensors, and outputs that overlap inputs or each other. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nnd.h"
#include "unit_harness.h"

static const char *mlp = "model mlp {\n"
                         "  input x : f32[N, 3]\n"
                         "  output y = dense(x, 2)\n"
                         "  output z = relu(x)\n"
                         "}\n";

/* An unknown CPU made LLVM abort the process while generating code (x86-64 subtargets of
 * an unknown CPU lack 64-bit mode); it is refused up front. */
static void test_runtime_args_unknown_cpu(void) {
    nnd_options o;
    nnd_options_init(&o);
    o.init_random = 1;
    o.cpu = "nonsense";
    nnd_model *m = (nnd_model *)&o;
    char *err = NULL;
    CU_ASSERT_EQUAL(nnd_model_compile_string(mlp, NULL, NULL, &o, &m, &err),
                    NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT(strstr(err, "unknown CPU 'nonsense'") != NULL);
    nnd_string_free(err);
#if defined(__x86_64__)
    o.cpu = "x86-64";
    CU_ASSERT_EQUAL(nnd_model_compile_string(mlp, NULL, NULL, &o, &m, NULL), NND_OK);
    nnd_model_destroy(m);
#endif
}

NND_SUITE("runtime_args", test_runtime_args_unknown_cpu)
