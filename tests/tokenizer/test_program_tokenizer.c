/* test_program_tokenizer.c — a program carries its checkpoint's tokenizer: compiled from a copy of
 * a pipeline fixture, saved, the copy deleted, loaded again — kiln_program_tokenizer still gives
 * the original tokenizer's encodings and a pipeline made from the loaded program (no tokenizer
 * path) gives the same answers. And the in-memory file source on its own, for each tokenizer
 * layout (tokenizer.json; vocab.json + merges.txt; vocab.txt), against the same files on disk.
 */
#include <unistd.h>

#include "frontend/tokenizer/tokenizer.h"
#include "common/common.h"
#include "test.h"

static const char *const texts[] = {"I love this movie!", "The weather is terrible today.", "Zoë visited São Paulo ☃"};

static void same_encodings(const kiln_tokenizer *a, const kiln_tokenizer *b, const char *what) {
    for (size_t i = 0; i < KILN_ARRAY_SIZE(texts); i++) {
        kiln_encoding x, y;
        CHECK_OK(kiln_tokenizer_encode(a, texts[i], NULL, &x));
        CHECK_OK(kiln_tokenizer_encode(b, texts[i], NULL, &y));
        CHECK_MSG(x.n == y.n && memcmp(x.input_ids, y.input_ids, x.n * sizeof(int64_t)) == 0 &&
                      memcmp(x.offsets, y.offsets, x.n * sizeof(int64_t[2])) == 0,
                  "%s: \"%s\" encodes differently", what, texts[i]);
        kiln_encoding_free(&x);
        kiln_encoding_free(&y);
    }
}

static bool copy_file(const char *from, const char *to) {
    char *data = NULL;
    size_t size = 0;
    if (kiln_read_file(from, &data, &size)) return false;
    FILE *f = fopen(to, "wb");
    bool ok = f && fwrite(data, 1, size, f) == size;
    if (f) fclose(f);
    free(data);
    return ok;
}

static void test_saved_program_takes_text_in_after_its_checkpoint_is_gone(void) {
    char tmpl[] = "/tmp/kiln-progtok-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir) return;
    static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"};
    char from[512], to[600], saved[600];
    for (size_t i = 0; i < KILN_ARRAY_SIZE(files); i++) {
        snprintf(from, sizeof(from), "%s/pipelines/tc-single/%s", KILN_FIXTURES, files[i]);
        snprintf(to, sizeof(to), "%s/%s", dir, files[i]);
        CHECK_MSG(copy_file(from, to), "copy %s", from);
    }
    kiln_model *m = NULL;
    kiln_program *prog = NULL, *loaded = NULL;
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = 4;
    co.max_seq = 64;
    co.passes = "none";   // interpreter programs with fused regions are not saved as program files
    if (m) CHECK_OK(kiln_compile(m, &co, &prog));
    snprintf(saved, sizeof(saved), "%s.kiln", dir);
    if (prog) CHECK_OK(kiln_program_save(prog, saved, NULL));
    kiln_program_free(prog);
    kiln_model_free(m);
    for (size_t i = 0; i < KILN_ARRAY_SIZE(files); i++) {   // the checkpoint is gone
        snprintf(to, sizeof(to), "%s/%s", dir, files[i]);
        unlink(to);
    }
    rmdir(dir);
    CHECK_OK(kiln_program_load(saved, &loaded));
    kiln_tokenizer *tok = NULL, *want = NULL;
    if (loaded) CHECK_OK(kiln_program_tokenizer(loaded, &tok));
    snprintf(from, sizeof(from), "%s/pipelines/tc-single", KILN_FIXTURES);
    CHECK_OK(kiln_tokenizer_open(from, &want));
    if (tok && want) same_encodings(tok, want, "saved program");
    // a pipeline from the loaded program alone, against one opened from the fixture directory
    kiln_pipeline *a = NULL, *b = NULL;
    char *ja = NULL, *jb = NULL;
    if (loaded) CHECK_OK(kiln_pipeline_create("text-classification", loaded, NULL, &a));
    kiln_model *m2 = NULL;
    kiln_program *p2 = NULL;
    CHECK_OK(kiln_model_open(from, NULL, &m2));
    if (m2) CHECK_OK(kiln_compile(m2, &co, &p2));
    kiln_pipeline_options po = kiln_pipeline_options_default();
    po.tokenizer_path = from;
    if (p2) CHECK_OK(kiln_pipeline_create("text-classification", p2, &po, &b));
    if (a && b) {
        CHECK_OK(kiln_pipeline_run(a, texts, NULL, 2, &ja));
        CHECK_OK(kiln_pipeline_run(b, texts, NULL, 2, &jb));
        CHECK_MSG(ja && jb && strcmp(ja, jb) == 0, "pipelines differ: %s vs %s", ja ? ja : "-", jb ? jb : "-");
    }
    free(ja);
    free(jb);
    kiln_pipeline_free(a);
    kiln_pipeline_free(b);
    kiln_program_free(p2);
    kiln_model_free(m2);
    kiln_tokenizer_free(tok);
    kiln_tokenizer_free(want);
    kiln_program_free(loaded);
    unlink(saved);
}

// Files of one fixture directory in memory; the encodings of fe_tokenizer_open_src over them must
// equal fe_tokenizer_open on the directory.
static void test_memory_source(const char *name) {
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/tokenizer/%s", KILN_FIXTURES, name);
    fe_tok_file files[8];
    char *data[8] = {0};
    int32_t n = 0;
    for (int i = 0; fe_tok_file_names[i] && n < 8; i++) {
        size_t size = 0;
        snprintf(path, sizeof(path), "%s/%s", dir, fe_tok_file_names[i]);
        if (access(path, F_OK) != 0 || kiln_read_file(path, &data[n], &size)) continue;
        files[n] = (fe_tok_file){fe_tok_file_names[i], data[n], size};
        n++;
    }
    fe_tok_src src = {files, n};
    fe_tokenizer *a = NULL, *b = NULL;
    CHECK_OK(fe_tokenizer_open_src(&src, "(memory)", &a));
    CHECK_OK(fe_tokenizer_open(dir, &b));
    for (size_t i = 0; a && b && i < KILN_ARRAY_SIZE(texts); i++) {
        fe_encoding x, y;
        CHECK_OK(fe_tokenizer_encode(a, texts[i], NULL, true, &x));
        CHECK_OK(fe_tokenizer_encode(b, texts[i], NULL, true, &y));
        CHECK_MSG(x.n == y.n && memcmp(x.ids, y.ids, (size_t)x.n * sizeof(int32_t)) == 0, "%s: \"%s\" differs in memory", name, texts[i]);
        fe_encoding_free(&x);
        fe_encoding_free(&y);
    }
    fe_tokenizer_free(a);
    fe_tokenizer_free(b);
    // an empty source says what it looked for
    fe_tok_src none = {files, 0};
    fe_tokenizer *c = NULL;
    CHECK_FAILS(fe_tokenizer_open_src(&none, "(memory)", &c), KILN_ERR_IO, "looked for tokenizer.json");
    for (int32_t i = 0; i < n; i++) free(data[i]);
}

int main(void) {
    test_saved_program_takes_text_in_after_its_checkpoint_is_gone();
    test_memory_source("bert-uncased");
    test_memory_source("gpt2-legacy");
    test_memory_source("bytelevel-bpe");
    return test_summary();
}
