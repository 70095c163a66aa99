/* test_wordpiece.c — the WordPiece (BERT) tokenizer against Hugging Face tokenizers: every case of
 * tests/fixtures/tokenizer/cases.json must give HF's ids, type ids, special mask, sequence ids and
 * byte offsets exactly, for tokenizer.json and for vocab.txt + tokenizer_config.json alike. Then the
 * files and inputs it must reject, one test per bug.
 */
#include <cjson/cJSON.h>

#include "common/common.h"
#include "frontend/tokenizer/tokenizer.h"
#include "tests/test.h"

#define TOK_DIR KILN_FIXTURES "/tokenizer"

static cJSON *load_cases(void) {
    char *text = NULL;
    if (kiln_read_file(TOK_DIR "/cases.json", &text, NULL) != KILN_OK) {
        fprintf(stderr, "%s\n", kiln_last_error());
        return NULL;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    return root;
}

static bool ints_equal(const int32_t *got, const cJSON *want, int32_t n) {
    if (cJSON_GetArraySize(want) != n) return false;
    int32_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, want) if (got[i++] != (int32_t)v->valuedouble) return false;
    return true;
}

static bool offsets_equal(int64_t (*got)[2], const cJSON *want, int32_t n) {
    if (cJSON_GetArraySize(want) != 2 * n) return false;
    int32_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, want) {
        if (got[i / 2][i % 2] != (int64_t)v->valuedouble) return false;
        i++;
    }
    return true;
}

static void print_ids(const char *label, const int32_t *ids, int32_t n) {
    fprintf(stderr, "  %s:", label);
    for (int32_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

// Encodes every case with `t` and compares with the expectations recorded for `variant`.
static void check_cases(const fe_tokenizer *t, const char *label, const cJSON *cases, const char *variant) {
    int n_cases = 0, n_bad = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        const cJSON *pair_item = cJSON_GetObjectItem(c, "pair");
        const char *pair = cJSON_IsString(pair_item) ? pair_item->valuestring : NULL;
        bool add = cJSON_IsTrue(cJSON_GetObjectItem(c, "add_special_tokens"));
        const cJSON *want = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "expect"), variant);
        n_cases++;
        fe_encoding e;
        kiln_status st = fe_tokenizer_encode(t, text, pair, add, &e);
        bool ok = st == KILN_OK;
        if (ok) {
            ok = ints_equal(e.ids, cJSON_GetObjectItem(want, "ids"), e.n) &&
                 ints_equal(e.type_ids, cJSON_GetObjectItem(want, "type_ids"), e.n) &&
                 ints_equal(e.special_mask, cJSON_GetObjectItem(want, "special_mask"), e.n) &&
                 ints_equal(e.sequence_ids, cJSON_GetObjectItem(want, "sequence_ids"), e.n) &&
                 offsets_equal(e.offsets, cJSON_GetObjectItem(want, "offsets"), e.n);
            for (int32_t i = 0; i < e.n; i++) ok = ok && e.attention_mask[i] == 1;
        }
        if (!ok && ++n_bad <= 5) {
            fprintf(stderr, "%s: case %d (text \"%s\", pair %s%s%s, add_special_tokens %d) differs from HF: "
                    "%s\n", label, n_cases - 1, text, pair ? "\"" : "", pair ? pair : "none", pair ? "\"" : "",
                    add, st == KILN_OK ? "" : kiln_last_error());
            if (st == KILN_OK) {
                print_ids("kiln ids", e.ids, e.n);
                fprintf(stderr, "  kiln offsets:");
                for (int32_t i = 0; i < e.n; i++)
                    fprintf(stderr, " (%lld,%lld)", (long long)e.offsets[i][0], (long long)e.offsets[i][1]);
                char *w = cJSON_PrintUnformatted(want);
                fprintf(stderr, "\n  HF: %s\n", w);
                free(w);
            }
        }
        fe_encoding_free(&e);
    }
    CHECK_MSG(n_bad == 0, "%s: %d of %d cases differ from HF", label, n_bad, n_cases);
    CHECK(n_cases >= 500);
    printf("%s: %d of %d cases match HF\n", label, n_cases - n_bad, n_cases);
}

