/* pool.c — a small pthread pool for parallel_for. Workers spin for a while after each job and
 * then sleep on a condition variable; a job is published with one atomic store and its chunks are
 * taken from an atomic counter by whoever is running, the calling thread included, so the caller
 * never waits for a worker to wake up: it waits only for chunks that a worker has already taken.
 *
 * The pool's state is one 64-bit word: an epoch in the high bits and, in the low 16 bits, how many
 * workers are inside the current job. An odd epoch is an open job, an even one is closed.
 *
 *   caller   closed e  ──publish──▶  open e+1  ──(chunks run out, k = 0) close──▶  closed e+2
 *   worker   sees open e+1 ─ CAS k → k+1 (enter) ─ takes chunks ─ k → k-1 (leave)
 *
 * A worker enters only by a CAS on the exact word it saw, so it cannot enter a job that has been
 * closed (the epoch moved on); and the caller closes only with k = 0, so once it returns no worker
 * is inside a job and it may rewrite the job's fields for the next one. Only workers that are
 * inside touch the job's fields or its chunk counter. The leave is a release and the close an
 * acquire on the same word, so everything fn did on a worker happens before the caller returns.
 *
 * Sleeping uses the usual flag-then-recheck pairing (both sides seq_cst): a worker counts itself
 * in n_sleeping under the mutex and rechecks the state before it waits; a caller publishes the
 * state, then wakes only if n_sleeping > 0. Either the worker sees the new job or the caller
 * sees the sleeper. The caller's own wait for chunks in flight sleeps the same way (on `done`,
 * with caller_sleeping) once it has spun for as long.
 */
#include "runtime/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() ((void)0)
#endif

// How long an idle worker (or a caller waiting for the last chunks) spins before it sleeps.
// A run issues parallel_fors back to back with serial gaps of a few to a few tens of
// microseconds between them (norms, small inline products, launch bookkeeping); waking a
// sleeping thread costs 10-50 us in a VM and, worse, that wake-up is what the caller used to
// wait for. Spinning a few wake-up costs long covers those gaps, and bounds what an idle context
// burns to this much CPU per worker after its last job (the ski-rental argument: spinning about
// as long as a wake-up costs is never worse than twice the better choice).
#ifndef RT_POOL_SPIN_NS
#define RT_POOL_SPIN_NS 100000
#endif
// Spinning looks at the clock, and yields, every SPIN_CHECK pauses (1-5 us; a pause is 10-140
// cycles by CPU). The yield is for a machine with fewer free cores than threads: the thread we
// wait for (a preempted caller, or a worker holding a chunk) may be queued on our core, and a
// pure spin would hold it off for the whole window. A yield with nothing else to run costs
// about 0.2 us.
#define SPIN_CHECK 128

#define K_BITS 16
#define K_MASK ((UINT64_C(1) << K_BITS) - 1)
#define EPOCH(s) ((s) >> K_BITS)
#define IS_OPEN(s) ((EPOCH(s) & 1) != 0)
#define MAX_THREADS ((int)K_MASK)

struct rt_pool {
    // Hot words, one cache line each: the state (read by spinning workers), the chunk counter
    // (taken by everyone while a job runs).
    _Alignas(64) _Atomic uint64_t state;
    _Alignas(64) atomic_int_fast64_t next;
    // The current job: written by the caller while the pool is closed, read by workers inside.
    _Alignas(64) rt_range_fn fn;
    void *ctx;
    int64_t chunk;
    atomic_int_fast64_t n;      // atomic only for the hint a worker reads before it enters
    // Sleeping.
    _Alignas(64) pthread_mutex_t mu;
    pthread_cond_t wake;        // workers wait here for a job or quit
    pthread_cond_t done;        // the caller waits here for the last worker to leave
    atomic_int n_sleeping;      // workers waiting (or about to) on `wake`
    atomic_bool caller_sleeping;
    atomic_bool quit;
    int n_threads;
    pthread_t *workers;
};

// The pool this thread is running a job of: a nested rt_parallel_for on it runs inline.
static _Thread_local const rt_pool *tls_running;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void run_chunks(rt_pool *p) {
    const int64_t n = atomic_load_explicit(&p->n, memory_order_relaxed), chunk = p->chunk;
    for (;;) {
        int64_t begin = atomic_fetch_add_explicit(&p->next, chunk, memory_order_relaxed);
        if (begin >= n) return;
        p->fn(p->ctx, begin, KILN_MIN(begin + chunk, n));
    }
}

static bool has_job(uint64_t s, uint64_t seen) { return IS_OPEN(s) && EPOCH(s) != seen; }

// Waits for an open job newer than epoch `seen` (or for quit): spins RT_POOL_SPIN_NS, then
// sleeps. Returns the state word it saw.
static uint64_t wait_for_job(rt_pool *p, uint64_t seen) {
    uint64_t start = 0;
    for (unsigned i = 0;; i++) {
        uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
        if (has_job(s, seen) || atomic_load_explicit(&p->quit, memory_order_relaxed)) return s;
        if (i % SPIN_CHECK == 0) {
            uint64_t t = now_ns();
            if (i == 0) start = t;
            else if (t - start > RT_POOL_SPIN_NS) break;
            else sched_yield();
        }
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->n_sleeping, 1);
    uint64_t s;
    while (!has_job(s = atomic_load(&p->state), seen) && !atomic_load(&p->quit)) pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->n_sleeping, 1);
    pthread_mutex_unlock(&p->mu);
    return s;
}

