/* test_llvm_models.c — every model fixture (tests/fixtures/models/MANIFEST.json: BERT, RoBERTa,
 * DistilBERT × heads, f16 and bf16 checkpoints) compiled by the CPU backend and checked against
 * Transformers' recorded outputs within 1e-4, as tests/models/test_bert_fixtures.c does for the
 * interpreter: one program per fixture (batch ≤ 3, seq ≤ 64) serves every case; contexts on one
 * and two threads. Positions the attention mask pads are skipped for per-token outputs.
 *
 * Every compile hands libLLVM's code pages back (codegen/llvm/release.c): the test checks they are
 * gone from the resident set after each one, and every compile after the first runs on pages
 * faulted back in, so the fixtures' numbers also show that nothing was lost.
 */
#include <cjson/cJSON.h>

#include "models/fixture.h"

// Resident KiB of libLLVM's code mappings (/proc/self/smaps; its read-only data after relocation,
// RELRO, was written and stays); -1 when it is not a shared library of its own.
static long llvm_code_rss_kb(void) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[1024];
    bool in_llvm = false, found = false;
    long kb = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && strchr(line, ' ')) {
            in_llvm = strstr(line, "libLLVM") != NULL && perms[2] == 'x';
            found |= in_llvm;
        } else if (in_llvm && strncmp(line, "Rss:", 4) == 0) {
            kb += atol(line + 4);
        }
    }
    fclose(f);
    return found ? kb : -1;
}

static void run_fixture(const char *name, const cJSON *cases, const char *arch) {
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/models/%s", KILN_FIXTURES, name);
    kiln_model *m = NULL;
    kiln_program *prog = NULL;
    kiln_context *ctx[2] = {NULL, NULL};
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    if (!m) return;
    kiln_compile_options co = kiln_compile_options_default();
    co.target = KILN_TARGET_CPU;
    co.max_batch = 3;
    co.max_seq = 64;
    long before = llvm_code_rss_kb();
    CHECK_OK(kiln_compile(m, &co, &prog));
    long after = llvm_code_rss_kb();
    if (before >= 0) CHECK_MSG(after < 4096, "%s: %ld KiB of libLLVM's code still resident after compiling (%ld before)", name, after, before);
    kiln_context_options two = {.n_threads = 2};
    if (prog) {
        CHECK_OK(kiln_context_create(prog, NULL, &ctx[0]));
        CHECK_OK(kiln_context_create(prog, &two, &ctx[1]));
        kiln_program_info info;
        CHECK_OK(kiln_program_get_info(prog, &info));
        CHECK(strcmp(info.backend, "cpu") == 0 && info.n_kernels > 0 && info.n_kernels < info.n_launches);
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        if (!ctx[0] || !ctx[1]) break;
        fx_tensors in, want;
        snprintf(path, sizeof(path), "%s/inputs_%s.safetensors", dir, c->string);
        CHECK_OK(fx_load(path, &in));
        snprintf(path, sizeof(path), "%s/outputs_%s.safetensors", dir, c->string);
        CHECK_OK(fx_load(path, &want));
        for (int t = 0; t < 2; t++) {
            kiln_tensor out[8];
            size_t n_out = 0;
            for (size_t i = 0; i < want.n && n_out < 8; i++) out[n_out++] = (kiln_tensor){.name = want.t[i].name};
            kiln_status st = kiln_run(ctx[t], in.t, in.n, out, n_out);
            CHECK_MSG(st == KILN_OK, "%s/%s: run: %s", name, c->string, kiln_last_error());
            const kiln_tensor *mask = fx_find(&in, "attention_mask");
            for (size_t i = 0; st == KILN_OK && i < n_out; i++) {
                bool per_token = strcmp(out[i].name, "pooler_output") != 0 && !strstr(arch, "ForSequenceClassification");
                double d = fx_max_diff(&out[i], &want.t[i], per_token ? mask : NULL);
                CHECK_MSG(d >= 0 && d <= 1e-4, "%s/%s (%d threads): %s differs from Transformers by %g", name, c->string, t + 1,
                          out[i].name, d);
            }
        }
        fx_free(&in);
        fx_free(&want);
    }
    kiln_context_free(ctx[0]);
    kiln_context_free(ctx[1]);
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
