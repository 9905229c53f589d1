/* thread_pool.c: a fixed set of worker threads woken for each batch of tasks.
 *
 * One mutex guards the run generation, the task and the count of workers still running.
 * pool_run publishes a task and a new generation and broadcasts; each worker whose index is
 * below the task count runs its task, and the last to finish signals the caller. */
#include "thread_pool.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct Worker {
    ThreadPool *pool;
    int index;
    pthread_t thread;
} Worker;

struct ThreadPool {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    unsigned long generation;
    PoolTask fn;
    void *arg;
    int ntasks, running;
    int nworkers;
    int stop;
    Worker *workers;
};

static void *worker_main(void *p) {
    Worker *w = p;
    ThreadPool *pool = w->pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->stop && pool->generation == seen)
            pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->stop)
            break;
        seen = pool->generation;
        if (w->index >= pool->ntasks)
            continue;
        PoolTask fn = pool->fn;
        void *arg = pool->arg;
        pthread_mutex_unlock(&pool->lock);
        fn(arg, w->index);
        pthread_mutex_lock(&pool->lock);
        if (--pool->running == 0)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
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
        p->running = ntasks - 1;
        p->generation++;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    fn(arg, 0);
    if (ntasks > 1) {
        pthread_mutex_lock(&p->lock);
        while (p->running > 0)
            pthread_cond_wait(&p->done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
}

void pool_destroy(ThreadPool *p) {
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
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
