/* test_runtime.c: the public runtime API (runtime/nnd.h): compiling from strings and files,
 * introspection, running with caller buffers, symbol binding, and every bad argument
 * answered with a status and a message rather than a crash. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "nnd.h"
#include "unit_harness.h"
#include "unit_model.h"

static const char *mlp =
    "model mlp {\n"
    "  input x : f32[N, 3]\n"
    "  h = dense(x, 4) -> relu\n"
    "  output y = dense(h, 2)\n"
    "  output z = h -> sigmoid\n"
    "}\n";

static nnd_model *compile(const char *src) {
    nnd_options o;
    nnd_options_init(&o);
    o.init_random = 1;
    o.init_seed = 7;
    return unit_model(src, &o);
}

static void test_runtime_introspection(void) {
    nnd_model *m = compile(mlp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(nnd_model_num_inputs(m), 1);
    CU_ASSERT_EQUAL(nnd_model_num_outputs(m), 2);
    CU_ASSERT_EQUAL(nnd_model_num_symbols(m), 1);
    CU_ASSERT_STRING_EQUAL(nnd_model_symbol(m, 0), "N");
    const nnd_tensor_info *x = nnd_model_input(m, 0);
    CU_ASSERT_STRING_EQUAL(x->name, "x");
    CU_ASSERT_EQUAL(x->rank, 2);
    CU_ASSERT_EQUAL(x->dims[0], -1);
    CU_ASSERT_STRING_EQUAL(x->dim_names[0], "N");
    CU_ASSERT_EQUAL(x->dims[1], 3);
    CU_ASSERT_PTR_NULL(x->dim_names[1]);
    CU_ASSERT_STRING_EQUAL(nnd_model_output(m, 1)->name, "z");
    CU_ASSERT_EQUAL(nnd_model_output_index(m, "y"), 0);
    CU_ASSERT_EQUAL(nnd_model_output_index(m, "nope"), -1);
    CU_ASSERT_EQUAL(nnd_model_input_index(m, "x"), 0);
    CU_ASSERT_PTR_NULL(nnd_model_input(m, 1));
    int64_t n = 5, dims[NND_MAX_RANK];
    CU_ASSERT_EQUAL(nnd_model_output_shape(m, 1, &n, dims), NND_OK);
    CU_ASSERT_EQUAL(dims[0], 5);
    CU_ASSERT_EQUAL(dims[1], 4);
    CU_ASSERT_EQUAL(nnd_model_output_shape(m, 2, &n, dims), NND_ERR_INVALID_ARGUMENT);
    nnd_model_destroy(m);
}

/* Runs the mlp on a batch of `n` rows; returns the status. */
static nnd_status run_mlp(nnd_context *ctx, int64_t n, float *y, float *z) {
    float x[64];
    for (int i = 0; i < 64; i++)
        x[i] = (float)i * 0.1f - 1.0f;
    int64_t shape[2] = {n, 3};
    nnd_tensor in = {x, 64, 2, shape, {0}};
    nnd_tensor out[2] = {{y, 64, 0, NULL, {0}}, {z, 64, 0, NULL, {0}}};
    return nnd_run(ctx, &in, 1, out, 2);
}

