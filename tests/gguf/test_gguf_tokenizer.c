/* test_gguf_tokenizer.c — tokenizers built from GGUF metadata (frontend/tokenizer/load_gguf.c)
 * against Transformers' GGUF tokenizer (tests/reference/make_gguf_tokenizer_reference.py): ids of
 * tok(text), decode with and without special tokens, and chat-template renders tokenized as
 * `kiln run text-generation --chat` does, all exact.
 *   test_gguf_tokenizer          the tiny tests/fixtures/gguf/tiny-llama-f32.gguf, and broken files
 *                                (each refused with a status and a message naming the key)
 *   test_gguf_tokenizer smollm2  the real SmolLM2-135M-Instruct Q4_1 at $KILN_SMOLLM2_GGUF; no file is
 *                                a failure, never a skip
 */
#include <stdint.h>
#include <string.h>

#include "common/common.h"
#include "frontend/gguf.h"
#include "frontend/tokenizer/tokenizer.h"
#include "pipelines/chat_template.h"
#include "tests/frontend/scratch_dir.h"
#include "tests/gguf/gguf_test_util.h"
#include "tests/gguf/gguf_tokenizer_check.h"
#include "tests/gguf/gguf_writer.h"

/* ---- against the reference ----------------------------------------------------------------------- */

static void check_against(const char *gguf_path, const char *ref_name) {
    char ref_path[1024];
    snprintf(ref_path, sizeof(ref_path), "%s/gguf/%s", KILN_FIXTURES, ref_name);
    cJSON *ref = gguf_load_json(ref_path);
    CHECK(ref);
    kiln_tokenizer *tok = NULL;
    CHECK_OK(kiln_tokenizer_open(gguf_path, &tok));
    if (!ref || !tok) goto done;
    gguf_check_cases(tok, ref, ref_name);

    // Chat: the template from the file's metadata, rendered and tokenized without special tokens.
    fe_gguf *g = NULL;
    fe_gguf_tokenizer tk;
    CHECK_OK(fe_gguf_open(gguf_path, &g));
    if (g) CHECK_OK(fe_gguf_get_tokenizer(g, &tk));
    int n_chats = 0;
    for (const cJSON *c = cJSON_GetObjectItem(ref, "chats")->child; g && c; c = c->next, n_chats++) {
        CHECK(tk.chat_template);
        if (!tk.chat_template) break;
        kiln_chat_message msgs[8];
        size_t n = 0;
        for (const cJSON *m = cJSON_GetObjectItem(c, "messages")->child; m && n < 8; m = m->next, n++)
            msgs[n] = (kiln_chat_message){cJSON_GetObjectItem(m, "role")->valuestring, cJSON_GetObjectItem(m, "content")->valuestring};
        char *text = NULL;
        bool gen = cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt"));
        CHECK_OK(pl_chat_render(tk.chat_template, msgs, n, gen, tk.bos_id >= 0 ? tk.tokens[tk.bos_id].data : NULL,
                                tk.eos_id >= 0 ? tk.tokens[tk.eos_id].data : NULL, &text));
        const char *want = cJSON_GetObjectItem(c, "text")->valuestring;
        CHECK_MSG(text && strcmp(text, want) == 0, "chat %d: rendered \"%s\"", n_chats, text ? text : "(null)");
        kiln_encode_options eo = kiln_encode_options_default();
        eo.add_special_tokens = false;
        kiln_batch_encoding b;
        const char *texts[1] = {want};
        CHECK_OK(kiln_tokenizer_encode_batch(tok, texts, NULL, 1, &eo, &b));
        if (b.n_rows == 1) {
            bool same = gguf_ids_equal(&b.rows[0], cJSON_GetObjectItem(c, "ids"));
            CHECK_MSG(same, "chat %d: ids differ", n_chats);
            if (!same) gguf_print_ids("kiln", &b.rows[0]);
        }
        kiln_batch_encoding_free(&b);
        free(text);
    }
    printf("%s: %d chats\n", ref_name, n_chats);
    fe_gguf_free(g);
done:
    kiln_tokenizer_free(tok);
    cJSON_Delete(ref);
}

/* ---- broken files ---------------------------------------------------------------------------------- */

// What a tokenizer-only file may hold; NULL / 0 leaves a key out.
typedef struct tok_spec {
    const char *model, *pre;
    bool tokens_as_i32;   // tokenizer.ggml.tokens written as an array of i32
    bool merges;
    const char *bad_merge;   // replaces the merge list with this one merge
} tok_spec;

static const char *const vocab[] = {"<|endoftext|>", "a", "b", "ab", "Ġ", "Ġab"};

