/* test_model_errors.c — bad checkpoints and bad inputs get a status and a message naming the
 * file, the field and the reason; never a crash or a leak (this test runs under ASan+UBSan too).
 * Each case copies the bert-seqcls fixture into a temporary directory and breaks one thing.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"

static char tmp[256];

static void write_text(const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc(1, (size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = '\0';
    fclose(f);
    return s;
}

// A fresh copy of the fixture; `edit` may rewrite config.json (replacing `from` by `to`).
static void fresh(const char *from, const char *to) {
    char src[512], cmd[2048];
    snprintf(src, sizeof(src), "%s/models/bert-seqcls", KILN_FIXTURES);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s' && cp '%s/config.json' '%s/model.safetensors' '%s/'", tmp, tmp, src, src,
             tmp);
    CHECK(system(cmd) == 0);
    if (from) {
        char path[512];
        snprintf(path, sizeof(path), "%s/config.json", tmp);
        char *cfg = read_text(path), *at = strstr(cfg, from);
        CHECK(at != NULL);
        if (at) {
            char out[16384];
            snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - cfg), cfg, to, at + strlen(from));
            write_text("config.json", out);
        }
        free(cfg);
    }
}

// Rewrites model.safetensors with tensor `name` dropped (dtype NULL) or retyped to `dtype`.
static void rewrite_weights(const char *name, const kiln_dtype *dtype) {
    char path[512];
    snprintf(path, sizeof(path), "%s/model.safetensors", tmp);
    fx_tensors all;
    memset(&all, 0, sizeof(all));
    fe_weights *w = NULL;
    CHECK_OK(fe_safetensors_open(path, &w));
    if (!w) return;
    size_t n = fe_weights_count(w), k = 0;
    kiln_tensor *ts = calloc(n, sizeof(*ts));
    for (size_t i = 0; i < n; i++) {
        const fe_tensor *t = fe_weights_at(w, i);
        if (strcmp(t->name, name) == 0 && !dtype) continue;
        ts[k] = (kiln_tensor){.name = t->name, .dtype = t->dtype, .rank = t->rank, .data = (void *)t->data};
        memcpy(ts[k].shape, t->shape, sizeof(ts[k].shape));
        if (strcmp(t->name, name) == 0) ts[k].dtype = *dtype;
        k++;
    }
    char out[600];
    snprintf(out, sizeof(out), "%s/new.safetensors", tmp);
    CHECK_OK(fe_safetensors_write(out, ts, k));
    free(ts);
    fe_weights_free(w);
    CHECK(rename(out, path) == 0);
}

static void expect_open_fails(const char *what, kiln_status status, const char *needle) {
    kiln_model *m = NULL;
    kiln_status st = kiln_model_open(tmp, NULL, &m);
    CHECK_MSG(st == status && strstr(kiln_last_error(), needle), "%s: got %s \"%s\", want %s containing \"%s\"", what,
              kiln_status_name(st), kiln_last_error(), kiln_status_name(status), needle);
    CHECK(m == NULL);
    kiln_model_free(m);
}

static void rejects_unknown_model_type(void) {
    fresh("\"model_type\": \"bert\"", "\"model_type\": \"gpt9\"");
    expect_open_fails("unknown model_type", KILN_ERR_UNSUPPORTED, "model_type 'gpt9'");
}

static void rejects_malformed_config_json(void) {
    fresh("\"model_type\": \"bert\"", "\"model_type\": \"bert\",,");
    expect_open_fails("malformed JSON", KILN_ERR_FORMAT, "config.json");
}

static void rejects_missing_config(void) {
    fresh(NULL, NULL);
    char path[512];
    snprintf(path, sizeof(path), "%s/config.json", tmp);
    unlink(path);
    expect_open_fails("no config.json", KILN_ERR_IO, "config.json");
}

static void rejects_shape_disagreeing_with_config(void) {
    fresh("\"intermediate_size\": 37", "\"intermediate_size\": 40");
    expect_open_fails("intermediate_size 40", KILN_ERR_FORMAT, "intermediate.dense.weight': shape [37, 32]");
    fresh("\"vocab_size\": 99", "\"vocab_size\": 100");
    expect_open_fails("vocab_size 100", KILN_ERR_FORMAT, "word_embeddings.weight': shape [99, 32]");
}

static void rejects_dtype_disagreeing(void) {
    fresh(NULL, NULL);
    kiln_dtype i32 = KILN_I32;
    rewrite_weights("bert.pooler.dense.weight", &i32);
    expect_open_fails("i32 weight", KILN_ERR_FORMAT, "'bert.pooler.dense.weight': dtype i32");
}

static void rejects_missing_tensor(void) {
    fresh(NULL, NULL);
    rewrite_weights("bert.encoder.layer.1.output.dense.weight", NULL);
    expect_open_fails("missing tensor", KILN_ERR_FORMAT, "missing tensor 'encoder.layer.1.output.dense.weight'");
}

static void rejects_truncated_weights(void) {
    fresh(NULL, NULL);
    char path[512];
    snprintf(path, sizeof(path), "%s/model.safetensors", tmp);
    struct stat sb;
    stat(path, &sb);
    CHECK(truncate(path, sb.st_size / 2) == 0);
    expect_open_fails("truncated safetensors", KILN_ERR_FORMAT, "model.safetensors");
}

static void rejects_unknown_architecture(void) {
    fresh(NULL, NULL);
    kiln_open_options o = kiln_open_options_default();
    o.architecture = "BertForSomethingElse";
    kiln_model *m = NULL;
    CHECK_FAILS(kiln_model_open(tmp, &o, &m), KILN_ERR_UNSUPPORTED, "BertForSomethingElse");
}

// Bad inputs at run time.
static void rejects_bad_inputs(void) {
    fresh(NULL, NULL);
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    kiln_context *ctx = NULL;
    CHECK_OK(kiln_model_open(tmp, NULL, &m));
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = 2;
    co.max_seq = 16;
    if (m) CHECK_OK(kiln_compile(m, &co, &p));
    if (p) CHECK_OK(kiln_context_create(p, NULL, &ctx));
    if (!ctx) goto done;
    co.max_seq = 81;
    kiln_program *p2 = NULL;
    CHECK_FAILS(kiln_compile(m, &co, &p2), KILN_ERR_INVALID_ARG, "max_seq 81");
    int64_t ids[20] = {5, 6, 7, 99};
    float fids[4] = {5, 6, 7, 8};
    kiln_tensor out = {.name = "logits"};
    kiln_tensor in = {.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {1, 4}, .data = ids};
    CHECK_FAILS(kiln_run(ctx, &in, 1, &out, 1), KILN_ERR_INVALID_ARG, "input 'input_ids': element 3 is 99, out of range [0, 99)");
    ids[3] = 8;
    CHECK_OK(kiln_run(ctx, &in, 1, &out, 1));   // attention_mask and token_type_ids default
    in.shape[1] = 17;
    CHECK_FAILS(kiln_run(ctx, &in, 1, &out, 1), KILN_ERR_INVALID_ARG, "exceeds the compiled maximum 16");
    in.shape[1] = 4;
    kiln_tensor bad_dtype = {.name = "input_ids", .dtype = KILN_F32, .rank = 2, .shape = {1, 4}, .data = fids};
    CHECK_FAILS(kiln_run(ctx, &bad_dtype, 1, &out, 1), KILN_ERR_INVALID_ARG, "dtype f32");
    kiln_tensor typo = {.name = "input_idz", .dtype = KILN_I64, .rank = 2, .shape = {1, 4}, .data = ids};
    CHECK_FAILS(kiln_run(ctx, &typo, 1, &out, 1), KILN_ERR_INVALID_ARG, "no input named 'input_idz'");
    kiln_tensor mask = {.name = "attention_mask", .dtype = KILN_I64, .rank = 2, .shape = {1, 4}, .data = ids};
    CHECK_FAILS(kiln_run(ctx, &mask, 1, &out, 1), KILN_ERR_INVALID_ARG, "missing input 'input_ids'");
    kiln_tensor pair[2] = {in, mask};
    pair[1].shape[1] = 3;
    CHECK_FAILS(kiln_run(ctx, pair, 2, &out, 1), KILN_ERR_INVALID_ARG, "'attention_mask': dim 1 is 3, expected 4");
    kiln_tensor wrong_out = {.name = "lgits"};
    CHECK_FAILS(kiln_run(ctx, &in, 1, &wrong_out, 1), KILN_ERR_INVALID_ARG, "no output named 'lgits'");
    float small[2];
    kiln_tensor small_out = {.name = "logits", .data = small, .size_bytes = sizeof(small)};
    CHECK_FAILS(kiln_run(ctx, &in, 1, &small_out, 1), KILN_ERR_INVALID_ARG, "needs 12 bytes");
done:
    kiln_context_free(ctx);
    kiln_program_free(p);
    kiln_model_free(m);
}

int main(void) {
    snprintf(tmp, sizeof(tmp), "/tmp/kiln_model_errors_%d", (int)getpid());
    rejects_unknown_model_type();
    rejects_malformed_config_json();
    rejects_missing_config();
    rejects_shape_disagreeing_with_config();
    rejects_dtype_disagreeing();
    rejects_missing_tensor();
    rejects_truncated_weights();
    rejects_unknown_architecture();
    rejects_bad_inputs();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    return test_summary();
}
