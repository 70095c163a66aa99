/* test_gguf_errors.c — the GGUF reader refuses broken files with a status and a message naming the
 * file, the key or tensor, and the reason; one test per bug it prevents. Files are built byte by
 * byte into a scratch directory from a small valid one, then broken in one place.
 */
#include <stdint.h>
#include <string.h>

#include "common/common.h"
#include "common/quant.h"
#include "frontend/gguf.h"
#include "tests/frontend/scratch_dir.h"
#include "tests/test.h"

#include "tests/gguf/gguf_writer.h"

/* ---- building files -------------------------------------------------------------------------- */

// A valid file: general.architecture = "llama" (+ extra key/values written by `extra_kv`, counted in
// n_extra_kv) and two tensors: "a" F32 [4] at offset 0, and "blk.0.attn_q.weight" (type `type_b`,
// dims {32, 2}, at offset `offset_b`), then `data_bytes` of data after the alignment padding.
typedef struct spec {
    uint32_t version;
    uint32_t type_b;
    uint64_t offset_b;
    uint32_t n_dims_b;
    uint64_t dims_b[6];
    size_t data_bytes;
    size_t alignment;   // padding before the data section
    void (*extra_kv)(gbuf *b);
    uint64_t n_extra_kv;
} spec;

static spec base_spec(void) {
    return (spec){.version = 3, .type_b = 2 /* Q4_0 */, .offset_b = 32, .n_dims_b = 2, .dims_b = {32, 2},
                  .data_bytes = 32 + 36, .alignment = 32};
}

static void build(gbuf *b, const spec *s) {
    b->len = 0;
    put(b, "GGUF", 4);
    put_u32(b, s->version);
    put_u64(b, 2);
    put_u64(b, 1 + s->n_extra_kv);
    put_key(b, "general.architecture", FE_GGUF_STRING);
    put_str(b, "llama");
    if (s->extra_kv) s->extra_kv(b);
    put_str(b, "a");
    put_u32(b, 1);
    put_u64(b, 4);
    put_u32(b, 0);
    put_u64(b, 0);
    put_str(b, "blk.0.attn_q.weight");
    put_u32(b, s->n_dims_b);
    for (uint32_t i = 0; i < s->n_dims_b && i < 6; i++) put_u64(b, s->dims_b[i]);
    put_u32(b, s->type_b);
    put_u64(b, s->offset_b);
    pad_to(b, s->alignment);
    for (size_t i = 0; i < s->data_bytes; i++) put_u8(b, (uint8_t)(i * 7));
}

static const char *save(const char *name, const gbuf *b) {
    const char *path = scratch_path(name);
    scratch_write(path, b->p, b->len);
    return path;
}

static const char *save_spec(const char *name, const spec *s) {
    gbuf b = {0};
    build(&b, s);
    const char *path = save(name, &b);
    free(b.p);
    return path;
}

// Opening must fail with `status` and a message holding every needle (up to three; NULL = none).
static void check_open_fails(const char *path, kiln_status status, const char *n1, const char *n2, const char *n3) {
    fe_gguf *g = (fe_gguf *)(uintptr_t)1;   // must stay untouched on failure
    kiln_status st = fe_gguf_open(path, &g);
    const char *msg = kiln_last_error();
    CHECK_MSG(st == status, "%s: got %s, want %s (%s)", path, kiln_status_name(st), kiln_status_name(status), msg);
    CHECK(g == (fe_gguf *)(uintptr_t)1);
    if (st == KILN_OK && g != (fe_gguf *)(uintptr_t)1) fe_gguf_free(g);
    const char *needles[3] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        if (needles[i]) CHECK_MSG(strstr(msg, needles[i]), "message \"%s\" lacks \"%s\"", msg, needles[i]);
}

/* ---- the base file is good ------------------------------------------------------------------- */

