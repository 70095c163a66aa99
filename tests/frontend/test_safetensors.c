/* test_safetensors.c — the safetensors reader and writer. Good checkpoints are written with
 * fe_safetensors_write, broken ones byte by byte, all into a scratch directory; every negative test
 * checks the status and that the message names the file, the tensor and the reason.
 */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "common/half.h"
#include "frontend/safetensors.h"
#include "tests/frontend/scratch_dir.h"
#include "tests/test.h"

// A safetensors file with the given header text (length prefix added) and data_bytes of data.
static const char *write_st(const char *name, const char *header, size_t data_bytes) {
    size_t n = strlen(header);
    unsigned char *buf = calloc(1, 8 + n + data_bytes);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    for (size_t i = 0; i < data_bytes; i++) buf[8 + n + i] = (unsigned char)i;
    const char *path = scratch_path(name);
    scratch_write(path, buf, 8 + n + data_bytes);
    free(buf);
    return path;
}

// Opening must fail with `status` and a message holding each of the (up to three) needles.
static void check_open_fails(const char *path, kiln_status status, const char *n1, const char *n2, const char *n3) {
    fe_weights *w = (fe_weights *)(uintptr_t)1;   // must stay untouched on failure
    kiln_status st = fe_safetensors_open(path, &w);
    const char *msg = kiln_last_error();
    CHECK_MSG(st == status, "%s: got %s, want %s (%s)", path, kiln_status_name(st), kiln_status_name(status), msg);
    CHECK(w == (fe_weights *)(uintptr_t)1);
    const char *needles[3] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        if (needles[i]) CHECK_MSG(strstr(msg, needles[i]), "message \"%s\" lacks \"%s\"", msg, needles[i]);
}

/* ---- rejects --------------------------------------------------------------------------------- */

static void open_rejects_file_shorter_than_length_prefix(void) {
    scratch_write(scratch_path("short.safetensors"), "\x10\0\0\0\0", 5);
    check_open_fails(scratch_path("short.safetensors"), KILN_ERR_FORMAT, "short.safetensors", "5 bytes", "too short");
    scratch_write(scratch_path("empty.safetensors"), "", 0);
    check_open_fails(scratch_path("empty.safetensors"), KILN_ERR_FORMAT, "empty.safetensors", "too short", NULL);
}

static void open_rejects_header_length_past_end_of_file(void) {
    unsigned char buf[18] = {0xe8, 0x03};   // says 1000 header bytes; 10 follow
    memcpy(buf + 8, "{}        ", 10);
    scratch_write(scratch_path("hlen.safetensors"), buf, sizeof(buf));
    check_open_fails(scratch_path("hlen.safetensors"), KILN_ERR_FORMAT, "hlen.safetensors", "header length 1000",
                     "past end of file (18 bytes)");
    memset(buf, 0xff, 8);   // 2^64 - 1: must not wrap around into a small number
    scratch_write(scratch_path("hlen2.safetensors"), buf, sizeof(buf));
    check_open_fails(scratch_path("hlen2.safetensors"), KILN_ERR_FORMAT, "18446744073709551615", "past end of file",
                     NULL);
}

static void open_rejects_absurdly_large_header(void) {
    // A sparse 200 MB file whose header claims 150 MB: refused before any of it is parsed.
    const char *path = scratch_path("huge.safetensors");
    unsigned char len[8] = {0x80, 0xd1, 0xf0, 0x08};   // 150,000,000
    scratch_write(path, len, 8);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0 && ftruncate(fd, 200000000) == 0);
    if (fd >= 0) close(fd);
    check_open_fails(path, KILN_ERR_FORMAT, "huge.safetensors", "header length 150000000", "over the limit");
}

