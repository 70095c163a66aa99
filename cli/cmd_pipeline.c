/* cmd_pipeline.c — `kiln run TASK --model DIR [options] INPUT...` for the encoder pipelines
 * (text-classification, token-classification, question-answering, fill-mask, feature-extraction):
 * kiln_pipeline_open + kiln_pipeline_run, printing the JSON Transformers' pipeline(TASK)([INPUT,
 * ...]) would give (one entry per input) — or, when stdout is a terminal and --json is not given,
 * the same results as a readable table per input.
 */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <unistd.h>

// One value as a table cell: strings as they are, numbers %.4f (integers plain), arrays by size.
static void cell(const cJSON *v, char *buf, size_t cap) {
    if (cJSON_IsString(v)) snprintf(buf, cap, "%s", v->valuestring);
    else if (cJSON_IsNumber(v) && v->valuedouble == (double)(int64_t)v->valuedouble && fabs(v->valuedouble) < 1e15)
        snprintf(buf, cap, "%lld", (long long)v->valuedouble);
    else if (cJSON_IsNumber(v)) snprintf(buf, cap, "%.4f", v->valuedouble);
    else if (cJSON_IsArray(v)) snprintf(buf, cap, "[%d values]", cJSON_GetArraySize(v));
    else snprintf(buf, cap, "%s", cJSON_IsNull(v) ? "null" : "?");
}

// A list of objects with the same keys as columns; anything else on one line.
static void print_rows(const cJSON *r, const char *indent) {
    const cJSON *first = cJSON_IsArray(r) ? r->child : r;
    if (cJSON_IsArray(r) && first && cJSON_IsArray(first) && first->child && cJSON_IsArray(first->child)) {
        // feature-extraction: [[[h...] per token]]
        const cJSON *tok = first->child;
        printf("%s%d token vectors of %d values: [%.4f, %.4f, ...] ...\n", indent, cJSON_GetArraySize(first), cJSON_GetArraySize(tok),
               cJSON_GetArrayItem(tok, 0)->valuedouble, cJSON_GetArraySize(tok) > 1 ? cJSON_GetArrayItem(tok, 1)->valuedouble : 0.0);
        return;
    }
    if (cJSON_IsArray(r) && first && cJSON_IsArray(first)) {   // fill-mask with several masks
        int m = 0;
        for (const cJSON *x = r->child; x; x = x->next) {
            printf("%smask %d:\n", indent, m++);
            print_rows(x, "    ");
        }
        return;
    }
    if (cJSON_IsArray(r) && first && cJSON_IsNumber(first)) {   // a pooled vector
        printf("%s%d values: [%.4f, %.4f, %.4f, ...]\n", indent, cJSON_GetArraySize(r), first->valuedouble,
               first->next ? first->next->valuedouble : 0.0, first->next && first->next->next ? first->next->next->valuedouble : 0.0);
        return;
    }
    if (!first || !cJSON_IsObject(first)) {
        printf("%s(nothing)\n", indent);
        return;
    }
    enum { MAXC = 8 };
    const char *keys[MAXC];
    int width[MAXC], nk = 0;
    char buf[256];
    for (const cJSON *k = first->child; k && nk < MAXC; k = k->next) {
        keys[nk] = k->string;
        width[nk++] = (int)strlen(k->string);
    }
    const cJSON *one[2] = {r, NULL};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            printf("%s", indent);
            for (int c = 0; c < nk; c++) printf("%-*s  ", width[c], keys[c]);
            printf("\n");
        }
        for (const cJSON *o = cJSON_IsArray(r) ? r->child : one[0]; o; o = cJSON_IsArray(r) ? o->next : NULL) {
            if (pass == 1) printf("%s", indent);
            for (int c = 0; c < nk; c++) {
                cell(cJSON_GetObjectItem(o, keys[c]), buf, sizeof(buf));
                if (pass == 0) width[c] = KILN_MAX(width[c], (int)strlen(buf));
                else printf("%-*s  ", width[c], buf);
            }
            if (pass == 1) printf("\n");
        }
    }
}

static void print_table(const char *json, const char *const *texts, const char *const *pairs, size_t n, bool qa) {
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        printf("%s\n", json);
        return;
    }
    size_t i = 0;
    for (const cJSON *r = root->child; r && i < n; r = r->next, i++) {
        if (qa) printf("[%zu] Q: %s\n    context: %.70s%s\n", i, texts[i], pairs[i], strlen(pairs[i]) > 70 ? "..." : "");
        else if (pairs) printf("[%zu] %s | %s\n", i, texts[i], pairs[i]);
        else printf("[%zu] %s\n", i, texts[i]);
        print_rows(r, "    ");
    }
    cJSON_Delete(root);
}

int cli_task_pipeline(int argc, char **argv);

static void usage(FILE *f, const char *task) {
    fprintf(f,
            "usage: kiln run %s --model DIR [options] INPUT...\n"
            "  --batch-size N          inputs per model run (default 8)\n"
            "  --threads N             kernel threads (default $KILN_NUM_THREADS, else one per core)\n"
            "  --target interp|cpu     compile target (default interp)\n"
            "  --tokenizer DIR         tokenizer files (default: the model's directory)\n"
            "  --json                  JSON even when stdout is a terminal (a table is printed there otherwise)\n",
            task);
    if (strcmp(task, "token-classification") == 0 || strcmp(task, "ner") == 0) {
        fprintf(f, "  --ignore-labels A,B,... labels left out (default O; \"\" for none)\n"
                   "  --aggregation S         none (default), simple, first, average or max\n");
    } else if (strcmp(task, "question-answering") == 0) {
        fprintf(f, "  INPUT...                QUESTION CONTEXT QUESTION CONTEXT ... (or --question Q --context C)\n"
                   "  --top-k K               answers per question (default 1)\n"
                   "  --max-answer-len N      longest answer in tokens (default 15)\n"
                   "  --max-seq-len N         tokens per window (default min(model_max_length, 384))\n"
                   "  --doc-stride N          tokens shared by windows of a long context (default min(max-seq-len/2, 128))\n"
                   "  --handle-impossible-answer  the empty answer is a candidate\n"
                   "  --no-align-to-words     token spans as they are, not widened to words\n");
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
    po.n_threads = cli_default_threads();
    bool qa = strcmp(task, "question-answering") == 0;
    bool pair = qa, force_json = false;
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
        } else if ((v = cli_flag_value(argc, argv, &i, "--max-answer-len"))) {
            po.max_answer_len = cli_parse_int("--max-answer-len", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--max-seq-len"))) {
            po.max_seq_len = cli_parse_int("--max-seq-len", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--doc-stride"))) {
            po.doc_stride = cli_parse_int("--doc-stride", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--question")) || (v = cli_flag_value(argc, argv, &i, "--context"))) {
            inputs[n++] = v;   // --question Q --context C: the same as the positional pair
        } else if (strcmp(argv[i], "--handle-impossible-answer") == 0) {
            po.handle_impossible_answer = true;
        } else if (strcmp(argv[i], "--no-align-to-words") == 0) {
            po.align_to_words = false;
        } else if (strcmp(argv[i], "--json") == 0) {
            force_json = true;
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
    if (!force_json && isatty(STDOUT_FILENO)) print_table(json, texts, pairs, m, qa);
    else printf("%s\n", json);
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