static void test_matches_hf(const cJSON *root) {
    const cJSON *cases = cJSON_GetObjectItem(root, "cases");
    static const char *const variants[] = {"bert-uncased", "bert-cased", "bert-flags"};
    for (size_t v = 0; v < KILN_ARRAY_SIZE(variants); v++) {
        char dir[512], vocab[600], config[600], json[600], label[600];
        snprintf(dir, sizeof(dir), "%s/%s", TOK_DIR, variants[v]);
        snprintf(vocab, sizeof(vocab), "%s/vocab.txt", dir);
        snprintf(config, sizeof(config), "%s/tokenizer_config.json", dir);
        snprintf(json, sizeof(json), "%s/tokenizer.json", dir);

        fe_tokenizer *t = NULL;
        CHECK_OK(fe_tokenizer_open_file(json, &t));
        snprintf(label, sizeof(label), "%s/tokenizer.json", variants[v]);
        if (t) check_cases(t, label, cases, variants[v]);
        fe_tokenizer_free(t);

        t = NULL;
        CHECK_OK(fe_tokenizer_open(dir, &t));   // picks tokenizer.json and reads tokenizer_config.json
        if (t) CHECK(fe_tokenizer_special_id(t, FE_TOK_MASK) == fe_tokenizer_token_to_id(t, "[MASK]"));
        fe_tokenizer_free(t);

        if (strcmp(variants[v], "bert-flags") == 0) continue;   // tokenizer.json only
        t = NULL;
        CHECK_OK(fe_tokenizer_open_vocab(vocab, config, &t));
        snprintf(label, sizeof(label), "%s/vocab.txt", variants[v]);
        if (t) check_cases(t, label, cases, variants[v]);
        fe_tokenizer_free(t);

        if (strcmp(variants[v], "bert-uncased") != 0) continue;
        snprintf(vocab, sizeof(vocab), "%s/vocab_crlf.txt", dir);   // \r\n line ends read as \n
        t = NULL;
        CHECK_OK(fe_tokenizer_open_vocab(vocab, config, &t));
        snprintf(label, sizeof(label), "%s/vocab_crlf.txt", variants[v]);
        if (t) check_cases(t, label, cases, variants[v]);
        fe_tokenizer_free(t);
    }
}

static void test_vocabulary_lookups(void) {
    fe_tokenizer *a = NULL, *b = NULL;
    CHECK_OK(fe_tokenizer_open_file(TOK_DIR "/bert-uncased/tokenizer.json", &a));
    CHECK_OK(fe_tokenizer_open_vocab(TOK_DIR "/bert-uncased/vocab.txt", NULL, &b));
    if (!a || !b) goto done;
    CHECK(fe_tokenizer_vocab_size(a) == fe_tokenizer_vocab_size(b));
    for (int32_t id = 0; id < fe_tokenizer_vocab_size(a); id++) {
        const char *tok = fe_tokenizer_id_to_token(a, id);
        CHECK_MSG(tok && strcmp(tok, fe_tokenizer_id_to_token(b, id)) == 0, "id %d", id);
        if (tok) CHECK_MSG(fe_tokenizer_token_to_id(a, tok) == id, "token %s", tok);
    }
    // The fixture vocabulary starts [PAD] [unused0] [unused1] [UNK] [CLS] [SEP] [MASK].
    // No bos / eos token in a BERT vocabulary.
    static const int32_t want[FE_TOK_SPECIAL_COUNT] = {[FE_TOK_UNK] = 3, [FE_TOK_CLS] = 4, [FE_TOK_SEP] = 5,
                                                       [FE_TOK_PAD] = 0, [FE_TOK_MASK] = 6, [FE_TOK_BOS] = -1,
                                                       [FE_TOK_EOS] = -1};
    for (int i = 0; i < FE_TOK_SPECIAL_COUNT; i++) {
        CHECK(fe_tokenizer_special_id(a, (fe_tok_special)i) == want[i]);
        CHECK(fe_tokenizer_special_id(b, (fe_tok_special)i) == want[i]);
    }
    CHECK(fe_tokenizer_token_to_id(a, "no such token") == -1);
    CHECK(fe_tokenizer_id_to_token(a, -1) == NULL);
    CHECK(fe_tokenizer_id_to_token(a, fe_tokenizer_vocab_size(a)) == NULL);
done:
    fe_tokenizer_free(a);
    fe_tokenizer_free(b);
}