static void base_file_opens(void) {
    spec s = base_spec();
    fe_gguf *g = NULL;
    CHECK_OK(fe_gguf_open(save_spec("base.gguf", &s), &g));
    CHECK(fe_gguf_n_tensors(g) == 2 && fe_gguf_n_kv(g) == 1);
    const fe_gguf_tensor *q = fe_gguf_find_tensor(g, "blk.0.attn_q.weight");
    CHECK(q && q->dtype == KILN_Q4_0 && q->rank == 2 && q->shape[0] == 2 && q->shape[1] == 32 && q->size_bytes == 36);
    fe_gguf_free(g);

    s.version = 2;   // v2 has v3's layout
    CHECK_OK(fe_gguf_open(save_spec("v2.gguf", &s), &g));
    CHECK(fe_gguf_version(g) == 2);
    fe_gguf_free(g);
}

/* ---- one test per bug ------------------------------------------------------------------------ */

static void open_rejects_truncated_file(void) {
    spec s = base_spec();
    gbuf b = {0};
    build(&b, &s);
    size_t full = b.len;
    // Every prefix of the file: a status and a message, never a read past the end.
    for (size_t len = 0; len < full; len++) {
        b.len = len;
        const char *path = save("cut.gguf", &b);
        fe_gguf *g = NULL;
        kiln_status st = fe_gguf_open(path, &g);
        const char *msg = kiln_last_error();
        CHECK_MSG(st == KILN_ERR_FORMAT && strstr(msg, "cut.gguf"), "cut at %zu of %zu: %s (%s)", len, full,
                  kiln_status_name(st), msg);
        CHECK_MSG(len < 4 || strstr(msg, "past end") || strstr(msg, "cannot fit"), "cut at %zu: \"%s\"", len, msg);
        if (st == KILN_OK) fe_gguf_free(g);
    }
    free(b.p);
    fe_gguf *whole = NULL;   // sanity: the whole file opens
    CHECK_OK(fe_gguf_open(save_spec("cut.gguf", &s), &whole));
    fe_gguf_free(whole);

    // Tensor data cut short: the last tensor names itself.
    s.data_bytes = 32 + 35;
    check_open_fails(save_spec("shortdata.gguf", &s), KILN_ERR_FORMAT, "shortdata.gguf: tensor 'blk.0.attn_q.weight'",
                     "data [32, 68) past end of data section (67 bytes", NULL);
    // A count inside the header cut off.
    gbuf h = {0};
    put(&h, "GGUF", 4);
    put_u32(&h, 3);
    put_u64(&h, 0);
    put_u32(&h, 0);
    check_open_fails(save("header.gguf", &h), KILN_ERR_FORMAT, "header.gguf: header: key/value count needs 8 bytes at offset 16",
                     "past end of file (20 bytes)", NULL);
    free(h.p);
    scratch_write_text(scratch_path("text.gguf"), "GGU");
    check_open_fails(scratch_path("text.gguf"), KILN_ERR_FORMAT, "text.gguf: bad magic 0x474755", NULL, NULL);
    scratch_write(scratch_path("empty.gguf"), "", 0);
    check_open_fails(scratch_path("empty.gguf"), KILN_ERR_FORMAT, "empty.gguf: file is empty", NULL, NULL);
}

static void open_rejects_bad_magic(void) {
    spec s = base_spec();
    gbuf b = {0};
    build(&b, &s);
    memcpy(b.p, "GGML", 4);
    check_open_fails(save("magic.gguf", &b), KILN_ERR_FORMAT, "magic.gguf: bad magic 0x47474d4c", "not a GGUF file",
                     NULL);
    b.len = 2;
    check_open_fails(save("tiny.gguf", &b), KILN_ERR_FORMAT, "tiny.gguf: bad magic", NULL, NULL);
    free(b.p);
}

