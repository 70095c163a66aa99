/* pool_condvar.h — the previous rt_pool (condition variable only), kept for bench_pool. */
#ifndef KILN_BENCH_POOL_CONDVAR_H
#define KILN_BENCH_POOL_CONDVAR_H

#include "runtime/pool.h"

typedef struct old_pool old_pool;
old_pool *old_pool_create(int n_threads);
void old_pool_free(old_pool *pool);
int old_pool_threads(const old_pool *pool);
void old_parallel_for(old_pool *pool, int64_t n, int64_t grain, rt_range_fn fn, void *ctx);

#endif  // KILN_BENCH_POOL_CONDVAR_H