/* ---- what must be rejected ------------------------------------------------------------------ */

static void test_rejects_malformed_tokenizer_json(void) {
    fe_tokenizer *t = (fe_tokenizer *)1;
    CHECK_FAILS(fe_tokenizer_open_file(TOK_DIR "/bad/malformed.json", &t), KILN_ERR_FORMAT, "malformed.json");
    CHECK(t == NULL);
    CHECK_FAILS(fe_tokenizer_open_file(TOK_DIR "/bad/bad_vocab_id.json", &t), KILN_ERR_FORMAT, "model.vocab");
    CHECK_FAILS(fe_tokenizer_open_file(TOK_DIR "/bad/missing_unk.json", &t), KILN_ERR_FORMAT, "unk_token");
}

// One id of 2e9 in a 800-token vocabulary must not make kiln allocate a 16 GB id -> token table.
static void test_rejects_huge_sparse_ids(void) {
    fe_tokenizer *t = NULL;
    CHECK_FAILS(fe_tokenizer_open_file(TOK_DIR "/bad/sparse_ids.json", &t), KILN_ERR_FORMAT,
                "sparse_ids.json: token ids reach 2000000000");
    CHECK(t == NULL);
}

// An added token of half a character would split "中" in the middle (and trip an assert).
static void test_rejects_added_token_that_is_not_utf8(void) {
    fe_tokenizer *t = NULL;
    CHECK_FAILS(fe_tokenizer_open_file(TOK_DIR "/bad/added_token_not_utf8.json", &t), KILN_ERR_FORMAT,
                "added_token_not_utf8.json: added_tokens[");
    CHECK(strstr(kiln_last_error(), "not valid UTF-8") != NULL);
    CHECK(t == NULL);
    fe_tokenizer_free(t);
}

static void test_rejects_missing_vocab_file(void) {
    fe_tokenizer *t = NULL;
    CHECK_FAILS(fe_tokenizer_open_vocab(TOK_DIR "/no-such-dir/vocab.txt", NULL, &t), KILN_ERR_IO, "vocab.txt");
    CHECK(t == NULL);
    CHECK_FAILS(fe_tokenizer_open(TOK_DIR "/no-such-dir", &t), KILN_ERR_IO, "no-such-dir");
    CHECK_FAILS(fe_tokenizer_open(TOK_DIR "/bad", &t), KILN_ERR_IO, "vocab.txt");   // has neither file
    CHECK_FAILS(fe_tokenizer_open_vocab(TOK_DIR "/bert-uncased/vocab.txt", TOK_DIR "/no-such-config.json", &t),
                KILN_ERR_IO, "no-such-config.json");
}

