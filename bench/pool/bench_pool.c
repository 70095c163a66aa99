/* bench_pool.c — what one rt_parallel_for costs beyond its work: an empty job, small work items,
 * and a job that arrives after the pool sat idle, for the runtime's pool (spin, then sleep) and
 * the previous condition-variable pool (pool_condvar.c), interleaved in one process. A sample is
 * one call, timed with CLOCK_MONOTONIC; min, median and 90th percentile over all samples.
 *
 *   ./build/bench/pool/bench_pool [--threads 2] [--rounds 20] [--calls 250]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool_condvar.h"
#include "runtime/pool.h"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e6 * (double)ts.tv_sec + 1e-3 * (double)ts.tv_nsec;
}

static void sleep_us(double us) {
    struct timespec ts = {(time_t)(us / 1e6), (long)((us - 1e6 * (double)(time_t)(us / 1e6)) * 1e3)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

typedef struct work {
    double item_us;   // busy time per index
} work;

static void work_fn(void *ctx, int64_t begin, int64_t end) {
    const work *w = ctx;
    if (w->item_us <= 0) return;
    double until = now_us() + w->item_us * (double)(end - begin);
    while (now_us() < until) {
    }
}

typedef struct pools {
    rt_pool *now;
    old_pool *old;
} pools;

static double one_call(const pools *p, int which, int64_t n, work *w) {
    double t0 = now_us();
    if (which == 0) old_parallel_for(p->old, n, 1, work_fn, w);
    else rt_parallel_for(p->now, n, 1, work_fn, w);
    return now_us() - t0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct stats {
    double min, med, p90;
} stats;

static stats summarize(double *s, int n) {
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    return (stats){s[0], s[n / 2], s[(int)(0.9 * (n - 1))]};
}

typedef struct bench_case {
    const char *name;
    int64_t n;         // indices; 0 means one per thread
    double item_us;
    double idle_us;    // sleep before each timed call (the workers have gone to sleep)
} bench_case;

int main(int argc, char **argv) {
    int threads = 2, rounds = 20, calls = 250;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--calls") && i + 1 < argc) calls = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads T] [--rounds R] [--calls C]\n", argv[0]);
            return 2;
        }
    }
    if (threads < 2 || rounds < 1 || calls < 10) {
        fprintf(stderr, "bench_pool: wants --threads >= 2, --rounds >= 1, --calls >= 10\n");
        return 2;
    }
    pools p = {rt_pool_create(threads), old_pool_create(threads)};
    if (!p.now || !p.old) {
        fprintf(stderr, "bench_pool: cannot create pools\n");
        return 1;
    }
    const bench_case cases[] = {
        {"empty, n = threads", 0, 0, 0},
        {"empty, n = 64", 64, 0, 0},
        {"8 x 4 us", 8, 4, 0},
        {"64 x 1 us", 64, 1, 0},
        {"8 x 4 us after 1 ms idle", 8, 4, 1000},
        {"empty after 1 ms idle", 0, 0, 1000},
    };
    printf("rt_parallel_for per call, %d threads, %d rounds x %d calls, old (condvar) and new (spin, then sleep)\n"
           "interleaved; microseconds; ideal = work / threads\n\n",
           threads, rounds, calls);
    printf("%-26s %7s | %8s %8s %8s | %8s %8s %8s | %s\n", "case", "ideal", "old min", "median", "p90", "new min",
           "median", "p90", "old/new median");
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const bench_case *bc = &cases[c];
        int64_t n = bc->n ? bc->n : threads;
        int per_round = bc->idle_us > 0 ? KILN_MAX(10, calls / 10) : calls;
        double *s[2] = {malloc(sizeof(double) * (size_t)(rounds * per_round)),
                        malloc(sizeof(double) * (size_t)(rounds * per_round))};
        work w = {bc->item_us};
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < 2; k++) {
                int which = (r + k) % 2;   // alternate which pool goes first
                // Let the other pool's workers finish spinning and sleep, then warm this one up.
                sleep_us(2000);
                for (int i = 0; i < 20; i++) one_call(&p, which, n, &w);
                for (int i = 0; i < per_round; i++) {
                    if (bc->idle_us > 0) sleep_us(bc->idle_us);
                    s[which][r * per_round + i] = one_call(&p, which, n, &w);
                }
            }
        }
        stats o = summarize(s[0], rounds * per_round), q = summarize(s[1], rounds * per_round);
        double ideal = bc->item_us * (double)n / threads;
        printf("%-26s %7.1f | %8.2f %8.2f %8.2f | %8.2f %8.2f %8.2f | %.2fx\n", bc->name, ideal, o.min, o.med, o.p90,
               q.min, q.med, q.p90, o.med / q.med);
        free(s[0]);
        free(s[1]);
    }
    rt_pool_free(p.now);
    old_pool_free(p.old);
    return 0;
}
