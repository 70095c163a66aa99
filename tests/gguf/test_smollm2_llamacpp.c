/* test_smollm2_llamacpp.c — the real SmolLM2-135M-Instruct Q4_1 GGUF ($KILN_SMOLLM2_GGUF) against
 * llama.cpp and Transformers (tests/fixtures/gguf/smollm2_llamacpp.json, from
 * tests/reference/make_llamacpp_smollm2_reference.py): kiln is teacher-forced on llama.cpp's own
 * prompt ids and greedy tokens for 64 steps per prompt, and its logits are compared at the 20 ids
 * llama.cpp ranked highest at each step, with llama.cpp's values and with Transformers' (f32 on the
 * GGUF's dequantized weights: kiln's semantics, common/quant.h).
 * - Against Transformers: within HF_TOL and the same argmax wherever its top-2 are 1e-3 apart.
 * - Against llama.cpp: logits differ by up to about 1.5 and near-ties flip. The issue asked for equal
 *   argmax wherever llama.cpp's top-2 margin exceeds 0.05; measured, 9 of 249 such steps flip (margins
 *   0.06-0.23), and Transformers flips at exactly the same steps: the difference is llama.cpp's
 *   numerics, not kiln's. tests/reference/llamacpp_numerics_study.py shows why: llama.cpp quantizes each
 *   matmul's activations to 8 bits (reproduced there to 1e-7 per op), and its logits carry that noise —
 *   llama.cpp against itself on these tokens, one batch instead of one token at a time: up to 0.68 apart,
 *   2 flips; flash attention on: 1.32, 5-6 flips; an emulation of its exact quantization still 1.0, 5
 *   flips. No implementation of the model meets a 0.05 margin against one llama.cpp run. So the test
 *   requires equal argmax above MARGIN = 0.25 (the largest margin that flipped in any run of the study,
 *   llama.cpp against itself included, was 0.229), requires every flip above 0.05 to be Transformers' flip
 *   too, prints them, and bounds the logit difference.
 * Run once per target (no argument: the interpreter; "cpu": the LLVM backend). No file is a failure.
 */
#include <cjson/cJSON.h>
#include <math.h>

#include "common/common.h"
#include "tests/test.h"

#define MARGIN 0.25
#define LOGIT_BOUND 2.5
#define HF_TOL 1e-3   // f32 against f32 through 30 layers (measured 4.6e-5), logits of magnitude ~20

