/* test_tokenizer_api.c — the public text API (kiln.h) on the trained fixtures, and what it must
 * refuse: missing tokenizer files (the message says what was looked for), malformed and
 * unsupported files through kiln_tokenizer_open, invalid UTF-8, padding without a pad token,
 * options out of range; decode's corner cases; one tokenizer shared by threads.
 */
#include <pthread.h>
#include <unistd.h>

#include "common/common.h"
#include "tests/test.h"

#define TOK_DIR KILN_FIXTURES "/tokenizer"

// A fresh directory under /tmp holding copies of `files` (NULL-terminated pairs: source, name).
static char *make_dir(const char *const *files) {
    char tmpl[] = "/tmp/kiln-tok-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir) return NULL;
    for (size_t i = 0; files && files[i]; i += 2) {
        char *text = NULL;
        size_t size = 0;
        char *dst = kiln_path_join(dir, files[i + 1]);
        FILE *f = dst ? fopen(dst, "wb") : NULL;
        if (f && kiln_read_file(files[i], &text, &size) == KILN_OK) fwrite(text, 1, size, f);
        else if (f && strncmp(files[i], "text:", 5) == 0) fputs(files[i] + 5, f);
        if (f) fclose(f);
        free(text);
        free(dst);
    }
    return strdup(dir);
}

static void remove_dir(char *dir) {
    if (!dir) return;
    static const char *const names[] = {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                                        "vocab.txt", "special_tokens_map.json"};
    for (size_t i = 0; i < KILN_ARRAY_SIZE(names); i++) {
        char *p = kiln_path_join(dir, names[i]);
        if (p) unlink(p);
        free(p);
    }
    rmdir(dir);
    free(dir);
}

// The message names every file kiln looked for, so that a user knows what to put there.
static void test_missing_files_message_names_what_was_looked_for(void) {
    kiln_tokenizer *tok = (kiln_tokenizer *)1;
    char *empty = make_dir(NULL);
    CHECK_FAILS(kiln_tokenizer_open(empty, &tok), KILN_ERR_IO, "looked for tokenizer.json, vocab.json + merges.txt");
    CHECK(strstr(kiln_last_error(), "vocab.txt") != NULL);
    CHECK(tok == NULL);
    remove_dir(empty);
    const char *only_vocab[] = {TOK_DIR "/gpt2-legacy/vocab.json", "vocab.json", NULL};
    char *half = make_dir(only_vocab);
    CHECK_FAILS(kiln_tokenizer_open(half, &tok), KILN_ERR_IO, "vocab.json is there but merges.txt is not");
    remove_dir(half);
    CHECK_FAILS(kiln_tokenizer_open(TOK_DIR "/no-such-dir", &tok), KILN_ERR_IO, "no-such-dir: no such directory");
    CHECK_FAILS(kiln_tokenizer_open(NULL, &tok), KILN_ERR_INVALID_ARG, "NULL");
}

static void test_rejects_malformed_and_unsupported_files(void) {
    kiln_tokenizer *tok = NULL;
    const char *malformed[] = {TOK_DIR "/bad/malformed.json", "tokenizer.json", NULL};
    char *d = make_dir(malformed);
    CHECK_FAILS(kiln_tokenizer_open(d, &tok), KILN_ERR_FORMAT, "tokenizer.json: not valid JSON near byte");
    remove_dir(d);
    const char *unsupported[] = {TOK_DIR "/bad/unsupported_decoder.json", "tokenizer.json", NULL};
    d = make_dir(unsupported);
    CHECK_FAILS(kiln_tokenizer_open(d, &tok), KILN_ERR_UNSUPPORTED, "decoder type 'CTC' is not supported");
    remove_dir(d);
    // A broken tokenizer_config.json beside a good tokenizer.json is an error too, naming that file.
    const char *bad_config[] = {TOK_DIR "/sp-bpe/tokenizer.json", "tokenizer.json",
                                "text:{\"model_max_length\": \"long\"}", "tokenizer_config.json", NULL};
    d = make_dir(bad_config);
    CHECK_FAILS(kiln_tokenizer_open(d, &tok), KILN_ERR_FORMAT, "tokenizer_config.json: model_max_length");
    remove_dir(d);
    // merges.txt with a line that is not two tokens.
    const char *bad_merges[] = {TOK_DIR "/gpt2-legacy/vocab.json", "vocab.json", "text:#version: 0.2\na b c\n",
                                "merges.txt", NULL};
    d = make_dir(bad_merges);
    CHECK_FAILS(kiln_tokenizer_open(d, &tok), KILN_ERR_FORMAT, "merges.txt: line 2: expected two tokens");
    remove_dir(d);
    CHECK(tok == NULL);
}

static void test_rejects_invalid_utf8_by_position(void) {
    kiln_tokenizer *tok = NULL;
    CHECK_OK(kiln_tokenizer_open(TOK_DIR "/bytelevel-bpe", &tok));
    if (!tok) return;
    const char *texts[] = {"fine", "ab\xc3("}, *pairs[] = {"ok \xe4\xb8", "fine"};
    kiln_batch_encoding b;
    CHECK_FAILS(kiln_tokenizer_encode_batch(tok, texts, NULL, 2, NULL, &b), KILN_ERR_INVALID_ARG,
                "texts[1]: text: invalid UTF-8 at byte 2");
    CHECK(b.n_rows == 0 && b.rows == NULL);
    CHECK_FAILS(kiln_tokenizer_encode_batch(tok, texts, pairs, 1, NULL, &b), KILN_ERR_INVALID_ARG,
                "texts[0]: pair: invalid UTF-8 at byte 3");
    kiln_encoding e;
    CHECK_FAILS(kiln_tokenizer_encode(tok, "\xff", NULL, &e), KILN_ERR_INVALID_ARG, "invalid UTF-8 at byte 0");
    CHECK_FAILS(kiln_tokenizer_encode_batch(tok, NULL, NULL, 1, NULL, &b), KILN_ERR_INVALID_ARG, "NULL");
    kiln_tokenizer_free(tok);
}

