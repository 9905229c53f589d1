/* test_runtime_threads.c: one compiled model run from 8 threads at once (SPEC 5: "one
 * compiled model may run on several threads at once, each with its own context").
 *
 * A small CNN with a symbolic batch (so each context grows its own workspace) is compiled
 * once. Every (thread, round) pair has its own batch size and input values; the expected
 * outputs come from a serial run on one context first. Then 8 threads start together at a
 * barrier, each with a context of its own, run their rounds, and every output must equal the
 * serial one bit for bit. scripts/test.sh also runs this suite in a ThreadSanitizer build
 * (NND_TSAN), where a data race in the runtime fails the test. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "nnd.h"
#include "unit_harness.h"

enum { THREADS = 8, ROUNDS = 40, MAX_BATCH = 5, IN_SIZE = 2 * 8 * 8, OUT_SIZE = 10 };

static const char *cnn = "model cnn {\n"
                         "  input x : f32[N, 2, 8, 8]\n"
                         "  c = conv2d(x, 4, 3, padding=1) -> relu -> maxpool2d(2)\n"
                         "  f = flatten(c) -> dense(16, name=\"fc\") -> tanh\n"
                         "  output y = dense(f, 10) -> softmax\n"
                         "}\n";

typedef struct Job {
    nnd_model *m;
    pthread_barrier_t *start;
    int thread;
    float got[ROUNDS][MAX_BATCH * OUT_SIZE];
    nnd_status st;
} Job;

static float expected[THREADS][ROUNDS][MAX_BATCH * OUT_SIZE];

static int64_t batch_of(int thread, int round) { return 1 + (thread + round) % MAX_BATCH; }

/* Deterministic inputs, different for every (thread, round). */
static void fill_input(float *x, int thread, int round) {
    uint32_t s = 2654435761u * (uint32_t)(thread * ROUNDS + round + 1);
    for (int i = 0; i < MAX_BATCH * IN_SIZE; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
    }
}

static nnd_status run_one(nnd_context *ctx, int thread, int round, float *y) {
    float x[MAX_BATCH * IN_SIZE];
    fill_input(x, thread, round);
    int64_t n = batch_of(thread, round);
    int64_t shape[4] = {n, 2, 8, 8};
    nnd_tensor in = {x, (size_t)(n * IN_SIZE), 4, shape, {0}};
    nnd_tensor out = {y, MAX_BATCH * OUT_SIZE, 0, NULL, {0}};
    memset(y, 0, MAX_BATCH * OUT_SIZE * sizeof(float));
    return nnd_run(ctx, &in, 1, &out, 1);
}

static void *worker(void *arg) {
    Job *j = arg;
    nnd_context *ctx = NULL;
    j->st = nnd_context_create(j->m, &ctx);
    pthread_barrier_wait(j->start);
    for (int r = 0; r < ROUNDS && j->st == NND_OK; r++)
        j->st = run_one(ctx, j->thread, r, j->got[r]);
    nnd_context_destroy(ctx);
    return NULL;
}

static void test_runtime_threads_match_serial(void) {
    nnd_options o;
    nnd_options_init(&o);
    o.init_random = 1;
    o.init_seed = 11;
    nnd_model *m = NULL;
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(nnd_model_compile_string(cnn, "cnn.nnd", NULL, &o, &m, &err), NND_OK);
    nnd_string_free(err);

    nnd_context *serial;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &serial), NND_OK);
    for (int t = 0; t < THREADS; t++)
        for (int r = 0; r < ROUNDS; r++)
            CU_ASSERT_EQUAL(run_one(serial, t, r, expected[t][r]), NND_OK);
    nnd_context_destroy(serial);

    static Job jobs[THREADS];
    pthread_t th[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (Job){.m = m, .start = &start, .thread = t};
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[t], NULL, worker, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start);

    for (int t = 0; t < THREADS; t++) {
        CU_ASSERT_EQUAL(jobs[t].st, NND_OK);
        for (int r = 0; r < ROUNDS; r++)
            CU_ASSERT_EQUAL(memcmp(jobs[t].got[r], expected[t][r], sizeof expected[t][r]), 0);
    }
    /* Rows are probabilities: a run that wrote nothing would also compare equal to zeros. */
    float sum = 0;
    for (int k = 0; k < OUT_SIZE; k++)
        sum += expected[0][0][k];
    CU_ASSERT_DOUBLE_EQUAL(sum, 1.0, 1e-5);
    nnd_model_destroy(m);
}

/* Contexts created and destroyed on other threads while the model is shared: the model's
 * reference count is atomic, and the last release (here, the main thread's) frees it. */
static void *create_destroy(void *arg) {
    nnd_model *m = arg;
    for (int i = 0; i < 50; i++) {
        nnd_context *c;
        if (nnd_context_create(m, &c) == NND_OK)
            nnd_context_destroy(c);
    }
    return NULL;
}

static void test_runtime_threads_contexts_come_and_go(void) {
    nnd_options o;
    nnd_options_init(&o);
    o.init_random = 1;
    nnd_model *m = NULL;
    CU_ASSERT_EQUAL_FATAL(nnd_model_compile_string(cnn, NULL, NULL, &o, &m, NULL), NND_OK);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[t], NULL, create_destroy, m), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    CU_ASSERT_EQUAL(nnd_model_num_inputs(m), 1);
    nnd_model_destroy(m);
}

NND_SUITE("runtime_threads", test_runtime_threads_match_serial,
          test_runtime_threads_contexts_come_and_go)