// A component kiln lacks is refused by name, never approximated.
static void test_rejects_unsupported_component_type(void) {
    fe_tokenizer *t = NULL;
    CHECK_FAILS(fe_tokenizer_open_file(TOK_DIR "/bad/unsupported_model.json", &t), KILN_ERR_UNSUPPORTED,
                "unsupported_model.json: model type 'Lattice'");
    CHECK(t == NULL);
    CHECK_FAILS(fe_tokenizer_open_file(TOK_DIR "/bad/unsupported_normalizer.json", &t), KILN_ERR_UNSUPPORTED,
                "normalizer type 'Precompiled'");
    CHECK_FAILS(fe_tokenizer_open_file(TOK_DIR "/bad/unsupported_decoder.json", &t), KILN_ERR_UNSUPPORTED,
                "decoder type 'CTC'");
    CHECK_FAILS(fe_tokenizer_open_file(TOK_DIR "/bad/unsupported_pretokenizer.json", &t), KILN_ERR_UNSUPPORTED,
                "pre_tokenizer type 'UnicodeScripts'");
    CHECK(t == NULL);
}

// A Split regex that PCRE2 cannot compile is a format error naming the field, not a crash later.
static void test_rejects_regex_that_does_not_compile(void) {
    fe_tokenizer *t = NULL;
    CHECK_FAILS(fe_tokenizer_open_file(TOK_DIR "/bad/bad_regex.json", &t), KILN_ERR_FORMAT,
                "bad_regex.json: pre_tokenizer.pattern: the regex /(unclosed/ does not compile");
    CHECK(t == NULL);
}

// A merge whose parts or result are not in the vocabulary (HF: MergeTokenOutOfVocabulary).
static void test_rejects_merge_outside_vocabulary(void) {
    fe_tokenizer *t = NULL;
    CHECK_FAILS(fe_tokenizer_open_file(TOK_DIR "/bad/merge_not_in_vocab.json", &t), KILN_ERR_FORMAT,
                "merge 0: 'ab' (the merged token) is not in the vocabulary");
    CHECK(t == NULL);
}

static void test_rejects_invalid_utf8_input(void) {
    fe_tokenizer *t = NULL;
    CHECK_OK(fe_tokenizer_open_file(TOK_DIR "/bert-uncased/tokenizer.json", &t));
    if (!t) return;
    static const char *const bad[] = {
        "abc\xff",                 // never valid
        "\xc0\xaf",                // overlong '/'
        "\xed\xa0\x80",            // surrogate U+D800
        "\xf4\x90\x80\x80",        // past U+10FFFF
        "ok \xe4\xb8",             // truncated 中
        "\x80 stray continuation",
    };
    for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
        fe_encoding e;
        CHECK_FAILS(fe_tokenizer_encode(t, bad[i], NULL, true, &e), KILN_ERR_INVALID_ARG,
                    "text: invalid UTF-8 at byte");
        CHECK(e.n == 0 && e.ids == NULL);
        CHECK_FAILS(fe_tokenizer_encode(t, "fine", bad[i], true, &e), KILN_ERR_INVALID_ARG,
                    "pair: invalid UTF-8");
    }
    fe_encoding e;
    CHECK_FAILS(fe_tokenizer_encode(t, "abc\xff", NULL, true, &e), KILN_ERR_INVALID_ARG, "byte 3");
    CHECK_FAILS(fe_tokenizer_encode(t, NULL, NULL, true, &e), KILN_ERR_INVALID_ARG, "text is NULL");
    CHECK_FAILS(fe_tokenizer_encode(NULL, "a", NULL, true, &e), KILN_ERR_INVALID_ARG, "NULL");
    fe_tokenizer_free(t);
}

int main(void) {
    cJSON *root = load_cases();
    CHECK_MSG(root != NULL, "cannot read %s/cases.json", TOK_DIR);
    if (root) test_matches_hf(root);
    cJSON_Delete(root);
    test_vocabulary_lookups();
    test_rejects_malformed_tokenizer_json();
    test_rejects_huge_sparse_ids();
    test_rejects_added_token_that_is_not_utf8();
    test_rejects_missing_vocab_file();
    test_rejects_unsupported_component_type();
    test_rejects_regex_that_does_not_compile();
    test_rejects_merge_outside_vocabulary();
    test_rejects_invalid_utf8_input();
    fe_tokenizer_free(NULL);
    fe_encoding_free(NULL);
    return test_summary();
}
