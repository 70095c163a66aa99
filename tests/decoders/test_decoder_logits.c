/* test_decoder_logits.c — the decoder graphs against Transformers through kiln_run, one program per
 * fixture: both prompts in one right-padded batch (padding marked by position -1), then 20 decode
 * steps of one token per sequence fed the recorded greedy tokens, with `past` growing; every real
 * position's logits within 1e-4 of the reference (each prompt run alone in Transformers). Then the
 * same with a last-token-logits program, and with the prompt fed in chunks (on two threads). Run
 * once per target (no argument: the interpreter; "cpu": the LLVM backend), default pass pipeline.
 */
#include "decoder_fixture.h"

enum { MAX_CTX = 32, MAX_SEQ = 16 };

typedef struct runner {
    const dec_ref *r;
    kiln_context *ctx;
    int64_t len[DEC_N_PROMPTS];   // tokens in each sequence's cache
    bool last_only;
} runner;

// Appends n[b] tokens (from src[b]) to each sequence in one kiln_run; returns the logits tensor.
static kiln_status run_step(runner *u, const int64_t *const *src, const int64_t *n, kiln_tensor *logits) {
    int64_t width = 0, end = 0;
    for (int b = 0; b < DEC_N_PROMPTS; b++) {
        width = KILN_MAX(width, n[b]);
        end = KILN_MAX(end, u->len[b] + n[b]);
    }
    int64_t ids[DEC_N_PROMPTS * MAX_SEQ], pos[DEC_N_PROMPTS * MAX_SEQ];
    for (int b = 0; b < DEC_N_PROMPTS; b++)
        for (int64_t s = 0; s < width; s++) {
            bool real = s < n[b];
            ids[b * width + s] = real ? src[b][s] : 0;
            pos[b * width + s] = real ? u->len[b] + s : -1;
        }
    kiln_tensor in[2] = {
        {.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {DEC_N_PROMPTS, width}, .data = ids},
        {.name = "position_ids", .dtype = KILN_I64, .rank = 2, .shape = {DEC_N_PROMPTS, width}, .data = pos},
    };
    kiln_status st = kiln_context_set_dim(u->ctx, "past", end - width);
    if (st == KILN_OK) st = kiln_run(u->ctx, in, 2, logits, 1);
    if (st == KILN_OK)
        for (int b = 0; b < DEC_N_PROMPTS; b++) u->len[b] += n[b];
    return st;
}

// Row `s` of sequence b's logits from a run that appended n[b] tokens.
static const float *row(const runner *u, const kiln_tensor *logits, int b, int64_t s) {
    int64_t cols = logits->shape[1], vocab = logits->shape[2];
    int64_t col = u->last_only ? 0 : s;
    return (const float *)logits->data + (b * cols + col) * vocab;
}

static void check_fixture(const char *name, bool last_only, int64_t chunk) {
    dec_ref r;
    if (!dec_ref_load(name, &r)) {
        CHECK_MSG(false, "%s: cannot load the reference", name);
        return;
    }
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    runner u = {.r = &r, .last_only = last_only};
    CHECK_OK(kiln_model_open(r.dir, NULL, &m));
    kiln_compile_options co = kiln_compile_options_default();
    co.target = dec_target;
    co.max_batch = DEC_N_PROMPTS;
    co.max_context = MAX_CTX;
    co.max_seq = chunk;
    co.logits = last_only ? KILN_LOGITS_LAST : KILN_LOGITS_ALL;
    if (m) CHECK_OK(kiln_compile(m, &co, &p));
    CHECK_MSG(!p || dec_backend_is_target(p), "%s: not compiled for the %s target", name, dec_target_name());
    kiln_context_options two = {.n_threads = 2};   // the chunked runs split kernels over two threads
    if (p) CHECK_OK(kiln_context_create(p, chunk < MAX_SEQ ? &two : NULL, &u.ctx));
    if (!u.ctx) goto done;

    // Prefill, `chunk` tokens of each prompt per run.
    double worst = 0;
    for (int64_t at = 0; at < KILN_MAX(dec_prompt_len(&r, 0), dec_prompt_len(&r, 1)); at += chunk) {
        const int64_t *src[DEC_N_PROMPTS];
        int64_t n[DEC_N_PROMPTS], before[DEC_N_PROMPTS];
        for (int b = 0; b < DEC_N_PROMPTS; b++) {
            int64_t L = dec_prompt_len(&r, b);
            before[b] = u.len[b];
            n[b] = KILN_MAX(0, KILN_MIN(chunk, L - at));
            src[b] = (const int64_t *)r.prompt[b]->data + KILN_MIN(at, L);
        }
        kiln_tensor logits = {.name = "logits"};
        kiln_status st = run_step(&u, src, n, &logits);
        CHECK_MSG(st == KILN_OK, "%s: prefill at %lld: %s", name, (long long)at, kiln_last_error());
        if (st) goto done;
        CHECK(logits.shape[2] == r.vocab && logits.shape[1] == (last_only ? 1 : KILN_MAX(n[0], n[1])));
        for (int b = 0; b < DEC_N_PROMPTS; b++) {
            for (int64_t s = 0; s < n[b]; s++) {
                int64_t t = before[b] + s;
                if (last_only && s != n[b] - 1) continue;
                const float *want = (const float *)r.prefill[b]->data + t * r.vocab;
                worst = fmax(worst, dec_max_diff(row(&u, &logits, b, s), want, r.vocab));
            }
        }
    }
    CHECK_MSG(worst <= DEC_TOL, "%s (%s, %s, chunk %lld): prefill logits differ by %g", name, dec_target_name(),
              last_only ? "last" : "all", (long long)chunk, worst);
    double worst_prefill = worst;

    // Decode: one greedy token per sequence per step.
    worst = 0;
    for (int t = 0; t < DEC_STEPS; t++) {
        const int64_t *src[DEC_N_PROMPTS] = {(const int64_t *)r.greedy[0]->data + t, (const int64_t *)r.greedy[1]->data + t};
        int64_t n[DEC_N_PROMPTS] = {1, 1};
        kiln_tensor logits = {.name = "logits"};
        kiln_status st = run_step(&u, src, n, &logits);
        CHECK_MSG(st == KILN_OK, "%s: decode step %d: %s", name, t, kiln_last_error());
        if (st) goto done;
        for (int b = 0; b < DEC_N_PROMPTS; b++)
            worst = fmax(worst, dec_max_diff(row(&u, &logits, b, 0), (const float *)r.decode[b]->data + t * r.vocab, r.vocab));
    }
    CHECK_MSG(worst <= DEC_TOL, "%s (%s, %s, chunk %lld): decode logits differ by %g", name, dec_target_name(),
              last_only ? "last" : "all", (long long)chunk, worst);
    printf("%-6s %-14s logits %-4s chunk %2lld: max |kiln - transformers| prefill %.2e, %d decode steps %.2e\n",
           dec_target_name(), name, last_only ? "last" : "all", (long long)chunk, worst_prefill, DEC_STEPS, worst);
done:
    kiln_context_free(u.ctx);
    kiln_program_free(p);
    kiln_model_free(m);
    dec_ref_free(&r);
}

int main(int argc, char **argv) {
    dec_target_from_args(argc, argv);
    for (size_t i = 0; i < KILN_ARRAY_SIZE(dec_fixtures); i++) {
        check_fixture(dec_fixtures[i], false, MAX_SEQ);
        check_fixture(dec_fixtures[i], true, MAX_SEQ);
        check_fixture(dec_fixtures[i], true, 4);   // prompts in chunks of 4 tokens
    }
    return test_summary();
}