static void open_rejects_unsupported_version(void) {
    spec s = base_spec();
    s.version = 1;   // v1 had 32-bit counts: a different layout
    check_open_fails(save_spec("v1.gguf", &s), KILN_ERR_UNSUPPORTED, "v1.gguf: GGUF version 1 is not supported",
                     "kiln reads versions 2 and 3", NULL);
    s.version = 4;
    check_open_fails(save_spec("v4.gguf", &s), KILN_ERR_UNSUPPORTED, "GGUF version 4 is not supported", NULL, NULL);
    s.version = 0x03000000;   // a big-endian file's version, read little-endian
    check_open_fails(save_spec("be.gguf", &s), KILN_ERR_UNSUPPORTED, "be.gguf: big-endian GGUF", NULL, NULL);
}

static void extra_long_string_value(gbuf *b) {
    put_key(b, "general.name", FE_GGUF_STRING);
    put_u64(b, 1000000);
    put(b, "abc", 3);
}

static void extra_huge_key(gbuf *b) {
    put_u64(b, UINT64_MAX);   // the key's length
}

static void extra_long_array_string(gbuf *b) {
    put_key(b, "tokenizer.ggml.tokens", FE_GGUF_ARRAY);
    put_u32(b, FE_GGUF_STRING);
    put_u64(b, 2);
    put_str(b, "a");
    put_u64(b, 5000);
    put(b, "b", 1);
}

static void open_rejects_string_length_past_end(void) {
    spec s = base_spec();
    s.extra_kv = extra_long_string_value;
    s.n_extra_kv = 1;
    check_open_fails(save_spec("strval.gguf", &s), KILN_ERR_FORMAT, "strval.gguf: key 'general.name': value",
                     "string length 1000000", "runs past end of file");
    s.extra_kv = extra_huge_key;
    check_open_fails(save_spec("strkey.gguf", &s), KILN_ERR_FORMAT, "strkey.gguf: key 1: name: string length "
                     "18446744073709551615", "past end of file", NULL);
    s.extra_kv = extra_long_array_string;
    check_open_fails(save_spec("strarr.gguf", &s), KILN_ERR_FORMAT, "key 'tokenizer.ggml.tokens': element 1",
                     "string length 5000", NULL);
    // A tensor name: "a"'s length is the first u64 after the key/values.
    s = base_spec();
    gbuf b = {0};
    build(&b, &s);
    size_t at = 4 + 4 + 8 + 8 + 8 + strlen("general.architecture") + 4 + 8 + strlen("llama");
    uint64_t huge = 1u << 30;
    memcpy(b.p + at, &huge, 8);
    check_open_fails(save("strname.gguf", &b), KILN_ERR_FORMAT, "strname.gguf: tensor 0: name: string length 1073741824",
                     "past end of file", NULL);
    free(b.p);
}

static void open_rejects_tensor_offset_out_of_range(void) {
    spec s = base_spec();
    s.offset_b = 64;   // data holds 68 bytes: [64, 100) runs past
    check_open_fails(save_spec("off.gguf", &s), KILN_ERR_FORMAT, "off.gguf: tensor 'blk.0.attn_q.weight'",
                     "data [64, 100) past end of data section (68 bytes", NULL);
    s.offset_b = UINT64_MAX - 31;   // aligned, and offset + size wraps around 2^64
    check_open_fails(save_spec("wrap.gguf", &s), KILN_ERR_FORMAT, "tensor 'blk.0.attn_q.weight'",
                     "past end of data section", NULL);
}

static void extra_alignment_16(gbuf *b) {
    put_key(b, "general.alignment", FE_GGUF_U32);
    put_u32(b, 16);
}

static void open_rejects_misaligned_offset(void) {
    spec s = base_spec();
    s.offset_b = 40;
    s.data_bytes = 40 + 36;
    check_open_fails(save_spec("misaligned.gguf", &s), KILN_ERR_FORMAT, "misaligned.gguf: tensor 'blk.0.attn_q.weight'",
                     "offset 40 is not a multiple of the alignment (32)", NULL);
    // general.alignment = 16 makes 48 fine, and 40 still not.
    s.extra_kv = extra_alignment_16;
    s.n_extra_kv = 1;
    s.alignment = 16;
    s.offset_b = 48;
    s.data_bytes = 48 + 36;
    fe_gguf *g = NULL;
    CHECK_OK(fe_gguf_open(save_spec("align16.gguf", &s), &g));
    CHECK(fe_gguf_alignment(g) == 16);
    fe_gguf_free(g);
    s.offset_b = 40;
    check_open_fails(save_spec("align16bad.gguf", &s), KILN_ERR_FORMAT, "offset 40 is not a multiple of the alignment "
                     "(16)", NULL, NULL);
}

