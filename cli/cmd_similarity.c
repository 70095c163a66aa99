/* cmd_similarity.c — `kiln similarity --model DIR TEXT...`: tokenizes the sentences, runs the
 * encoder once on the padded batch, pools token vectors as the checkpoint's sentence-transformers
 * modules say (mean by default) and prints the cosine similarity of every pair. The main job of
 * `make run`; the feature-extraction pipeline generalizes it.
 */
#include "cli/cli.h"
#include "pipelines/pooling.h"

static void usage(FILE *f) { fprintf(f, "usage: kiln similarity --model DIR [--threads N] TEXT TEXT...\n"); }

int cli_cmd_similarity(int argc, char **argv) {
    const char *dir = NULL;
    const char *texts[64];
    int n = 0;
    kiln_context_options xo = kiln_context_options_default();
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--model"))) {
            dir = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--threads"))) {
            xo.n_threads = (int)cli_parse_int("--threads", v);
        } else if (n < 64) {
            texts[n++] = argv[i];
        } else {
            fprintf(stderr, "kiln similarity: at most 64 texts\n");
            return 2;
        }
    }
    if (!dir || n < 1) {
        usage(stderr);
        return 2;
    }
    int rc = 1;
    kiln_model *m = NULL;
    kiln_tokenizer *tok = NULL;
    kiln_program *prog = NULL;
    kiln_context *ctx = NULL;
    kiln_encoding enc[64];
    memset(enc, 0, sizeof(enc));
    int64_t *ids = NULL, *mask = NULL, *types = NULL;
    float *emb = NULL;
    if (kiln_model_open(dir, NULL, &m) || kiln_tokenizer_open(dir, &tok)) {
        cli_fail(dir);
        goto done;
    }
    size_t longest = 0;
    for (int i = 0; i < n; i++) {
        if (kiln_tokenizer_encode(tok, texts[i], NULL, &enc[i])) {
            cli_fail("tokenize");
            goto done;
        }
        longest = KILN_MAX(longest, enc[i].n);
    }
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = n;
    co.max_seq = (int64_t)longest;
    if (kiln_compile(m, &co, &prog) || kiln_context_create(prog, &xo, &ctx)) {
        cli_fail("compile");
        goto done;
    }
    // Pad to the longest sentence, on the right, with the tokenizer's pad id.
    int64_t pad = KILN_MAX(kiln_tokenizer_pad_id(tok), 0), S = (int64_t)longest;
    ids = calloc((size_t)(n * S), sizeof(int64_t));
    mask = calloc((size_t)(n * S), sizeof(int64_t));
    types = calloc((size_t)(n * S), sizeof(int64_t));
    if (!ids || !mask || !types) goto done;
    for (int i = 0; i < n; i++) {
        for (int64_t s = 0; s < S; s++) {
            bool real = (size_t)s < enc[i].n;
            ids[i * S + s] = real ? enc[i].input_ids[s] : pad;
            mask[i * S + s] = real;
            types[i * S + s] = real ? enc[i].token_type_ids[s] : 0;
        }
    }
    kiln_tensor in[3] = {
        {.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {n, S}, .data = ids},
        {.name = "attention_mask", .dtype = KILN_I64, .rank = 2, .shape = {n, S}, .data = mask},
        {.name = "token_type_ids", .dtype = KILN_I64, .rank = 2, .shape = {n, S}, .data = types},
    };
    size_t n_in = 3;
    kiln_tensor desc;
    bool has_types = false;
    for (size_t i = 0; kiln_program_input(prog, i, &desc) == KILN_OK; i++) has_types |= strcmp(desc.name, "token_type_ids") == 0;
    if (!has_types) n_in = 2;
    kiln_tensor out = {.name = "last_hidden_state"};
    if (kiln_run(ctx, in, n_in, &out, 1)) {
        cli_fail("run");
        goto done;
    }
    int64_t dim = out.shape[2];
    rt_pooling mode = prog->head.pooling != RT_POOLING_NONE ? prog->head.pooling : RT_POOLING_MEAN;
    bool normalize = prog->head.pooling != RT_POOLING_NONE ? prog->head.pooling_normalize : false;
    emb = malloc((size_t)(n * dim) * sizeof(float));
    if (!emb || pl_pool(out.data, mask, n, S, dim, mode, normalize, emb)) {
        cli_fail("pool");
        goto done;
    }
    static const char *const mode_names[] = {"none", "mean", "cls", "max"};
    printf("%s (%s): %d sentences -> %lld-dim embeddings (%s pooling%s)\n\n", dir, kiln_model_architecture(m), n, (long long)dim,
           mode_names[mode], normalize ? ", L2-normalized" : "");
    printf("%-18s", "cosine similarity");
    char label[16];
    for (int j = 0; j < n; j++) {
        snprintf(label, sizeof(label), "[%d]", j);
        printf("%8s", label);
    }
    printf("\n");
    for (int i = 0; i < n; i++) {
        snprintf(label, sizeof(label), "[%d]", i);
        printf("%-18s", label);
        for (int j = 0; j < n; j++) printf("%8.4f", pl_cosine(emb + i * dim, emb + j * dim, dim));
        printf("   %s\n", texts[i]);
    }
    rc = 0;
done:
    for (int i = 0; i < n; i++) kiln_encoding_free(&enc[i]);
    free(ids);
    free(mask);
    free(types);
    free(emb);
    kiln_context_free(ctx);
    kiln_program_free(prog);
    kiln_tokenizer_free(tok);
    kiln_model_free(m);
    return rc;
}