// Enters the job of state word s. False when that job closed (or a newer one opened) first.
static bool try_enter(rt_pool *p, uint64_t s) {
    const uint64_t epoch = EPOCH(s);
    while (IS_OPEN(s) && EPOCH(s) == epoch) {
        // Acquire: the job's fields, written before the caller's publishing store.
        if (atomic_compare_exchange_weak_explicit(&p->state, &s, s + 1, memory_order_acquire, memory_order_relaxed))
            return true;
        cpu_relax();
    }
    return false;
}

static void *worker_main(void *arg) {
    rt_pool *p = arg;
    tls_running = p;
    uint64_t seen = 0;
    for (;;) {
        uint64_t s = wait_for_job(p, seen);
        if (atomic_load_explicit(&p->quit, memory_order_relaxed)) break;
        // Enter only if chunks look left: a worker woken late for a job the caller has finished
        // would only make the caller wait for it to leave. A hint, nothing more: the loads come
        // after the acquire of s, so they see this job's values or a later one's (when s is
        // stale anyway), and whatever chunks no worker takes, the caller runs.
        if (atomic_load_explicit(&p->next, memory_order_relaxed) < atomic_load_explicit(&p->n, memory_order_relaxed) &&
            try_enter(p, s)) {
            run_chunks(p);
            // Leave. seq_cst, paired with the caller's caller_sleeping store and state load; a
            // release for what fn wrote.
            uint64_t before = atomic_fetch_sub(&p->state, 1);
            if ((before & K_MASK) == 1 && atomic_load(&p->caller_sleeping)) {
                pthread_mutex_lock(&p->mu);
                pthread_cond_signal(&p->done);
                pthread_mutex_unlock(&p->mu);
            }
        }
        seen = EPOCH(s);   // the job we tried, done or missed; a newer one differs from it
    }
    return NULL;
}

rt_pool *rt_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > MAX_THREADS) n_threads = MAX_THREADS;
    rt_pool *p = aligned_alloc(_Alignof(rt_pool), sizeof(rt_pool));   // sizeof is a multiple of 64
    if (!p) return NULL;
    memset(p, 0, sizeof(*p));
    atomic_init(&p->state, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->n, 0);
    atomic_init(&p->n_sleeping, 0);
    atomic_init(&p->caller_sleeping, false);
    atomic_init(&p->quit, false);
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof(pthread_t));
        if (!p->workers) {
            p->n_threads = 1;
            rt_pool_free(p);
            return NULL;
        }
        for (int i = 0; i < n_threads - 1; i++) {
            if (pthread_create(&p->workers[i], NULL, worker_main, p) != 0) {
                p->n_threads = i + 1;   // free joins only the ones that started
                rt_pool_free(p);
                return NULL;
            }
        }
    }
    return p;
}

void rt_pool_free(rt_pool *p) {
    if (!p) return;
    atomic_store(&p->quit, true);
    pthread_mutex_lock(&p->mu);   // a worker between its recheck and its wait holds mu
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; p->workers && i < p->n_threads - 1; i++) pthread_join(p->workers[i], NULL);
    free(p->workers);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

int rt_pool_threads(const rt_pool *p) { return p ? p->n_threads : 1; }

// Waits until no worker is inside the open job of state s, then closes it.
static void close_job(rt_pool *p) {
    uint64_t start = 0;
    for (unsigned i = 0;; i++) {
        uint64_t s = atomic_load_explicit(&p->state, memory_order_relaxed);
        // Acquire: pairs with each worker's leave, so what fn did there happens before our return.
        // A late worker may enter between the load and the CAS; the CAS then fails and we wait
        // for it too (it finds no chunks left and leaves at once).
        if ((s & K_MASK) == 0 &&
            atomic_compare_exchange_strong_explicit(&p->state, &s, s + (UINT64_C(1) << K_BITS), memory_order_acquire,
                                                    memory_order_relaxed))
            return;
        if (i % SPIN_CHECK == 0) {
            uint64_t t = now_ns();
            if (i == 0) start = t;
            else if (t - start > RT_POOL_SPIN_NS) {
                // A chunk in flight runs long (or its worker was preempted): sleep until the last
                // worker leaves.
                pthread_mutex_lock(&p->mu);
                atomic_store(&p->caller_sleeping, true);
                while ((atomic_load(&p->state) & K_MASK) != 0) pthread_cond_wait(&p->done, &p->mu);
                atomic_store(&p->caller_sleeping, false);
                pthread_mutex_unlock(&p->mu);
                i = 0;
                continue;
            } else {
                sched_yield();
            }
        }
        cpu_relax();
    }
}

void rt_parallel_for(rt_pool *p, int64_t n, int64_t grain, rt_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (!p || p->n_threads == 1 || n <= grain || tls_running == p) {
        fn(ctx, 0, n);
        return;
    }
    uint64_t s = atomic_load_explicit(&p->state, memory_order_relaxed);
    KILN_ASSERT(!IS_OPEN(s) && "rt_parallel_for: one pool used from two threads at once");
    // Closed and k = 0: no worker reads the job's fields until the publishing store below.
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->n, n, memory_order_relaxed);
    p->chunk = KILN_MAX(grain, (n + 4 * p->n_threads - 1) / (4 * p->n_threads));
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    // Publish: seq_cst, a release for the fields above, and paired with a sleeping worker's
    // n_sleeping increment and state recheck.
    atomic_store(&p->state, s + (UINT64_C(1) << K_BITS));
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    const rt_pool *outer = tls_running;
    tls_running = p;
    run_chunks(p);
    tls_running = outer;
    close_job(p);
}
