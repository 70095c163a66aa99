/* gguf_writer.h — builds GGUF files byte by byte for the tests that need broken or minimal ones
 * (test_gguf_errors.c, test_gguf_tokenizer.c): a growing buffer and little-endian writers of GGUF's
 * scalars, strings and key headers.
 */
#ifndef KILN_TEST_GGUF_WRITER_H
#define KILN_TEST_GGUF_WRITER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "frontend/gguf.h"

typedef struct gbuf {
    unsigned char *p;
    size_t len, cap;
} gbuf;

static inline void put(gbuf *b, const void *d, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        KILN_ASSERT(b->p);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}
static inline void put_u8(gbuf *b, uint8_t v) { put(b, &v, 1); }
static inline void put_u32(gbuf *b, uint32_t v) { put(b, &v, 4); }
static inline void put_u64(gbuf *b, uint64_t v) { put(b, &v, 8); }
static inline void put_str(gbuf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static inline void put_key(gbuf *b, const char *key, uint32_t type) {
    put_str(b, key);
    put_u32(b, type);
}
// An array of strings under `key`.
static inline void put_str_array(gbuf *b, const char *key, const char *const *v, size_t n) {
    put_key(b, key, FE_GGUF_ARRAY);
    put_u32(b, FE_GGUF_STRING);
    put_u64(b, n);
    for (size_t i = 0; i < n; i++) put_str(b, v[i]);
}

static inline void pad_to(gbuf *b, size_t align) {
    while (b->len % align) put_u8(b, 0);
}

#endif  // KILN_TEST_GGUF_WRITER_H