static void test_runtime_batch_rows_are_independent(void) {
    nnd_model *m = compile(mlp);
    nnd_context *ctx;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    float y1[64], z1[64], y7[64], z7[64];
    CU_ASSERT_EQUAL(run_mlp(ctx, 1, y1, z1), NND_OK);
    CU_ASSERT_EQUAL(run_mlp(ctx, 7, y7, z7), NND_OK);
    /* Row 0 of the batch of 7 is the same input as the batch of 1. */
    CU_ASSERT_EQUAL(memcmp(y1, y7, 2 * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(z1, z7, 4 * sizeof(float)), 0);
    for (int i = 0; i < 7 * 4; i++)
        CU_ASSERT(z7[i] >= 0.5f && z7[i] < 1.0f); /* sigmoid of relu output */
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
}

static void test_runtime_rejects_bad_arguments(void) {
    nnd_model *m = compile(mlp);
    nnd_context *ctx;
    CU_ASSERT_EQUAL(nnd_context_create(NULL, &ctx), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_context_create(m, NULL), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    float x[6] = {0}, y[64], z[64];
    int64_t good[2] = {2, 3}, wide[2] = {2, 4}, zero[2] = {0, 3}, big[2] = {100, 3};
    nnd_tensor in = {x, 6, 2, good, {0}};
    nnd_tensor out[2] = {{y, 64, 0, NULL, {0}}, {z, 64, 0, NULL, {0}}};
    CU_ASSERT_EQUAL(nnd_run(NULL, &in, 1, out, 2), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 0, out, 2), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT(strstr(nnd_context_error(ctx), "takes 1 input") != NULL);
    CU_ASSERT_EQUAL(nnd_run(ctx, NULL, 1, out, 2), NND_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, NULL, 2), NND_ERR_INVALID_ARGUMENT);
    in.shape = wide;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_SHAPE);
    CU_ASSERT(strstr(nnd_context_error(ctx), "dimension 1 is 4") != NULL);
    in.shape = zero;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_SHAPE);
    in.shape = big; /* 300 elements, the buffer holds 6 */
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_SHAPE);
    CU_ASSERT(strstr(nnd_context_error(ctx), "buffer holds 6") != NULL);
    in.shape = good;
    in.rank = 3;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_SHAPE);
    in.rank = 2;
    out[1].count = 7; /* z needs 8 */
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_SHAPE);
    out[1].count = 64;
    out[0].data = NULL;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_ERR_INVALID_ARGUMENT);
    out[0].data = y;
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 2), NND_OK);
    CU_ASSERT_STRING_EQUAL(nnd_context_error(ctx), "");
    CU_ASSERT_EQUAL(out[1].rank, 2);
    CU_ASSERT_EQUAL(out[1].out_shape[0], 2);
    int64_t bad_sym = 0;
    CU_ASSERT_EQUAL(nnd_context_reserve(ctx, &bad_sym), NND_ERR_INVALID_ARGUMENT);
    int64_t ok_sym = 1000;
    CU_ASSERT_EQUAL(nnd_context_reserve(ctx, &ok_sym), NND_OK);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    nnd_model_destroy(NULL);
    nnd_context_destroy(NULL);
}

