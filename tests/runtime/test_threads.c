/* test_threads.c — one program, two contexts, two threads running at once: each thread runs a
 * different case of the bert-base fixture repeatedly and must match Transformers every time.
 * Catches state shared between contexts (arena, staging, counters) that should be per context.
 */
#include <pthread.h>

#include "../models/fixture.h"

typedef struct job {
    const kiln_program *prog;
    const char *case_name;
    int failures, runs;
    double worst;
} job;

static void *worker(void *arg) {
    job *j = arg;
    char path[512];
    fx_tensors in, want;
    snprintf(path, sizeof(path), "%s/models/bert-base/inputs_%s.safetensors", KILN_FIXTURES, j->case_name);
    if (fx_load(path, &in)) {
        j->failures++;
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/models/bert-base/outputs_%s.safetensors", KILN_FIXTURES, j->case_name);
    if (fx_load(path, &want)) {
        j->failures++;
        fx_free(&in);
        return NULL;
    }
    kiln_context *ctx = NULL;
    kiln_context_options o = kiln_context_options_default();
    o.n_threads = 2;
    if (kiln_context_create(j->prog, &o, &ctx)) j->failures++;
    for (int it = 0; ctx && it < 25; it++) {
        kiln_tensor out = {.name = "last_hidden_state"};
        if (kiln_run(ctx, in.t, in.n, &out, 1)) {
            j->failures++;
            break;
        }
        double d = fx_max_diff(&out, fx_find(&want, "last_hidden_state"), fx_find(&in, "attention_mask"));
        if (d < 0 || d > 1e-4) j->failures++;
        if (d > j->worst) j->worst = d;
        j->runs++;
    }
    kiln_context_free(ctx);
    fx_free(&in);
    fx_free(&want);
    return NULL;
}

int main(void) {
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/models/bert-base", KILN_FIXTURES);
    kiln_model *m = NULL;
    kiln_program *prog = NULL;
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = 3;
    co.max_seq = 64;
    if (m) CHECK_OK(kiln_compile(m, &co, &prog));
    if (!prog) return test_summary();
    job jobs[2] = {{prog, "seq64", 0, 0, 0}, {prog, "batch3", 0, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, worker, &jobs[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++)
        CHECK_MSG(jobs[i].failures == 0 && jobs[i].runs == 25, "thread %d (%s): %d failures in %d runs, worst %g", i,
                  jobs[i].case_name, jobs[i].failures, jobs[i].runs, jobs[i].worst);
    kiln_program_free(prog);
    kiln_model_free(m);
    return test_summary();
}
