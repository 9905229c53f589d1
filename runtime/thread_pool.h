/* thread_pool.h: the runtime's threads (private to runtime/).
 *
 * A pool is owned by one context and runs one batch of tasks at a time: pool_run calls
 * fn(arg, i) for i in [0, ntasks), task 0 on the calling thread and task i on worker i, and
 * returns when all are done. Workers are created once and sleep between runs, so a forward
 * pass creates no thread and allocates nothing. */
#ifndef NND_THREAD_POOL_H
#define NND_THREAD_POOL_H

typedef struct ThreadPool ThreadPool;
typedef void (*PoolTask)(void *arg, int index);

/* A pool of nthreads - 1 workers (the caller is the first thread); NULL when out of memory
 * or threads cannot be created. */
ThreadPool *pool_create(int nthreads);
/* ntasks is at most the pool's nthreads. */
void pool_run(ThreadPool *p, PoolTask fn, void *arg, int ntasks);
void pool_destroy(ThreadPool *p);

#endif
