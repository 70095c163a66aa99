// generate.c — the token loop of kiln.h: decode a batch -> logits -> sample, printing as it goes.
// usage: generate MODEL_DIR "prompt" [n_tokens]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

#define CHECK(call) do { if ((call) != KILN_OK) { fprintf(stderr, "%s: %s\n", #call, kiln_last_error()); return 1; } } while (0)

int main(int argc, char **argv) {
    if (argc < 3) return fprintf(stderr, "usage: %s MODEL_DIR \"prompt\" [n_tokens]\n", argv[0]), 2;
    int n_new = argc > 3 ? atoi(argv[3]) : 32;
    kiln_model *model;
    kiln_program *prog;
    kiln_decoder *dec;
    kiln_tokenizer *tok;
    kiln_sampler *smp;
    kiln_encoding enc;
    CHECK(kiln_model_open(argv[1], NULL, &model));
    CHECK(kiln_tokenizer_open(argv[1], &tok));
    CHECK(kiln_tokenizer_encode(tok, argv[2], NULL, &enc));
    kiln_compile_options co = kiln_compile_options_default();   // one program: the prompt and every step after it
    co.max_batch = 1, co.max_context = (int64_t)enc.n + n_new, co.max_seq = (int64_t)enc.n, co.logits = KILN_LOGITS_LAST;
    CHECK(kiln_compile(model, &co, &prog));
    CHECK(kiln_decoder_create(prog, NULL, &dec));   // the checkpoint's tokenizer comes with the program
    kiln_sampling sampling = kiln_program_sampling(prog);   // generation_config.json's defaults
    CHECK(kiln_sampler_create(&sampling, kiln_decoder_n_vocab(dec), &smp));

    kiln_token *hist = malloc((enc.n + (size_t)n_new) * sizeof(kiln_token));
    size_t n_hist = enc.n, printed = 0;
    for (size_t i = 0; i < enc.n; i++) hist[i] = (kiln_token)enc.input_ids[i];
    printf("%s", argv[2]);
    kiln_batch batch = {.n_tokens = (int32_t)n_hist, .tokens = hist};   // the whole prompt, sequence 0
    for (int i = 0; i < n_new; i++) {
        kiln_token next;
        CHECK(kiln_decode(dec, &batch));
        CHECK(kiln_sampler_sample(smp, kiln_decoder_logits(dec, 0), hist, n_hist, &next));
        if (kiln_decoder_is_eos(dec, next)) break;
        hist[n_hist++] = next;
        char *text;   // the text of everything generated so far; print what is new
        CHECK(kiln_decoder_detokenize(dec, hist + enc.n, n_hist - enc.n, &text));
        size_t len = strlen(text);
        if (len < 3 || memcmp(text + len - 3, "\xEF\xBF\xBD", 3) != 0) printf("%s", text + printed), printed = len;
        fflush(stdout);
        free(text);
        batch = (kiln_batch){.n_tokens = 1, .tokens = &hist[n_hist - 1]};
    }
    printf("\n");
    free(hist);
    kiln_encoding_free(&enc);
    kiln_sampler_free(smp);
    kiln_tokenizer_free(tok);
    kiln_decoder_free(dec);
    kiln_program_free(prog);
    kiln_model_free(model);
    return 0;
}
