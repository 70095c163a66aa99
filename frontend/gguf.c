/* gguf.c — reads GGUF files (v2, v3) through read-only mmap. Every count, length and offset in the
 * file is checked against the bytes that remain before it is used, so a truncated or hostile file
 * gives a status and a message, never a read past the mapping. Metadata is copied into an arena
 * (keys, strings, arrays: aligned, NUL-terminated); tensor data stays in the mapping, quantized
 * blocks included.
 */
#include "frontend/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

#define GG_MAGIC "GGUF"
#define GG_MAX_KEY_BYTES 65535u   // the spec's limit on key length

struct fe_gguf {
    kiln_arena *arena;   // keys, strings, arrays, tensor names
    const char *path;
    void *map;           // whole file, PROT_READ
    size_t map_bytes;
    uint32_t version;
    size_t alignment;
    fe_gguf_kv *kvs;     // (n_kv) file order
    size_t n_kv;
    size_t *kv_by_key;   // (n_kv) indices into kvs, sorted by key
    fe_gguf_tensor *tensors;   // (n_tensors) file order
    size_t n_tensors;
    size_t *tensor_by_name;    // (n_tensors) indices into tensors, sorted by name
};

/* ---- type tables ----------------------------------------------------------------------------- */

static const char *const value_type_names[FE_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

const char *fe_gguf_type_name(fe_gguf_type type) {
    return (unsigned)type < FE_GGUF_TYPE_COUNT ? value_type_names[type] : "?";
}

// Bytes of one scalar element; 0 for STRING and ARRAY.
static size_t value_type_bytes(fe_gguf_type type) {
    switch (type) {
    case FE_GGUF_U8: case FE_GGUF_I8: case FE_GGUF_BOOL: return 1;
    case FE_GGUF_U16: case FE_GGUF_I16: return 2;
    case FE_GGUF_U32: case FE_GGUF_I32: case FE_GGUF_F32: return 4;
    case FE_GGUF_U64: case FE_GGUF_I64: case FE_GGUF_F64: return 8;
    default: return 0;
    }
}

// ggml's tensor types by number (ggml.h's enum ggml_type; gaps are numbers ggml retired), and the
// kiln dtype of those kiln reads (-1 for the rest).
static const struct {
    const char *name;
    int dtype;
} ggml_types[] = {
    [0] = {"F32", KILN_F32},      [1] = {"F16", KILN_F16},      [2] = {"Q4_0", KILN_Q4_0},
    [3] = {"Q4_1", KILN_Q4_1},    [6] = {"Q5_0", -1},           [7] = {"Q5_1", -1},
    [8] = {"Q8_0", KILN_Q8_0},    [9] = {"Q8_1", -1},           [10] = {"Q2_K", -1},
    [11] = {"Q3_K", -1},          [12] = {"Q4_K", KILN_Q4_K},   [13] = {"Q5_K", -1},
    [14] = {"Q6_K", KILN_Q6_K},   [15] = {"Q8_K", -1},          [16] = {"IQ2_XXS", -1},
    [17] = {"IQ2_XS", -1},        [18] = {"IQ3_XXS", -1},       [19] = {"IQ1_S", -1},
    [20] = {"IQ4_NL", -1},        [21] = {"IQ3_S", -1},         [22] = {"IQ2_S", -1},
    [23] = {"IQ4_XS", -1},        [24] = {"I8", -1},            [25] = {"I16", -1},
    [26] = {"I32", KILN_I32},     [27] = {"I64", KILN_I64},     [28] = {"F64", -1},
    [29] = {"IQ1_M", -1},         [30] = {"BF16", KILN_BF16},   [34] = {"TQ1_0", -1},
    [35] = {"TQ2_0", -1},         [39] = {"MXFP4", -1},         [40] = {"NVFP4", -1},
    [41] = {"Q1_0", -1},
};

const char *fe_gguf_ggml_type_name(uint32_t ggml_type) {
    return ggml_type < KILN_ARRAY_SIZE(ggml_types) ? ggml_types[ggml_type].name : NULL;
}

/* ---- the cursor ------------------------------------------------------------------------------ */

typedef struct gg_reader {
    const unsigned char *bytes;
    size_t size, pos;
    const char *path;
    fe_gguf *g;
} gg_reader;

// Reads n bytes at the cursor into dst (NULL: skip), or reports what was being read.
static kiln_status take(gg_reader *r, void *dst, size_t n, const char *ctx, const char *what) {
    if (n > r->size - r->pos)
        return kiln_error(KILN_ERR_FORMAT, "%s: %s%s%s needs %zu bytes at offset %zu, past end of file (%zu bytes)",
                          r->path, ctx, *ctx ? ": " : "", what, n, r->pos, r->size);
    if (dst) memcpy(dst, r->bytes + r->pos, n);
    r->pos += n;
    return KILN_OK;
}

static kiln_status take_u32(gg_reader *r, uint32_t *v, const char *ctx, const char *what) {
    return take(r, v, 4, ctx, what);   // little-endian hosts only, as for safetensors
}

static kiln_status take_u64(gg_reader *r, uint64_t *v, const char *ctx, const char *what) {
    return take(r, v, 8, ctx, what);
}

// A string: u64 length and bytes, copied NUL-terminated into the arena.
static kiln_status take_string(gg_reader *r, fe_gguf_string *s, const char *ctx, const char *what) {
    uint64_t len = 0;
    kiln_status status = take_u64(r, &len, ctx, what);
    if (status != KILN_OK) return status;
    if (len > r->size - r->pos)
        return kiln_error(KILN_ERR_FORMAT, "%s: %s%s%s: string length %" PRIu64 " at offset %zu runs past end of file "
                          "(%zu bytes)", r->path, ctx, *ctx ? ": " : "", what, len, r->pos - 8, r->size);
    char *d = kiln_arena_strndup(r->g->arena, (const char *)r->bytes + r->pos, (size_t)len);
    if (!d) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory reading %s", r->path, what);
    r->pos += (size_t)len;
    s->data = d;
    s->len = (size_t)len;
    return KILN_OK;
}

/* ---- metadata -------------------------------------------------------------------------------- */

// Smallest number of bytes an array element of `type` takes in the file, to refuse counts that
// cannot fit before allocating for them.
static size_t min_element_bytes(fe_gguf_type type) {
    if (type == FE_GGUF_STRING) return 8;   // its length
    if (type == FE_GGUF_ARRAY) return 12;   // element type + count
    return value_type_bytes(type);
}

static kiln_status read_value(gg_reader *r, fe_gguf_type type, fe_gguf_value *v, const char *ctx, int depth);

static kiln_status read_array(gg_reader *r, fe_gguf_value *v, const char *ctx, int depth) {
    kiln_status status;
    uint32_t elem_type;
    uint64_t n;
    if ((status = take_u32(r, &elem_type, ctx, "array element type")) != KILN_OK) return status;
    if (elem_type >= FE_GGUF_TYPE_COUNT)
        return kiln_error(KILN_ERR_FORMAT, "%s: %s: unknown array element type %" PRIu32, r->path, ctx, elem_type);
    if ((status = take_u64(r, &n, ctx, "array length")) != KILN_OK) return status;
    size_t min_bytes = min_element_bytes((fe_gguf_type)elem_type);
    if (n > (r->size - r->pos) / min_bytes)
        return kiln_error(KILN_ERR_FORMAT, "%s: %s: array of %" PRIu64 " %s elements cannot fit in the %zu bytes left",
                          r->path, ctx, n, fe_gguf_type_name((fe_gguf_type)elem_type), r->size - r->pos);
    if (elem_type == FE_GGUF_ARRAY && depth + 1 >= FE_GGUF_MAX_ARRAY_DEPTH)
        return kiln_error(KILN_ERR_FORMAT, "%s: %s: arrays nested more than %d deep", r->path, ctx,
                          FE_GGUF_MAX_ARRAY_DEPTH);
    v->array.type = (fe_gguf_type)elem_type;
    v->array.n = (size_t)n;

    size_t elem_bytes = value_type_bytes((fe_gguf_type)elem_type);
    if (elem_bytes) {   // numbers and bools: one aligned copy of the bytes
        void *d = kiln_arena_alloc(r->g->arena, (size_t)n * elem_bytes);
        if (!d) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: %s: out of memory", r->path, ctx);
        if ((status = take(r, d, (size_t)n * elem_bytes, ctx, "array elements")) != KILN_OK) return status;
        if (elem_type == FE_GGUF_BOOL) {
            const uint8_t *b = d;
            for (size_t i = 0; i < n; i++)
                if (b[i] > 1)
                    return kiln_error(KILN_ERR_FORMAT, "%s: %s: element %zu: bool byte %u is not 0 or 1", r->path,
                                      ctx, i, b[i]);
        }
        v->array.data = d;
        return KILN_OK;
    }
    if (elem_type == FE_GGUF_STRING) {
        fe_gguf_string *s = kiln_arena_alloc(r->g->arena, (size_t)n * sizeof(*s) + 1);
        if (!s) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: %s: out of memory", r->path, ctx);
        char what[48];
        for (size_t i = 0; i < n; i++) {
            snprintf(what, sizeof(what), "element %zu", i);
            if ((status = take_string(r, &s[i], ctx, what)) != KILN_OK) return status;
        }
        v->array.data = s;
        return KILN_OK;
    }
    fe_gguf_value *items = kiln_arena_alloc(r->g->arena, (size_t)n * sizeof(*items) + 1);
    if (!items) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: %s: out of memory", r->path, ctx);
    for (size_t i = 0; i < n; i++)
        if ((status = read_value(r, FE_GGUF_ARRAY, &items[i], ctx, depth + 1)) != KILN_OK) return status;
    v->array.data = items;
    return KILN_OK;
}

static kiln_status read_value(gg_reader *r, fe_gguf_type type, fe_gguf_value *v, const char *ctx, int depth) {
    kiln_status status;
    v->type = type;
    if (type == FE_GGUF_STRING) return take_string(r, &v->str, ctx, "value");
    if (type == FE_GGUF_ARRAY) return read_array(r, v, ctx, depth);
    unsigned char b[8] = {0};
    if ((status = take(r, b, value_type_bytes(type), ctx, "value")) != KILN_OK) return status;
    switch (type) {
    case FE_GGUF_U8: v->u = b[0]; break;
    case FE_GGUF_I8: v->i = (int8_t)b[0]; break;
    case FE_GGUF_U16: { uint16_t x; memcpy(&x, b, 2); v->u = x; break; }
    case FE_GGUF_I16: { int16_t x; memcpy(&x, b, 2); v->i = x; break; }
    case FE_GGUF_U32: { uint32_t x; memcpy(&x, b, 4); v->u = x; break; }
    case FE_GGUF_I32: { int32_t x; memcpy(&x, b, 4); v->i = x; break; }
    case FE_GGUF_F32: { float x; memcpy(&x, b, 4); v->f = x; break; }
    case FE_GGUF_U64: memcpy(&v->u, b, 8); break;
    case FE_GGUF_I64: memcpy(&v->i, b, 8); break;
    case FE_GGUF_F64: memcpy(&v->f, b, 8); break;
    case FE_GGUF_BOOL:
        if (b[0] > 1) return kiln_error(KILN_ERR_FORMAT, "%s: %s: bool byte %u is not 0 or 1", r->path, ctx, b[0]);
        v->u = b[0];
        break;
    default: KILN_ASSERT(0);
    }
    return KILN_OK;
}

static kiln_status read_kv(gg_reader *r, size_t index, fe_gguf_kv *kv) {
    kiln_status status;
    char ctx[160];
    snprintf(ctx, sizeof(ctx), "key %zu", index);
    fe_gguf_string key;
    if ((status = take_string(r, &key, ctx, "name")) != KILN_OK) return status;
    if (key.len == 0) return kiln_error(KILN_ERR_FORMAT, "%s: key %zu: empty key", r->path, index);
    if (key.len > GG_MAX_KEY_BYTES)
        return kiln_error(KILN_ERR_FORMAT, "%s: key %zu: %zu bytes long, over GGUF's limit of %u", r->path, index,
                          key.len, GG_MAX_KEY_BYTES);
    if (strlen(key.data) != key.len)
        return kiln_error(KILN_ERR_FORMAT, "%s: key %zu: holds a NUL byte", r->path, index);
    kv->key = key.data;
    snprintf(ctx, sizeof(ctx), "key '%.120s'", key.data);
    uint32_t type;
    if ((status = take_u32(r, &type, ctx, "value type")) != KILN_OK) return status;
    if (type >= FE_GGUF_TYPE_COUNT)
        return kiln_error(KILN_ERR_FORMAT, "%s: %s: unknown value type %" PRIu32, r->path, ctx, type);
    return read_value(r, (fe_gguf_type)type, &kv->value, ctx, 0);
}

/* ---- sorted indices -------------------------------------------------------------------------- */

// qsort has no context argument: the array being sorted is passed through this, per thread.
static _Thread_local const void *sort_base;

static int cmp_kv_index(const void *a, const void *b) {
    const fe_gguf_kv *kvs = sort_base;
    return strcmp(kvs[*(const size_t *)a].key, kvs[*(const size_t *)b].key);
}

static int cmp_tensor_index(const void *a, const void *b) {
    const fe_gguf_tensor *ts = sort_base;
    return strcmp(ts[*(const size_t *)a].name, ts[*(const size_t *)b].name);
}

static int cmp_tensor_offset(const void *a, const void *b) {
    const fe_gguf_tensor *ts = sort_base, *x = &ts[*(const size_t *)a], *y = &ts[*(const size_t *)b];
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->size_bytes < y->size_bytes ? -1 : x->size_bytes > y->size_bytes;
}

static size_t *sorted_index(size_t n, const void *base, int (*cmp)(const void *, const void *)) {
    size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
    if (!idx) return NULL;
    for (size_t i = 0; i < n; i++) idx[i] = i;
    sort_base = base;
    if (n > 1) qsort(idx, n, sizeof(*idx), cmp);
    return idx;
}

/* ---- tensor infos ---------------------------------------------------------------------------- */

static void ggml_type_str(char *buf, size_t n, uint32_t type) {
    const char *name = fe_gguf_ggml_type_name(type);
    if (name) snprintf(buf, n, "%s (%" PRIu32 ")", name, type);
    else snprintf(buf, n, "%" PRIu32 " (not a ggml type)", type);
}

static void shape_str(char *buf, size_t n, int32_t rank, const int64_t *shape) {
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int32_t i = 0; i < rank && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, i ? ", %" PRId64 : "%" PRId64, shape[i]);
    if (len < n) snprintf(buf + len, n - len, "]");
}