static void open_rejects_header_that_is_not_a_json_object(void) {
    check_open_fails(write_st("nojson.safetensors", "{\"a\": {\"dtype\": ", 0), KILN_ERR_FORMAT,
                     "nojson.safetensors", "header is not valid JSON", NULL);
    check_open_fails(write_st("array.safetensors", "[1, 2, 3]", 0), KILN_ERR_FORMAT, "array.safetensors",
                     "header is not a JSON object", NULL);
    check_open_fails(write_st("trail.safetensors", "{}  xyz ", 0), KILN_ERR_FORMAT, "trail.safetensors",
                     "bytes after its JSON value", NULL);
    check_open_fails(write_st("zero.safetensors", "", 0), KILN_ERR_FORMAT, "zero.safetensors", "not valid JSON", NULL);
    check_open_fails(write_st("entry.safetensors", "{\"w\": [1]}", 0), KILN_ERR_FORMAT, "tensor 'w'",
                     "not a JSON object", NULL);
}

static void open_rejects_offsets_past_data_section(void) {
    check_open_fails(write_st("past.safetensors",
                              "{\"bert.pooler.dense.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4),
                     KILN_ERR_FORMAT, "past.safetensors: tensor 'bert.pooler.dense.weight'", "data_offsets [0, 8)",
                     "past end of data section (4 bytes)");
    check_open_fails(write_st("rev.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8),
                     KILN_ERR_FORMAT, "tensor 'w'", "[8, 4)", "reversed");
    check_open_fails(write_st("bigoff.safetensors",
                              "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551612,"
                              "18446744073709551616]}}", 8),
                     KILN_ERR_FORMAT, "tensor 'w'", "data_offsets[0]", "too large");
}

static void open_rejects_overlapping_tensors(void) {
    check_open_fails(write_st("overlap.safetensors",
                              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                              "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[2,2]},"
                              "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
                     KILN_ERR_FORMAT, "overlap.safetensors: tensors 'a' [0, 8) and 'b' [4, 12)", "overlap", NULL);
    // Contained in an earlier, longer tensor.
    check_open_fails(write_st("inside.safetensors",
                              "{\"big\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                              "\"mid\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[2,4]},"
                              "\"tail\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]}}", 16),
                     KILN_ERR_FORMAT, "'big' [0, 16)", "overlap", NULL);
    // Touching is fine, and so are empty tensors anywhere.
    fe_weights *w = NULL;
    CHECK_OK(fe_safetensors_open(write_st("touch.safetensors",
                                          "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                          "\"e\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[4,4]},"
                                          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12),
                                 &w));
    CHECK(fe_weights_count(w) == 3);
    fe_weights_free(w);
}

static void open_rejects_offsets_not_matching_shape_times_dtype(void) {
    check_open_fails(write_st("size.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", 16),
                     KILN_ERR_FORMAT, "size.safetensors: tensor 'w'", "hold 8 bytes", "shape [2, 2] of F32 needs 16");
    check_open_fails(write_st("size2.safetensors", "{\"w\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,4]}}", 4),
                     KILN_ERR_FORMAT, "tensor 'w'", "shape [] of BF16 needs 2", NULL);
}

static void open_rejects_unknown_or_unsupported_dtype(void) {
    check_open_fails(write_st("xyz.safetensors", "{\"w\":{\"dtype\":\"XYZ\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                     KILN_ERR_FORMAT, "xyz.safetensors: tensor 'w'", "unknown dtype 'XYZ'", NULL);
    check_open_fails(write_st("f64.safetensors", "{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8),
                     KILN_ERR_UNSUPPORTED, "f64.safetensors: tensor 'w'", "dtype 'F64' is not supported", NULL);
    check_open_fails(write_st("u8.safetensors", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1),
                     KILN_ERR_UNSUPPORTED, "tensor 'w'", "'U8'", NULL);
    check_open_fails(write_st("lower.safetensors", "{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                     KILN_ERR_FORMAT, "unknown dtype 'f32'", NULL, NULL);
}

static void open_rejects_rank_over_limit(void) {
    check_open_fails(write_st("rank.safetensors",
                              "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4),
                     KILN_ERR_UNSUPPORTED, "rank.safetensors: tensor 'w'", "rank 9", "limit of 8");
}

static void open_rejects_missing_or_wrongly_typed_fields(void) {
    check_open_fails(write_st("f1.safetensors", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), KILN_ERR_FORMAT,
                     "f1.safetensors: tensor 'w'", "missing \"dtype\"", NULL);
    check_open_fails(write_st("f2.safetensors", "{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                     KILN_ERR_FORMAT, "tensor 'w'", "\"dtype\" is not a string", NULL);
    check_open_fails(write_st("f3.safetensors", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4),
                     KILN_ERR_FORMAT, "tensor 'w'", "missing \"shape\"", NULL);
    check_open_fails(write_st("f4.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4),
                     KILN_ERR_FORMAT, "tensor 'w'", "\"shape\" is not an array", NULL);
    check_open_fails(write_st("f5.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), KILN_ERR_FORMAT,
                     "tensor 'w'", "missing \"data_offsets\"", NULL);
    check_open_fails(write_st("f6.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8),
                     KILN_ERR_FORMAT, "tensor 'w'", "\"data_offsets\" is not an array of two integers", NULL);
    check_open_fails(write_st("f7.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 4),
                     KILN_ERR_FORMAT, "tensor 'w'", "data_offsets[1] is not a number", NULL);
    check_open_fails(write_st("f8.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,4]}}", 4),
                     KILN_ERR_FORMAT, "tensor 'w'", "shape[1] is negative (-3)", NULL);
    check_open_fails(write_st("f9.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4),
                     KILN_ERR_FORMAT, "tensor 'w'", "shape[0] is not an integer (1.5)", NULL);
    check_open_fails(write_st("f10.safetensors",
                              "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4),
                     KILN_ERR_FORMAT, "tensor 'w'", "shape [4294967296, 4294967296] overflows", NULL);
    check_open_fails(write_st("f11.safetensors", "{\"__metadata__\":{\"format\":1}}", 0), KILN_ERR_FORMAT,
                     "f11.safetensors", "\"__metadata__\": value of 'format' is not a string", NULL);
    check_open_fails(write_st("f12.safetensors",
                              "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                              "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
                     KILN_ERR_FORMAT, "f12.safetensors: tensor 'w'", "appears twice", NULL);
}

static void open_reports_missing_file_as_io_error(void) {
    check_open_fails(scratch_path("nope.safetensors"), KILN_ERR_IO, "nope.safetensors", "cannot open", NULL);
    fe_weights *w;
    CHECK_FAILS(fe_safetensors_open(NULL, &w), KILN_ERR_INVALID_ARG, "NULL");
    CHECK_FAILS(fe_weights_open_dir(scratch_path("nodir"), &w), KILN_ERR_IO, "nodir: cannot open");
    CHECK_FAILS(fe_weights_open_dir(scratch_subdir("emptydir"), &w), KILN_ERR_IO,
                "no model.safetensors or model.safetensors.index.json");
}

/* ---- writing and reading back ---------------------------------------------------------------- */

static void round_trip_keeps_dtypes_shapes_and_bytes(void) {
    float f32[6] = {1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e-30f};
    uint16_t f16[4], bf16[4];
    float halves[4] = {0.5f, -65504.0f, 1.0f / 3.0f, 6e-8f};
    for (int i = 0; i < 4; i++) f16[i] = kiln_f32_to_f16(halves[i]), bf16[i] = kiln_f32_to_bf16(halves[i]);
    int64_t i64[3] = {-1, INT64_MAX, 101};
    int32_t i32[1] = {42};
    unsigned char flags[3] = {1, 0, 1};
    kiln_tensor t[] = {
        {.name = "z.f32", .dtype = KILN_F32, .rank = 2, .shape = {2, 3}, .data = f32},
        {.name = "a.f16", .dtype = KILN_F16, .rank = 1, .shape = {4}, .data = f16},
        {.name = "m.bf16", .dtype = KILN_BF16, .rank = 3, .shape = {1, 2, 2}, .data = bf16},
        {.name = "ids \"quoted\"\\", .dtype = KILN_I64, .rank = 1, .shape = {3}, .data = i64},
        {.name = "scalar", .dtype = KILN_I32, .rank = 0, .data = i32},
        {.name = "mask", .dtype = KILN_BOOL, .rank = 1, .shape = {3}, .data = flags},   // 3 bytes: next is unaligned
        {.name = "empty", .dtype = KILN_F32, .rank = 2, .shape = {0, 5}, .data = NULL},
        {.name = "after", .dtype = KILN_F32, .rank = 1, .shape = {1}, .data = f32},
    };
    const size_t n = KILN_ARRAY_SIZE(t);
    const char *path = scratch_path("round.safetensors");
    CHECK_OK(fe_safetensors_write(path, t, n));

    // The layout Hugging Face's writer produces: header padded to 8, offsets contiguous in order.
    char *raw = NULL;
    size_t raw_bytes = 0;
    CHECK_OK(kiln_read_file(path, &raw, &raw_bytes));
    uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; i--) header_bytes = header_bytes << 8 | (unsigned char)raw[i];
    CHECK(header_bytes % 8 == 0);
    CHECK(strncmp(raw + 8, "{\"__metadata__\":{\"format\":\"pt\"},\"z.f32\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                           "\"data_offsets\":[0,24]},\"a.f16\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}",
                  128) == 0);
    CHECK(raw_bytes == 8 + header_bytes + 24 + 8 + 8 + 24 + 4 + 3 + 0 + 4);
    free(raw);

    fe_weights *w = NULL;
    CHECK_OK(fe_safetensors_open(path, &w));
    CHECK(fe_weights_count(w) == n);
    for (size_t i = 1; i < fe_weights_count(w); i++)
        CHECK(strcmp(fe_weights_at(w, i - 1)->name, fe_weights_at(w, i)->name) < 0);
    CHECK(fe_weights_at(w, n) == NULL);
    CHECK(fe_weights_find(w, "absent") == NULL);
    CHECK(fe_weights_metadata(w, "format") && strcmp(fe_weights_metadata(w, "format"), "pt") == 0);
    CHECK(fe_weights_metadata(w, "nope") == NULL);
    for (size_t i = 0; i < n; i++) {
        const fe_tensor *r = fe_weights_find(w, t[i].name);
        CHECK_MSG(r != NULL, "tensor '%s' not found", t[i].name);
        if (!r) continue;
        CHECK(r->dtype == t[i].dtype && r->rank == t[i].rank);
        CHECK(memcmp(r->shape, t[i].shape, sizeof(r->shape)) == 0);
        int64_t n_elements = 1;
        for (int32_t d = 0; d < t[i].rank; d++) n_elements *= t[i].shape[d];
        CHECK(r->size_bytes == kiln_dtype_bytes(t[i].dtype, n_elements));
        CHECK(r->size_bytes == 0 || memcmp(r->data, t[i].data, r->size_bytes) == 0);
        CHECK(strcmp(r->file, "round.safetensors") == 0);
    }
    const fe_tensor *h = fe_weights_find(w, "m.bf16");
    float back[4];
    kiln_convert_to_f32(h->dtype, h->data, back, 4);
    CHECK(back[0] == 0.5f && back[1] == -65536.0f);   // bf16 keeps range, rounds -65504 to -65536
    h = fe_weights_find(w, "a.f16");
    kiln_convert_to_f32(h->dtype, h->data, back, 4);
    CHECK(back[0] == 0.5f && back[1] == -65504.0f && fabsf(back[2] - 1.0f / 3.0f) < 1e-3f && back[3] > 0);
    fe_weights_free(w);
}

static void empty_checkpoint_opens_with_no_tensors(void) {
    const char *path = scratch_path("none.safetensors");
    CHECK_OK(fe_safetensors_write(path, NULL, 0));
    fe_weights *w = NULL;
    CHECK_OK(fe_safetensors_open(path, &w));
    CHECK(fe_weights_count(w) == 0 && fe_weights_find(w, "x") == NULL && fe_weights_at(w, 0) == NULL);
    fe_weights_free(w);
    fe_weights_free(NULL);
    CHECK_OK(fe_safetensors_open(write_st("bare.safetensors", "{}", 0), &w));   // no metadata, no padding
    CHECK(fe_weights_count(w) == 0 && fe_weights_metadata(w, "format") == NULL);
    fe_weights_free(w);
}

static void write_rejects_bad_tensors(void) {
    float x[2] = {1, 2};
    const char *path = scratch_path("bad_write.safetensors");
    kiln_tensor dup[2] = {{.name = "a", .dtype = KILN_F32, .rank = 1, .shape = {2}, .data = x},
                          {.name = "a", .dtype = KILN_F32, .rank = 1, .shape = {2}, .data = x}};
    CHECK_FAILS(fe_safetensors_write(path, dup, 2), KILN_ERR_INVALID_ARG, "tensor 'a' given twice");
    kiln_tensor q = {.name = "q", .dtype = KILN_Q8_0, .rank = 1, .shape = {32}, .data = x};
    CHECK_FAILS(fe_safetensors_write(path, &q, 1), KILN_ERR_UNSUPPORTED, "tensor 'q': dtype q8_0");
    kiln_tensor neg = {.name = "n", .dtype = KILN_F32, .rank = 2, .shape = {2, -1}, .data = x};
    CHECK_FAILS(fe_safetensors_write(path, &neg, 1), KILN_ERR_INVALID_ARG, "tensor 'n': shape[1] is negative");
    kiln_tensor nodata = {.name = "d", .dtype = KILN_F32, .rank = 1, .shape = {2}};
    CHECK_FAILS(fe_safetensors_write(path, &nodata, 1), KILN_ERR_INVALID_ARG, "tensor 'd': data is NULL");
    kiln_tensor rank = {.name = "r", .dtype = KILN_F32, .rank = 9, .data = x};
    CHECK_FAILS(fe_safetensors_write(path, &rank, 1), KILN_ERR_INVALID_ARG, "tensor 'r': rank 9");
    kiln_tensor meta = {.name = "__metadata__", .dtype = KILN_F32, .rank = 0, .data = x};
    CHECK_FAILS(fe_safetensors_write(path, &meta, 1), KILN_ERR_INVALID_ARG, "reserved");
    kiln_tensor ok = {.name = "a", .dtype = KILN_F32, .rank = 1, .shape = {2}, .data = x};
    CHECK_FAILS(fe_safetensors_write(scratch_path("no/such/dir.safetensors"), &ok, 1), KILN_ERR_IO, "cannot create");
    CHECK(access(path, F_OK) != 0);   // refused before the file was created
}

/* ---- directories and shards ------------------------------------------------------------------ */

// Writes dir/<shard> holding float tensors with the given names (each [2], filled with `base`+i).
static void write_shard(const char *dir, const char *shard, const char *const *names, size_t n, float base) {
    float values[8][2];
    kiln_tensor t[8];
    for (size_t i = 0; i < n; i++) {
        values[i][0] = base + (float)i, values[i][1] = -(base + (float)i);
        t[i] = (kiln_tensor){.name = names[i], .dtype = KILN_F32, .rank = 1, .shape = {2}, .data = values[i]};
    }
    char *path = kiln_path_join(dir, shard);
    CHECK_OK(fe_safetensors_write(path, t, n));
    free(path);
}

static void write_index(const char *dir, const char *weight_map) {
    char *path = kiln_path_join(dir, "model.safetensors.index.json");
    char text[4096];
    snprintf(text, sizeof(text), "{\"metadata\": {\"total_size\": 40}, \"weight_map\": %s}", weight_map);
    scratch_write_text(path, text);
    free(path);
}

static void open_dir_reads_sharded_checkpoint(void) {
    const char *dir = scratch_subdir("sharded");
    const char *s1[] = {"embeddings.weight", "layer.0.weight", "layer.0.bias"};
    const char *s2[] = {"layer.1.weight", "pooler.weight"};
    write_shard(dir, "model-00001-of-00002.safetensors", s1, 3, 10);
    write_shard(dir, "model-00002-of-00002.safetensors", s2, 2, 20);
    write_index(dir, "{\"embeddings.weight\": \"model-00001-of-00002.safetensors\","
                     " \"layer.0.weight\": \"model-00001-of-00002.safetensors\","
                     " \"layer.0.bias\": \"model-00001-of-00002.safetensors\","
                     " \"layer.1.weight\": \"model-00002-of-00002.safetensors\","
                     " \"pooler.weight\": \"model-00002-of-00002.safetensors\"}");
    fe_weights *w = NULL;
    CHECK_OK(fe_weights_open_dir(dir, &w));
    CHECK(fe_weights_count(w) == 5);
    const fe_tensor *t = fe_weights_find(w, "pooler.weight");
    CHECK(t && strcmp(t->file, "model-00002-of-00002.safetensors") == 0);
    float v[2];
    if (t) memcpy(v, t->data, sizeof(v));
    CHECK(t && v[0] == 21.0f && v[1] == -21.0f);
    t = fe_weights_find(w, "layer.0.bias");
    CHECK(t && strcmp(t->file, "model-00001-of-00002.safetensors") == 0);
    CHECK(fe_weights_metadata(w, "format") && strcmp(fe_weights_metadata(w, "format"), "pt") == 0);
    fe_weights_free(w);

    // model.safetensors, when present, wins over the index (Transformers' order).
    const char *single[] = {"only"};
    write_shard(dir, "model.safetensors", single, 1, 0);
    CHECK_OK(fe_weights_open_dir(dir, &w));
    CHECK(fe_weights_count(w) == 1 && fe_weights_find(w, "only"));
    fe_weights_free(w);
}

static void open_dir_rejects_shard_outside_the_directory(void) {
    const char *dir = scratch_subdir("escape");
    const char *names[] = {"w"};
    write_shard(scratch_root, "x.safetensors", names, 1, 0);   // a real file one level up
    const char *cases[][2] = {
        {"../x.safetensors", "leaves the checkpoint directory"},
        {"/etc/passwd", "is an absolute path"},
        {"a/b.safetensors", "is not a plain file name"},
        {"..", "leaves the checkpoint directory"},
        {"", "is empty"},
    };
    for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
        char map[256], needle[256];
        snprintf(map, sizeof(map), "{\"w\": \"%s\"}", cases[i][0]);
        write_index(dir, map);
        snprintf(needle, sizeof(needle), "tensor 'w': shard '%s' %s", cases[i][0], cases[i][1]);
        fe_weights *w = NULL;
        CHECK_FAILS(fe_weights_open_dir(dir, &w), KILN_ERR_FORMAT, needle);
        CHECK_FAILS(fe_weights_open_dir(dir, &w), KILN_ERR_FORMAT, "escape/model.safetensors.index.json: weight_map");
        CHECK(w == NULL);
    }
}

static void open_dir_rejects_tensor_missing_from_its_shard(void) {
    const char *dir = scratch_subdir("missing");
    const char *s1[] = {"a"}, *s2[] = {"b"};
    write_shard(dir, "s1.safetensors", s1, 1, 0);
    write_shard(dir, "s2.safetensors", s2, 1, 0);
    write_index(dir, "{\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\", \"c\": \"s2.safetensors\"}");
    fe_weights *w = NULL;
    CHECK_FAILS(fe_weights_open_dir(dir, &w), KILN_ERR_FORMAT,
                "model.safetensors.index.json: tensor 'c' is listed in shard 's2.safetensors' but is not in it");
    write_index(dir, "{\"a\": \"s2.safetensors\", \"b\": \"s1.safetensors\"}");
    CHECK_FAILS(fe_weights_open_dir(dir, &w), KILN_ERR_FORMAT,
                "tensor 'a' is listed in shard 's2.safetensors' but is in 's1.safetensors'");
    write_index(dir, "{\"a\": \"s1.safetensors\", \"b\": \"s3.safetensors\"}");
    CHECK_FAILS(fe_weights_open_dir(dir, &w), KILN_ERR_IO, "s3.safetensors: cannot open");
    CHECK(w == NULL);
}

static void open_dir_rejects_tensor_in_two_shards(void) {
    const char *dir = scratch_subdir("dup");
    const char *s1[] = {"a", "shared"}, *s2[] = {"shared", "b"};
    write_shard(dir, "s1.safetensors", s1, 2, 0);
    write_shard(dir, "s2.safetensors", s2, 2, 0);
    write_index(dir, "{\"a\": \"s1.safetensors\", \"shared\": \"s1.safetensors\", \"b\": \"s2.safetensors\"}");
    fe_weights *w = NULL;
    CHECK_FAILS(fe_weights_open_dir(dir, &w), KILN_ERR_FORMAT, "tensor 'shared' is in both s1.safetensors and s2.safetensors");
    CHECK(w == NULL);
}

static void open_dir_rejects_malformed_index(void) {
    const char *dir = scratch_subdir("badindex");
    char *path = kiln_path_join(dir, "model.safetensors.index.json");
    fe_weights *w = NULL;
    scratch_write_text(path, "{\"weight_map\": {\"a\": ");
    CHECK_FAILS(fe_weights_open_dir(dir, &w), KILN_ERR_FORMAT, "model.safetensors.index.json: not valid JSON");
    scratch_write_text(path, "{\"metadata\": {}}");
    CHECK_FAILS(fe_weights_open_dir(dir, &w), KILN_ERR_FORMAT, "index.json: missing \"weight_map\"");
    scratch_write_text(path, "{\"weight_map\": [\"a\"]}");
    CHECK_FAILS(fe_weights_open_dir(dir, &w), KILN_ERR_FORMAT, "\"weight_map\" is not a JSON object");
    scratch_write_text(path, "{\"weight_map\": {\"a\": 3}}");
    CHECK_FAILS(fe_weights_open_dir(dir, &w), KILN_ERR_FORMAT, "tensor 'a': shard is not a string");
    free(path);
}

int main(void) {
    scratch_init("safetensors");
    open_rejects_file_shorter_than_length_prefix();
    open_rejects_header_length_past_end_of_file();
    open_rejects_absurdly_large_header();
    open_rejects_header_that_is_not_a_json_object();
    open_rejects_offsets_past_data_section();
    open_rejects_overlapping_tensors();
    open_rejects_offsets_not_matching_shape_times_dtype();
    open_rejects_unknown_or_unsupported_dtype();
    open_rejects_rank_over_limit();
    open_rejects_missing_or_wrongly_typed_fields();
    open_reports_missing_file_as_io_error();
    round_trip_keeps_dtypes_shapes_and_bytes();
    empty_checkpoint_opens_with_no_tensors();
    write_rejects_bad_tensors();
    open_dir_reads_sharded_checkpoint();
    open_dir_rejects_shard_outside_the_directory();
    open_dir_rejects_tensor_missing_from_its_shard();
    open_dir_rejects_tensor_in_two_shards();
    open_dir_rejects_malformed_index();
    scratch_cleanup();
    return test_summary();
}