static void test_runtime_symbols_must_agree(void) {
    nnd_model *m = compile("model two {\n input a : f32[N, 2]\n input b : f32[N, 2]\n"
                           " output s = add(a, b)\n}\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    nnd_context *ctx;
    nnd_context_create(m, &ctx);
    float a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[8] = {8, 7, 6, 5, 4, 3, 2, 1}, s[8];
    int64_t s2[2] = {2, 2}, s3[2] = {3, 2};
    nnd_tensor in[2] = {{a, 8, 2, s2, {0}}, {b, 8, 2, s3, {0}}};
    nnd_tensor out = {s, 8, 0, NULL, {0}};
    CU_ASSERT_EQUAL(nnd_run(ctx, in, 2, &out, 1), NND_ERR_SHAPE);
    CU_ASSERT(strstr(nnd_context_error(ctx), "already 2") != NULL);
    in[1].shape = s2;
    CU_ASSERT_EQUAL(nnd_run(ctx, in, 2, &out, 1), NND_OK);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(s[i], 9.0f);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
}

static void test_runtime_compile_errors_are_reported(void) {
    nnd_model *m = (nnd_model *)1;
    char *err = NULL;
    nnd_status st = nnd_model_compile_string("model m {\n input x : f32[N, 3]\n output y = "
                                             "dense(x, 4)\n}\n", "m.nnd", NULL, NULL, &m, &err);
    CU_ASSERT_EQUAL(st, NND_ERR_WEIGHTS);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT(strstr(err, "m.nnd:3:") != NULL);
    CU_ASSERT(strstr(err, "no weights statement") != NULL);
    nnd_string_free(err);
    st = nnd_model_compile_file("/nonexistent/x.nnd", NULL, &m, &err);
    CU_ASSERT_EQUAL(st, NND_ERR_IO);
    CU_ASSERT(strstr(err, "/nonexistent/x.nnd") != NULL);
    nnd_string_free(err);
    CU_ASSERT_EQUAL(nnd_model_compile_file(NULL, NULL, &m, &err), NND_ERR_INVALID_ARGUMENT);
    nnd_string_free(err);
    CU_ASSERT_EQUAL(nnd_model_compile_string("x", NULL, NULL, NULL, NULL, NULL),
                    NND_ERR_INVALID_ARGUMENT);
    nnd_options o;
    nnd_options_init(&o);
    o.opt_level = 9;
    CU_ASSERT_EQUAL(nnd_model_compile_string(mlp, NULL, NULL, &o, &m, NULL),
                    NND_ERR_INVALID_ARGUMENT);
    st = nnd_model_compile_string("model m {\n input x : f32[N, 3]\n output y = conv2d(x, 4, 3)\n}\n",
                                  NULL, NULL, NULL, &m, &err);
    CU_ASSERT_NOT_EQUAL(st, NND_OK);
    nnd_string_free(err);
}

/* Concatenating sizes N and M gives a derived size: callers still see only N and M. */
static void test_runtime_derived_symbols(void) {
    nnd_model *m = compile("model cat {\n input a : f32[N, 2]\n input b : f32[M, 2]\n"
                           " output y = concat(a, b, axis=0)\n}\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(nnd_model_num_symbols(m), 2);
    CU_ASSERT_STRING_EQUAL(nnd_model_symbol(m, 1), "M");
    CU_ASSERT_STRING_EQUAL(nnd_model_output(m, 0)->dim_names[0], "(N+M)");
    int64_t nm[2] = {2, 3}, dims[2];
    CU_ASSERT_EQUAL(nnd_model_output_shape(m, 0, nm, dims), NND_OK);
    CU_ASSERT_EQUAL(dims[0], 5);
    nnd_context *ctx;
    nnd_context_create(m, &ctx);
    float a[4] = {1, 2, 3, 4}, b[6] = {5, 6, 7, 8, 9, 10}, y[10] = {0};
    int64_t sa[2] = {2, 2}, sb[2] = {3, 2};
    nnd_tensor in[2] = {{a, 4, 2, sa, {0}}, {b, 6, 2, sb, {0}}};
    nnd_tensor out = {y, 10, 0, NULL, {0}};
    CU_ASSERT_EQUAL(nnd_run(ctx, in, 2, &out, 1), NND_OK);
    CU_ASSERT_EQUAL(out.out_shape[0], 5);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(y[i], (float)(i + 1));
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
}

typedef struct Job {
    nnd_model *m;
    float y[64], z[64];
    nnd_status st;
} Job;

static void *worker(void *arg) {
    Job *j = arg;
    nnd_context *ctx;
    j->st = nnd_context_create(j->m, &ctx);
    for (int i = 0; i < 200 && j->st == NND_OK; i++)
        j->st = run_mlp(ctx, 5, j->y, j->z);
    nnd_context_destroy(ctx);
    return NULL;
}

static void test_runtime_threads_share_a_model(void) {
    nnd_model *m = compile(mlp);
    Job jobs[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].m = m;
        pthread_create(&t[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(jobs[i].st, NND_OK);
        CU_ASSERT_EQUAL(memcmp(jobs[i].y, jobs[0].y, 10 * sizeof(float)), 0);
        CU_ASSERT_EQUAL(memcmp(jobs[i].z, jobs[0].z, 20 * sizeof(float)), 0);
    }
    nnd_model_destroy(m);
}

NND_SUITE("runtime", test_runtime_introspection, test_runtime_batch_rows_are_independent,
          test_runtime_rejects_bad_arguments, test_runtime_symbols_must_agree,
          test_runtime_compile_errors_are_reported, test_runtime_derived_symbols,
          test_runtime_threads_share_a_model)
