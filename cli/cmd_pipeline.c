/* cmd_pipeline.c — `kiln run TASK --model DIR [options] INPUT...` for the encoder pipelines
 * (text-classification, feature-extraction): kiln_pipeline_open + kiln_pipeline_run, printing the
 * JSON Transformers' pipeline(TASK)([INPUT, ...]) would give (one entry per input).
 */
#include "cli/cli.h"

int cli_task_pipeline(int argc, char **argv);

static void usage(FILE *f, const char *task) {
    fprintf(f,
            "usage: kiln run %s --model DIR [options] INPUT...\n"
            "  --batch-size N          inputs per model run (default 8)\n"
            "  --threads N             kernel threads (default 1; 0 = one per core)\n"
            "  --target interp|cpu     compile target (default interp)\n"
            "  --tokenizer DIR         tokenizer files (default: the model's directory)\n",
            task);
    if (strcmp(task, "token-classification") == 0 || strcmp(task, "ner") == 0) {
        fprintf(f, "  --ignore-labels A,B,... labels left out (default O; \"\" for none)\n"
                   "  --aggregation S         none (default) or simple\n");
    } else if (strcmp(task, "fill-mask") == 0) {
        fprintf(f, "  --top-k K               candidates per mask (default 5)\n"
                   "  --targets A,B,...       score only these tokens\n");
    } else if (strcmp(task, "feature-extraction") == 0) {
        fprintf(f, "  --pooled                one sentence vector per input (modules.json pooling, mean by default)\n");
    } else {
        fprintf(f,
                "  --top-k K|all           K best labels per input, sorted (default: the best one, as a dict)\n"
                "  --function-to-apply F   softmax | sigmoid | none (default: from problem_type)\n"
                "  --pair                  inputs are TEXT PAIR TEXT PAIR ... (text pairs)\n");
    }
}

int cli_task_pipeline(int argc, char **argv) {
    const char *task = argv[0], *dir = NULL;
    kiln_pipeline_options po = kiln_pipeline_options_default();
    bool pair = false;
    char *targets_text = NULL;
    const char *targets[256];
    char *ignore_text = NULL;
    const char *ignore[256];
    const char **inputs = calloc((size_t)argc, sizeof(char *));
    size_t n = 0;
    if (!inputs) return 1;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout, task);
            free(inputs);
            free(targets_text);
            free(ignore_text);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--model"))) {
            dir = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--tokenizer"))) {
            po.tokenizer_path = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--batch-size"))) {
            po.batch_size = cli_parse_int("--batch-size", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--threads"))) {
            po.n_threads = (int)cli_parse_int("--threads", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--target"))) {
            if (strcmp(v, "cpu") == 0) po.target = KILN_TARGET_CPU;
            else if (strcmp(v, "interp") == 0) po.target = KILN_TARGET_INTERP;
            else {
                fprintf(stderr, "kiln run %s: --target %s (want interp or cpu)\n", task, v);
                free(inputs);
                free(targets_text);
                free(ignore_text);
                return 2;
            }
        } else if ((v = cli_flag_value(argc, argv, &i, "--top-k"))) {
            po.top_k = strcmp(v, "all") == 0 ? -1 : (int)cli_parse_int("--top-k", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--function-to-apply"))) {
            po.function_to_apply = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--targets"))) {
            free(targets_text);
            targets_text = strdup(v);
            po.n_targets = 0;
            for (char *save = NULL, *t = targets_text ? strtok_r(targets_text, ",", &save) : NULL; t && po.n_targets < 256;
                 t = strtok_r(NULL, ",", &save))
                targets[po.n_targets++] = t;
            po.targets = targets;
        } else if ((v = cli_flag_value(argc, argv, &i, "--aggregation"))) {
            po.aggregation_strategy = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--ignore-labels"))) {
            free(ignore_text);
            ignore_text = strdup(v);
            po.n_ignore_labels = 0;
            for (char *save = NULL, *t = ignore_text ? strtok_r(ignore_text, ",", &save) : NULL; t && po.n_ignore_labels < 256;
                 t = strtok_r(NULL, ",", &save))
                ignore[po.n_ignore_labels++] = t;
            po.ignore_labels = ignore;
        } else if (strcmp(argv[i], "--pair") == 0) {
            pair = true;
        } else if (strcmp(argv[i], "--pooled") == 0) {
            po.pooled = true;
        } else {
            inputs[n++] = argv[i];
        }
    }
    if (!dir || n < 1 || (pair && n % 2)) {
        usage(stderr, task);
        free(inputs);
        free(targets_text);
        free(ignore_text);
        return 2;
    }
    size_t m = pair ? n / 2 : n;
    const char **texts = calloc(m, sizeof(char *)), **pairs = pair ? calloc(m, sizeof(char *)) : NULL;
    int rc = 1;
    kiln_pipeline *p = NULL;
    char *json = NULL;
    if (!texts || (pair && !pairs)) goto done;
    for (size_t i = 0; i < m; i++) {
        texts[i] = pair ? inputs[2 * i] : inputs[i];
        if (pair) pairs[i] = inputs[2 * i + 1];
    }
    if (kiln_pipeline_open(task, dir, &po, &p)) {
        rc = cli_fail(dir);
        goto done;
    }
    if (kiln_pipeline_run(p, texts, pairs, m, &json)) {
        rc = cli_fail(task);
        goto done;
    }
    printf("%s\n", json);
    rc = 0;
done:
    free(json);
    kiln_pipeline_free(p);
    free(texts);
    free(pairs);
    free(inputs);
    free(targets_text);
    free(ignore_text);
    return rc;
}