static void extra_alignment_1(gbuf *b) {
    put_key(b, "general.alignment", FE_GGUF_U32);
    put_u32(b, 1);
}

// general.alignment = 1 is legal: a Q8_0 tensor at an odd offset opens and dequantizes.
static void alignment_one_allows_odd_offsets(void) {
    spec s = base_spec();
    s.extra_kv = extra_alignment_1;
    s.n_extra_kv = 1;
    s.alignment = 1;
    s.type_b = 8;   // Q8_0, 2 blocks of 34 bytes
    s.offset_b = 17;
    s.data_bytes = 17 + 68;
    fe_gguf *g = NULL;
    CHECK_OK(fe_gguf_open(save_spec("align1.gguf", &s), &g));
    const fe_gguf_tensor *t = fe_gguf_find_tensor(g, "blk.0.attn_q.weight");
    CHECK(t && t->dtype == KILN_Q8_0 && t->size_bytes == 68 && ((uintptr_t)t->data & 1));
    float out[64];
    if (t) kiln_quant_dequantize_row(KILN_Q8_0, t->data, out, 64);
    fe_gguf_free(g);
}

static void open_rejects_overlapping_tensors(void) {
    spec s = base_spec();
    s.type_b = 0;          // F32 {32, 2}: 256 bytes
    s.offset_b = 0;        // on top of "a"
    s.data_bytes = 256;
    check_open_fails(save_spec("overlap.gguf", &s), KILN_ERR_FORMAT, "overlap.gguf: tensors", "overlap",
                     "'blk.0.attn_q.weight' [0, 256)");
}

static void open_rejects_unknown_tensor_type(void) {
    spec s = base_spec();
    s.type_b = 13;   // Q5_K: a real ggml type that kiln does not read
    check_open_fails(save_spec("q5k.gguf", &s), KILN_ERR_UNSUPPORTED,
                     "q5k.gguf: tensor 'blk.0.attn_q.weight': unsupported tensor type Q5_K (13)", NULL, NULL);
    s.type_b = 99;
    check_open_fails(save_spec("t99.gguf", &s), KILN_ERR_UNSUPPORTED,
                     "tensor 'blk.0.attn_q.weight': unsupported tensor type 99 (not a ggml type)", NULL, NULL);
    s.type_b = 4;    // retired Q4_2
    check_open_fails(save_spec("t4.gguf", &s), KILN_ERR_UNSUPPORTED, "unsupported tensor type 4 (not a ggml type)",
                     NULL, NULL);
}

static void open_rejects_too_many_dims(void) {
    spec s = base_spec();
    s.n_dims_b = 5;
    s.dims_b[2] = s.dims_b[3] = s.dims_b[4] = 1;
    check_open_fails(save_spec("dims5.gguf", &s), KILN_ERR_FORMAT,
                     "dims5.gguf: tensor 'blk.0.attn_q.weight': 5 dims, more than GGUF's 4", NULL, NULL);
    s.n_dims_b = 0xffffffffu;
    check_open_fails(save_spec("dimsmax.gguf", &s), KILN_ERR_FORMAT, "4294967295 dims", NULL, NULL);
}

/* ---- more ways a file goes wrong ------------------------------------------------------------- */

