/* nnd_worker.c: nnd's side of bench/: the model JIT-compiled through the public runtime API
 * (runtime/nnd.h) and run with nnd_run, speaking the protocol of peer.h.
 *
 *     nnd_worker NND_DIR WEIGHTS_DIR
 *
 * `load NAME ...` compiles NND_DIR/NAME.nnd with WEIGHTS_DIR as the base of its weights path
 * (the seeded weights live in the bench build folder, not in the source tree) at the default
 * -O2, and replies with the JIT compile time and the threads actually used. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnd.h"
#include "peer.h"

static const char *nnd_dir, *weights_dir;
static nnd_model *model;
static nnd_context *ctx;
static char model_name[256];
static int model_threads;
static int64_t in_shape[NND_MAX_RANK];
static size_t in_rank, in_count, out_count;

static double clock_ms(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static const char *info(void) {
    static char s[256];
    snprintf(s, sizeof s,
             "nnd | %d.%d (JIT, -O2, runtime API) | threads: nnd_options.threads (a batch of at "
             "least T is split into T slices; a smaller one splits each large kernel)",
             NND_VERSION_MAJOR, NND_VERSION_MINOR);
    return s;
}

/* The threads nnd is asked to run a model on (nnd_model_threads says whether the model
 * splits its batch; every bench model does). */
static int threads_used(nnd_options *opt, int threads) {
    opt->threads = threads;
    return threads;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) == (size_t)n) {
        s[n] = 0;
    } else {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

static int load(const char *name, int batch, int threads, size_t *in_elems, size_t *out_elems,
                char *msg, size_t len) {
    nnd_options opt;
    nnd_options_init(&opt);
    int used = threads_used(&opt, threads);
    double compile_ms = -1, cpu_ms = -1; /* wall; CPU time of all the process's threads */
    if (!model || strcmp(name, model_name) != 0 || used != model_threads) {
        nnd_context_destroy(ctx);
        nnd_model_destroy(model);
        ctx = NULL, model = NULL, model_name[0] = 0;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.nnd", nnd_dir, name);
        char *src = read_text(path), *err = NULL;
        if (!src) {
            snprintf(msg, len, "cannot read %s", path);
            return -1;
        }
        double t0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
        nnd_status st = nnd_model_compile_string(src, path, weights_dir, &opt, &model, &err);
        compile_ms = clock_ms(CLOCK_MONOTONIC) - t0;
        cpu_ms = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
        free(src);
        if (st != NND_OK) {
            snprintf(msg, len, "%s: %s", nnd_status_name(st), err ? strtok(err, "\n") : "");
            nnd_string_free(err);
            return -1;
        }
        if (nnd_model_num_inputs(model) != 1 || nnd_model_num_outputs(model) != 1 ||
            nnd_model_num_symbols(model) != 1) {
            snprintf(msg, len, "%s: bench models have one input, one output and one symbol N",
                     path);
            return -1;
        }
        if (nnd_context_create(model, &ctx) != NND_OK) {
            snprintf(msg, len, "cannot create a context");
            return -1;
        }
        snprintf(model_name, sizeof model_name, "%s", name);
        model_threads = used;
    }
    const nnd_tensor_info *in = nnd_model_input(model, 0);
    int64_t n = batch, out_dims[NND_MAX_RANK];
    in_rank = in->rank, in_count = 1;
    for (size_t d = 0; d < in->rank; d++) {
        in_shape[d] = in->dims[d] < 0 ? batch : in->dims[d];
        in_count *= (size_t)in_shape[d];
    }
    if (nnd_model_output_shape(model, 0, &n, out_dims) != NND_OK ||
        nnd_context_reserve(ctx, &n) != NND_OK) {
        snprintf(msg, len, "cannot size the model for batch %d: %s", batch,
                 nnd_context_error(ctx));
        return -1;
    }
    out_count = 1;
    for (size_t d = 0; d < nnd_model_output(model, 0)->rank; d++)
        out_count *= (size_t)out_dims[d];
    *in_elems = in_count / (size_t)batch, *out_elems = out_count / (size_t)batch;
    snprintf(msg, len, "threads_used=%d compile_ms=%.1f compile_cpu_ms=%.1f", used, compile_ms,
             cpu_ms);
    return 0;
}

static int run(const float *in, float *out, char *msg, size_t len) {
    nnd_tensor ti = {.data = (float *)in, .count = in_count, .rank = in_rank, .shape = in_shape};
    nnd_tensor to = {.data = out, .count = out_count};
    if (nnd_run(ctx, &ti, 1, &to, 1) != NND_OK) {
        snprintf(msg, len, "%s", nnd_context_error(ctx));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: nnd_worker NND_DIR WEIGHTS_DIR  (then the protocol of "
                        "bench/peers/peer.h)\n");
        return 2;
    }
    nnd_dir = argv[1], weights_dir = argv[2];
    PeerNamedOps ops = {info, load, run};
    int rc = peer_main_named(&ops);
    nnd_context_destroy(ctx);
    nnd_model_destroy(model);
    return rc;
}
