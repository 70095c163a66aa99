/* sampling.c — kiln_sampler: logits [vocab] → one token, as Transformers' generate() picks it:
 * the repetition penalty always, then (when sampling) temperature, top-k, top-p and min-p on the
 * surviving candidates, and a draw from their softmax with the PRNG of sampling.h. Greedy picks the
 * first largest logit, as torch.argmax does.
 */
#include "pipelines/sampling.h"

#include <math.h>

#include "runtime/program.h"

/* ---- PRNG: splitmix64 seeds xoshiro256** ---------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void pl_rng_seed(pl_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t pl_rng_next(pl_rng *r) {
    uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double pl_rng_uniform(pl_rng *r) { return (double)(pl_rng_next(r) >> 11) * 0x1.0p-53; }

/* ---- the sampler ---------------------------------------------------------------------------- */

typedef struct cand {
    float logit;
    int32_t id;
    double prob;
} cand;

struct kiln_sampler {
    kiln_sampling params;
    int64_t n_vocab;
    pl_rng rng;
    float *scores;     // (n_vocab) logits after the penalty
    uint8_t *seen;     // (n_vocab) tokens of the history
    cand *cands;       // (n_vocab) surviving candidates
};

kiln_sampling kiln_sampling_default(void) {
    kiln_sampling s = {.do_sample = false, .temperature = 1.0f, .top_k = 50, .top_p = 1.0f, .min_p = 0.0f,
                       .repetition_penalty = 1.0f, .seed = 0};
    return s;
}

kiln_sampling kiln_program_sampling(const kiln_program *p) {
    kiln_sampling s = kiln_sampling_default();
    if (!p || !p->head.gen.causal_lm) return s;
    const rt_generation *g = &p->head.gen;
    s.do_sample = g->do_sample;
    s.temperature = g->temperature;
    s.top_k = g->top_k;
    s.top_p = g->top_p;
    s.min_p = g->min_p;
    s.repetition_penalty = g->repetition_penalty;
    return s;
}

void kiln_sampler_free(kiln_sampler *s) {
    if (!s) return;
    free(s->scores);
    free(s->seen);
    free(s->cands);
    free(s);
}

kiln_status kiln_sampler_create(const kiln_sampling *params, int64_t n_vocab, kiln_sampler **out) {
    if (!params || !out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_sampler_create: NULL argument");
    *out = NULL;
    const kiln_sampling *p = params;
    if (n_vocab <= 0 || n_vocab > INT32_MAX) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_sampler_create: n_vocab %lld", (long long)n_vocab);
    if (!(p->repetition_penalty > 0)) return kiln_error(KILN_ERR_INVALID_ARG, "sampling: repetition_penalty %g must be > 0", p->repetition_penalty);
    if (p->do_sample) {
        if (!(p->temperature > 0)) return kiln_error(KILN_ERR_INVALID_ARG, "sampling: temperature %g must be > 0", p->temperature);
        if (p->top_k < 0) return kiln_error(KILN_ERR_INVALID_ARG, "sampling: top_k %d must be >= 0", p->top_k);
        if (!(p->top_p >= 0 && p->top_p <= 1)) return kiln_error(KILN_ERR_INVALID_ARG, "sampling: top_p %g must be in [0, 1]", p->top_p);
        if (!(p->min_p >= 0 && p->min_p <= 1)) return kiln_error(KILN_ERR_INVALID_ARG, "sampling: min_p %g must be in [0, 1]", p->min_p);
    }
    kiln_sampler *s = calloc(1, sizeof(*s));
    if (s) {
        s->scores = malloc((size_t)n_vocab * sizeof(float));
        s->seen = calloc((size_t)n_vocab, 1);
        s->cands = malloc((size_t)n_vocab * sizeof(cand));
    }
    if (!s || !s->scores || !s->seen || !s->cands) {
        kiln_sampler_free(s);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_sampler_create: out of memory");
    }
    s->params = *p;
    s->n_vocab = n_vocab;
    pl_rng_seed(&s->rng, p->seed);
    *out = s;
    return KILN_OK;
}

static int by_logit_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id - y->id;
}

