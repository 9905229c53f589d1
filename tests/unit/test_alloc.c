/* test_alloc.c: a forward pass allocates nothing (SPEC 5, runtime/nnd.h).
 *
 * This executable is linked with -Wl,--wrap for malloc, calloc, realloc, free,
 * posix_memalign and aligned_alloc (tests/CMakeLists.txt): every call to them from code
 * linked statically into it (the runtime, the compiler, this file) goes through the
 * __wrap_ functions below, which count the calls made on this thread while counting is on
 * and forward to the real ones. Calls made inside shared libraries (libc itself, LLVM) and on
 * other threads (LLVM's) are not seen: what is checked is the runtime's own forward path.
 *
 * A model is compiled and run once (which may allocate the workspace); then 100 runs with the
 * same batch must allocate nothing, a larger batch grows the workspace exactly once, and the
 * runs after that allocate nothing again. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "nnd.h"
#include "unit_harness.h"

enum { F_MALLOC, F_CALLOC, F_REALLOC, F_FREE, F_POSIX_MEMALIGN, F_ALIGNED_ALLOC, NFUNCS };
static const char *const func_names[NFUNCS] = {"malloc", "calloc", "realloc", "free",
                                               "posix_memalign", "aligned_alloc"};
/* volatile: glibc declares the allocator leaf functions, so without it the compiler may
 * assume a call to malloc leaves this file's variables alone, and fold the counts. */
static _Thread_local volatile bool counting;
static _Thread_local volatile long calls[NFUNCS];

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
int __real_posix_memalign(void **p, size_t align, size_t size);
void *__real_aligned_alloc(size_t align, size_t size);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);
int __wrap_posix_memalign(void **p, size_t align, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);

static void count(int f) {
    if (counting)
        calls[f]++;
}

void *__wrap_malloc(size_t size) {
    count(F_MALLOC);
    return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size) {
    count(F_CALLOC);
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size) {
    count(F_REALLOC);
    return __real_realloc(p, size);
}

void __wrap_free(void *p) {
    count(F_FREE);
    __real_free(p);
}

int __wrap_posix_memalign(void **p, size_t align, size_t size) {
    count(F_POSIX_MEMALIGN);
    return __real_posix_memalign(p, align, size);
}

void *__wrap_aligned_alloc(size_t align, size_t size) {
    count(F_ALIGNED_ALLOC);
    return __real_aligned_alloc(align, size);
}

static void start_counting(void) {
    for (int f = 0; f < NFUNCS; f++)
        calls[f] = 0;
    counting = true;
}

/* Stops counting; returns the calls counted, listing them when there are any and `show`. */
static long stop_counting(bool show) {
    counting = false;
    long total = 0;
    for (int f = 0; f < NFUNCS; f++) {
        total += calls[f];
        if (calls[f] && show)
            printf("\n    %ld call%s to %s ", calls[f], calls[f] == 1 ? "" : "s", func_names[f]);
    }
    return total;
}

/* Whether the wrappers see this file's own calls: with the link options missing (or a
 * sanitizer that hides them), every "zero allocations" below would pass vacuously. */
static bool wrapping_works(void) {
    start_counting();
    void *volatile p = malloc(16);
    free(p);
    counting = false;
    return calls[F_MALLOC] == 1 && calls[F_FREE] == 1;
}

static const char *const models[] = {
    "model mlp {\n"
    "  input x : f32[N, 784]\n"
    "  h1 = dense(x, 256) -> relu\n"
    "  h2 = dense(h1, 128) -> relu\n"
    "  output y = dense(h2, 10) -> softmax\n"
    "}\n",
    "model lenet5 {\n"
    "  input x : f32[N, 1, 28, 28]\n"
    "  c1 = conv2d(x, 6, kernel=5, padding=2) -> relu -> maxpool2d(2)\n"
    "  c2 = conv2d(c1, 16, kernel=5) -> relu -> maxpool2d(2)\n"
    "  f3 = flatten(c2) -> dense(120) -> relu\n"
    "  f4 = dense(f3, 84) -> relu\n"
    "  output logits = dense(f4, 10)\n"
    "}\n",
};

enum { MAX_BATCH = 32 };

typedef struct Fixture {
    nnd_model *model;
    nnd_context *ctx;
    float *x, *y;
    size_t x_per_row, y_per_row;
    int64_t shape[NND_MAX_RANK];
    size_t rank;
} Fixture;

