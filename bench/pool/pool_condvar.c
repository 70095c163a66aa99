/* pool_condvar.c — the pool as it was before the spin-then-sleep rewrite (runtime/pool.c at
 * 651bc85), renamed old_*, for bench_pool to compare against: workers sleep on a condition
 * variable and the caller waits for every worker to check in.
 */
#include "pool_condvar.h"

#include <pthread.h>
#include <stdatomic.h>

struct old_pool {
    int n_threads;
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation;      // bumped for each job
    bool quit;
    // the current job
    rt_range_fn fn;
    void *ctx;
    int64_t n, chunk;
    atomic_int_fast64_t next;
    int active;               // workers still in this job
};

static void run_chunks(old_pool *p) {
    for (;;) {
        int64_t begin = atomic_fetch_add(&p->next, p->chunk);
        if (begin >= p->n) return;
        int64_t end = KILN_MIN(begin + p->chunk, p->n);
        p->fn(p->ctx, begin, end);
    }
}

static void *worker_main(void *arg) {
    old_pool *p = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        run_chunks(p);
        pthread_mutex_lock(&p->mu);
        if (--p->active == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

old_pool *old_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    old_pool *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof(pthread_t));
        if (!p->workers) {
            old_pool_free(p);
            return NULL;
        }
        for (int i = 0; i < n_threads - 1; i++) {
            if (pthread_create(&p->workers[i], NULL, worker_main, p) != 0) {
                p->n_threads = i + 1;   // free joins only the ones that started
                old_pool_free(p);
                return NULL;
            }
        }
    }
    return p;
}

void old_pool_free(old_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; p->workers && i < p->n_threads - 1; i++) pthread_join(p->workers[i], NULL);
    free(p->workers);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

int old_pool_threads(const old_pool *p) { return p ? p->n_threads : 1; }

void old_parallel_for(old_pool *p, int64_t n, int64_t grain, rt_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (!p || p->n_threads == 1 || n <= grain) {
        fn(ctx, 0, n);
        return;
    }
    int64_t chunk = KILN_MAX(grain, (n + 4 * p->n_threads - 1) / (4 * p->n_threads));
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->chunk = chunk;
    atomic_store(&p->next, 0);
    p->active = p->n_threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_chunks(p);
    pthread_mutex_lock(&p->mu);
    while (p->active > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
