/* test_pipelines.c — kiln_pipeline_* against transformers.pipeline(): every case of
 * tests/fixtures/pipelines/expected.json (made by tests/reference/make_pipeline_fixtures.py) and
 * qa_expected.json (make_qa_fixtures.py, on Transformers 4.57: 5 has no question-answering) runs
 * at batch sizes 8, 2 and 1 (results must not depend on how inputs are grouped); the JSON must
 * have the same shape, identical strings (labels) and numbers within 1e-4. Then the errors.
 */
#include <cjson/cJSON.h>

#include "test.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

// Same structure, same strings, numbers within tol; *worst gets the largest number difference.
static bool same_json(const cJSON *a, const cJSON *b, double tol, double *worst, char *where, size_t cap) {
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) {
        double d = fabs(a->valuedouble - b->valuedouble);
        if (d > *worst) *worst = d;
        if (d > tol) snprintf(where, cap, "%.9g vs %.9g", a->valuedouble, b->valuedouble);
        return d <= tol;
    }
    if (cJSON_IsString(a) && cJSON_IsString(b)) {
        if (strcmp(a->valuestring, b->valuestring) == 0) return true;
        snprintf(where, cap, "\"%s\" vs \"%s\"", a->valuestring, b->valuestring);
        return false;
    }
    if ((cJSON_IsArray(a) && cJSON_IsArray(b)) || (cJSON_IsObject(a) && cJSON_IsObject(b))) {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) {
            snprintf(where, cap, "%d vs %d entries", cJSON_GetArraySize(a), cJSON_GetArraySize(b));
            return false;
        }
        const cJSON *y = b->child;
        for (const cJSON *x = a->child; x; x = x->next, y = y->next) {
            if (cJSON_IsObject(a) && strcmp(x->string, y->string) != 0) {
                snprintf(where, cap, "key %s vs %s", x->string, y->string);
                return false;
            }
            if (!same_json(x, y, tol, worst, where, cap)) return false;
        }
        return true;
    }
    snprintf(where, cap, "type %d vs %d", a->type, b->type);
    return false;
}

