/* bench_generate.c — kiln's side of bench/generate/run.py: prompt processing and decode speed of
 * one causal LM (checkpoint directory or .gguf), measured through kiln_decode as the token loop of
 * kiln.h runs it. Prints one JSON object per repeat:
 *   {"prompt_tokens": P, "prefill_s": ..., "prefill_tok_s": ..., "decode_tokens": D, "decode_s": ..., "decode_tok_s": ...}
 *
 * usage: bench_generate MODEL [--prompt P] [--decode D] [--repeat R] [--threads T] [--target interp|cpu] [--chunk C]
 * The prompt is P token ids (i * 7919 + 13 mod vocab, no tokenizer needed); decoding is greedy with
 * eos ignored, so every run does the same work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define CHECK(call)                                                                  \
    do {                                                                             \
        if ((call) != KILN_OK) {                                                     \
            fprintf(stderr, "bench_generate: %s: %s\n", #call, kiln_last_error());   \
            return 1;                                                                \
        }                                                                            \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [--prompt P] [--decode D] [--repeat R] [--threads T] [--target interp|cpu] [--chunk C]\n", argv[0]);
        return 2;
    }
    int prompt = 128, decode = 64, repeat = 3, threads = 1, chunk = 128;
    kiln_target target = KILN_TARGET_INTERP;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--prompt")) prompt = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--decode")) decode = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeat")) repeat = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--chunk")) chunk = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--target")) target = !strcmp(argv[i + 1], "cpu") ? KILN_TARGET_CPU : KILN_TARGET_INTERP;
        else return fprintf(stderr, "bench_generate: unknown option %s\n", argv[i]), 2;
    }
    if (prompt < 1 || decode < 1 || repeat < 1 || chunk < 1) return fprintf(stderr, "bench_generate: bad sizes\n"), 2;
    kiln_model *model;
    kiln_program *prog;
    kiln_decoder *dec;
    kiln_sampler *smp;
    double t0 = now_s();
    CHECK(kiln_model_open(argv[1], NULL, &model));
    kiln_compile_options co = kiln_compile_options_default();
    co.target = target;
    co.max_batch = 1;
    co.max_context = prompt + decode;
    co.max_seq = chunk < prompt ? chunk : prompt;
    co.logits = KILN_LOGITS_LAST;
    CHECK(kiln_compile(model, &co, &prog));
    kiln_decoder_options o = kiln_decoder_options_default();
    o.n_threads = threads;
    o.tokenizer_path = "";
    CHECK(kiln_decoder_create(prog, &o, &dec));
    kiln_sampling sp = kiln_sampling_default();
    CHECK(kiln_sampler_create(&sp, kiln_decoder_n_vocab(dec), &smp));
    fprintf(stderr, "bench_generate: %s open + compile %.2f s\n", argv[1], now_s() - t0);

    kiln_token *ids = malloc(sizeof(kiln_token) * (size_t)(prompt + decode));
    for (int i = 0; i < prompt; i++) ids[i] = (kiln_token)(((int64_t)i * 7919 + 13) % kiln_decoder_n_vocab(dec));
    for (int r = 0; r < repeat; r++) {
        kiln_decoder_seq_clear(dec, -1);
        kiln_batch b = {.n_tokens = prompt, .tokens = ids};
        double a = now_s();
        CHECK(kiln_decode(dec, &b));
        double prefill = now_s() - a;
        kiln_token t;
        CHECK(kiln_sampler_sample(smp, kiln_decoder_logits(dec, 0), NULL, 0, &t));
        a = now_s();
        for (int k = 0; k < decode; k++) {
            ids[prompt + k] = t;
            b = (kiln_batch){.n_tokens = 1, .tokens = &ids[prompt + k]};
            CHECK(kiln_decode(dec, &b));
            CHECK(kiln_sampler_sample(smp, kiln_decoder_logits(dec, 0), NULL, 0, &t));
        }
        double dt = now_s() - a;
        printf("{\"prompt_tokens\": %d, \"prefill_s\": %.6f, \"prefill_tok_s\": %.2f, \"decode_tokens\": %d, \"decode_s\": %.6f, "
               "\"decode_tok_s\": %.2f, \"programs\": %zu}\n",
               prompt, prefill, prompt / prefill, decode, dt, decode / dt, kiln_model_n_programs(model));
        fflush(stdout);
    }
    free(ids);
    kiln_sampler_free(smp);
    kiln_decoder_free(dec);
    kiln_program_free(prog);
    kiln_model_free(model);
    return 0;
}
