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
#include "unit_model.h"

static nnd_model *compile(const char *src) {
    nnd_options o;
    nnd_options_init(&o);
    o.init_random = 1;
    return unit_model(src, &o);
}

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

static void test_runtime_args_null_pointers(void) {
    nnd_model *m = compile(mlp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    int64_t n = 2, dims[NND_MAX_RANK];
    CU_ASSERT_EQUAL(nnd_model_num_inputs(NULL), 0);
    CU_ASSERT_EQUAL(nnd_model_num_outputs(NULL), 0);
    CU_ASSERT_EQUAL(nnd_model_num_symbols(NULL), 0);
    CU_ASSERT_PTR_NULL(nnd_model_input(NULL, 0));
    CU_ASSERT_PTR_NULL(nnd_model_output(NULL, 0));
    CU_ASSERT_PTR_NULL(nnd_model_symbol(NULL, 0));
    CU_ASSERT_PTR_NULL(nnd_model_symbol(m, 1));
    CU_ASSERT_EQUAL(nnd_model_input_index(NULL, "x"), -1);
    CU_ASSERT_EQUAL(nnd_model_input_index(m, NULL), -1);
    CU_ASSERT_EQUAL(nnd_model_output_index(m, NULL), -1);
    CU_ASSERT_EQUAL(nnd_model_output_shape(NULL, 0, &n, dims), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_model_output_shape(m, 0, NULL, dims), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_model_output_shape(m, 0, &n, NULL), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_context_reserve(NULL, &n), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_run(NULL, NULL, 0, NULL, 0), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NOT_NULL(nnd_context_error(NULL));
    nnd_context *ctx;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    CU_ASSERT_EQUAL(nnd_context_reserve(ctx, NULL), NND_ERR_INVALID_ARGUMENT);
    float x[6] = {0}, y[4], z[6];
    int64_t shape[2] = {2, 3};
    nnd_tensor in = {x, 6, 2, NULL, {0}};
    nnd_tensor out[2] = {{y, 4, 0, NULL, {0}}, {z, 6, 0, NULL, {0}}};
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_INVALID_ARGUMENT); /* shape NULL */
    in.shape = shape;
    in.data = NULL;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_INVALID_ARGUMENT);
    in.data = x;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_OK);
    nnd_options_init(NULL);
    nnd_string_free(NULL);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
}

/* Pointers that are not live handles of the right kind: a context as a model, a model as a
 * context, zeroed memory. Each is refused by its tag, without being followed further. */
static void test_runtime_args_wrong_handle_kind(void) {
    nnd_model *m = compile(mlp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    nnd_context *ctx;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    _Alignas(64) static unsigned char zeros[4096];
    nnd_model *not_model = (nnd_model *)(void *)ctx;
    nnd_context *not_ctx = (nnd_context *)(void *)m;
    int64_t n = 2;
    nnd_context *c2 = (nnd_context *)zeros;
    CU_ASSERT_EQUAL(nnd_context_create(not_model, &c2), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NULL(c2);
    CU_ASSERT_EQUAL(nnd_context_create((nnd_model *)(void *)zeros, &c2), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_model_num_inputs(not_model), 0);
    CU_ASSERT_PTR_NULL(nnd_model_output(not_model, 0));
    CU_ASSERT_EQUAL(nnd_run(not_ctx, NULL, 0, NULL, 0), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_run((nnd_context *)(void *)zeros, NULL, 0, NULL, 0),
                    NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_context_reserve(not_ctx, &n), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_STRING_EQUAL(nnd_context_error(not_ctx), "not a live nnd_context");
    nnd_context_destroy(not_ctx);  /* ignored: not a context */
    nnd_model_destroy(not_model);  /* ignored: not a model */
    CU_ASSERT_EQUAL(nnd_model_num_inputs(m), 1);
    CU_ASSERT_EQUAL(nnd_context_reserve(ctx, &n), NND_OK);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
}

/* Destroying the model first: its contexts keep its memory and refuse to run; destroying
 * the last one frees the model (ASan and LSan check both halves). */
static void test_runtime_args_model_destroyed_before_context(void) {
    nnd_model *m = compile(mlp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    nnd_context *a, *b;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &a), NND_OK);
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &b), NND_OK);
    nnd_context_destroy(a);
    nnd_model_destroy(m);
    nnd_model_destroy(m); /* twice: ignored while b keeps the memory */
    float x[6] = {0}, y[4], z[6];
    int64_t shape[2] = {2, 3}, n = 2;
    nnd_tensor in = {x, 6, 2, shape, {0}};
    nnd_tensor out[2] = {{y, 4, 0, NULL, {0}}, {z, 6, 0, NULL, {0}}};
    CU_ASSERT_EQUAL(nnd_run(b, &in, 1, out, 2), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT(strstr(nnd_context_error(b), "model was destroyed") != NULL);
    CU_ASSERT_EQUAL(nnd_context_reserve(b, &n), NND_ERR_INVALID_ARGUMENT);
    nnd_context *c = (nnd_context *)&n;
    CU_ASSERT_EQUAL(nnd_context_create(m, &c), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_model_num_outputs(m), 0);
    nnd_context_destroy(b);
}

/* Dimensions the caller gives: wrong rank, negative, zero, 2^31 + 1, 2^40, INT64_MAX. */
static void test_runtime_args_dimensions(void) {
    nnd_model *m = compile(mlp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    nnd_context *ctx;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    float x[6] = {0}, y[4], z[6];
    int64_t shape[NND_MAX_RANK + 8] = {2, 3};
    nnd_tensor in = {x, 6, 2, shape, {0}};
    nnd_tensor out[2] = {{y, 4, 0, NULL, {0}}, {z, 6, 0, NULL, {0}}};
    const int64_t bad_n[] = {-1, 0, ((int64_t)1 << 31) + 1, (int64_t)1 << 40, INT64_MAX,
                             INT64_MIN};
    for (size_t i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++) {
        shape[0] = bad_n[i];
        CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_SHAPE);
        CU_ASSERT(strstr(nnd_context_error(ctx), "must be between 1 and 2147483648") != NULL);
        CU_ASSERT_EQUAL(nnd_context_reserve(ctx, &bad_n[i]), NND_ERR_INVALID_ARGUMENT);
        int64_t dims[NND_MAX_RANK];
        CU_ASSERT_EQUAL(nnd_model_output_shape(m, 0, &bad_n[i], dims), NND_ERR_INVALID_ARGUMENT);
    }
    shape[0] = (int64_t)1 << 31; /* allowed, but the buffers hold 6 and 4 elements */
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_SHAPE);
    CU_ASSERT(strstr(nnd_context_error(ctx), "needs 6442450944 elements, its buffer holds 6") !=
              NULL);
    shape[0] = 2;
    shape[1] = -3;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_SHAPE);
    shape[1] = 3;
    in.rank = NND_MAX_RANK + 8;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_SHAPE);
    in.rank = 1;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_SHAPE);
    in.rank = 2;
    in.count = SIZE_MAX; /* a claim nnd cannot check: it believes it and reads 6 */
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_OK);
    in.count = 5;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_SHAPE);
    in.count = 6;
    out[0].count = 3;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_SHAPE);
    out[0].count = 4;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 2, out, 2), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 1), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, SIZE_MAX), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_OK);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
}