static void open_rejects_counts_that_cannot_fit(void) {
    gbuf b = {0};
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 0);
    put_u64(&b, 1ull << 60);
    check_open_fails(save("nkv.gguf", &b), KILN_ERR_FORMAT, "nkv.gguf: header: 1152921504606846976 key/values cannot "
                     "fit", NULL, NULL);
    b.len = 8;
    put_u64(&b, 1ull << 40);
    put_u64(&b, 0);
    check_open_fails(save("nt.gguf", &b), KILN_ERR_FORMAT, "1099511627776 tensors cannot fit", NULL, NULL);
    b.len = 8;
    put_u64(&b, 0);
    put_u64(&b, 1);
    put_key(&b, "k", FE_GGUF_ARRAY);
    put_u32(&b, FE_GGUF_U64);
    put_u64(&b, 1ull << 62);
    check_open_fails(save("arr.gguf", &b), KILN_ERR_FORMAT, "key 'k': array of 4611686018427387904 u64 elements cannot "
                     "fit", NULL, NULL);
    free(b.p);
}

static void open_rejects_dims_that_overflow(void) {
    spec s = base_spec();
    s.type_b = 0;
    s.dims_b[0] = s.dims_b[1] = 1ull << 32;
    check_open_fails(save_spec("ovf.gguf", &s), KILN_ERR_FORMAT, "tensor 'blk.0.attn_q.weight': shape "
                     "[4294967296, 4294967296] overflows", NULL, NULL);
    s.dims_b[0] = 1ull << 63;
    check_open_fails(save_spec("ovf2.gguf", &s), KILN_ERR_FORMAT, "dim 0 is 9223372036854775808, too large", NULL,
                     NULL);
    s.n_dims_b = 3;   // a zero dim empties the tensor whatever the others say
    s.dims_b[0] = 1ull << 40;
    s.dims_b[1] = 0;
    s.dims_b[2] = 1ull << 40;
    fe_gguf *g = NULL;
    CHECK_OK(fe_gguf_open(save_spec("zero.gguf", &s), &g));
    CHECK(g && fe_gguf_find_tensor(g, "blk.0.attn_q.weight")->size_bytes == 0);
    fe_gguf_free(g);
}

static void open_rejects_row_not_multiple_of_block(void) {
    spec s = base_spec();
    s.dims_b[0] = 48;   // Q4_0 rows are whole 32-element blocks
    check_open_fails(save_spec("row.gguf", &s), KILN_ERR_FORMAT, "tensor 'blk.0.attn_q.weight': shape [2, 48]: row "
                     "length 48 is not a multiple of Q4_0's block size 32", NULL, NULL);
}

static void extra_duplicate_key(gbuf *b) {
    put_key(b, "general.architecture", FE_GGUF_STRING);
    put_str(b, "gpt2");
}
static void extra_bad_alignment(gbuf *b) {
    put_key(b, "general.alignment", FE_GGUF_U32);
    put_u32(b, 24);
}
static void extra_alignment_u64(gbuf *b) {
    put_key(b, "general.alignment", FE_GGUF_U64);
    put_u64(b, 32);
}
static void extra_bad_bool(gbuf *b) {
    put_key(b, "tokenizer.ggml.add_bos_token", FE_GGUF_BOOL);
    put_u8(b, 2);
}
static void extra_bad_value_type(gbuf *b) { put_key(b, "x", 13); }
static void extra_nul_key(gbuf *b) {
    put_u64(b, 3);
    put(b, "a\0b", 3);
    put_u32(b, FE_GGUF_U8);
    put_u8(b, 0);
}
static void extra_deep_array(gbuf *b) {
    put_key(b, "deep", FE_GGUF_ARRAY);
    for (int i = 0; i < 20; i++) {
        put_u32(b, FE_GGUF_ARRAY);
        put_u64(b, 1);
    }
}

