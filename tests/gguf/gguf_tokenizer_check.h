/* gguf_tokenizer_check.h — what the GGUF tokenizer tests share (test_gguf_tokenizer.c against
 * Transformers, tokenizer/test_gguf_spm.c against llama.cpp): a recorded reference's special ids
 * and cases (text, ids, decode with and without special tokens) checked exactly, and a check that
 * a broken file is refused with a status and a message naming what is wrong.
 */
#ifndef KILN_TEST_GGUF_TOKENIZER_CHECK_H
#define KILN_TEST_GGUF_TOKENIZER_CHECK_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <string.h>

#include "kiln.h"
#include "tests/test.h"

static inline bool gguf_ids_equal(const kiln_encoding *e, const cJSON *want) {
    if (e->n != (size_t)cJSON_GetArraySize(want)) return false;
    size_t i = 0;
    for (const cJSON *w = want->child; w; w = w->next, i++)
        if (e->input_ids[i] != (int64_t)w->valuedouble) return false;
    return true;
}

static inline void gguf_print_ids(const char *what, const kiln_encoding *e) {
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < e->n && i < 40; i++) fprintf(stderr, " %lld", (long long)e->input_ids[i]);
    fputc('\n', stderr);
}

static inline void gguf_check_decode(const kiln_tokenizer *tok, const kiln_encoding *e, bool skip, const char *want,
                                     int idx) {
    kiln_decode_options o = kiln_decode_options_default();
    o.skip_special_tokens = skip;
    char *text = NULL;
    CHECK_OK(kiln_tokenizer_decode(tok, e->input_ids, e->n, &o, &text));
    CHECK_MSG(text && strcmp(text, want) == 0, "case %d: decode(skip_special_tokens=%d) gives \"%s\", want \"%s\"", idx,
              skip, text ? text : "(null)", want);
    free(text);
}

// The reference's vocab_size, {bos,eos,pad,unk}_token_id (null: none) and every case of "cases":
// kiln_tokenizer_encode's ids, and decode with and without special tokens. Returns the cases seen.
static inline int gguf_check_cases(const kiln_tokenizer *tok, const cJSON *ref, const char *ref_name) {
    CHECK_MSG(kiln_tokenizer_vocab_size(tok) == (int64_t)cJSON_GetObjectItem(ref, "vocab_size")->valuedouble,
              "vocab size %lld", (long long)kiln_tokenizer_vocab_size(tok));
    static const struct {
        const char *key;
        kiln_special_token which;
    } specials[] = {{"bos_token_id", KILN_TOKEN_BOS}, {"eos_token_id", KILN_TOKEN_EOS},
                    {"pad_token_id", KILN_TOKEN_PAD}, {"unk_token_id", KILN_TOKEN_UNK}};
    for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
        const cJSON *want = cJSON_GetObjectItem(ref, specials[i].key);
        int64_t id = kiln_tokenizer_special_id(tok, specials[i].which);
        CHECK_MSG(cJSON_IsNull(want) ? id == -1 : id == (int64_t)want->valuedouble, "%s: %lld", specials[i].key, (long long)id);
    }
    int idx = 0, n_bad = 0;
    for (const cJSON *c = cJSON_GetObjectItem(ref, "cases")->child; c; c = c->next, idx++) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        kiln_encoding e;
        kiln_status st = kiln_tokenizer_encode(tok, text, NULL, &e);
        CHECK_MSG(st == KILN_OK, "case %d: %s", idx, kiln_last_error());
        if (st) continue;
        bool same = gguf_ids_equal(&e, cJSON_GetObjectItem(c, "ids"));
        CHECK_MSG(same, "%s case %d: ids differ for \"%.80s\"", ref_name, idx, text);
        if (!same && n_bad++ < 5) gguf_print_ids("kiln", &e);
        gguf_check_decode(tok, &e, false, cJSON_GetObjectItem(c, "decode")->valuestring, idx);
        gguf_check_decode(tok, &e, true, cJSON_GetObjectItem(c, "decode_skip_special")->valuestring, idx);
        kiln_encoding_free(&e);
    }
    printf("%s: %d strings\n", ref_name, idx);
    return idx;
}

// kiln_tokenizer_open(path) fails with `status`, leaves NULL, and its message holds n1 and n2 (when not NULL).
static inline void gguf_check_open_fails(const char *path, kiln_status status, const char *n1, const char *n2) {
    kiln_tokenizer *tok = (kiln_tokenizer *)(uintptr_t)1;
    kiln_status st = kiln_tokenizer_open(path, &tok);
    const char *msg = kiln_last_error();
    CHECK_MSG(st == status, "%s: got %s, want %s (%s)", path, kiln_status_name(st), kiln_status_name(status), msg);
    CHECK(tok == NULL);
    if (st == KILN_OK) kiln_tokenizer_free(tok);
    CHECK_MSG(!n1 || strstr(msg, n1), "message \"%s\" lacks \"%s\"", msg, n1);
    CHECK_MSG(!n2 || strstr(msg, n2), "message \"%s\" lacks \"%s\"", msg, n2);
}

#endif  // KILN_TEST_GGUF_TOKENIZER_CHECK_H