int main(int argc, char **argv) {
    kiln_target target = argc > 1 && strcmp(argv[1], "cpu") == 0 ? KILN_TARGET_CPU : KILN_TARGET_INTERP;
    const char *gguf = getenv("KILN_SMOLLM2_GGUF");
    CHECK_MSG(gguf && *gguf, "KILN_SMOLLM2_GGUF is not set: run `make model` (make test does) to fetch SmolLM2");
    if (!gguf || !*gguf) return test_summary();
    char path[512], *text = NULL;
    snprintf(path, sizeof(path), "%s/gguf/smollm2_llamacpp.json", KILN_FIXTURES);
    CHECK_OK(kiln_read_file(path, &text, NULL));
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    const cJSON *cases = cJSON_GetObjectItem(root, "cases");
    CHECK(cJSON_GetArraySize(cases) >= 3);
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    kiln_decoder *d = NULL;
    CHECK_OK(kiln_model_open(gguf, NULL, &m));
    kiln_compile_options co = kiln_compile_options_default();
    co.target = target;
    co.max_batch = 1, co.max_context = 256, co.max_seq = 64, co.logits = KILN_LOGITS_LAST;
    if (m) CHECK_OK(kiln_compile(m, &co, &p));
    kiln_decoder_options dopt = kiln_decoder_options_default();
    dopt.n_threads = 2;
    if (p) CHECK_OK(kiln_decoder_create(p, &dopt, &d));
    double worst = 0;
    int compared = 0, checked = 0, c = 0, above_005 = 0, flips = 0, hf_checked = 0, hf_flips = 0;
    double hf_worst = 0;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cases) {
        if (!d) break;
        const cJSON *ids = cJSON_GetObjectItem(cs, "ids"), *steps = cJSON_GetObjectItem(cs, "steps");
        int n = cJSON_GetArraySize(ids);
        kiln_token prompt[256];
        CHECK(n > 0 && n < 256);
        for (int i = 0; i < n && i < 256; i++) prompt[i] = (kiln_token)cJSON_GetArrayItem(ids, i)->valueint;
        kiln_decoder_seq_clear(d, -1);
        kiln_batch b = {.n_tokens = n, .tokens = prompt};
        int s = 0;
        const cJSON *step;
        cJSON_ArrayForEach(step, steps) {
            if (kiln_decode(d, &b) != KILN_OK) {
                CHECK_MSG(false, "case %d step %d: %s", c, s, kiln_last_error());
                break;
            }
            const float *l = kiln_decoder_logits(d, 0);
            const cJSON *top = cJSON_GetObjectItem(step, "top");
            kiln_token want = (kiln_token)cJSON_GetObjectItem(step, "token")->valueint;
            double t1 = cJSON_GetArrayItem(cJSON_GetArrayItem(top, 0), 1)->valuedouble;
            double t2 = cJSON_GetArrayItem(cJSON_GetArrayItem(top, 1), 1)->valuedouble;
            int64_t vocab = kiln_decoder_n_vocab(d), best = 0;
            for (int64_t v = 1; v < vocab; v++)
                if (l[v] > l[best]) best = v;
            if (t1 - t2 > MARGIN) {
                CHECK_MSG(best == want, "%s case %d step %d: kiln's argmax %lld, llama.cpp's %d (margin %.3f)",
                          target == KILN_TARGET_CPU ? "cpu" : "interp", c, s, (long long)best, want, t1 - t2);
                checked++;
            }
            if (t1 - t2 > 0.05) {
                above_005++;
                if (best != want) {
                    flips++;
                    printf("  case %d step %d: kiln's argmax %lld, llama.cpp's %d, llama.cpp's margin %.3f\n", c, s, (long long)best, want,
                           t1 - t2);
                }
            }
            const cJSON *pair, *hf = cJSON_GetObjectItem(step, "hf"), *hf_top = cJSON_GetObjectItem(step, "hf_top");
            int k = 0;
            cJSON_ArrayForEach(pair, top) {
                int id = cJSON_GetArrayItem(pair, 0)->valueint;
                worst = fmax(worst, fabs((double)l[id] - cJSON_GetArrayItem(pair, 1)->valuedouble));
                hf_worst = fmax(hf_worst, fabs((double)l[id] - cJSON_GetArrayItem(hf, k++)->valuedouble));
                compared++;
            }
            // Transformers on the same f32 weights: the same argmax wherever its top-2 are apart
            if (cJSON_GetArrayItem(hf_top, 1)->valuedouble > 1e-3) {
                CHECK_MSG(best == cJSON_GetArrayItem(hf_top, 0)->valueint, "case %d step %d: kiln's argmax %lld, Transformers' %d", c, s,
                          (long long)best, cJSON_GetArrayItem(hf_top, 0)->valueint);
                hf_checked++;
            }
            if (best != want && t1 - t2 > 0.05) hf_flips += cJSON_GetArrayItem(hf_top, 0)->valueint != want;
            static kiln_token next;   // teacher forcing: llama.cpp's token goes in next
            next = want;
            b = (kiln_batch){.n_tokens = 1, .tokens = &next};
            s++;
        }
        c++;
    }
    printf("%s: %d cases; argmax equal to llama.cpp's at all %d steps with margin > %.2f; %d of %d steps with margin > 0.05 "
           "flip; largest |kiln - llama.cpp| over %d recorded logits: %.4f\n",
           target == KILN_TARGET_CPU ? "cpu" : "interp", c, checked, MARGIN, flips, above_005, compared, worst);
    printf("%s: against Transformers (f32 on the dequantized weights): argmax equal at all %d steps with margin > 1e-3, largest "
           "|kiln - transformers| %.2e; of the %d flips against llama.cpp, Transformers makes the same %d\n",
           target == KILN_TARGET_CPU ? "cpu" : "interp", hf_checked, hf_worst, flips, hf_flips);
    CHECK_MSG(hf_worst < HF_TOL, "kiln differs from Transformers by %g", hf_worst);
    CHECK_MSG(hf_flips == flips, "%d of kiln's %d flips against llama.cpp are not Transformers' too", flips - hf_flips, flips);
    CHECK_MSG(worst < LOGIT_BOUND, "largest logit difference %.4f", worst);
    CHECK(checked > 100 && flips * 10 < above_005);
    kiln_decoder_free(d);
    kiln_program_free(p);
    kiln_model_free(m);
    cJSON_Delete(root);
    free(text);
    return test_summary();
}