static bool setup(Fixture *f, const char *src) {
    memset(f, 0, sizeof *f);
    nnd_options o;
    nnd_options_init(&o);
    o.init_random = 1;
    char *err = NULL;
    if (nnd_model_compile_string(src, "t.nnd", NULL, &o, &f->model, &err) != NND_OK) {
        fprintf(stderr, "%s", err ? err : "?");
        nnd_string_free(err);
        return false;
    }
    const nnd_tensor_info *in = nnd_model_input(f->model, 0), *out = nnd_model_output(f->model, 0);
    f->rank = in->rank;
    f->x_per_row = f->y_per_row = 1;
    for (size_t d = 1; d < in->rank; d++)
        f->x_per_row *= (size_t)in->dims[d];
    for (size_t d = 1; d < out->rank; d++)
        f->y_per_row *= (size_t)out->dims[d];
    memcpy(f->shape, in->dims, sizeof f->shape);
    f->x = calloc(f->x_per_row * MAX_BATCH, sizeof(float));
    f->y = calloc(f->y_per_row * MAX_BATCH, sizeof(float));
    for (size_t i = 0; i < f->x_per_row * MAX_BATCH; i++)
        f->x[i] = (float)(i % 17) * 0.05f - 0.4f;
    return nnd_context_create(f->model, &f->ctx) == NND_OK;
}

static void teardown(Fixture *f) {
    nnd_context_destroy(f->ctx);
    nnd_model_destroy(f->model);
    free(f->x);
    free(f->y);
}

static nnd_status run(Fixture *f, int64_t batch) {
    f->shape[0] = batch;
    nnd_tensor in = {f->x, f->x_per_row * MAX_BATCH, f->rank, f->shape, {0}};
    nnd_tensor out = {f->y, f->y_per_row * MAX_BATCH, 0, NULL, {0}};
    return nnd_run(f->ctx, &in, 1, &out, 1);
}

/* 100 runs at `batch`, all successful; returns the calls counted. */
static long hundred_runs(Fixture *f, int64_t batch) {
    int failed = 0;
    start_counting();
    for (int i = 0; i < 100; i++)
        failed += run(f, batch) != NND_OK;
    long n = stop_counting(true);
    CU_ASSERT_EQUAL(failed, 0);
    return n;
}

static bool sanitized(void) {
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#endif
#endif
    return false;
}

static void test_alloc_wrappers_count(void) {
    if (!wrapping_works() && sanitized()) {
        printf("\n    skipped: the sanitizer's allocator interceptors hide --wrap ");
        return;
    }
    CU_ASSERT_FATAL(wrapping_works());
    /* The runtime library's calls are seen too: creating a context allocates. */
    Fixture f;
    CU_ASSERT_FATAL(setup(&f, models[0]));
    nnd_context *ctx = NULL;
    start_counting();
    CU_ASSERT_EQUAL(nnd_context_create(f.model, &ctx), NND_OK);
    CU_ASSERT(stop_counting(false) > 0);
    nnd_context_destroy(ctx);
    teardown(&f);
}

static void test_alloc_forward_pass_allocates_nothing(void) {
    if (!wrapping_works()) {
        CU_ASSERT_FATAL(sanitized()); /* only a sanitizer may hide the wrappers */
        printf("\n    skipped: the sanitizer's allocator interceptors hide --wrap ");
        return;
    }
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        Fixture f;
        CU_ASSERT_FATAL(setup(&f, models[k]));
        CU_ASSERT_EQUAL(run(&f, 4), NND_OK); /* may allocate the workspace */
        CU_ASSERT_EQUAL(hundred_runs(&f, 4), 0);

        /* A larger batch: the workspace grows once (the new one, the old one freed). */
        start_counting();
        CU_ASSERT_EQUAL(run(&f, MAX_BATCH), NND_OK);
        stop_counting(false);
        CU_ASSERT_EQUAL(calls[F_POSIX_MEMALIGN] + calls[F_ALIGNED_ALLOC] + calls[F_MALLOC] +
                            calls[F_CALLOC] + calls[F_REALLOC],
                        1);
        CU_ASSERT_EQUAL(calls[F_FREE], 1);
        CU_ASSERT_EQUAL(hundred_runs(&f, MAX_BATCH), 0);
        CU_ASSERT_EQUAL(hundred_runs(&f, 1), 0); /* smaller: the workspace stays */
        teardown(&f);
    }
}

static void test_alloc_reserve_ahead(void) {
    if (!wrapping_works()) {
        CU_ASSERT_FATAL(sanitized());
        printf("\n    skipped: the sanitizer's allocator interceptors hide --wrap ");
        return;
    }
    Fixture f;
    CU_ASSERT_FATAL(setup(&f, models[0]));
    int64_t n = MAX_BATCH;
    CU_ASSERT_EQUAL(nnd_context_reserve(f.ctx, &n), NND_OK);
    /* Even the first run allocates nothing once the workspace is reserved. */
    start_counting();
    CU_ASSERT_EQUAL(run(&f, MAX_BATCH), NND_OK);
    CU_ASSERT_EQUAL(stop_counting(true), 0);
    CU_ASSERT_EQUAL(hundred_runs(&f, 7), 0);
    teardown(&f);
}

NND_SUITE("alloc", test_alloc_wrappers_count, test_alloc_forward_pass_allocates_nothing,
          test_alloc_reserve_ahead)
