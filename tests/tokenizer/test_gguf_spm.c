/* test_gguf_spm.c — GGUF SentencePiece tokenizers (tokenizer.ggml.model "llama": LLaMA-2, TinyLlama,
 * Mistral) against llama.cpp, the runtime the files are made for:
 *   - tests/fixtures/gguf/tiny-spm.gguf, a SentencePiece BPE model trained on English and Chinese
 *     text with byte fallback, and llama.cpp's ids and decoded text for 238 strings
 *     (tests/reference/make_gguf_spm_fixture.py writes both), all exact;
 *   - a hand-made vocabulary whose merge order is worked out by hand (and was checked with
 *     llama.cpp): equal scores merge the leftmost pair, a stale pair is skipped, byte fallback,
 *     unk without byte tokens, user-defined tokens, add_space_prefix false;
 *   - broken files, each refused with a status and a message naming the file and the key.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/common.h"
#include "tests/frontend/scratch_dir.h"
#include "tests/gguf/gguf_test_util.h"
#include "tests/gguf/gguf_tokenizer_check.h"
#include "tests/gguf/gguf_writer.h"

static void matches_llamacpp(void) {
    char gguf_path[1024], ref_path[1024];
    snprintf(gguf_path, sizeof(gguf_path), "%s/gguf/tiny-spm.gguf", KILN_FIXTURES);
    snprintf(ref_path, sizeof(ref_path), "%s/gguf/spm_tokenizer.json", KILN_FIXTURES);
    cJSON *ref = gguf_load_json(ref_path);
    kiln_tokenizer *tok = NULL;
    CHECK(ref);
    CHECK_OK(kiln_tokenizer_open(gguf_path, &tok));
    if (ref && tok) {
        CHECK(gguf_check_cases(tok, ref, "spm_tokenizer.json") >= 200);
        // Token strings as the file spells them; byte tokens and control tokens by name.
        CHECK(strcmp(kiln_tokenizer_id_to_token(tok, 1), "<s>") == 0);
        CHECK(kiln_tokenizer_token_to_id(tok, "<0x41>") == 6 + 0x41);   // after <unk> <s> </s> and 3 user symbols
        CHECK(kiln_tokenizer_token_to_id(tok, "<|im_end|>") >= 0);
        CHECK(kiln_tokenizer_token_to_id(tok, "\xE2\x96\x81") >= 0);
    }
    kiln_tokenizer_free(tok);
    cJSON_Delete(ref);
}

/* ---- hand-made files --------------------------------------------------------------------------------- */

// What a tokenizer-only SPM file holds; the fields say what to break.
typedef struct spm_spec {
    int add_space_prefix;    // -1: key absent
    bool no_scores;
    size_t n_scores;         // 0: one per token
    int32_t bad_type;        // != 0: token 5's type
    bool nan_score;
} spm_spec;

static const char *const vocab[] = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "ab", "ba", "\xE2\x96\x81" "a",
                                    "<0x63>", "<0xC3>", "<0xA9>", "[x]"};
enum { N_VOCAB = 13 };
static const float scores[N_VOCAB] = {0, 0, 0, -5, -6, -6, -1, -1, -2, 0, 0, 0, 0};
static const int32_t types[N_VOCAB] = {2, 3, 3, 1, 1, 1, 1, 1, 1, 6, 6, 6, 4};

static const char *write_spm(const char *name, const spm_spec *s) {
    gbuf b = {0};
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 0);   // no tensors
    put_u64(&b, 5 + !s->no_scores + (s->add_space_prefix >= 0));
    put_key(&b, "general.architecture", FE_GGUF_STRING);
    put_str(&b, "llama");
    put_key(&b, "tokenizer.ggml.model", FE_GGUF_STRING);
    put_str(&b, "llama");
    put_str_array(&b, "tokenizer.ggml.tokens", vocab, N_VOCAB);
    if (!s->no_scores) {
        size_t n = s->n_scores ? s->n_scores : N_VOCAB;
        put_key(&b, "tokenizer.ggml.scores", FE_GGUF_ARRAY);
        put_u32(&b, FE_GGUF_F32);
        put_u64(&b, n);
        for (size_t i = 0; i < n; i++) {
            float v = s->nan_score && i == 4 ? NAN : scores[i % N_VOCAB];
            put(&b, &v, 4);
        }
    }
    put_key(&b, "tokenizer.ggml.token_type", FE_GGUF_ARRAY);
    put_u32(&b, FE_GGUF_I32);
    put_u64(&b, N_VOCAB);
    for (int i = 0; i < N_VOCAB; i++) put_u32(&b, (uint32_t)(s->bad_type && i == 5 ? s->bad_type : types[i]));
    put_key(&b, "tokenizer.ggml.add_bos_token", FE_GGUF_BOOL);
    put_u8(&b, 1);
    if (s->add_space_prefix >= 0) put_key(&b, "tokenizer.ggml.add_space_prefix", FE_GGUF_BOOL), put_u8(&b, (uint8_t)s->add_space_prefix);
    pad_to(&b, 32);
    const char *path = scratch_path(name);
    scratch_write(path, b.p, b.len);
    free(b.p);
    return path;
}

typedef struct hand_case {
    const char *text;
    int64_t ids[6];
    int n;
    const char *decode, *decode_skip;
} hand_case;