static kiln_status read_tensor_info(gg_reader *r, size_t index, fe_gguf_tensor *t) {
    kiln_status status;
    char ctx[160];
    snprintf(ctx, sizeof(ctx), "tensor %zu", index);
    fe_gguf_string name;
    if ((status = take_string(r, &name, ctx, "name")) != KILN_OK) return status;
    if (name.len == 0) return kiln_error(KILN_ERR_FORMAT, "%s: tensor %zu: empty name", r->path, index);
    if (strlen(name.data) != name.len)
        return kiln_error(KILN_ERR_FORMAT, "%s: tensor %zu: name holds a NUL byte", r->path, index);
    t->name = name.data;
    snprintf(ctx, sizeof(ctx), "tensor '%.120s'", name.data);

    uint32_t n_dims;
    if ((status = take_u32(r, &n_dims, ctx, "number of dims")) != KILN_OK) return status;
    if (n_dims > FE_GGUF_MAX_DIMS)
        return kiln_error(KILN_ERR_FORMAT, "%s: %s: %" PRIu32 " dims, more than GGUF's %d", r->path, ctx, n_dims,
                          FE_GGUF_MAX_DIMS);
    uint64_t dims[FE_GGUF_MAX_DIMS];
    for (uint32_t i = 0; i < n_dims; i++) {
        if ((status = take_u64(r, &dims[i], ctx, "dims")) != KILN_OK) return status;
        if (dims[i] > INT64_MAX)
            return kiln_error(KILN_ERR_FORMAT, "%s: %s: dim %" PRIu32 " is %" PRIu64 ", too large", r->path, ctx, i,
                              dims[i]);
    }
    t->rank = (int32_t)n_dims;
    for (uint32_t i = 0; i < n_dims; i++) t->shape[n_dims - 1 - i] = (int64_t)dims[i];   // PyTorch order

    uint32_t type;
    if ((status = take_u32(r, &type, ctx, "tensor type")) != KILN_OK) return status;
    char type_buf[48], shape_buf[128];
    ggml_type_str(type_buf, sizeof(type_buf), type);
    if (type >= KILN_ARRAY_SIZE(ggml_types) || !ggml_types[type].name || ggml_types[type].dtype < 0)
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: %s: unsupported tensor type %s (kiln reads F32, F16, BF16, I32, "
                          "I64, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K)", r->path, ctx, type_buf);
    t->ggml_type = type;
    t->dtype = (kiln_dtype)ggml_types[type].dtype;
    if ((status = take_u64(r, &t->offset, ctx, "offset")) != KILN_OK) return status;

    // A zero dim empties the tensor however large the others are; only without one can it overflow.
    const kiln_dtype_info *info = kiln_dtype_get_info(t->dtype);
    shape_str(shape_buf, sizeof(shape_buf), t->rank, t->shape);
    int64_t n_elements = 1, row = n_dims ? (int64_t)dims[0] : 1;
    bool has_zero = false;
    for (uint32_t i = 0; i < n_dims; i++) has_zero |= dims[i] == 0;
    for (uint32_t i = 0; i < n_dims && !has_zero; i++) {
        if (n_elements > INT64_MAX / (int64_t)dims[i])
            return kiln_error(KILN_ERR_FORMAT, "%s: %s: shape %s overflows", r->path, ctx, shape_buf);
        n_elements *= (int64_t)dims[i];
    }
    if (has_zero) n_elements = 0;
    if (row % info->block_size != 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: %s: shape %s: row length %" PRId64 " is not a multiple of %s's block "
                          "size %d", r->path, ctx, shape_buf, row, ggml_types[type].name, info->block_size);
    if ((uint64_t)(n_elements / info->block_size) > SIZE_MAX / (uint64_t)info->block_bytes)
        return kiln_error(KILN_ERR_FORMAT, "%s: %s: shape %s overflows", r->path, ctx, shape_buf);
    t->size_bytes = (size_t)(n_elements / info->block_size) * (size_t)info->block_bytes;
    return KILN_OK;
}

