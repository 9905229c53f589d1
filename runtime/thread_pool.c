/* thread_pool.c: a fixed set of worker threads woken for each batch of tasks.
 *
 * One mutex guards the task; the run generation and the count of workers still running are
 * atomics written under it. pool_run publishes a task and a new generation and broadcasts;
 * each worker whose index is below the task count runs its task, and the last to finish
 * signals the caller. Waiting, on either side, first spins for a while (SPIN turns: about
 * half a millisecond when nothing else runs, longer when the yields hand the CPU to other
 * threads) before it sleeps on the condition variable: forward passes come back to back,
 * and waking a sleeping thread costs tens to hundreds of microseconds on a VM, as much as a
 * small model's whole pass (LeNet-5 at batch 64 on 2 threads ran no faster than on 1). Every
 * YIELD_EVERY turns the spinner yields the CPU: the scheduler sometimes puts a woken worker
 * on the CPU of the thread that woke it, and a spinner that never yields keeps the thread it
 * waits for off that CPU for a whole time slice (on one CPU, mlp_s at batch 256 on 2 threads
 * took 1150 us a pass against 500 us on 1 thread, and 330-400 us with the yields; in bench/,
 * blocks of calls now and then took 4x their usual time). The condition is checked again
 * under the mutex before sleeping, and the signals are sent under it, so no wake-up is
 * lost. A worker that finds itself on the caller's CPU when a task arrives moves to another
 * (leave_cpu). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getcpu, pthread_setaffinity_np */
#endif
#include "thread_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

enum {
    SPIN = 1 << 14,   /* waits spin this many turns before they sleep */
    YIELD_EVERY = 16, /* and give up the CPU every this many turns */
};

/* One turn of a spin-wait: a pause, or every YIELD_EVERY turns sched_yield, so that a
 * thread waiting for this CPU can run. */
static void spin_turn(int i) {
    if (i % YIELD_EVERY == YIELD_EVERY - 1) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

typedef struct Worker {
    ThreadPool *pool;
    int index;
    pthread_t thread;
} Worker;

struct ThreadPool {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    atomic_ulong generation;
    PoolTask fn;
    void *arg;
    int ntasks;
    atomic_int running;
    int nworkers;
    atomic_int stop;
    atomic_int caller_cpu; /* the CPU pool_run was called on, or -1 */
    Worker *workers;
};

/* The CPU the calling thread runs on, or -1 where that cannot be known. */
static int this_cpu(void) {
#ifdef __linux__
    return sched_getcpu();
#else
    return -1;
#endif
}

/* Moves the calling worker off `cpu` when it runs there, by taking that CPU out of its
 * affinity for a moment (the kernel migrates a thread at once from a CPU it may no longer
 * use) and then giving back the CPUs it had. The scheduler sometimes wakes a worker on the
 * CPU of the thread that woke it, and the two then share that CPU until the load balancer
 * separates them: in bench/, mlp_l at batch 256 on 2 threads ran half its calls at 1-thread
 * speed (median 11.0 ms, first quartile 6.5 ms). Nothing happens where the worker may use no
 * other CPU, or where affinity cannot be read or set. */
static void leave_cpu(int cpu) {
#ifdef __linux__
    if (cpu < 0 || this_cpu() != cpu)
        return;
    cpu_set_t had, others;
    if (pthread_getaffinity_np(pthread_self(), sizeof had, &had))
        return;
    others = had;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) > 0 && pthread_setaffinity_np(pthread_self(), sizeof others, &others) == 0)
        pthread_setaffinity_np(pthread_self(), sizeof had, &had);
#else
    (void)cpu;
#endif
}

/* Spins until the generation differs from seen or the pool stops; false if it did not. */
static bool spin_for_work(ThreadPool *pool, unsigned long seen) {
    for (int i = 0; i < SPIN; i++) {
        if (atomic_load_explicit(&pool->generation, memory_order_acquire) != seen ||
            atomic_load_explicit(&pool->stop, memory_order_acquire))
            return true;
        spin_turn(i);
    }
    return false;
}

static void *worker_main(void *p) {
    Worker *w = p;
    ThreadPool *pool = w->pool;
    unsigned long seen = 0;
    for (;;) {
        if (!spin_for_work(pool, seen)) {
            pthread_mutex_lock(&pool->lock);
            while (!atomic_load(&pool->stop) && atomic_load(&pool->generation) == seen)
                pthread_cond_wait(&pool->wake, &pool->lock);
            pthread_mutex_unlock(&pool->lock);
        }
        if (atomic_load(&pool->stop))
            break;
        pthread_mutex_lock(&pool->lock);
        seen = atomic_load(&pool->generation);
        int ntasks = pool->ntasks;
        PoolTask fn = pool->fn;
        void *arg = pool->arg;
        pthread_mutex_unlock(&pool->lock);
        if (w->index >= ntasks)
            continue;
        leave_cpu(atomic_load_explicit(&pool->caller_cpu, memory_order_relaxed));
        fn(arg, w->index);
        if (atomic_fetch_sub(&pool->running, 1) == 1) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->lock);
        }
    }
    return NULL;
}

ThreadPool *pool_create(int nthreads) {
    ThreadPool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->workers = calloc((size_t)(nthreads > 1 ? nthreads : 1), sizeof *p->workers);
    if (!p->workers || pthread_mutex_init(&p->lock, NULL)) {
        free(p->workers);
        free(p);
        return NULL;
    }
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 1; i < nthreads; i++) {
        Worker *w = &p->workers[p->nworkers];
        *w = (Worker){.pool = p, .index = i};
        if (pthread_create(&w->thread, NULL, worker_main, w)) {
            pool_destroy(p);
            return NULL;
        }
        p->nworkers++;
    }
    return p;
}

void pool_run(ThreadPool *p, PoolTask fn, void *arg, int ntasks) {
    if (ntasks > p->nworkers + 1)
        ntasks = p->nworkers + 1;
    if (ntasks > 1) {
        pthread_mutex_lock(&p->lock);
        p->fn = fn;
        p->arg = arg;
        p->ntasks = ntasks;
        atomic_store(&p->running, ntasks - 1);
        atomic_store_explicit(&p->caller_cpu, this_cpu(), memory_order_relaxed);
        atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    fn(arg, 0);
    if (ntasks > 1) {
        for (int i = 0; i < SPIN && atomic_load_explicit(&p->running, memory_order_acquire); i++)
            spin_turn(i);
        pthread_mutex_lock(&p->lock);
        while (atomic_load(&p->running) > 0)
            pthread_cond_wait(&p->done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
}

void pool_destroy(ThreadPool *p) {
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p->workers);
    free(p);
}