static void check_hand_case(const kiln_tokenizer *tok, const hand_case *c, int idx) {
    kiln_encoding e;
    kiln_status st = kiln_tokenizer_encode(tok, c->text, NULL, &e);
    CHECK_MSG(st == KILN_OK, "hand case %d: %s", idx, kiln_last_error());
    if (st != KILN_OK) return;
    bool same = e.n == (size_t)c->n && memcmp(e.input_ids, c->ids, (size_t)c->n * sizeof(int64_t)) == 0;
    CHECK_MSG(same, "hand case %d \"%s\": ids differ", idx, c->text);
    if (!same) gguf_print_ids("kiln", &e);
    gguf_check_decode(tok, &e, false, c->decode, idx);
    gguf_check_decode(tok, &e, true, c->decode_skip, idx);
    kiln_encoding_free(&e);
}

// llama.cpp's ids for each text (make_gguf_spm_fixture.py's tokenizer on this vocabulary gives
// them too), worked out by hand in the comments.
static void merges_as_llamacpp(void) {
    static const hand_case with_prefix[] = {
        // "▁bab": "ba" and "ab" score the same, the leftmost merges; "▁ba" and "bab" are no tokens
        {"bab", {1, 3, 7, 5}, 4, "<s> bab", "bab"},
        // "▁abab": "ab" at 1 first, then the queued "ba" at 2 is stale, "ab" at 3 merges; "▁a" lost
        {"abab", {1, 3, 6, 6}, 4, "<s> abab", "abab"},
        {"c", {1, 3, 9}, 3, "<s> c", "c"},                              // byte fallback
        {"\xC3\xA9", {1, 3, 10, 11}, 4, "<s> \xC3\xA9", "\xC3\xA9"},    // two bytes make "é" again
        // a user-defined token splits the text, and the text after it gets its own "▁"
        {"a[x]b", {1, 8, 12, 3, 5}, 5, "<s> a[x] b", "a[x] b"},
        {"<s>a", {1, 1, 8}, 3, "<s><s> a", "a"},
        {"a b", {1, 8, 3, 5}, 4, "<s> a b", "a b"},
        {"", {1}, 1, "<s>", ""},
        // no <0x64> and no "d": unk (llama.cpp throws here)
        {"d", {1, 3, 0}, 3, "<s> <unk>", ""},
    };
    static const hand_case without_prefix[] = {
        {"bab", {1, 7, 5}, 3, "<s>bab", "bab"},
        {"a[x]b", {1, 4, 12, 5}, 4, "<s>a[x]b", "a[x]b"},
        {"a b", {1, 4, 3, 5}, 4, "<s>a b", "a b"},
    };
    kiln_tokenizer *tok = NULL;
    spm_spec s = {.add_space_prefix = -1};
    CHECK_OK(kiln_tokenizer_open(write_spm("hand.gguf", &s), &tok));
    if (tok) {
        // bos / eos / unk are llama.cpp's SPM defaults (1, 2, 0): the file names none
        CHECK(kiln_tokenizer_special_id(tok, KILN_TOKEN_BOS) == 1 && kiln_tokenizer_special_id(tok, KILN_TOKEN_EOS) == 2 &&
              kiln_tokenizer_special_id(tok, KILN_TOKEN_UNK) == 0);
        for (size_t i = 0; i < KILN_ARRAY_SIZE(with_prefix); i++) check_hand_case(tok, &with_prefix[i], (int)i);
    }
    kiln_tokenizer_free(tok);
    tok = NULL;
    s.add_space_prefix = 0;
    CHECK_OK(kiln_tokenizer_open(write_spm("hand-no-prefix.gguf", &s), &tok));
    for (size_t i = 0; i < KILN_ARRAY_SIZE(without_prefix); i++) check_hand_case(tok, &without_prefix[i], (int)i);
    kiln_tokenizer_free(tok);
}

/* ---- broken files ------------------------------------------------------------------------------------ */

static void open_rejects_missing_scores(void) {
    spm_spec s = {.add_space_prefix = -1, .no_scores = true};
    gguf_check_open_fails(write_spm("no-scores.gguf", &s), KILN_ERR_FORMAT, "no-scores.gguf: missing key 'tokenizer.ggml.scores'", NULL);
}

static void open_rejects_scores_of_other_length(void) {
    spm_spec s = {.add_space_prefix = -1, .n_scores = N_VOCAB - 1};
    gguf_check_open_fails(write_spm("short-scores.gguf", &s), KILN_ERR_FORMAT, "short-scores.gguf: key 'tokenizer.ggml.scores'",
                          "12 scores for 13 tokens");
}

static void open_rejects_token_type_out_of_range(void) {
    spm_spec s = {.add_space_prefix = -1, .bad_type = 7};
    gguf_check_open_fails(write_spm("bad-type.gguf", &s), KILN_ERR_FORMAT, "bad-type.gguf: key 'tokenizer.ggml.token_type'",
                          "token 5 has type 7");
    s.bad_type = -1;
    gguf_check_open_fails(write_spm("negative-type.gguf", &s), KILN_ERR_FORMAT, "tokenizer.ggml.token_type", "type -1");
}

static void open_rejects_nan_score(void) {
    spm_spec s = {.add_space_prefix = -1, .nan_score = true};
    gguf_check_open_fails(write_spm("nan-score.gguf", &s), KILN_ERR_FORMAT, "nan-score.gguf: key 'tokenizer.ggml.scores'",
                          "token 4 is NaN");
}

int main(void) {
    matches_llamacpp();
    scratch_init("gguf-spm");
    (void)scratch_subdir;   // scratch_dir.h's helpers this test does not need
    (void)scratch_write_text;
    merges_as_llamacpp();
    open_rejects_missing_scores();
    open_rejects_scores_of_other_length();
    open_rejects_token_type_out_of_range();
    open_rejects_nan_score();
    scratch_cleanup();
    return test_summary();
}