/* Inputs and outputs hold N or M elements; the tensor in between is N x M. With
 * N = M = 2^31 it has 2^62 elements, 2^64 bytes: the generated workspace function would
 * overflow (its arithmetic is nsw, so the result was undefined). The runtime now bounds every
 * value of the model first. */
static void test_runtime_args_intermediate_overflow(void) {
    nnd_model *m = compile("model outer {\n"
                           "  input a : f32[N, 1]\n"
                           "  input b : f32[1, M]\n"
                           "  input c : f32[M, 1]\n"
                           "  output o = matmul(add(a, b, name=\"s\"), c)\n"
                           "}\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    nnd_context *ctx;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    int64_t nm[2] = {(int64_t)1 << 31, (int64_t)1 << 31};
    CU_ASSERT_EQUAL(nnd_context_reserve(ctx, nm), NND_ERR_SHAPE);
    CU_ASSERT(strstr(nnd_context_error(ctx), "intermediate tensors too large") != NULL);
    nm[0] = nm[1] = 3;
    CU_ASSERT_EQUAL(nnd_context_reserve(ctx, nm), NND_OK);
    float a[3] = {1, 2, 3}, b[3] = {10, 20, 30}, c[3] = {1, 0, -1}, o[3];
    int64_t sa[2] = {3, 1}, sb[2] = {1, 3}, sc[2] = {3, 1};
    nnd_tensor in[3] = {{a, 3, 2, sa, {0}}, {b, 3, 2, sb, {0}}, {c, 3, 2, sc, {0}}};
    nnd_tensor out = {o, 3, 0, NULL, {0}};
    CU_ASSERT_EQUAL(nnd_run(ctx, in, 3, &out, 1), NND_OK);
    for (int i = 0; i < 3; i++) /* (a_i + 10) - (a_i + 30) */
        CU_ASSERT_DOUBLE_EQUAL(o[i], -20.0, 1e-5);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
}

/* An output may not share memory with an input or another output; inputs may share. */
static void test_runtime_args_overlapping_buffers(void) {
    nnd_model *m = compile("model two {\n"
                           "  input a : f32[N, 2]\n"
                           "  input b : f32[N, 2]\n"
                           "  output s = add(a, b)\n"
                           "  output p = mul(a, b)\n"
                           "}\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    nnd_context *ctx;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    float buf[32] = {1, 2, 3, 4};
    int64_t shape[2] = {2, 2};
    nnd_tensor in[2] = {{buf, 4, 2, shape, {0}}, {buf, 4, 2, shape, {0}}}; /* the same: fine */
    nnd_tensor out[2] = {{buf + 8, 4, 0, NULL, {0}}, {buf + 12, 4, 0, NULL, {0}}};
    CU_ASSERT_EQUAL(nnd_run(ctx, in, 2, out, 2), NND_OK);
    CU_ASSERT_EQUAL(buf[8 + 3], 8.0f);
    CU_ASSERT_EQUAL(buf[12 + 3], 16.0f);
    out[1].data = buf + 11; /* its first element is out[0]'s last */
    CU_ASSERT_EQUAL(nnd_run(ctx, in, 2, out, 2), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT(strstr(nnd_context_error(ctx), "outputs 's' and 'p' overlap") != NULL);
    out[1].data = buf + 3; /* over input a's last element */
    CU_ASSERT_EQUAL(nnd_run(ctx, in, 2, out, 2), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT(strstr(nnd_context_error(ctx), "output 'p' overlaps input 'a'") != NULL);
    out[1].data = buf + 4; /* right after it */
    CU_ASSERT_EQUAL(nnd_run(ctx, in, 2, out, 2), NND_OK);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
}

NND_SUITE("runtime_args", test_runtime_args_unknown_cpu, test_runtime_args_null_pointers,
          test_runtime_args_wrong_handle_kind, test_runtime_args_model_destroyed_before_context,
          test_runtime_args_dimensions, test_runtime_args_intermediate_overflow,
          test_runtime_args_overlapping_buffers)