// Offsets: multiples of the alignment, inside the data section, no two tensors sharing a byte.
static kiln_status check_tensor_data(gg_reader *r, size_t data_start) {
    fe_gguf *g = r->g;
    size_t data_bytes = r->size - data_start;
    for (size_t i = 0; i < g->n_tensors; i++) {
        fe_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment != 0)
            return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': offset %" PRIu64 " is not a multiple of the alignment "
                              "(%zu)", r->path, t->name, t->offset, g->alignment);
        if (t->offset > data_bytes || t->size_bytes > data_bytes - t->offset)
            return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': data [%" PRIu64 ", %" PRIu64 ") past end of data "
                              "section (%zu bytes at file offset %zu)", r->path, t->name, t->offset,
                              t->offset + (uint64_t)t->size_bytes, data_bytes, data_start);
        t->data = r->bytes + data_start + t->offset;
    }
    size_t *order = sorted_index(g->n_tensors, g->tensors, cmp_tensor_offset);
    if (!order) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory checking offsets", r->path);
    kiln_status status = KILN_OK;
    const fe_gguf_tensor *prev = NULL;
    for (size_t i = 0; i < g->n_tensors; i++) {
        const fe_gguf_tensor *t = &g->tensors[order[i]];
        if (t->size_bytes == 0) continue;   // empty tensors own no bytes
        if (prev && t->offset < prev->offset + prev->size_bytes) {
            status = kiln_error(KILN_ERR_FORMAT, "%s: tensors '%s' [%" PRIu64 ", %" PRIu64 ") and '%s' [%" PRIu64 ", %"
                                PRIu64 ") overlap", r->path, prev->name, prev->offset,
                                prev->offset + (uint64_t)prev->size_bytes, t->name, t->offset,
                                t->offset + (uint64_t)t->size_bytes);
            break;
        }
        prev = t;
    }
    free(order);
    return status;
}

