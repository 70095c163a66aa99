/* test_pool.c — hammers rt_parallel_for: every index of [0, n) visited exactly once, in chunks of at
 * least `grain`, for n from 0 to large on pools of 1 to 8 threads; jobs arriving while workers spin,
 * fall asleep and sleep; chunks long enough that the caller sleeps too; nested calls (inline);
 * several pools driven from several threads at once; create/free loops; and an idle pool that
 * must not burn CPU once its spin window has passed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>

#include "runtime/pool.h"
#include "test.h"

static void sleep_ns(long ns) {
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// One job: fn stamps each index with the job's id (plain writes: the caller reads them after
// rt_parallel_for returns, which must order them) and counts what it visited.
typedef struct visit {
    int *stamp;
    int id;
    int64_t n, grain;
    atomic_int_fast64_t visited;
    atomic_int bad_ranges;
    long work_ns;      // busy time per chunk, 0 for none
    rt_pool *nest;     // if set, every chunk runs a nested rt_parallel_for on this pool
} visit;

static void spin_ns(long ns) {
    if (ns <= 0) return;
    double end = now_s() + 1e-9 * (double)ns;
    while (now_s() < end) {
    }
}

static void nested_fn(void *ctx, int64_t begin, int64_t end) {
    int64_t *sum = ctx;
    for (int64_t i = begin; i < end; i++) *sum += i;   // inline on this thread: no race
}

static void visit_fn(void *ctx, int64_t begin, int64_t end) {
    visit *v = ctx;
    // Chunks of at least grain, except the last one.
    if (begin < 0 || end > v->n || begin >= end || (end - begin < v->grain && end != v->n))
        atomic_fetch_add(&v->bad_ranges, 1);
    for (int64_t i = begin; i < end && i < v->n && i >= 0; i++) v->stamp[i] = v->id;
    atomic_fetch_add(&v->visited, end - begin);
    if (v->nest) {
        int64_t sum = 0;
        rt_parallel_for(v->nest, 100, 1, nested_fn, &sum);
        if (sum != 4950) atomic_fetch_add(&v->bad_ranges, 1);
    }
    spin_ns(v->work_ns);
}

// Runs one job and checks it; returns true when it was right.
static bool run_one(rt_pool *pool, int *stamp, int id, int64_t n, int64_t grain, long work_ns, rt_pool *nest) {
    visit v = {.stamp = stamp, .id = id, .n = n, .grain = grain < 1 ? 1 : grain, .work_ns = work_ns, .nest = nest};
    atomic_init(&v.visited, 0);
    atomic_init(&v.bad_ranges, 0);
    rt_parallel_for(pool, n, grain, visit_fn, &v);
    bool ok = atomic_load(&v.visited) == KILN_MAX(n, 0) && atomic_load(&v.bad_ranges) == 0;
    for (int64_t i = 0; ok && i < n; i++) ok = stamp[i] == id;
    return ok;
}

static void test_sizes(void) {
    static const int64_t ns[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 100, 1000, 4097, 100003, 1000000};
    static const int64_t grains[] = {-5, 0, 1, 2, 3, 7, 64, 1000, 1 << 20};
    static const int threads[] = {1, 2, 3, 4, 8};
    int *stamp = malloc(sizeof(int) * 1000000);
    int id = 1;
    bool ok = run_one(NULL, stamp, id++, 1000, 7, 0, NULL);
    CHECK_MSG(ok, "NULL pool");
    for (size_t t = 0; t < KILN_ARRAY_SIZE(threads); t++) {
        rt_pool *pool = rt_pool_create(threads[t]);
        CHECK(pool && rt_pool_threads(pool) == threads[t]);
        for (size_t a = 0; a < KILN_ARRAY_SIZE(ns); a++)
            for (size_t g = 0; g < KILN_ARRAY_SIZE(grains); g++) {
                ok = run_one(pool, stamp, id++, ns[a], grains[g], 0, NULL);
                CHECK_MSG(ok, "%d threads, n %lld, grain %lld", threads[t], (long long)ns[a], (long long)grains[g]);
            }
        // Also n == grain and n == grain + 1.
        for (int64_t g = 1; g < 40; g++) {
            ok = run_one(pool, stamp, id++, g, g, 0, NULL) && run_one(pool, stamp, id++, g + 1, g, 0, NULL);
            CHECK_MSG(ok, "%d threads, n = grain (+1) = %lld", threads[t], (long long)g);
        }
        rt_pool_free(pool);
    }
    CHECK(rt_pool_threads(NULL) == 1);
    free(stamp);
}

// Many small jobs back to back (the enter/close races), then jobs separated by gaps around the
// spin window so they arrive while the workers spin, are giving up, or sleep.
static void test_hammer(void) {
    int stamp[256];
    rt_pool *pool = rt_pool_create(2);
    int id = 1, fails = 0;
    for (int it = 0; it < 20000; it++)
        if (!run_one(pool, stamp, id++, 2 + it % 31, 1, 0, NULL)) fails++;
    CHECK_MSG(fails == 0, "back to back: %d of 20000 jobs wrong", fails);
    static const long gaps_ns[] = {0, 1000, 10000, 50000, 90000, 100000, 110000, 150000, 300000, 1000000};
    fails = 0;
    for (int it = 0; it < 300; it++) {
        sleep_ns(gaps_ns[it % KILN_ARRAY_SIZE(gaps_ns)]);
        if (!run_one(pool, stamp, id++, 1 + it % 64, 1, it % 3 == 0 ? 2000 : 0, NULL)) fails++;
    }
    CHECK_MSG(fails == 0, "with gaps: %d of 300 jobs wrong", fails);
    rt_pool_free(pool);

    // Chunks of 1-3 ms: the caller's wait for the last chunk outlasts its spin and it sleeps.
    pool = rt_pool_create(3);
    fails = 0;
    for (int it = 0; it < 20; it++)
        if (!run_one(pool, stamp, id++, 3 + it % 5, 1, 1000000 + 100000 * (it % 20), NULL)) fails++;
    CHECK_MSG(fails == 0, "long chunks: %d of 20 jobs wrong", fails);
    rt_pool_free(pool);
}

// rt_parallel_for on the same pool from inside a job runs inline; on another pool it runs there.
static void test_nested(void) {
    int stamp[1000];
    rt_pool *a = rt_pool_create(2), *b = rt_pool_create(2), *one = rt_pool_create(1);
    bool ok = true;
    for (int it = 0; it < 200; it++) {
        ok = ok && run_one(a, stamp, 2 * it + 1, 1000, 8, 0, a);
        ok = ok && run_one(a, stamp, 2 * it + 2, 64, 1, 0, NULL);
    }
    CHECK_MSG(ok, "nested on the same pool");
    // From a one-thread pool's job (the caller's thread) into a two-thread pool.
    ok = run_one(one, stamp, 9999, 10, 1, 0, b);
    CHECK_MSG(ok, "nested on another pool");
    rt_pool_free(a);
    rt_pool_free(b);
    rt_pool_free(one);
}

typedef struct driver {
    int threads, jobs, seed;
    int fails;
} driver;

static void *drive(void *arg) {
    driver *d = arg;
    int *stamp = malloc(sizeof(int) * 5000);
    rt_pool *pool = rt_pool_create(d->threads);
    unsigned r = (unsigned)d->seed;
    for (int it = 0; it < d->jobs; it++) {
        r = r * 1103515245u + 12345u;
        int64_t n = (int64_t)(r >> 8) % 5000;
        int64_t grain = 1 + (int64_t)(r >> 20) % 50;
        if (!run_one(pool, stamp, it + 1, n, grain, 0, NULL)) d->fails++;
        if (it % 97 == 0) sleep_ns(200000);   // let the workers fall asleep now and then
    }
    rt_pool_free(pool);
    free(stamp);
    return NULL;
}

// Several pools, each driven by its own thread, at once.
static void test_concurrent_pools(void) {
    enum { N = 4 };
    pthread_t th[N];
    driver d[N];
    for (int i = 0; i < N; i++) {
        d[i] = (driver){.threads = 2 + i % 3, .jobs = 1500, .seed = 17 * i + 1};
        pthread_create(&th[i], NULL, drive, &d[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        CHECK_MSG(d[i].fails == 0, "driver %d: %d of %d jobs wrong", i, d[i].fails, d[i].jobs);
    }
}

// Pools created and freed at once (workers not yet started), after one job, after a sleep.
static void test_create_free(void) {
    int stamp[100];
    bool ok = true;
    for (int it = 0; it < 300; it++) {
        rt_pool *pool = rt_pool_create(1 + it % 5);
        ok = ok && pool != NULL;
        if (!pool) break;
        for (int j = 0; j < it % 3; j++) ok = ok && run_one(pool, stamp, it * 3 + j + 1, 100, 1, 0, NULL);
        if (it % 50 == 0) sleep_ns(300000);
        rt_pool_free(pool);
    }
    CHECK_MSG(ok, "create/free loop");
    rt_pool_free(NULL);
    rt_pool *zero = rt_pool_create(0);   // taken as 1
    CHECK(zero && rt_pool_threads(zero) == 1);
    rt_pool_free(zero);
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

// An idle pool sleeps once its spin window (100 us) has passed: the process uses next to no CPU
// while it sits idle for 200 ms. Also shows the spin is there: right after a job, workers spin.
static void test_idle(void) {
    int stamp[64];
    rt_pool *pool = rt_pool_create(4);
    bool ok = run_one(pool, stamp, 1, 64, 1, 0, NULL);
    sleep_ns(20000000);   // well past the spin window
    double c0 = cpu_s(), t0 = now_s();
    sleep_ns(200000000);
    double cpu = cpu_s() - c0, wall = now_s() - t0;
    CHECK_MSG(ok && cpu < 0.01, "idle pool of 4 used %.1f ms of CPU in %.0f ms", 1e3 * cpu, 1e3 * wall);
    printf("idle 4-thread pool: %.2f ms of CPU over %.0f ms\n", 1e3 * cpu, 1e3 * wall);
    // And it still works after sleeping.
    CHECK(run_one(pool, stamp, 2, 64, 1, 0, NULL));
    rt_pool_free(pool);
}

int main(void) {
    test_sizes();
    test_hammer();
    test_nested();
    test_concurrent_pools();
    test_create_free();
    test_idle();
    return test_summary();
}
