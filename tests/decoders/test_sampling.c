/* test_sampling.c — kiln_sampler against Transformers' logits processors on hand-made logits:
 * greedy (first of equal maxima, as torch.argmax), the repetition penalty, temperature, top-k
 * (ties with the k-th stay), top-p, min-p, the documented PRNG (known answers of xoshiro256**
 * seeded by splitmix64), determinism under a seed, and bad parameters.
 */
#include <math.h>

#include "common/common.h"
#include "pipelines/sampling.h"
#include "test.h"

static kiln_sampler *make(kiln_sampling p, int64_t n_vocab) {
    kiln_sampler *s = NULL;
    CHECK_OK(kiln_sampler_create(&p, n_vocab, &s));
    return s;
}

static kiln_token pick(kiln_sampler *s, const float *logits, const kiln_token *hist, size_t n_hist) {
    kiln_token t = -1;
    CHECK_OK(kiln_sampler_sample(s, logits, hist, n_hist, &t));
    return t;
}

// Frequencies of each token over n draws.
static void draw(kiln_sampler *s, const float *logits, int64_t n_vocab, int n, double *freq) {
    int64_t count[16] = {0};
    bool ok = n_vocab <= 16;
    for (int i = 0; i < n && ok; i++) {
        kiln_token t = -1;
        ok = kiln_sampler_sample(s, logits, NULL, 0, &t) == KILN_OK && t >= 0 && t < n_vocab;
        if (ok) count[t]++;
    }
    CHECK_MSG(ok, "sampling failed: %s", kiln_last_error());
    for (int64_t i = 0; i < n_vocab; i++) freq[i] = (double)count[i] / n;
}

static void prng_known_answers(void) {
    pl_rng r;
    pl_rng_seed(&r, 0);
    CHECK(pl_rng_next(&r) == 0x99ec5f36cb75f2b4ull);
    CHECK(pl_rng_next(&r) == 0xbf6e1f784956452aull);
    CHECK(pl_rng_next(&r) == 0x1a5f849d4933e6e0ull);
    pl_rng_seed(&r, 42);
    CHECK(pl_rng_next(&r) == 0x15780b2e0c2ec716ull);
    pl_rng_seed(&r, 42);
    double u = pl_rng_uniform(&r);
    CHECK(u == (double)(0x15780b2e0c2ec716ull >> 11) * 0x1.0p-53 && u >= 0 && u < 1);
}