static void run_case(const cJSON *c, int64_t batch_size) {
    const char *task = cJSON_GetObjectItem(c, "task")->valuestring;
    const char *fixture = cJSON_GetObjectItem(c, "fixture")->valuestring;
    const cJSON *args = cJSON_GetObjectItem(c, "args"), *inputs = cJSON_GetObjectItem(c, "inputs");
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/pipelines/%s", KILN_FIXTURES, fixture);
    kiln_pipeline_options po = kiln_pipeline_options_default();
    po.batch_size = batch_size;
    const cJSON *k = cJSON_GetObjectItem(args, "top_k");
    if (k) po.top_k = cJSON_IsNull(k) ? -1 : k->valueint;
    const cJSON *agg = cJSON_GetObjectItem(args, "aggregation_strategy");
    if (agg) po.aggregation_strategy = agg->valuestring;
    po.pooled = cJSON_IsTrue(cJSON_GetObjectItem(args, "pooled"));
    const cJSON *f = cJSON_GetObjectItem(args, "function_to_apply");
    if (f) po.function_to_apply = f->valuestring;
    const cJSON *tg = cJSON_GetObjectItem(args, "targets");
    const char *targets[16];
    for (int i = 0; i < cJSON_GetArraySize(tg) && i < 16; i++) targets[i] = cJSON_GetArrayItem(tg, i)->valuestring;
    if (tg) {
        po.targets = targets;
        po.n_targets = (size_t)cJSON_GetArraySize(tg);
    }
    const cJSON *v;
    if ((v = cJSON_GetObjectItem(args, "max_answer_len"))) po.max_answer_len = v->valueint;
    if ((v = cJSON_GetObjectItem(args, "max_seq_len"))) po.max_seq_len = v->valueint;
    if ((v = cJSON_GetObjectItem(args, "doc_stride"))) po.doc_stride = v->valueint;
    if ((v = cJSON_GetObjectItem(args, "handle_impossible_answer"))) po.handle_impossible_answer = cJSON_IsTrue(v);
    if ((v = cJSON_GetObjectItem(args, "align_to_words"))) po.align_to_words = cJSON_IsTrue(v);
    const cJSON *ig = cJSON_GetObjectItem(args, "ignore_labels");
    const char *ignore[16];
    for (int i = 0; i < cJSON_GetArraySize(ig) && i < 16; i++) ignore[i] = cJSON_GetArrayItem(ig, i)->valuestring;
    if (ig) {
        po.ignore_labels = ignore;   // [] too: nothing left out
        po.n_ignore_labels = (size_t)cJSON_GetArraySize(ig);
    }
    int n = cJSON_GetArraySize(inputs);
    const char *texts[16], *pairs[16];
    bool has_pairs = false;
    for (int i = 0; i < n && i < 16; i++) {
        const cJSON *in = cJSON_GetArrayItem(inputs, i);
        if (cJSON_IsString(in)) {
            texts[i] = in->valuestring;
            pairs[i] = NULL;
        } else if (cJSON_GetObjectItem(in, "question")) {
            texts[i] = cJSON_GetObjectItem(in, "question")->valuestring;
            pairs[i] = cJSON_GetObjectItem(in, "context")->valuestring;
            has_pairs = true;
        } else {
            texts[i] = cJSON_GetObjectItem(in, "text")->valuestring;
            pairs[i] = cJSON_GetObjectItem(in, "text_pair")->valuestring;
            has_pairs = true;
        }
    }
    kiln_pipeline *p = NULL;
    char *json = NULL;
    CHECK_OK(kiln_pipeline_open(task, dir, &po, &p));
    if (!p) return;
    CHECK_OK(kiln_pipeline_run(p, texts, has_pairs ? pairs : NULL, (size_t)n, &json));
    cJSON *got = json ? cJSON_Parse(json) : NULL;
    CHECK_MSG(got != NULL, "%s %s: output is not JSON", task, fixture);
    if (got) {
        double worst = 0;
        char where[256] = "";
        char *args_text = cJSON_PrintUnformatted(args);
        CHECK_MSG(same_json(got, cJSON_GetObjectItem(c, "expected"), 1e-4, &worst, where, sizeof(where)),
                  "%s %s %s batch %lld: %s", task, fixture, args_text, (long long)batch_size, where);
        free(args_text);
        cJSON_Delete(got);
    }
    free(json);
    kiln_pipeline_free(p);
}

static void test_errors(void) {
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/pipelines/tc-single", KILN_FIXTURES);
    kiln_pipeline *p = NULL;
    CHECK_FAILS(kiln_pipeline_open("no-such-task", dir, NULL, &p), KILN_ERR_INVALID_ARG, "unknown task");
    kiln_pipeline_options po = kiln_pipeline_options_default();
    po.function_to_apply = "tanh";
    CHECK_FAILS(kiln_pipeline_open("text-classification", dir, &po, &p), KILN_ERR_INVALID_ARG, "function_to_apply");
    po = kiln_pipeline_options_default();
    po.batch_size = 0;
    CHECK_FAILS(kiln_pipeline_open("text-classification", dir, &po, &p), KILN_ERR_INVALID_ARG, "batch_size");
    snprintf(dir, sizeof(dir), "%s/pipelines/fe-bert", KILN_FIXTURES);
    CHECK_FAILS(kiln_pipeline_open("text-classification", dir, NULL, &p), KILN_ERR_INVALID_ARG, "no classification head");
    CHECK(p == NULL);
    // a text longer than max_seq (128 positions)
    CHECK_OK(kiln_pipeline_open("feature-extraction", dir, NULL, &p));
    if (p) {
        char long_text[2000] = "";
        for (int i = 0; i < 200; i++) strcat(long_text, "a ");
        const char *t[1] = {long_text};
        char *json = NULL;
        CHECK_FAILS(kiln_pipeline_run(p, t, NULL, 1, &json), KILN_ERR_INVALID_ARG, "max_seq");
        CHECK(json == NULL);
        // zero inputs: an empty list
        CHECK_OK(kiln_pipeline_run(p, t, NULL, 0, &json));
        CHECK(json && strcmp(json, "[]") == 0);
        free(json);
        kiln_pipeline_free(p);
    }
}