// Moves the k largest logits (and any others equal to the k-th) to the front, in no order;
// returns how many that is. Quickselect, O(n) on average: a full sort of a 150k vocabulary per
// token would cost more than the sampling.
static int64_t select_top(cand *c, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = c[lo + (hi - lo) / 2].logit;
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (c[i].logit > pivot) i++;
            while (c[j].logit < pivot) j--;
            if (i <= j) {
                cand t = c[i];
                c[i++] = c[j];
                c[j--] = t;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
    float kth = c[0].logit;
    for (int64_t i = 1; i < k; i++) kth = fminf(kth, c[i].logit);
    int64_t m = k;
    for (int64_t i = k; i < n; i++)
        if (c[i].logit == kth) {
            cand t = c[m];
            c[m++] = c[i];
            c[i] = t;
        }
    return m;
}

static int by_id(const void *a, const void *b) { return ((const cand *)a)->id - ((const cand *)b)->id; }

// Softmax of the first n candidates' logits into their `prob` (in double).
static void softmax(cand *c, int64_t n) {
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, c[i].logit);
    for (int64_t i = 0; i < n; i++) sum += (c[i].prob = exp((double)c[i].logit - mx));
    for (int64_t i = 0; i < n; i++) c[i].prob /= sum;
}

kiln_status kiln_sampler_sample(kiln_sampler *s, const float *logits, const kiln_token *history, size_t n_history,
                                kiln_token *token_out) {
    if (!s || !logits || !token_out || (n_history && !history)) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_sampler_sample: NULL argument");
    const kiln_sampling *p = &s->params;
    int64_t V = s->n_vocab;
    memcpy(s->scores, logits, (size_t)V * sizeof(float));
    // RepetitionPenaltyLogitsProcessor: every token seen so far, once.
    for (size_t i = 0; i < n_history; i++)
        if (history[i] < 0 || history[i] >= V)
            return kiln_error(KILN_ERR_INVALID_ARG, "kiln_sampler_sample: history token %d outside [0, %lld)", history[i], (long long)V);
    if (p->repetition_penalty != 1.0f) {
        for (size_t i = 0; i < n_history; i++) {
            kiln_token t = history[i];
            if (s->seen[t]) continue;
            s->seen[t] = 1;
            float x = s->scores[t];
            s->scores[t] = x < 0 ? x * p->repetition_penalty : x / p->repetition_penalty;
        }
        for (size_t i = 0; i < n_history; i++) s->seen[history[i]] = 0;
    }
    int64_t best = 0;
    for (int64_t i = 1; i < V; i++)
        if (s->scores[i] > s->scores[best]) best = i;
    if (!p->do_sample) {
        *token_out = (kiln_token)best;
        return KILN_OK;
    }
    // Candidates, most likely first: the temperature keeps the order, so top-k can cut first.
    int64_t n = 0;
    for (int64_t i = 0; i < V; i++)
        if (s->scores[i] > -INFINITY) s->cands[n++] = (cand){s->scores[i] / p->temperature, (int32_t)i, 0};
    if (n == 0) {   // every logit -inf: Transformers would sample NaNs; take the argmax
        *token_out = (kiln_token)best;
        return KILN_OK;
    }
    // TopKLogitsWarper: drop what scores below the k-th largest (ties with it stay).
    if (p->top_k > 0 && p->top_k < n) n = select_top(s->cands, n, p->top_k);
    if (p->top_p < 1.0f || p->min_p > 0.0f) qsort(s->cands, (size_t)n, sizeof(cand), by_logit_desc);
    // TopPLogitsWarper: in ascending order, drop tokens while the cumulative probability is
    // <= 1 - top_p; the most likely token always stays.
    cand *c = s->cands;
    if (p->top_p < 1.0f) {
        softmax(c, n);
        double cum = 0, cut = 1.0 - (double)p->top_p;
        int64_t keep = n;
        for (int64_t i = n - 1; i > 0; i--) {
            cum += c[i].prob;
            if (cum > cut) break;
            keep = i;
        }
        n = keep;
    }
    // MinPLogitsWarper: drop tokens less likely than min_p times the most likely one.
    if (p->min_p > 0.0f) {
        softmax(c, n);
        double floor_p = (double)p->min_p * c[0].prob;
        while (n > 1 && c[n - 1].prob < floor_p) n--;
    }
    // Draw in token id order, so that the pick does not depend on how equal logits were sorted.
    softmax(c, n);
    qsort(c, (size_t)n, sizeof(cand), by_id);
    double u = pl_rng_uniform(&s->rng), total = 0;
    for (int64_t i = 0; i < n; i++) {
        total += c[i].prob;
        if (u < total) {
            *token_out = c[i].id;
            return KILN_OK;
        }
    }
    *token_out = c[n - 1].id;   // u beyond a sum that rounded below 1
    return KILN_OK;
}