/* ---- open ------------------------------------------------------------------------------------ */

static uint32_t bswap32(uint32_t x) {
    return (x >> 24) | ((x >> 8) & 0xff00) | ((x << 8) & 0xff0000) | (x << 24);
}

static kiln_status parse(gg_reader *r) {
    fe_gguf *g = r->g;
    kiln_status status;
    if (r->size < 4 || memcmp(r->bytes, GG_MAGIC, 4) != 0) {
        char seen[16] = "";
        for (size_t i = 0; i < 4 && i < r->size; i++)
            snprintf(seen + 2 * i, sizeof(seen) - 2 * i, "%02x", r->bytes[i]);
        return kiln_error(KILN_ERR_FORMAT, "%s: bad magic 0x%s (a GGUF file starts with \"GGUF\"): not a GGUF file",
                          r->path, r->size ? seen : "");
    }
    r->pos = 4;
    if ((status = take_u32(r, &g->version, "header", "version")) != KILN_OK) return status;
    if (g->version != 2 && g->version != 3) {
        uint32_t swapped = bswap32(g->version);
        if (swapped >= 1 && swapped <= 3)
            return kiln_error(KILN_ERR_UNSUPPORTED, "%s: big-endian GGUF (version %" PRIu32 " byte-swapped) is not "
                              "supported", r->path, swapped);
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: GGUF version %" PRIu32 " is not supported (kiln reads versions 2 "
                          "and 3)", r->path, g->version);
    }
    uint64_t n_tensors, n_kv;
    if ((status = take_u64(r, &n_tensors, "header", "tensor count")) != KILN_OK) return status;
    if ((status = take_u64(r, &n_kv, "header", "key/value count")) != KILN_OK) return status;
    // Each key/value takes at least 13 bytes (key length, type, one-byte value); each tensor info
    // at least 24 (name length, n_dims, type, offset).
    size_t left = r->size - r->pos;
    if (n_kv > left / 13)
        return kiln_error(KILN_ERR_FORMAT, "%s: header: %" PRIu64 " key/values cannot fit in the %zu bytes left",
                          r->path, n_kv, left);
    if (n_tensors > left / 24)
        return kiln_error(KILN_ERR_FORMAT, "%s: header: %" PRIu64 " tensors cannot fit in the %zu bytes left", r->path,
                          n_tensors, left);

    g->kvs = calloc(n_kv ? (size_t)n_kv : 1, sizeof(*g->kvs));
    if (!g->kvs) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
    for (size_t i = 0; i < n_kv; i++) {
        if ((status = read_kv(r, i, &g->kvs[i])) != KILN_OK) return status;
        g->n_kv++;
    }
    g->kv_by_key = sorted_index(g->n_kv, g->kvs, cmp_kv_index);
    if (!g->kv_by_key) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
    for (size_t i = 1; i < g->n_kv; i++)
        if (strcmp(g->kvs[g->kv_by_key[i - 1]].key, g->kvs[g->kv_by_key[i]].key) == 0)
            return kiln_error(KILN_ERR_FORMAT, "%s: key '%s' appears twice", r->path, g->kvs[g->kv_by_key[i]].key);

    g->alignment = FE_GGUF_DEFAULT_ALIGNMENT;
    const fe_gguf_value *align = fe_gguf_find(g, "general.alignment");
    if (align) {
        if (align->type != FE_GGUF_U32)
            return kiln_error(KILN_ERR_FORMAT, "%s: key 'general.alignment': is %s, must be u32", r->path,
                              fe_gguf_type_name(align->type));
        if (align->u == 0 || (align->u & (align->u - 1)) != 0)
            return kiln_error(KILN_ERR_FORMAT, "%s: key 'general.alignment': %" PRIu64 " is not a power of two",
                              r->path, align->u);
        g->alignment = (size_t)align->u;
    }

    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof(*g->tensors));
    if (!g->tensors) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
    for (size_t i = 0; i < n_tensors; i++) {
        if ((status = read_tensor_info(r, i, &g->tensors[i])) != KILN_OK) return status;
        g->n_tensors++;
    }
    g->tensor_by_name = sorted_index(g->n_tensors, g->tensors, cmp_tensor_index);
    if (!g->tensor_by_name) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
    for (size_t i = 1; i < g->n_tensors; i++)
        if (strcmp(g->tensors[g->tensor_by_name[i - 1]].name, g->tensors[g->tensor_by_name[i]].name) == 0)
            return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s' appears twice", r->path,
                              g->tensors[g->tensor_by_name[i]].name);

    if (g->n_tensors == 0) return KILN_OK;   // a file of metadata alone need not pad to a data section
    size_t pad = (g->alignment - r->pos % g->alignment) % g->alignment;
    if (pad > r->size - r->pos)
        return kiln_error(KILN_ERR_FORMAT, "%s: data section would start at offset %zu, past end of file (%zu bytes)",
                          r->path, r->pos + pad, r->size);
    return check_tensor_data(r, r->pos + pad);
}

