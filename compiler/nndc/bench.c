/* bench.c: `nndc bench MODEL [--batch N] [--iterations K]`: compile time, median (and best)
 * forward latency and GFLOP/s, every symbolic dimension set to the batch size and inputs
 * filled with seeded values. A quick look for users; side-by-side comparisons with peers
 * are in bench/. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flops.h"
#include "nnd.h"
#include "nndc.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The FLOPs of one pass, from the shaped graph (a separate, cheap front-end run). */
static double count_flops(const Options *o, int64_t batch) {
    Compilation *c = compilation_new();
    CompileOptions co;
    options_to_compile(o, &co);
    double f = 0;
    if (c && compile_read_file(c, o->model) && compile_to(c, STAGE_GRAPH, &co)) {
        int64_t syms[MAX_SYMS];
        for (int i = 0; i < MAX_SYMS; i++)
            syms[i] = batch;
        f = graph_flops(c->graph, syms);
    }
    compilation_free(c);
    return f;
}

int cmd_bench(const Options *o) {
    nnd_options opt;
    options_to_runtime(o, &opt);
    nnd_model *m = NULL;
    char *err = NULL;
    double t0 = now();
    nnd_status st = nnd_model_compile_file(o->model, &opt, &m, &err);
    double compile_ms = (now() - t0) * 1e3;
    if (st != NND_OK) {
        fputs(err ? err : "compilation failed\n", stderr);
        nnd_string_free(err);
        return st == NND_ERR_INTERNAL ? EXIT_INTERNAL : EXIT_USER;
    }
    size_t nin = nnd_model_num_inputs(m), nout = nnd_model_num_outputs(m);
    int64_t syms[MAX_SYMS];
    for (int i = 0; i < MAX_SYMS; i++)
        syms[i] = o->batch;
    nnd_tensor ins[64] = {{0}}, outs[64] = {{0}};
    int64_t shapes[64][NND_MAX_RANK];
    int status = nin <= 64 && nout <= 64 ? EXIT_OK : EXIT_USAGE;
    unsigned seed = 1;
    for (size_t k = 0; status == EXIT_OK && k < nin; k++) {
        const nnd_tensor_info *info = nnd_model_input(m, k);
        size_t n = 1;
        for (size_t d = 0; d < info->rank; d++) {
            shapes[k][d] = info->dims[d] < 0 ? o->batch : info->dims[d];
            n *= (size_t)shapes[k][d];
        }
        ins[k] = (nnd_tensor){.data = malloc(n * sizeof(float) + 4), .count = n,
                              .rank = info->rank, .shape = shapes[k]};
        for (size_t i = 0; ins[k].data && i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            ins[k].data[i] = (float)((seed >> 8) & 0xffff) / 65536.0f - 0.5f;
        }
    }
    for (size_t k = 0; status == EXIT_OK && k < nout; k++) {
        int64_t dims[NND_MAX_RANK];
        size_t n = 1;
        nnd_model_output_shape(m, k, syms, dims);
        for (size_t d = 0; d < nnd_model_output(m, k)->rank; d++)
            n *= (size_t)dims[d];
        outs[k] = (nnd_tensor){.data = malloc(n * sizeof(float) + 4), .count = n};
    }
    nnd_context *ctx = NULL;
    if (status == EXIT_OK && (nnd_context_create(m, &ctx) != NND_OK ||
                              nnd_run(ctx, ins, nin, outs, nout) != NND_OK)) {
        fprintf(stderr, "%s: error: %s\n", o->model, ctx ? nnd_context_error(ctx) : "no context");
        status = EXIT_USER;
    }
    if (status == EXIT_OK) {
        /* Enough iterations for about half a second, at least 10. */
        double t = now();
        nnd_run(ctx, ins, nin, outs, nout);
        double one = now() - t;
        int iters = o->iterations ? o->iterations : (int)(0.5 / (one > 1e-7 ? one : 1e-7));
        iters = iters < 10 ? 10 : iters > 100000 ? 100000 : iters;
        double *times = malloc(sizeof(double) * (size_t)iters);
        for (int i = 0; times && i < iters; i++) {
            t = now();
            nnd_run(ctx, ins, nin, outs, nout);
            times[i] = now() - t;
        }
        if (times) {
            qsort(times, (size_t)iters, sizeof(double), cmp_double);
            double median = times[iters / 2];
            double flops = count_flops(o, o->batch);
            printf("model        %s\n", o->model);
            printf("batch        %d\n", o->batch);
            printf("threads      %d%s\n", nnd_model_threads(m),
                   nnd_model_threads(m) < o->threads ? " (the model mixes samples of its batch)" : "");
            printf("compile      %.1f ms (-O%d, JIT)\n", compile_ms, o->opt_level);
            printf("iterations   %d\n", iters);
            printf("median       %.2f us\n", median * 1e6);
            printf("throughput   %.2f GFLOP/s (%.0f FLOP per pass)\n", flops / median * 1e-9, flops);
            /* On a shared machine only the fastest pass is free of its neighbours. */
            printf("best         %.2f us (%.2f GFLOP/s)\n", times[0] * 1e6,
                   flops / times[0] * 1e-9);
            printf("spread       %.2f / %.2f / %.2f / %.2f us (10th, 25th, 75th, 90th "
                   "percentile)\n",
                   times[iters / 10] * 1e6, times[iters / 4] * 1e6, times[iters * 3 / 4] * 1e6,
                   times[iters * 9 / 10] * 1e6);
        }
        free(times);
    }
    for (size_t k = 0; k < nin && k < 64; k++)
        free(ins[k].data);
    for (size_t k = 0; k < nout && k < 64; k++)
        free(outs[k].data);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    return status;
}
