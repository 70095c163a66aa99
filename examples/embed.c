// embed.c — embeds a sentence given as text: kiln_model_open → kiln_compile → tokenize → run →
// mean-pool over the mask. Usage: embed MODEL_DIR "some text"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kiln.h"

#define TRY(call) if ((call) != KILN_OK) { fprintf(stderr, "%s: %s\n", #call, kiln_last_error()); return 1; }

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s MODEL_DIR TEXT\n", argv[0]); return 2; }
    kiln_model *model; kiln_tokenizer *tok; kiln_program *prog; kiln_context *ctx; kiln_encoding enc;
    TRY(kiln_model_open(argv[1], NULL, &model));
    TRY(kiln_tokenizer_open(argv[1], &tok));
    TRY(kiln_tokenizer_encode(tok, argv[2], NULL, &enc));
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = 1;
    co.max_seq = (int64_t)enc.n;
    TRY(kiln_compile(model, &co, &prog));
    TRY(kiln_context_create(prog, NULL, &ctx));
    kiln_tensor in[2] = {
        {.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {1, (int64_t)enc.n}, .data = enc.input_ids},
        {.name = "attention_mask", .dtype = KILN_I64, .rank = 2, .shape = {1, (int64_t)enc.n}, .data = enc.attention_mask}};
    kiln_tensor out = {.name = "last_hidden_state"};   // data NULL: kiln lends its buffer
    TRY(kiln_run(ctx, in, 2, &out, 1));
    int64_t dim = out.shape[2];
    const float *h = out.data;
    double norm = 0, *e = calloc((size_t)dim, sizeof(double));
    for (size_t t = 0; t < enc.n; t++)
        for (int64_t d = 0; d < dim; d++) e[d] += h[t * dim + d] / (double)enc.n;   // mean pooling
    for (int64_t d = 0; d < dim; d++) norm += e[d] * e[d];
    printf("%zu tokens -> %lld-dim embedding, first values:", enc.n, (long long)dim);
    for (int64_t d = 0; d < 5 && d < dim; d++) printf(" %.4f", e[d] / sqrt(norm));
    printf("\n");
    free(e); kiln_encoding_free(&enc); kiln_context_free(ctx); kiln_program_free(prog);
    kiln_tokenizer_free(tok); kiln_model_free(model);
    return 0;
}
