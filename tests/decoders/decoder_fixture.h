/* decoder_fixture.h — the decoder tests' shared pieces: the fixture list (tests/fixtures/decoders,
 * made by tests/reference/make_decoder_fixtures.py), loading a fixture's recorded prompts, logits
 * and greedy tokens, comparing logits rows, and the target under test (each test runs once per
 * target: no argument for the interpreter, "cpu" for the LLVM backend; tests/decoders/CMakeLists.txt).
 */
#ifndef KILN_TEST_DECODER_FIXTURE_H
#define KILN_TEST_DECODER_FIXTURE_H

#include "common/common.h"
#include "models/fixture.h"

#define DEC_N_PROMPTS 2
#define DEC_STEPS 20
#define DEC_TOL 1e-4

// The target under test: the interpreter, or with "cpu" as the test's argument the LLVM backend
// (the same fixtures, the same tolerance, the full default pass pipeline).
static kiln_target dec_target = KILN_TARGET_INTERP;

static inline kiln_target dec_target_from_args(int argc, char **argv) {
    dec_target = argc > 1 && strcmp(argv[1], "cpu") == 0 ? KILN_TARGET_CPU : KILN_TARGET_INTERP;
    return dec_target;
}

static inline const char *dec_target_name(void) { return dec_target == KILN_TARGET_CPU ? "cpu" : "interp"; }

// The program was compiled for the target under test (not, say, left to the interpreter).
static inline bool dec_backend_is_target(const kiln_program *p) {
    kiln_program_info info;
    return p && kiln_program_get_info(p, &info) == KILN_OK && info.backend && strcmp(info.backend, dec_target_name()) == 0;
}

static const char *const dec_fixtures[] = {"gpt2", "llama", "qwen2", "llama-linear", "llama-dynamic", "llama-yarn"};

typedef struct dec_ref {
    fx_tensors t;
    const kiln_tensor *prompt[DEC_N_PROMPTS];    // i64 [L]
    const kiln_tensor *prefill[DEC_N_PROMPTS];   // f32 [L, vocab]
    const kiln_tensor *decode[DEC_N_PROMPTS];    // f32 [STEPS, vocab]
    const kiln_tensor *greedy[DEC_N_PROMPTS];    // i64 [STEPS]
    int64_t vocab;
    char dir[512];
} dec_ref;

static inline bool dec_ref_load(const char *name, dec_ref *r) {
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "%s/decoders/%s", KILN_FIXTURES, name);
    char path[600];
    snprintf(path, sizeof(path), "%s/reference.safetensors", r->dir);
    if (fx_load(path, &r->t) != KILN_OK) return false;
    for (int b = 0; b < DEC_N_PROMPTS; b++) {
        char key[32];
        snprintf(key, sizeof(key), "prompt.%d", b);
        r->prompt[b] = fx_find(&r->t, key);
        snprintf(key, sizeof(key), "prefill.%d", b);
        r->prefill[b] = fx_find(&r->t, key);
        snprintf(key, sizeof(key), "decode.%d", b);
        r->decode[b] = fx_find(&r->t, key);
        snprintf(key, sizeof(key), "greedy.%d", b);
        r->greedy[b] = fx_find(&r->t, key);
        if (!r->prompt[b] || !r->prefill[b] || !r->decode[b] || !r->greedy[b]) return false;
    }
    r->vocab = r->prefill[0]->shape[1];
    return true;
}

static inline void dec_ref_free(dec_ref *r) { fx_free(&r->t); }

static inline int64_t dec_prompt_len(const dec_ref *r, int b) { return r->prompt[b]->shape[0]; }
static inline int64_t dec_prompt_token(const dec_ref *r, int b, int64_t i) { return ((const int64_t *)r->prompt[b]->data)[i]; }
static inline int64_t dec_greedy_token(const dec_ref *r, int b, int64_t i) { return ((const int64_t *)r->greedy[b]->data)[i]; }

// Largest |a - b| over n floats (NaN counts as infinite).
static inline double dec_max_diff(const float *a, const float *b, int64_t n) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

#endif  // KILN_TEST_DECODER_FIXTURE_H
