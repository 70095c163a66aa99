/* fuzz_gguf_tokenizer.c — libFuzzer target for tokenizers read from GGUF metadata (load_gguf.c,
 * spm.c, bpe.c): whatever the bytes, a status with a message or a tokenizer that encodes and
 * decodes without a crash, a leak or an out-of-bounds access. The first byte picks the mode:
 *   even: the rest is a .gguf file: open its tokenizer; when accepted, encode and decode a few
 *         strings (ASCII, Chinese, emoji, special-token markup, invalid UTF-8 is refused);
 *   odd:  the rest is text for the tokenizers of tests/fixtures/gguf/tiny-spm.gguf (SentencePiece,
 *         byte fallback) and tiny-llama-f32.gguf (byte-level BPE), encoded with and without
 *         special tokens; its bytes read as ids (any int32, out-of-range ones too) are decoded.
 * Build with -DKILN_FUZZ=ON and clang; seeds: the .gguf files in tests/fixtures/gguf/ (prefix a
 * 0 byte) and any text (prefix a 1 byte). A crash found here becomes a case in test_gguf_spm.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "frontend/tokenizer/tokenizer.h"

static char path[64];
static fe_tokenizer *fixed[2];

static void cleanup(void) {
    unlink(path);
    for (int i = 0; i < 2; i++) fe_tokenizer_free(fixed[i]);
}

static void round_trip(const fe_tokenizer *t, const char *text) {
    for (int special = 0; special < 2; special++) {
        fe_encoding e = {0};
        if (fe_tokenizer_encode(t, text, NULL, special, &e) == KILN_OK) {
            char *back = NULL;
            if (fe_tokenizer_decode(t, e.ids, e.n, special, true, &back) == KILN_OK) free(back);
        }
        fe_encoding_free(&e);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        snprintf(path, sizeof(path), "/tmp/kiln-fuzz-gguf-tok-%d.gguf", (int)getpid());
        const char *names[2] = {"tiny-spm.gguf", "tiny-llama-f32.gguf"};
        for (int i = 0; i < 2; i++) {
            char p[1024];
            snprintf(p, sizeof(p), "%s/gguf/%s", KILN_FIXTURES, names[i]);
            if (fe_tokenizer_open_gguf(p, &fixed[i]) != KILN_OK) abort();   // the fixtures must load
        }
        atexit(cleanup);
    }
    if (size == 0) return 0;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    if ((data[0] & 1) == 0) {
        FILE *f = fopen(path, "wb");
        if (!f) abort();
        if (n) fwrite(rest, 1, n, f);
        fclose(f);
        fe_tokenizer *t = NULL;
        if (fe_tokenizer_open_gguf(path, &t) == KILN_OK) {
            static const char *const texts[] = {"Hello world", "  two  spaces\n\ttab", "\xe4\xbd\xa0\xe5\xa5\xbd", "\xf0\x9f\x98\x80!",
                                                "<s>x</s><|im_end|>", "", "\xff\xfe"};
            for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) round_trip(t, texts[i]);
            int32_t ids[5] = {0, 1, 2, -1, 1 << 30};
            char *back = NULL;
            if (fe_tokenizer_decode(t, ids, 5, false, true, &back) == KILN_OK) free(back);
        }
        fe_tokenizer_free(t);
        return 0;
    }
    char *text = malloc(n + 1);
    if (!text) abort();
    memcpy(text, rest, n);
    text[n] = '\0';   // an embedded NUL ends the text early, as it would for any C caller
    for (int i = 0; i < 2; i++) {
        round_trip(fixed[i], text);
        int32_t ids[64];
        int32_t k = (int32_t)KILN_MIN(n / 4, 64);
        memcpy(ids, rest, (size_t)k * 4);
        char *back = NULL;
        for (int special = 0; special < 2; special++)
            if (fe_tokenizer_decode(fixed[i], ids, k, special, true, &back) == KILN_OK) {
                free(back);
                back = NULL;
            }
    }
    free(text);
    return 0;
}