kiln_status fe_gguf_open(const char *path, fe_gguf **out) {
    if (!path || !out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_gguf_open: NULL argument");
    kiln_status status;
    int fd = -1;
    fe_gguf *g = calloc(1, sizeof(*g));
    if (g) g->arena = kiln_arena_create(1 << 20);
    if (!g || !g->arena || !(g->path = kiln_arena_strdup(g->arena, path))) {
        status = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto error;
    }

    status = KILN_ERR_IO;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        kiln_error(status, "%s: cannot open: %s", path, strerror(errno));
        goto error;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        kiln_error(status, "%s: cannot stat: %s", path, strerror(errno));
        goto error;
    }
    if (!S_ISREG(st.st_mode)) {
        kiln_error(status, "%s: not a regular file", path);
        goto error;
    }
    size_t file_bytes = (size_t)st.st_size;
    if (file_bytes == 0) {
        status = kiln_error(KILN_ERR_FORMAT, "%s: file is empty: not a GGUF file", path);
        goto error;
    }
    void *map = mmap(NULL, file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        kiln_error(status, "%s: cannot mmap %zu bytes: %s", path, file_bytes, strerror(errno));
        goto error;
    }
    close(fd);
    fd = -1;
    g->map = map;   // from here fe_gguf_free unmaps it
    g->map_bytes = file_bytes;

    gg_reader r = {.bytes = map, .size = file_bytes, .path = path, .g = g};
    status = parse(&r);
    if (status != KILN_OK) goto error;
    *out = g;
    return KILN_OK;

error:
    if (fd >= 0) close(fd);
    fe_gguf_free(g);
    return status;
}

void fe_gguf_free(fe_gguf *g) {
    if (!g) return;
    if (g->map) munmap(g->map, g->map_bytes);
    free(g->kvs);
    free(g->kv_by_key);
    free(g->tensors);
    free(g->tensor_by_name);
    kiln_arena_free(g->arena);
    free(g);
}

uint32_t fe_gguf_version(const fe_gguf *g) { return g ? g->version : 0; }
size_t fe_gguf_alignment(const fe_gguf *g) { return g ? g->alignment : 0; }
const char *fe_gguf_path(const fe_gguf *g) { return g ? g->path : NULL; }

const char *fe_gguf_architecture(const fe_gguf *g) {
    const fe_gguf_value *v = fe_gguf_find(g, "general.architecture");
    return v && v->type == FE_GGUF_STRING ? v->str.data : NULL;
}

/* ---- metadata queries ------------------------------------------------------------------------ */