// transformers: "Asking to pad but the tokenizer does not have a padding token".
static void test_rejects_padding_without_pad_token(void) {
    const char *files[] = {TOK_DIR "/llama3-bpe/tokenizer.json", "tokenizer.json",
                           "text:{\"model_max_length\": 64}", "tokenizer_config.json", NULL};
    char *d = make_dir(files);
    kiln_tokenizer *tok = NULL;
    CHECK_OK(kiln_tokenizer_open(d, &tok));
    remove_dir(d);
    if (!tok) return;
    CHECK(kiln_tokenizer_pad_id(tok) == -1);
    const char *texts[] = {"a", "bb cc"};
    kiln_encode_options o = kiln_encode_options_default();
    o.padding = KILN_PADDING_LONGEST;
    kiln_batch_encoding b;
    CHECK_FAILS(kiln_tokenizer_encode_batch(tok, texts, NULL, 2, &o, &b), KILN_ERR_INVALID_ARG, "no padding token");
    o.padding = KILN_PADDING_NONE;   // without padding the same batch is fine
    CHECK_OK(kiln_tokenizer_encode_batch(tok, texts, NULL, 2, &o, &b));
    CHECK(b.n_rows == 2 && b.rows[0].n != b.rows[1].n);
    kiln_batch_encoding_free(&b);
    o.padding = (kiln_padding)42;
    CHECK_FAILS(kiln_tokenizer_encode_batch(tok, texts, NULL, 2, &o, &b), KILN_ERR_INVALID_ARG, "out of its enum");
    kiln_tokenizer_free(tok);
}

static void test_decode_corner_cases(void) {
    kiln_tokenizer *tok = NULL;
    CHECK_OK(kiln_tokenizer_open(TOK_DIR "/sp-bpe", &tok));
    if (!tok) return;
    char *text = NULL;
    CHECK_OK(kiln_tokenizer_decode(tok, NULL, 0, NULL, &text));   // nothing decodes to ""
    CHECK(text && strcmp(text, "") == 0);
    free(text);
    int64_t unknown[] = {-5, 1 << 30, kiln_tokenizer_token_to_id(tok, "<s>")};
    kiln_decode_options o = kiln_decode_options_default();
    o.skip_special_tokens = true;
    CHECK_OK(kiln_tokenizer_decode(tok, unknown, 3, &o, &text));   // unknown ids are left out, as HF does
    CHECK(text && strcmp(text, "") == 0);
    free(text);
    CHECK(kiln_tokenizer_token_to_id(tok, "<s>") >= 0);
    CHECK(kiln_tokenizer_id_to_token(tok, kiln_tokenizer_token_to_id(tok, "<s>")) != NULL);
    CHECK(kiln_tokenizer_id_to_token(tok, -1) == NULL);
    CHECK(kiln_tokenizer_vocab_size(tok) > 700);
    CHECK(kiln_tokenizer_model_max_length(tok) == 20);
    CHECK_FAILS(kiln_tokenizer_decode(tok, unknown, 3, NULL, NULL), KILN_ERR_INVALID_ARG, "NULL");
    kiln_tokenizer_free(tok);
}

typedef struct thread_job {
    const kiln_tokenizer *tok;
    const char *const *texts;
    int n;
    int64_t checksum;
} thread_job;

static void *encode_all(void *arg) {
    thread_job *j = arg;
    for (int rep = 0; rep < 20; rep++) {
        kiln_batch_encoding b;
        if (kiln_tokenizer_encode_batch(j->tok, j->texts, NULL, (size_t)j->n, NULL, &b) != KILN_OK) {
            j->checksum = -1;
            return NULL;
        }
        for (size_t r = 0; r < b.n_rows; r++)
            for (size_t i = 0; i < b.rows[r].n; i++) j->checksum += b.rows[r].input_ids[i] * (int64_t)(i + 1);
        kiln_batch_encoding_free(&b);
    }
    return NULL;
}

// One tokenizer, four threads, the same answers as one thread (each thread has its own scratch).
static void test_one_tokenizer_many_threads(void) {
    kiln_tokenizer *tok = NULL;
    CHECK_OK(kiln_tokenizer_open(TOK_DIR "/unigram", &tok));
    if (!tok) return;
    static const char *const texts[] = {"The kiln was cold when we arrived.", "Le café était fermé.",
                                        "我们今天去公园散步", "Emoji 😀 🎉 👍🏽", "x² + y² = z²"};
    thread_job solo = {tok, texts, 5, 0};
    encode_all(&solo);
    pthread_t th[4];
    thread_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (thread_job){tok, texts, 5, 0};
        pthread_create(&th[i], NULL, encode_all, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].checksum == solo.checksum && solo.checksum > 0);
    }
    kiln_tokenizer_free(tok);
}

int main(void) {
    test_missing_files_message_names_what_was_looked_for();
    test_rejects_malformed_and_unsupported_files();
    test_rejects_invalid_utf8_by_position();
    test_rejects_padding_without_pad_token();
    test_decode_corner_cases();
    test_one_tokenizer_many_threads();
    kiln_tokenizer_free(NULL);
    kiln_encoding_free(NULL);
    kiln_batch_encoding_free(NULL);
    return test_summary();
}