static const char *write_file(const char *name, const tok_spec *s) {
    gbuf b = {0};
    uint64_t n_kv = 2 + (s->model != NULL) + (s->pre != NULL) + (s->merges || s->bad_merge);
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 0);   // no tensors
    put_u64(&b, n_kv);
    put_key(&b, "general.architecture", FE_GGUF_STRING);
    put_str(&b, "llama");
    if (s->model) put_key(&b, "tokenizer.ggml.model", FE_GGUF_STRING), put_str(&b, s->model);
    if (s->pre) put_key(&b, "tokenizer.ggml.pre", FE_GGUF_STRING), put_str(&b, s->pre);
    if (s->tokens_as_i32) {
        put_key(&b, "tokenizer.ggml.tokens", FE_GGUF_ARRAY);
        put_u32(&b, FE_GGUF_I32);
        put_u64(&b, 2);
        put_u32(&b, 1), put_u32(&b, 2);
    } else {
        put_str_array(&b, "tokenizer.ggml.tokens", vocab, KILN_ARRAY_SIZE(vocab));
    }
    static const char *const merges[] = {"a b", "Ġ ab"};
    if (s->bad_merge) put_str_array(&b, "tokenizer.ggml.merges", &s->bad_merge, 1);
    else if (s->merges) put_str_array(&b, "tokenizer.ggml.merges", merges, KILN_ARRAY_SIZE(merges));
    while (b.len % 32) put(&b, "", 1);
    const char *path = scratch_path(name);
    scratch_write(path, b.p, b.len);
    free(b.p);
    return path;
}

static void minimal_file_tokenizes(void) {
    tok_spec s = {.model = "gpt2", .pre = "gpt-2", .merges = true};
    kiln_tokenizer *tok = NULL;
    CHECK_OK(kiln_tokenizer_open(write_file("good.gguf", &s), &tok));
    kiln_encoding e;
    if (tok && kiln_tokenizer_encode(tok, "ab ab", NULL, &e) == KILN_OK) {
        CHECK(e.n == 2 && e.input_ids[0] == 3 && e.input_ids[1] == 5);
        kiln_encoding_free(&e);
    }
    kiln_tokenizer_free(tok);
}

static void open_rejects_tokens_of_wrong_type(void) {
    tok_spec s = {.model = "gpt2", .tokens_as_i32 = true, .merges = true};
    gguf_check_open_fails(write_file("tokens-i32.gguf", &s), KILN_ERR_FORMAT, "tokenizer.ggml.tokens", "array of string");
}

static void open_rejects_missing_merges(void) {
    tok_spec s = {.model = "gpt2", .pre = "gpt-2"};
    gguf_check_open_fails(write_file("no-merges.gguf", &s), KILN_ERR_FORMAT, "tokenizer.ggml.merges", "missing");
}

static void open_rejects_merge_of_unknown_token(void) {
    tok_spec s = {.model = "gpt2", .pre = "gpt-2", .bad_merge = "a c"};
    gguf_check_open_fails(write_file("bad-merge.gguf", &s), KILN_ERR_FORMAT, "tokenizer.ggml.merges", "'c'");
    s.bad_merge = "abab";
    gguf_check_open_fails(write_file("merge-no-space.gguf", &s), KILN_ERR_FORMAT, "tokenizer.ggml.merges", "'abab'");
}

static void open_rejects_unknown_model(void) {
    tok_spec s = {.model = "rwkv", .merges = true};
    gguf_check_open_fails(write_file("rwkv.gguf", &s), KILN_ERR_UNSUPPORTED, "tokenizer.ggml.model", "'rwkv'");
}

static void open_rejects_unknown_pre_tokenizer(void) {
    tok_spec s = {.model = "gpt2", .pre = "no-such-pre", .merges = true};
    gguf_check_open_fails(write_file("pre.gguf", &s), KILN_ERR_UNSUPPORTED, "tokenizer.ggml.pre", "'no-such-pre'");
}

static void open_rejects_file_without_tokenizer(void) {
    tok_spec s = {.merges = true};
    gguf_check_open_fails(write_file("no-model.gguf", &s), KILN_ERR_FORMAT, "tokenizer.ggml.model", "no tokenizer");
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "smollm2") == 0) {
        const char *path = getenv("KILN_SMOLLM2_GGUF");
        CHECK_MSG(path && *path, "KILN_SMOLLM2_GGUF is not set: run `make model` (make test does) to fetch "
                  "SmolLM2-135M-Instruct.Q4_1.gguf into .cache/models/smollm2/ and set it");
        if (path && *path) check_against(path, "smollm2_tokenizer.json");
        return test_summary();
    }
    char tiny[1024];
    snprintf(tiny, sizeof(tiny), "%s/gguf/tiny-llama-f32.gguf", KILN_FIXTURES);
    check_against(tiny, "tiny_tokenizer.json");
    scratch_init("gguf-tok");
    (void)scratch_subdir;   // scratch_dir.h's helpers this test does not need
    (void)scratch_write_text;
    minimal_file_tokenizes();
    open_rejects_tokens_of_wrong_type();
    open_rejects_missing_merges();
    open_rejects_merge_of_unknown_token();
    open_rejects_unknown_model();
    open_rejects_unknown_pre_tokenizer();
    open_rejects_file_without_tokenizer();
    scratch_cleanup();
    return test_summary();
}