static void greedy_takes_first_maximum(void) {
    float logits[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
    kiln_sampler *s = make(kiln_sampling_default(), 5);
    CHECK(pick(s, logits, NULL, 0) == 1);
    kiln_sampler_free(s);
}

// RepetitionPenaltyLogitsProcessor: positive logits of seen tokens / p, negative * p, each once.
static void repetition_penalty_follows_transformers(void) {
    float logits[4] = {2.0f, 1.5f, -1.0f, -1.2f};
    kiln_sampling p = kiln_sampling_default();
    p.repetition_penalty = 2.0f;
    kiln_sampler *s = make(p, 4);
    kiln_token hist[3] = {0, 0, 2};
    CHECK(pick(s, logits, hist, 3) == 1);   // 2.0 / 2 = 1.0 < 1.5
    float neg[4] = {-1.0f, -1.5f, -3.0f, -4.0f};
    kiln_token h2[1] = {0};
    CHECK(pick(s, neg, h2, 1) == 1);         // -1.0 * 2 = -2.0 < -1.5
    kiln_token bad[1] = {7};
    CHECK_FAILS(kiln_sampler_sample(s, logits, bad, 1, &hist[0]), KILN_ERR_INVALID_ARG, "outside");
    kiln_sampler_free(s);
}

static void temperature_scales_the_distribution(void) {
    float logits[2] = {0.0f, logf(3.0f)};
    kiln_sampling p = kiln_sampling_default();
    p.do_sample = true;
    p.top_k = 0;
    p.seed = 1;
    double f[2];
    kiln_sampler *s = make(p, 2);
    draw(s, logits, 2, 20000, f);
    CHECK_MSG(fabs(f[1] - 0.75) < 0.015, "T=1: p(1) = %g, want 0.75", f[1]);
    kiln_sampler_free(s);
    p.temperature = 2.0f;   // softmax(logits / 2): sqrt(3) / (1 + sqrt(3))
    s = make(p, 2);
    draw(s, logits, 2, 20000, f);
    CHECK_MSG(fabs(f[1] - sqrtf(3.0f) / (1 + sqrtf(3.0f))) < 0.015, "T=2: p(1) = %g", f[1]);
    kiln_sampler_free(s);
}

static void top_k_keeps_ties_with_the_kth(void) {
    float logits[6] = {1.0f, 0.0f, 1.0f, 3.0f, 1.0f, -5.0f};
    kiln_sampling p = kiln_sampling_default();
    p.do_sample = true;
    p.top_k = 2;   // 3.0 and the 1.0s (ties with the second largest)
    double f[6];
    kiln_sampler *s = make(p, 6);
    draw(s, logits, 6, 5000, f);
    CHECK(f[1] == 0 && f[5] == 0 && f[0] > 0 && f[2] > 0 && f[4] > 0 && f[3] > f[0]);
    kiln_sampler_free(s);
    p.top_k = 1;   // top-1 sampling is greedy
    s = make(p, 6);
    draw(s, logits, 6, 200, f);
    CHECK(f[3] == 1.0);
    kiln_sampler_free(s);
}

// probabilities 0.5, 0.3, 0.2: top_p 0.6 drops 0.2 (ascending cumulative 0.2 <= 0.4);
// min_p 0.5 drops what is below 0.25. Both leave 0.5 : 0.3.
static void top_p_and_min_p_cut_the_tail(void) {
    float logits[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    for (int mode = 0; mode < 2; mode++) {
        kiln_sampling p = kiln_sampling_default();
        p.do_sample = true;
        p.top_k = 0;
        p.seed = 3;
        if (mode == 0) p.top_p = 0.6f;
        else p.min_p = 0.5f;
        double f[3];
        kiln_sampler *s = make(p, 3);
        draw(s, logits, 3, 20000, f);
        CHECK_MSG(f[2] == 0 && fabs(f[0] - 0.625) < 0.015, "%s: frequencies %g %g %g", mode ? "min_p" : "top_p", f[0], f[1], f[2]);
        kiln_sampler_free(s);
    }
    // top_p 0 keeps only the most likely token
    kiln_sampling p = kiln_sampling_default();
    p.do_sample = true;
    p.top_p = 0.0f;
    double f[3];
    kiln_sampler *s = make(p, 3);
    draw(s, logits, 3, 500, f);
    CHECK(f[0] == 1.0);
    kiln_sampler_free(s);
}

static void same_seed_same_tokens(void) {
    enum { V = 1000, N = 200 };
    static float logits[V];
    for (int i = 0; i < V; i++) logits[i] = sinf((float)i * 0.37f) * 3.0f;
    kiln_sampling p = kiln_sampling_default();
    p.do_sample = true;
    p.top_k = 0;
    p.seed = 1234;
    kiln_token a[N], b[N], c[N];
    kiln_sampler *s1 = make(p, V), *s2 = make(p, V);
    p.seed = 1235;
    kiln_sampler *s3 = make(p, V);
    for (int i = 0; i < N; i++) {
        kiln_sampler_sample(s1, logits, NULL, 0, &a[i]);
        kiln_sampler_sample(s2, logits, NULL, 0, &b[i]);
        kiln_sampler_sample(s3, logits, NULL, 0, &c[i]);
    }
    CHECK(memcmp(a, b, sizeof(a)) == 0);
    CHECK(memcmp(a, c, sizeof(a)) != 0);
    kiln_sampler_free(s1);
    kiln_sampler_free(s2);
    kiln_sampler_free(s3);
}

static void sampler_rejects_bad_parameters(void) {
    kiln_sampler *s = NULL;
    kiln_sampling p = kiln_sampling_default();
    p.do_sample = true;
    p.temperature = 0;
    CHECK_FAILS(kiln_sampler_create(&p, 10, &s), KILN_ERR_INVALID_ARG, "temperature");
    p = kiln_sampling_default();
    p.repetition_penalty = 0;
    CHECK_FAILS(kiln_sampler_create(&p, 10, &s), KILN_ERR_INVALID_ARG, "repetition_penalty");
    p = kiln_sampling_default();
    p.do_sample = true;
    p.top_p = 1.5f;
    CHECK_FAILS(kiln_sampler_create(&p, 10, &s), KILN_ERR_INVALID_ARG, "top_p");
    p = kiln_sampling_default();
    CHECK_FAILS(kiln_sampler_create(&p, 0, &s), KILN_ERR_INVALID_ARG, "n_vocab");
    CHECK(s == NULL);
}

int main(void) {
    prng_known_answers();
    greedy_takes_first_maximum();
    repetition_penalty_follows_transformers();
    temperature_scales_the_distribution();
    top_k_keeps_ties_with_the_kth();
    top_p_and_min_p_cut_the_tail();
    same_seed_same_tokens();
    sampler_rejects_bad_parameters();
    return test_summary();
}