// Runs every case of one expected file at batch sizes 8, 2 and 1; returns the number of cases.
static int run_file(const char *name) {
    char path[512];
    snprintf(path, sizeof(path), "%s/pipelines/%s", KILN_FIXTURES, name);
    char *text = slurp(path);
    CHECK_MSG(text != NULL, "cannot read %s", path);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    CHECK(root != NULL);
    const cJSON *c;
    int n_cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
        run_case(c, 8);
        run_case(c, 2);
        run_case(c, 1);
        n_cases++;
    }
    cJSON_Delete(root);
    free(text);
    return n_cases;
}

static void test_question_answering_errors(void) {
    char dir[512];
    kiln_pipeline *p = NULL;
    snprintf(dir, sizeof(dir), "%s/pipelines/fe-bert", KILN_FIXTURES);
    CHECK_FAILS(kiln_pipeline_open("question-answering", dir, NULL, &p), KILN_ERR_INVALID_ARG, "no question-answering head");
    snprintf(dir, sizeof(dir), "%s/pipelines/qa-bert", KILN_FIXTURES);
    kiln_pipeline_options po = kiln_pipeline_options_default();
    po.max_answer_len = 0;
    CHECK_FAILS(kiln_pipeline_open("question-answering", dir, &po, &p), KILN_ERR_INVALID_ARG, "max_answer_len");
    po = kiln_pipeline_options_default();
    po.max_seq_len = 16;
    po.doc_stride = 20;
    CHECK_OK(kiln_pipeline_open("question-answering", dir, &po, &p));
    const char *q[1] = {"Where?"}, *c[1] = {"In Berlin, where the project started."}, *empty[1] = {""};
    char *json = NULL;
    if (p) {
        CHECK_FAILS(kiln_pipeline_run(p, q, c, 1, &json), KILN_ERR_INVALID_ARG, "doc_stride 20 is larger than max_seq_len 16");
        kiln_pipeline_free(p);
    }
    po.doc_stride = -1;
    po.max_seq_len = 4096;   // more than the program's 512 positions
    CHECK_OK(kiln_pipeline_open("question-answering", dir, &po, &p));
    if (p) {
        CHECK_FAILS(kiln_pipeline_run(p, q, c, 1, &json), KILN_ERR_INVALID_ARG, "longer than the program's max_seq");
        kiln_pipeline_free(p);
    }
    CHECK_OK(kiln_pipeline_open("question-answering", dir, NULL, &p));
    if (p) {
        CHECK_FAILS(kiln_pipeline_run(p, q, NULL, 1, &json), KILN_ERR_INVALID_ARG, "non-empty question and context");
        CHECK_FAILS(kiln_pipeline_run(p, q, empty, 1, &json), KILN_ERR_INVALID_ARG, "non-empty question and context");
        // a question too long to leave room for the context: the tokenizer refuses, as Transformers raises
        char long_q[4000] = "";
        for (int i = 0; i < 600; i++) strcat(long_q, "why ");
        const char *lq[1] = {long_q};
        CHECK(kiln_pipeline_run(p, lq, c, 1, &json) == KILN_ERR_INVALID_ARG);
        CHECK(json == NULL);
        kiln_pipeline_free(p);
    }
}

int main(void) {
    CHECK(run_file("expected.json") >= 11);
    CHECK(run_file("qa_expected.json") >= 7);
    test_errors();
    test_question_answering_errors();
    return test_summary();
}