size_t fe_gguf_n_kv(const fe_gguf *g) { return g ? g->n_kv : 0; }

const fe_gguf_kv *fe_gguf_kv_at(const fe_gguf *g, size_t i) { return g && i < g->n_kv ? &g->kvs[i] : NULL; }

const fe_gguf_value *fe_gguf_find(const fe_gguf *g, const char *key) {
    if (!g || !key || !g->kv_by_key) return NULL;
    size_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, g->kvs[g->kv_by_key[mid]].key);
        if (c == 0) return &g->kvs[g->kv_by_key[mid]].value;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

// The value of a key that must be there, else a FORMAT error naming it.
static kiln_status lookup(const fe_gguf *g, const char *key, const fe_gguf_value **v) {
    if (!g || !key) return kiln_error(KILN_ERR_INVALID_ARG, "fe_gguf: NULL argument");
    *v = fe_gguf_find(g, key);
    if (!*v) return kiln_error(KILN_ERR_FORMAT, "%s: missing key '%s'", g->path, key);
    return KILN_OK;
}

static kiln_status wrong_type(const fe_gguf *g, const char *key, const fe_gguf_value *v, const char *want) {
    if (v->type == FE_GGUF_ARRAY)
        return kiln_error(KILN_ERR_FORMAT, "%s: key '%s': is an array of %s, expected %s", g->path, key,
                          fe_gguf_type_name(v->array.type), want);
    return kiln_error(KILN_ERR_FORMAT, "%s: key '%s': is %s, expected %s", g->path, key, fe_gguf_type_name(v->type),
                      want);
}

static bool is_unsigned(fe_gguf_type t) {
    return t == FE_GGUF_U8 || t == FE_GGUF_U16 || t == FE_GGUF_U32 || t == FE_GGUF_U64;
}
static bool is_signed(fe_gguf_type t) {
    return t == FE_GGUF_I8 || t == FE_GGUF_I16 || t == FE_GGUF_I32 || t == FE_GGUF_I64;
}

// Any integer value as a sign and magnitude-checked range test: fits in [min, max]?
static kiln_status get_integer(const fe_gguf *g, const char *key, int64_t min, uint64_t max, uint64_t *u_out,
                               int64_t *i_out) {
    const fe_gguf_value *v;
    kiln_status status = lookup(g, key, &v);
    if (status != KILN_OK) return status;
    if (is_unsigned(v->type)) {
        if (v->u > max)
            return kiln_error(KILN_ERR_FORMAT, "%s: key '%s': %" PRIu64 " is out of range (at most %" PRIu64 ")",
                              g->path, key, v->u, max);
        if (u_out) *u_out = v->u;
        if (i_out) *i_out = (int64_t)v->u;
        return KILN_OK;
    }
    if (is_signed(v->type)) {
        if (v->i < min || (v->i > 0 && (uint64_t)v->i > max))
            return kiln_error(KILN_ERR_FORMAT, "%s: key '%s': %" PRId64 " is out of range [%" PRId64 ", %" PRIu64 "]",
                              g->path, key, v->i, min, max);
        if (u_out) *u_out = (uint64_t)v->i;
        if (i_out) *i_out = v->i;
        return KILN_OK;
    }
    return wrong_type(g, key, v, "an integer");
}

