/* pool.h — a context's thread pool: parallel_for over index ranges. Each context owns one, so
 * two contexts on one program run from two threads without sharing workers.
 */
#ifndef KILN_RT_POOL_H
#define KILN_RT_POOL_H

#include "common/common.h"

typedef struct rt_pool rt_pool;

// n_threads counts the caller: 1 means no workers (everything runs inline). NULL on failure.
rt_pool *rt_pool_create(int n_threads);
void rt_pool_free(rt_pool *pool);
int rt_pool_threads(const rt_pool *pool);   // 1 for a NULL pool

// Calls fn(ctx, begin, end) over [0, n) split into chunks of at least `grain` indices, on the
// pool's threads and the caller's; returns when all are done, and everything fn did happens
// before the return. A NULL pool runs inline, and so does a call on a pool from inside one of
// its own jobs. One caller at a time per pool. After a job the workers spin for about 100 us
// (a next job starts without waking anyone), then sleep: an idle pool uses no CPU.
typedef void (*rt_range_fn)(void *ctx, int64_t begin, int64_t end);
void rt_parallel_for(rt_pool *pool, int64_t n, int64_t grain, rt_range_fn fn, void *ctx);

#endif  // KILN_RT_POOL_H
