/* test_bert_fixtures.c — every BERT-family fixture (family × head, f16 and bf16 checkpoints) run
 * by the interpreter against Transformers' recorded outputs (tests/reference/make_bert_fixtures.py).
 * One program per fixture, compiled once for batch ≤ 3 and seq ≤ 64, serves every case (seq 1,
 * 7, 64 and a padded batch of 3): no recompiling per length.
 *
 * Tolerance: 1e-4 absolute on every output. Positions where attention_mask is 0 are skipped for
 * per-token outputs: Transformers computes them, but their values are not part of the model's
 * contract (padded queries), so kiln need not match them.
 */
#include <cjson/cJSON.h>

#include "fixture.h"

static void run_fixture(const char *name, const cJSON *cases, const char *arch) {
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/models/%s", KILN_FIXTURES, name);
    kiln_model *m = NULL;
    kiln_program *prog = NULL;
    kiln_context *ctx = NULL;
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    if (!m) return;
    CHECK_MSG(strcmp(kiln_model_architecture(m), arch) == 0, "%s: architecture %s, want %s", name, kiln_model_architecture(m), arch);
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = 3;
    co.max_seq = 64;
    CHECK_OK(kiln_compile(m, &co, &prog));
    if (prog) CHECK_OK(kiln_context_create(prog, NULL, &ctx));
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        if (!ctx) break;
        fx_tensors in, want;
        snprintf(path, sizeof(path), "%s/inputs_%s.safetensors", dir, c->string);
        CHECK_OK(fx_load(path, &in));
        snprintf(path, sizeof(path), "%s/outputs_%s.safetensors", dir, c->string);
        CHECK_OK(fx_load(path, &want));
        kiln_tensor out[8];
        size_t n_out = 0;
        for (size_t i = 0; i < want.n && n_out < 8; i++) out[n_out++] = (kiln_tensor){.name = want.t[i].name};
        kiln_status st = kiln_run(ctx, in.t, in.n, out, n_out);
        CHECK_MSG(st == KILN_OK, "%s/%s: run: %s", name, c->string, kiln_last_error());
        const kiln_tensor *mask = fx_find(&in, "attention_mask");
        for (size_t i = 0; st == KILN_OK && i < n_out; i++) {
            bool per_token = strcmp(out[i].name, "pooler_output") != 0 && !strstr(arch, "ForSequenceClassification");
            double d = fx_max_diff(&out[i], &want.t[i], per_token ? mask : NULL);
            CHECK_MSG(d >= 0 && d <= 1e-4, "%s/%s: %s differs from Transformers by %g", name, c->string, out[i].name, d);
        }
        fx_free(&in);
        fx_free(&want);
    }
    kiln_context_free(ctx);
    kiln_program_free(prog);
    kiln_model_free(m);
}

int main(void) {
    char path[512], *text = NULL;
    snprintf(path, sizeof(path), "%s/models/MANIFEST.json", KILN_FIXTURES);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return test_summary();
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc(1, (size_t)size + 1);
    CHECK(fread(text, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    cJSON *manifest = cJSON_Parse(text);
    free(text);
    const cJSON *fx;
    int n = 0;
    cJSON_ArrayForEach(fx, cJSON_GetObjectItem(manifest, "fixtures")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(fx, "name"));
        const char *arch = cJSON_GetStringValue(cJSON_GetObjectItem(fx, "architecture"));
        run_fixture(name, cJSON_GetObjectItem(fx, "cases"), arch);
        n++;
    }
    CHECK_MSG(n >= 20, "only %d fixtures in the manifest", n);
    cJSON_Delete(manifest);
    return test_summary();
}
