/* peak_fma.c: the machine's measured f32 FMA peak, the yardstick for bench/'s "% of peak".
 *
 *     peak_fma [SECONDS]        prints: "isa avx512|avx2", then "threads T gflops G" for T = 1
 *                               and T = the number of online CPUs (at most 2 lines)
 *
 * Each thread runs 16 independent chains of vector FMAs (a*x + y, a latency of 4 cycles and
 * two FMA ports need at least 8 in flight) for SECONDS (default 0.3); the ISA is picked at
 * run time: AVX-512 where the CPU has it, else AVX2. A FLOP is one multiply or one add, so
 * one 16-lane FMA is 32. The best of 40 short runs is reported, since a neighbour can only
 * slow a run down, and a short run has a better chance to find the cores free. Each thread
 * times its own run, from after the start barrier to its last FMA; the span from the first
 * start to the last end is the run's time (a clock read by the main thread after the
 * barrier could be late on a VM whose vCPU was descheduled, which made a run look shorter
 * than it was). */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define CHAINS 16
#define INNER 1000

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Each returns the FLOPs done; sink keeps the results alive. */
__attribute__((target("avx512f"))) static double fma512(double seconds, float *sink) {
    __m512 acc[CHAINS], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm512_set1_ps((float)i);
    double flops = 0, end = now() + seconds;
    do {
        for (int r = 0; r < INNER; r++)
#pragma GCC unroll 16 /* so that the chains live in registers, not in memory */
            for (int i = 0; i < CHAINS; i++)
                acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        flops += (double)INNER * CHAINS * 16 * 2;
    } while (now() < end);
    for (int i = 1; i < CHAINS; i++)
        acc[0] = _mm512_add_ps(acc[0], acc[i]);
    *sink = _mm512_reduce_add_ps(acc[0]);
    return flops;
}

__attribute__((target("avx2,fma"))) static double fma256(double seconds, float *sink) {
    __m256 acc[CHAINS], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm256_set1_ps((float)i);
    double flops = 0, end = now() + seconds;
    do {
        for (int r = 0; r < INNER; r++)
#pragma GCC unroll 16 /* so that the chains live in registers, not in memory */
            for (int i = 0; i < CHAINS; i++)
                acc[i] = _mm256_fmadd_ps(acc[i], a, b);
        flops += (double)INNER * CHAINS * 8 * 2;
    } while (now() < end);
    for (int i = 1; i < CHAINS; i++)
        acc[0] = _mm256_add_ps(acc[0], acc[i]);
    float v[8];
    _mm256_storeu_ps(v, acc[0]);
    *sink = v[0];
    return flops;
}

typedef struct {
    int avx512;
    double seconds, flops, t0, t1;
    float sink;
    pthread_barrier_t *start;
} Job;

static void *worker(void *p) {
    Job *j = p;
    pthread_barrier_wait(j->start);
    j->t0 = now();
    j->flops = j->avx512 ? fma512(j->seconds, &j->sink) : fma256(j->seconds, &j->sink);
    j->t1 = now();
    return NULL;
}

static double measure(int threads, int avx512, double seconds) {
    pthread_t t[64];
    Job jobs[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++) {
        jobs[i] = (Job){.avx512 = avx512, .seconds = seconds, .start = &start};
        pthread_create(&t[i], NULL, worker, &jobs[i]);
    }
    pthread_barrier_wait(&start);
    double flops = 0, t0 = 0, t1 = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        flops += jobs[i].flops;
        t0 = i == 0 || jobs[i].t0 < t0 ? jobs[i].t0 : t0;
        t1 = i == 0 || jobs[i].t1 > t1 ? jobs[i].t1 : t1;
    }
    double dt = t1 - t0;
    pthread_barrier_destroy(&start);
    return flops / dt * 1e-9;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 0.3;
    if (seconds <= 0 || seconds > 60) {
        fprintf(stderr, "usage: peak_fma [SECONDS]\n");
        return 2;
    }
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && !__builtin_cpu_supports("avx2")) {
        fprintf(stderr, "peak_fma: neither AVX-512 nor AVX2\n");
        return 1;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int max_threads = cpus < 1 ? 1 : cpus > 2 ? 2 : (int)cpus;
    printf("isa %s\n", avx512 ? "avx512" : "avx2");
    for (int threads = 1; threads <= max_threads; threads++) {
        double best = 0;
        for (int r = 0; r < 40; r++) {
            double g = measure(threads, avx512, seconds / 40);
            best = g > best ? g : best;
        }
        printf("threads %d gflops %.1f\n", threads, best);
    }
    return 0;
}