static void open_rejects_malformed_metadata(void) {
    spec s = base_spec();
    s.n_extra_kv = 1;
    s.extra_kv = extra_duplicate_key;
    check_open_fails(save_spec("dupkey.gguf", &s), KILN_ERR_FORMAT, "dupkey.gguf: key 'general.architecture' appears "
                     "twice", NULL, NULL);
    s.extra_kv = extra_bad_alignment;
    check_open_fails(save_spec("align.gguf", &s), KILN_ERR_FORMAT, "key 'general.alignment': 24 is not a power of two",
                     NULL, NULL);
    s.extra_kv = extra_alignment_u64;
    check_open_fails(save_spec("align64.gguf", &s), KILN_ERR_FORMAT, "key 'general.alignment': is u64, must be u32",
                     NULL, NULL);
    s.extra_kv = extra_bad_bool;
    check_open_fails(save_spec("bool.gguf", &s), KILN_ERR_FORMAT, "key 'tokenizer.ggml.add_bos_token': bool byte 2 is "
                     "not 0 or 1", NULL, NULL);
    s.extra_kv = extra_bad_value_type;
    check_open_fails(save_spec("vtype.gguf", &s), KILN_ERR_FORMAT, "key 'x': unknown value type 13", NULL, NULL);
    s.extra_kv = extra_nul_key;
    check_open_fails(save_spec("nulkey.gguf", &s), KILN_ERR_FORMAT, "key 1: holds a NUL byte", NULL, NULL);
    s.extra_kv = extra_deep_array;
    check_open_fails(save_spec("deep.gguf", &s), KILN_ERR_FORMAT, "key 'deep': arrays nested more than 8 deep", NULL,
                     NULL);
}

static void open_rejects_duplicate_tensor_name(void) {
    gbuf b = {0};
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 2);
    put_u64(&b, 0);
    for (int i = 0; i < 2; i++) {
        put_str(&b, "w");
        put_u32(&b, 1);
        put_u64(&b, 8);
        put_u32(&b, 0);
        put_u64(&b, (uint64_t)i * 32);
    }
    pad_to(&b, 32);
    for (int i = 0; i < 64; i++) put_u8(&b, 0);
    check_open_fails(save("duptensor.gguf", &b), KILN_ERR_FORMAT, "duptensor.gguf: tensor 'w' appears twice", NULL,
                     NULL);
    free(b.p);
}

static void open_reports_missing_file_as_io_error(void) {
    check_open_fails(scratch_path("nope.gguf"), KILN_ERR_IO, "nope.gguf: cannot open", NULL, NULL);
    check_open_fails(scratch_subdir("dir.gguf"), KILN_ERR_IO, "not a regular file", NULL, NULL);
    fe_gguf *g;
    CHECK_FAILS(fe_gguf_open(NULL, &g), KILN_ERR_INVALID_ARG, "NULL argument");
}

static void metadata_only_file_opens(void) {
    gbuf b = {0};
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 0);
    put_u64(&b, 1);
    put_key(&b, "general.architecture", FE_GGUF_STRING);
    put_str(&b, "llama");   // no padding, no data section
    fe_gguf *g = NULL;
    CHECK_OK(fe_gguf_open(save("meta.gguf", &b), &g));
    CHECK(g && fe_gguf_n_tensors(g) == 0 && fe_gguf_tensor_at(g, 0) == NULL && fe_gguf_find_tensor(g, "a") == NULL);
    fe_gguf_hparams h;
    CHECK_FAILS(fe_gguf_get_hparams(g, &h), KILN_ERR_FORMAT, "meta.gguf: missing key 'llama.embedding_length'");
    fe_gguf_free(g);
    free(b.p);
}

int main(void) {
    scratch_init("gguf");
    base_file_opens();
    open_rejects_truncated_file();
    open_rejects_bad_magic();
    open_rejects_unsupported_version();
    open_rejects_string_length_past_end();
    open_rejects_tensor_offset_out_of_range();
    open_rejects_misaligned_offset();
    alignment_one_allows_odd_offsets();
    open_rejects_overlapping_tensors();
    open_rejects_unknown_tensor_type();
    open_rejects_too_many_dims();
    open_rejects_counts_that_cannot_fit();
    open_rejects_dims_that_overflow();
    open_rejects_row_not_multiple_of_block();
    open_rejects_malformed_metadata();
    open_rejects_duplicate_tensor_name();
    open_reports_missing_file_as_io_error();
    metadata_only_file_opens();
    fe_gguf_free(NULL);
    scratch_cleanup();
    return test_summary();
}
