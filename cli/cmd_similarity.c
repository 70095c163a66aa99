/* cmd_similarity.c — `kiln similarity --model DIR [--query Q] TEXT...`: sentence embeddings
 * through the feature-extraction pipeline (kiln_pipeline_embed: pooled as the checkpoint's
 * sentence-transformers modules say, mean by default), then either the cosine similarity of every
 * pair of texts, or, with --query, a semantic search: the texts ranked by their cosine with the
 * query. The main job of `make run`.
 */
#include "cli/cli.h"
#include "pipelines/pooling.h"

static void usage(FILE *f) {
    fprintf(f, "usage: kiln similarity --model DIR [--query TEXT] [--top K] [--target interp|cpu] [--threads N] TEXT...\n"
               "  without --query: the cosine similarity of every pair of TEXTs\n"
               "  --query TEXT: the TEXTs ranked by cosine similarity with TEXT (semantic search), the best K (default all)\n");
}

typedef struct ranked {
    double score;
    int index;
} ranked;

static int by_score(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->index - y->index;
}

int cli_cmd_similarity(int argc, char **argv) {
    const char *dir = NULL, *query = NULL;
    const char **texts = calloc((size_t)argc + 1, sizeof(char *));
    int n = 0, top = -1;
    kiln_pipeline_options po = kiln_pipeline_options_default();
    po.pooled = true;
    po.n_threads = cli_default_threads();
    if (!texts) return 1;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            free(texts);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--model"))) {
            dir = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--query"))) {
            query = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--top"))) {
            top = (int)cli_parse_int("--top", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--threads"))) {
            po.n_threads = (int)cli_parse_int("--threads", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--target"))) {
            po.target = strcmp(v, "cpu") == 0 ? KILN_TARGET_CPU : KILN_TARGET_INTERP;
            if (strcmp(v, "cpu") != 0 && strcmp(v, "interp") != 0) {
                fprintf(stderr, "kiln similarity: --target %s (want interp or cpu)\n", v);
                free(texts);
                return 2;
            }
        } else {
            texts[n++] = argv[i];
        }
    }
    if (!dir || n < 1) {
        usage(stderr);
        free(texts);
        return 2;
    }
    if (query) texts[n] = query;   // embedded with the others, in one call
    int m = n + (query != NULL), rc = 1;
    kiln_pipeline *p = NULL;
    float *emb = NULL;
    ranked *rank = NULL;
    if (kiln_pipeline_open("feature-extraction", dir, &po, &p)) {
        rc = cli_fail(dir);
        goto done;
    }
    size_t dim = kiln_pipeline_embedding_dim(p);
    emb = malloc(sizeof(float) * dim * (size_t)m + 1);
    rank = calloc((size_t)n, sizeof(ranked));
    if (!emb || !rank) goto done;
    if (kiln_pipeline_embed(p, texts, (size_t)m, emb)) {
        rc = cli_fail("embed");
        goto done;
    }
    printf("%s: %d sentences%s -> %zu-dim sentence embeddings\n\n", dir, n, query ? " and a query" : "", dim);
    if (query) {
        const float *q = emb + (size_t)n * dim;
        for (int i = 0; i < n; i++) rank[i] = (ranked){pl_cosine(q, emb + (size_t)i * dim, (int64_t)dim), i};
        qsort(rank, (size_t)n, sizeof(ranked), by_score);
        printf("query: %s\n\n%-6s %-7s %s\n", query, "rank", "cosine", "sentence");
        for (int i = 0; i < n && (top < 0 || i < top); i++) printf("%-6d %-7.4f %s\n", i + 1, rank[i].score, texts[rank[i].index]);
        rc = 0;
        goto done;
    }
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
        for (int j = 0; j < n; j++) printf("%8.4f", pl_cosine(emb + (size_t)i * dim, emb + (size_t)j * dim, (int64_t)dim));
        printf("   %s\n", texts[i]);
    }
    rc = 0;
done:
    free(emb);
    free(rank);
    kiln_pipeline_free(p);
    free(texts);
    return rc;
}