kiln_status fe_gguf_get_u32(const fe_gguf *g, const char *key, uint32_t *out) {
    if (!out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_gguf_get_u32: NULL argument");
    uint64_t u;
    kiln_status status = get_integer(g, key, 0, UINT32_MAX, &u, NULL);
    if (status == KILN_OK) *out = (uint32_t)u;
    return status;
}

kiln_status fe_gguf_get_u64(const fe_gguf *g, const char *key, uint64_t *out) {
    if (!out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_gguf_get_u64: NULL argument");
    return get_integer(g, key, 0, UINT64_MAX, out, NULL);
}

kiln_status fe_gguf_get_i64(const fe_gguf *g, const char *key, int64_t *out) {
    if (!out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_gguf_get_i64: NULL argument");
    return get_integer(g, key, INT64_MIN, INT64_MAX, NULL, out);
}

kiln_status fe_gguf_get_f32(const fe_gguf *g, const char *key, float *out) {
    const fe_gguf_value *v;
    if (!out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_gguf_get_f32: NULL argument");
    kiln_status status = lookup(g, key, &v);
    if (status != KILN_OK) return status;
    if (v->type != FE_GGUF_F32 && v->type != FE_GGUF_F64) return wrong_type(g, key, v, "f32");
    *out = (float)v->f;
    return KILN_OK;
}

kiln_status fe_gguf_get_bool(const fe_gguf *g, const char *key, bool *out) {
    const fe_gguf_value *v;
    if (!out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_gguf_get_bool: NULL argument");
    kiln_status status = lookup(g, key, &v);
    if (status != KILN_OK) return status;
    if (v->type != FE_GGUF_BOOL) return wrong_type(g, key, v, "bool");
    *out = v->u != 0;
    return KILN_OK;
}

kiln_status fe_gguf_get_string(const fe_gguf *g, const char *key, fe_gguf_string *out) {
    const fe_gguf_value *v;
    if (!out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_gguf_get_string: NULL argument");
    kiln_status status = lookup(g, key, &v);
    if (status != KILN_OK) return status;
    if (v->type != FE_GGUF_STRING) return wrong_type(g, key, v, "string");
    *out = v->str;
    return KILN_OK;
}

static kiln_status get_array(const fe_gguf *g, const char *key, fe_gguf_type elem, const char *want,
                             const fe_gguf_value **v) {
    kiln_status status = lookup(g, key, v);
    if (status != KILN_OK) return status;
    if ((*v)->type != FE_GGUF_ARRAY || (*v)->array.type != elem) return wrong_type(g, key, *v, want);
    return KILN_OK;
}

kiln_status fe_gguf_get_string_array(const fe_gguf *g, const char *key, const fe_gguf_string **values_out,
                                     size_t *n_out) {
    const fe_gguf_value *v;
    if (!values_out || !n_out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_gguf_get_string_array: NULL argument");
    kiln_status status = get_array(g, key, FE_GGUF_STRING, "an array of string", &v);
    if (status != KILN_OK) return status;
    *values_out = v->array.data;
    *n_out = v->array.n;
    return KILN_OK;
}

kiln_status fe_gguf_get_f32_array(const fe_gguf *g, const char *key, const float **values_out, size_t *n_out) {
    const fe_gguf_value *v;
    if (!values_out || !n_out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_gguf_get_f32_array: NULL argument");
    kiln_status status = get_array(g, key, FE_GGUF_F32, "an array of f32", &v);
    if (status != KILN_OK) return status;
    *values_out = v->array.data;
    *n_out = v->array.n;
    return KILN_OK;
}

kiln_status fe_gguf_get_i32_array(const fe_gguf *g, const char *key, const int32_t **values_out, size_t *n_out) {
    const fe_gguf_value *v;
    if (!values_out || !n_out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_gguf_get_i32_array: NULL argument");
    kiln_status status = lookup(g, key, &v);
    if (status != KILN_OK) return status;
    if (v->type != FE_GGUF_ARRAY || (v->array.type != FE_GGUF_I32 && v->array.type != FE_GGUF_U32))
        return wrong_type(g, key, v, "an array of i32");
    if (v->array.type == FE_GGUF_U32) {
        const uint32_t *u = v->array.data;
        for (size_t i = 0; i < v->array.n; i++)
            if (u[i] > INT32_MAX)
                return kiln_error(KILN_ERR_FORMAT, "%s: key '%s': element %zu: %" PRIu32 " does not fit in i32",
                                  g->path, key, i, u[i]);
    }
    *values_out = v->array.data;
    *n_out = v->array.n;
    return KILN_OK;
}

/* ---- tensor queries -------------------------------------------------------------------------- */

size_t fe_gguf_n_tensors(const fe_gguf *g) { return g ? g->n_tensors : 0; }

const fe_gguf_tensor *fe_gguf_tensor_at(const fe_gguf *g, size_t i) {
    return g && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const fe_gguf_tensor *fe_gguf_find_tensor(const fe_gguf *g, const char *name) {
    if (!g || !name || !g->tensor_by_name) return NULL;
    size_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, g->tensors[g->tensor_by_name[mid]].name);
        if (c == 0) return &g->tensors[g->tensor_by_name[mid]];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

/* ---- hyperparameters and tokenizer ----------------------------------------------------------- */

// "<arch>.<name>" into buf.
static const char *arch_key(char *buf, size_t n, const char *arch, const char *name) {
    snprintf(buf, n, "%s.%s", arch, name);
    return buf;
}

// Optional u32: *out keeps its default when the key is absent.
static kiln_status opt_u32(const fe_gguf *g, const char *key, uint32_t *out) {
    return fe_gguf_find(g, key) ? fe_gguf_get_u32(g, key, out) : KILN_OK;
}

static kiln_status opt_f32(const fe_gguf *g, const char *key, float *out) {
    return fe_gguf_find(g, key) ? fe_gguf_get_f32(g, key, out) : KILN_OK;
}

kiln_status fe_gguf_get_hparams(const fe_gguf *g, fe_gguf_hparams *out) {
    if (!g || !out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_gguf_get_hparams: NULL argument");
    fe_gguf_hparams h = {0};
    fe_gguf_string arch;
    char key[320];
    kiln_status status = fe_gguf_get_string(g, "general.architecture", &arch);
    if (status != KILN_OK) return status;
    if (arch.len == 0 || arch.len > 200 || strlen(arch.data) != arch.len)
        return kiln_error(KILN_ERR_FORMAT, "%s: key 'general.architecture': not a usable name", g->path);
    h.architecture = arch.data;
    const char *a = arch.data;
    h.rope_freq_base = 10000.0f;
    if ((status = fe_gguf_get_u32(g, arch_key(key, sizeof(key), a, "embedding_length"), &h.embedding_length)) ||
        (status = fe_gguf_get_u32(g, arch_key(key, sizeof(key), a, "block_count"), &h.block_count)) ||
        (status = fe_gguf_get_u32(g, arch_key(key, sizeof(key), a, "attention.head_count"), &h.head_count)))
        return status;
    h.head_count_kv = h.head_count;
    if ((status = opt_u32(g, arch_key(key, sizeof(key), a, "context_length"), &h.context_length)) ||
        (status = opt_u32(g, arch_key(key, sizeof(key), a, "feed_forward_length"), &h.feed_forward_length)) ||
        (status = opt_u32(g, arch_key(key, sizeof(key), a, "attention.head_count_kv"), &h.head_count_kv)) ||
        (status = opt_f32(g, arch_key(key, sizeof(key), a, "rope.freq_base"), &h.rope_freq_base)) ||
        (status = opt_f32(g, arch_key(key, sizeof(key), a, "attention.layer_norm_rms_epsilon"),
                          &h.layer_norm_rms_epsilon)) ||
        (status = opt_f32(g, arch_key(key, sizeof(key), a, "attention.layer_norm_epsilon"), &h.layer_norm_epsilon)))
        return status;
    if (h.head_count == 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: key '%s.attention.head_count': is 0", g->path, a);
    if (h.head_count_kv == 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: key '%s.attention.head_count_kv': is 0", g->path, a);
    h.rope_dimension_count = h.embedding_length / h.head_count;
    if ((status = opt_u32(g, arch_key(key, sizeof(key), a, "rope.dimension_count"), &h.rope_dimension_count)))
        return status;

    const fe_gguf_value *tokens = fe_gguf_find(g, "tokenizer.ggml.tokens");
    const fe_gguf_tensor *embd = fe_gguf_find_tensor(g, "token_embd.weight");
    if (fe_gguf_find(g, arch_key(key, sizeof(key), a, "vocab_size"))) {
        if ((status = fe_gguf_get_u32(g, key, &h.vocab_size))) return status;
    } else if (tokens && tokens->type == FE_GGUF_ARRAY && tokens->array.n <= UINT32_MAX) {
        h.vocab_size = (uint32_t)tokens->array.n;
    } else if (embd && embd->rank == 2 && embd->shape[0] <= UINT32_MAX) {
        h.vocab_size = (uint32_t)embd->shape[0];
    }
    *out = h;
    return KILN_OK;
}

static kiln_status opt_token_id(const fe_gguf *g, const char *key, size_t n_tokens, int64_t *out) {
    *out = -1;
    if (!fe_gguf_find(g, key)) return KILN_OK;
    int64_t id;
    kiln_status status = fe_gguf_get_i64(g, key, &id);
    if (status != KILN_OK) return status;
    if (id < 0 || (uint64_t)id >= n_tokens)
        return kiln_error(KILN_ERR_FORMAT, "%s: key '%s': token id %" PRId64 " is outside the vocabulary (%zu tokens)",
                          g->path, key, id, n_tokens);
    *out = id;
    return KILN_OK;
}

static kiln_status opt_flag(const fe_gguf *g, const char *key, int *out) {
    *out = -1;
    if (!fe_gguf_find(g, key)) return KILN_OK;
    bool b;
    kiln_status status = fe_gguf_get_bool(g, key, &b);
    if (status == KILN_OK) *out = b;
    return status;
}

static kiln_status opt_c_string(const fe_gguf *g, const char *key, const char **out) {
    *out = NULL;
    if (!fe_gguf_find(g, key)) return KILN_OK;
    fe_gguf_string s;
    kiln_status status = fe_gguf_get_string(g, key, &s);
    if (status == KILN_OK) *out = s.data;
    return status;
}

kiln_status fe_gguf_get_tokenizer(const fe_gguf *g, fe_gguf_tokenizer *out) {
    if (!g || !out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_gguf_get_tokenizer: NULL argument");
    fe_gguf_tokenizer t = {0};
    fe_gguf_string model;
    size_t n;
    kiln_status status = fe_gguf_get_string(g, "tokenizer.ggml.model", &model);
    if (status != KILN_OK) return status;
    t.model = model.data;
    if ((status = opt_c_string(g, "tokenizer.ggml.pre", &t.pre)) ||
        (status = fe_gguf_get_string_array(g, "tokenizer.ggml.tokens", &t.tokens, &t.n_tokens)))
        return status;
    if (fe_gguf_find(g, "tokenizer.ggml.scores")) {
        if ((status = fe_gguf_get_f32_array(g, "tokenizer.ggml.scores", &t.scores, &n))) return status;
        if (n != t.n_tokens)
            return kiln_error(KILN_ERR_FORMAT, "%s: key 'tokenizer.ggml.scores': %zu scores for %zu tokens", g->path, n,
                              t.n_tokens);
    }
    if (fe_gguf_find(g, "tokenizer.ggml.token_type")) {
        if ((status = fe_gguf_get_i32_array(g, "tokenizer.ggml.token_type", &t.token_type, &n))) return status;
        if (n != t.n_tokens)
            return kiln_error(KILN_ERR_FORMAT, "%s: key 'tokenizer.ggml.token_type': %zu types for %zu tokens", g->path,
                              n, t.n_tokens);
    }
    if (fe_gguf_find(g, "tokenizer.ggml.merges") &&
        (status = fe_gguf_get_string_array(g, "tokenizer.ggml.merges", &t.merges, &t.n_merges)))
        return status;
    if ((status = opt_token_id(g, "tokenizer.ggml.bos_token_id", t.n_tokens, &t.bos_id)) ||
        (status = opt_token_id(g, "tokenizer.ggml.eos_token_id", t.n_tokens, &t.eos_id)) ||
        (status = opt_token_id(g, "tokenizer.ggml.unknown_token_id", t.n_tokens, &t.unk_id)) ||
        (status = opt_token_id(g, "tokenizer.ggml.padding_token_id", t.n_tokens, &t.pad_id)) ||
        (status = opt_flag(g, "tokenizer.ggml.add_bos_token", &t.add_bos_token)) ||
        (status = opt_flag(g, "tokenizer.ggml.add_eos_token", &t.add_eos_token)) ||
        (status = opt_flag(g, "tokenizer.ggml.add_space_prefix", &t.add_space_prefix)) ||
        (status = opt_c_string(g, "tokenizer.chat_template", &t.chat_template)))
        return status;
    *out = t;
    return KILN_OK;
}

void fe_gguf_tokenizer_defaults(fe_gguf_tokenizer *t) {
    if (!t || !t->model || strcmp(t->model, "llama") != 0) return;
    const int64_t n = (int64_t)t->n_tokens;
    if (t->unk_id < 0 && n > 0) t->unk_id = 0;
    if (t->bos_id < 0 && n > 1) t->bos_id = 1;
    if (t->eos_id < 0 && n > 2) t->eos_id = 2;
}
