/* safetensors.c — reads safetensors checkpoints (one file, or shards listed by
 * model.safetensors.index.json) through read-only mmap. A file comes from outside, so every number
 * in its header is checked before it becomes a pointer: lengths, offsets, shapes, overlaps.
 * Tensors end up in one array sorted by name; names and paths live in the set's arena.
 */
#include "frontend/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

#define ST_MAX_HEADER_BYTES 100000000u   // the reference implementation's MAX_HEADER_SIZE
#define ST_MAX_EXACT_INT 9007199254740992.0   // 2^53: past it a JSON number (a double) skips integers
#define ST_SINGLE_NAME "model.safetensors"
#define ST_INDEX_NAME "model.safetensors.index.json"

typedef struct st_file {
    const char *path;   // as opened, for messages
    const char *name;   // base name, what fe_tensor.file points to
    void *map;          // whole file, PROT_READ
    size_t map_bytes;
} st_file;

typedef struct st_meta {
    const char *key, *value;
} st_meta;

struct fe_weights {
    kiln_arena *arena;   // every string: names, paths, metadata
    st_file *files;
    size_t n_files, cap_files;
    fe_tensor *tensors;   // (n_tensors), sorted by name once loading is done
    size_t n_tensors, cap_tensors;
    st_meta *meta;
    size_t n_meta, cap_meta;
};

/* ---- dtypes ---------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    kiln_dtype dtype;
} st_dtypes[] = {
    {"F32", KILN_F32}, {"F16", KILN_F16}, {"BF16", KILN_BF16},
    {"I32", KILN_I32}, {"I64", KILN_I64}, {"BOOL", KILN_BOOL},
};

// Defined by the safetensors format, not loaded by kiln: KILN_ERR_UNSUPPORTED, not a format error.
static const char *const st_other_dtypes[] = {
    "F64", "I8", "U8", "I16", "U16", "U32", "U64", "C64",
    "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4",
};

const char *fe_safetensors_dtype_name(kiln_dtype dtype) {
    for (size_t i = 0; i < KILN_ARRAY_SIZE(st_dtypes); i++)
        if (st_dtypes[i].dtype == dtype) return st_dtypes[i].name;
    return NULL;
}

/* ---- small helpers --------------------------------------------------------------------------- */

static bool grow(void **array, size_t *cap, size_t need, size_t elem_bytes) {
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap * 2 : 16;
    while (cap2 < need) cap2 *= 2;
    void *p = realloc(*array, cap2 * elem_bytes);
    if (!p) return false;
    *array = p;
    *cap = cap2;
    return true;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

// A JSON number that is a whole number in [0, 2^53]. On failure writes the reason into `why`.
static bool json_to_size(const cJSON *item, int64_t *out, char *why, size_t why_bytes) {
    if (!cJSON_IsNumber(item)) {
        snprintf(why, why_bytes, "is not a number");
        return false;
    }
    double d = item->valuedouble;
    if (d < 0) {
        snprintf(why, why_bytes, "is negative (%.17g)", d);
        return false;
    }
    if (!(d <= ST_MAX_EXACT_INT)) {
        snprintf(why, why_bytes, "is too large (%.17g)", d);
        return false;
    }
    if ((double)(int64_t)d != d) {
        snprintf(why, why_bytes, "is not an integer (%.17g)", d);
        return false;
    }
    *out = (int64_t)d;
    return true;
}

static void shape_str(char *buf, size_t buf_bytes, int32_t rank, const int64_t *shape) {
    size_t len = (size_t)snprintf(buf, buf_bytes, "[");
    for (int32_t i = 0; i < rank && len < buf_bytes; i++)
        len += (size_t)snprintf(buf + len, buf_bytes - len, i ? ", %" PRId64 : "%" PRId64, shape[i]);
    if (len < buf_bytes) snprintf(buf + len, buf_bytes - len, "]");
}

/* ---- one file -------------------------------------------------------------------------------- */

static kiln_status parse_metadata(fe_weights *w, const st_file *f, const cJSON *item) {
    if (!cJSON_IsObject(item)) return kiln_error(KILN_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", f->path);
    for (const cJSON *kv = item->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv))
            return kiln_error(KILN_ERR_FORMAT, "%s: \"__metadata__\": value of '%s' is not a string", f->path,
                              kv->string);
        if (fe_weights_metadata(w, kv->string)) continue;  // an earlier shard's value wins
        if (!grow((void **)&w->meta, &w->cap_meta, w->n_meta + 1, sizeof(st_meta))) goto oom;
        st_meta *m = &w->meta[w->n_meta];
        m->key = kiln_arena_strdup(w->arena, kv->string);
        m->value = kiln_arena_strdup(w->arena, kv->valuestring);
        if (!m->key || !m->value) goto oom;
        w->n_meta++;
    }
    return KILN_OK;
oom:
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory reading \"__metadata__\"", f->path);
}

// Checks one header entry against the data section [data, data + data_bytes) and appends it.
static kiln_status parse_tensor(fe_weights *w, const st_file *f, const cJSON *item, const unsigned char *data,
                                size_t data_bytes) {
    const char *path = f->path, *name = item->string;
    char why[96], shape_buf[256];
    fe_tensor t = {0};

    if (!cJSON_IsObject(item))
        return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", path, name);
    const cJSON *jdtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *jshape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *joffsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");

    if (!jdtype) return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': missing \"dtype\"", path, name);
    if (!cJSON_IsString(jdtype))
        return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is not a string", path, name);
    size_t d = 0;
    while (d < KILN_ARRAY_SIZE(st_dtypes) && strcmp(st_dtypes[d].name, jdtype->valuestring) != 0) d++;
    if (d == KILN_ARRAY_SIZE(st_dtypes)) {
        for (size_t i = 0; i < KILN_ARRAY_SIZE(st_other_dtypes); i++)
            if (strcmp(st_other_dtypes[i], jdtype->valuestring) == 0)
                return kiln_error(KILN_ERR_UNSUPPORTED,
                                  "%s: tensor '%s': dtype '%s' is not supported (kiln loads F32, F16, BF16, I32, "
                                  "I64, BOOL)", path, name, jdtype->valuestring);
        return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", path, name, jdtype->valuestring);
    }
    t.dtype = st_dtypes[d].dtype;

    if (!jshape) return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': missing \"shape\"", path, name);
    if (!cJSON_IsArray(jshape))
        return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': \"shape\" is not an array", path, name);
    int rank = cJSON_GetArraySize(jshape);
    if (rank > KILN_MAX_RANK)
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: tensor '%s': rank %d is over kiln's limit of %d", path, name,
                          rank, KILN_MAX_RANK);
    t.rank = rank;
    bool has_zero = false;
    int i = 0;
    for (const cJSON *dim = jshape->child; dim; dim = dim->next, i++) {
        if (!json_to_size(dim, &t.shape[i], why, sizeof(why)))
            return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': shape[%d] %s", path, name, i, why);
        has_zero |= t.shape[i] == 0;
    }
    shape_str(shape_buf, sizeof(shape_buf), t.rank, t.shape);
    // A zero dim empties the tensor however large the others are; only without one can it overflow.
    size_t elem_bytes = kiln_dtype_bytes(t.dtype, 1);
    int64_t n_elements = has_zero ? 0 : 1;
    for (int j = 0; j < rank && !has_zero; j++) {
        if (n_elements > INT64_MAX / t.shape[j] || (uint64_t)(n_elements * t.shape[j]) > SIZE_MAX / elem_bytes)
            return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': shape %s overflows", path, name, shape_buf);
        n_elements *= t.shape[j];
    }
    t.size_bytes = (size_t)n_elements * elem_bytes;

    if (!joffsets) return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': missing \"data_offsets\"", path, name);
    if (!cJSON_IsArray(joffsets) || cJSON_GetArraySize(joffsets) != 2)
        return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" is not an array of two integers",
                          path, name);
    int64_t begin, end;
    if (!json_to_size(joffsets->child, &begin, why, sizeof(why)))
        return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': data_offsets[0] %s", path, name, why);
    if (!json_to_size(joffsets->child->next, &end, why, sizeof(why)))
        return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': data_offsets[1] %s", path, name, why);
    if (begin > end)
        return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': data_offsets [%" PRId64 ", %" PRId64 ") are reversed",
                          path, name, begin, end);
    if ((uint64_t)end > data_bytes)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets [%" PRId64 ", %" PRId64 ") past end of data section (%zu "
                          "bytes)", path, name, begin, end, data_bytes);
    if ((uint64_t)(end - begin) != t.size_bytes)
        return kiln_error(KILN_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets [%" PRId64 ", %" PRId64 ") hold %" PRId64
                          " bytes but shape %s of %s needs %zu", path, name, begin, end, end - begin, shape_buf,
                          st_dtypes[d].name, t.size_bytes);
    t.data = data + begin;
    t.file = f->name;
    t.name = kiln_arena_strdup(w->arena, name);
    if (!t.name || !grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors + 1, sizeof(fe_tensor)))
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory reading the header", path);
    w->tensors[w->n_tensors++] = t;
    return KILN_OK;
}

static int cmp_by_data(const void *a, const void *b) {
    const fe_tensor *x = *(const fe_tensor *const *)a, *y = *(const fe_tensor *const *)b;
    uintptr_t px = (uintptr_t)x->data, py = (uintptr_t)y->data;
    if (px != py) return px < py ? -1 : 1;
    return x->size_bytes < y->size_bytes ? -1 : x->size_bytes > y->size_bytes;
}

// Tensors [first, w->n_tensors) came from one file: no two may share a byte. Sorted by start, a
// tensor that overlaps any earlier one overlaps the one just before it (the first overlap stops
// the check). Empty tensors own no bytes, so they may sit anywhere.
static kiln_status check_overlaps(const fe_weights *w, const st_file *f, size_t first, const unsigned char *data) {
    size_t n = w->n_tensors - first;
    if (n < 2) return KILN_OK;
    const fe_tensor **order = malloc(n * sizeof(*order));
    if (!order) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory checking offsets", f->path);
    for (size_t i = 0; i < n; i++) order[i] = &w->tensors[first + i];
    qsort(order, n, sizeof(*order), cmp_by_data);
    kiln_status status = KILN_OK;
    const fe_tensor *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        const fe_tensor *t = order[i];
        if (t->size_bytes == 0) continue;
        const unsigned char *begin = t->data, *prev_begin = prev ? prev->data : NULL;
        if (prev && begin < prev_begin + prev->size_bytes) {
            status = kiln_error(KILN_ERR_FORMAT, "%s: tensors '%s' [%zu, %zu) and '%s' [%zu, %zu) overlap", f->path,
                                prev->name, (size_t)(prev_begin - data), (size_t)(prev_begin - data) + prev->size_bytes,
                                t->name, (size_t)(begin - data), (size_t)(begin - data) + t->size_bytes);
            break;
        }
        prev = t;
    }
    free(order);
    return status;
}

// Maps `path`, validates its header and appends its tensors (unsorted) and metadata to w.
static kiln_status load_file(fe_weights *w, const char *path) {
    kiln_status status;
    int fd = -1;
    cJSON *root = NULL;
    size_t first = w->n_tensors;

    if (!grow((void **)&w->files, &w->cap_files, w->n_files + 1, sizeof(st_file))) {
        status = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto error;
    }
    st_file *f = &w->files[w->n_files];
    memset(f, 0, sizeof(*f));
    f->path = kiln_arena_strdup(w->arena, path);
    f->name = kiln_arena_strdup(w->arena, base_name(path));
    if (!f->path || !f->name) {
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
    if (file_bytes < 8) {
        status = kiln_error(KILN_ERR_FORMAT, "%s: file is %zu bytes, too short for the 8-byte header length", path,
                            file_bytes);
        goto error;
    }
    void *map = mmap(NULL, file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        kiln_error(status, "%s: cannot mmap %zu bytes: %s", path, file_bytes, strerror(errno));
        goto error;
    }
    close(fd);
    fd = -1;
    f->map = map;   // from here fe_weights_free unmaps it, whatever happens below
    f->map_bytes = file_bytes;
    w->n_files++;

    status = KILN_ERR_FORMAT;
    const unsigned char *bytes = map;
    uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; i--) header_bytes = header_bytes << 8 | bytes[i];
    if (header_bytes > file_bytes - 8) {
        kiln_error(status, "%s: header length %" PRIu64 " past end of file (%zu bytes)", path, header_bytes,
                   file_bytes);
        goto error;
    }
    if (header_bytes > ST_MAX_HEADER_BYTES) {
        kiln_error(status, "%s: header length %" PRIu64 " is over the limit of %u bytes", path, header_bytes,
                   ST_MAX_HEADER_BYTES);
        goto error;
    }
    const char *header = (const char *)bytes + 8, *parse_end = header;
    root = cJSON_ParseWithLengthOpts(header, (size_t)header_bytes, &parse_end, 0);
    if (!root) {
        kiln_error(status, "%s: header is not valid JSON (at byte %zu of the header)", path,
                   (size_t)(parse_end - header));
        goto error;
    }
    for (const char *p = parse_end; p < header + header_bytes; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            kiln_error(status, "%s: header has bytes after its JSON value (at byte %zu of the header)", path,
                       (size_t)(p - header));
            goto error;
        }
    }
    if (!cJSON_IsObject(root)) {
        kiln_error(status, "%s: header is not a JSON object", path);
        goto error;
    }

    const unsigned char *data = bytes + 8 + header_bytes;
    size_t data_bytes = file_bytes - 8 - (size_t)header_bytes;
    for (const cJSON *item = root->child; item; item = item->next) {
        if (strcmp(item->string, "__metadata__") == 0) status = parse_metadata(w, f, item);
        else status = parse_tensor(w, f, item, data, data_bytes);
        if (status != KILN_OK) goto error;
    }
    status = check_overlaps(w, f, first, data);
    if (status != KILN_OK) goto error;
    cJSON_Delete(root);
    return KILN_OK;

error:
    if (fd >= 0) close(fd);
    cJSON_Delete(root);
    return status;
}

static int cmp_by_name(const void *a, const void *b) {
    return strcmp(((const fe_tensor *)a)->name, ((const fe_tensor *)b)->name);
}

// Sorts by name for fe_weights_find and refuses a name seen twice. `what` names the checkpoint.
static kiln_status finish(fe_weights *w, const char *what) {
    if (w->n_tensors > 1) qsort(w->tensors, w->n_tensors, sizeof(fe_tensor), cmp_by_name);
    for (size_t i = 1; i < w->n_tensors; i++) {
        const fe_tensor *a = &w->tensors[i - 1], *b = &w->tensors[i];
        if (strcmp(a->name, b->name) != 0) continue;
        if (a->file == b->file)
            return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", what, a->name);
        return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s' is in both %s and %s", what, a->name, a->file, b->file);
    }
    return KILN_OK;
}

static kiln_status weights_create(const char *what, fe_weights **out) {
    fe_weights *w = calloc(1, sizeof(*w));
    if (w) w->arena = kiln_arena_create(0);
    if (!w || !w->arena) {
        free(w);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    }
    *out = w;
    return KILN_OK;
}

kiln_status fe_safetensors_open(const char *path, fe_weights **out) {
    if (!path || !out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_safetensors_open: NULL argument");
    fe_weights *w = NULL;
    kiln_status status = weights_create(path, &w);
    if (status != KILN_OK) goto error;
    status = load_file(w, path);
    if (status != KILN_OK) goto error;
    status = finish(w, path);
    if (status != KILN_OK) goto error;
    *out = w;
    return KILN_OK;
error:
    fe_weights_free(w);
    return status;
}

/* ---- sharded checkpoints --------------------------------------------------------------------- */

// NULL for a plain file name inside the checkpoint directory, else why it is not one.
static const char *bad_shard_name(const char *s) {
    if (!*s) return "is empty";
    if (s[0] == '/') return "is an absolute path";
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strncmp(s, "../", 3) == 0)
        return "leaves the checkpoint directory";
    if (strchr(s, '/') || strchr(s, '\\')) return "is not a plain file name (it holds a path separator)";
    return NULL;
}

static kiln_status open_sharded(const char *dir, const char *index_path, fe_weights **out) {
    kiln_status status;
    char *text = NULL, *shard_path = NULL;
    const char **shards = NULL;   // distinct shard names, in weight_map order (point into root)
    size_t n_shards = 0, cap_shards = 0, text_bytes = 0;
    cJSON *root = NULL;
    fe_weights *w = NULL;

    status = kiln_read_file(index_path, &text, &text_bytes);
    if (status != KILN_OK) goto error;
    status = KILN_ERR_FORMAT;
    const char *parse_end = text;
    root = cJSON_ParseWithLengthOpts(text, text_bytes, &parse_end, 0);
    if (!root) {
        kiln_error(status, "%s: not valid JSON (at byte %zu)", index_path, (size_t)(parse_end - text));
        goto error;
    }
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        kiln_error(status, "%s: %s", index_path,
                   map ? "\"weight_map\" is not a JSON object" : "missing \"weight_map\"");
        goto error;
    }
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e)) {
            kiln_error(status, "%s: weight_map: tensor '%s': shard is not a string", index_path, e->string);
            goto error;
        }
        const char *why = bad_shard_name(e->valuestring);
        if (why) {
            kiln_error(status, "%s: weight_map: tensor '%s': shard '%s' %s; shards must be file names in the "
                               "checkpoint directory", index_path, e->string, e->valuestring, why);
            goto error;
        }
        size_t i = 0;
        while (i < n_shards && strcmp(shards[i], e->valuestring) != 0) i++;
        if (i < n_shards) continue;
        if (!grow((void **)&shards, &cap_shards, n_shards + 1, sizeof(*shards))) {
            status = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", index_path);
            goto error;
        }
        shards[n_shards++] = e->valuestring;
    }

    status = weights_create(index_path, &w);
    if (status != KILN_OK) goto error;
    for (size_t i = 0; i < n_shards; i++) {
        shard_path = kiln_path_join(dir, shards[i]);
        if (!shard_path) {
            status = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", index_path);
            goto error;
        }
        status = load_file(w, shard_path);
        if (status != KILN_OK) goto error;
        free(shard_path);
        shard_path = NULL;
    }
    status = finish(w, index_path);
    if (status != KILN_OK) goto error;
    status = KILN_ERR_FORMAT;
    for (const cJSON *e = map->child; e; e = e->next) {
        const fe_tensor *t = fe_weights_find(w, e->string);
        if (!t) {
            kiln_error(status, "%s: tensor '%s' is listed in shard '%s' but is not in it", index_path, e->string,
                       e->valuestring);
            goto error;
        }
        if (strcmp(t->file, e->valuestring) != 0) {
            kiln_error(status, "%s: tensor '%s' is listed in shard '%s' but is in '%s'", index_path, e->string,
                       e->valuestring, t->file);
            goto error;
        }
    }
    cJSON_Delete(root);
    free(shards);
    free(text);
    *out = w;
    return KILN_OK;

error:
    fe_weights_free(w);
    free(shard_path);
    cJSON_Delete(root);
    free(shards);
    free(text);
    return status;
}

kiln_status fe_weights_open_dir(const char *dir, fe_weights **out) {
    if (!dir || !out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_weights_open_dir: NULL argument");
    kiln_status status = KILN_OK;
    char *single = NULL, *index = NULL;
    struct stat st;
    if (stat(dir, &st) != 0) {
        status = kiln_error(KILN_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
        goto done;
    }
    if (!S_ISDIR(st.st_mode)) {
        status = kiln_error(KILN_ERR_IO, "%s: not a directory", dir);
        goto done;
    }
    single = kiln_path_join(dir, ST_SINGLE_NAME);
    index = kiln_path_join(dir, ST_INDEX_NAME);
    if (!single || !index) {
        status = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
        goto done;
    }
    // Transformers' order: the single file first, the index only when it is absent.
    if (stat(single, &st) == 0) status = fe_safetensors_open(single, out);
    else if (stat(index, &st) == 0) status = open_sharded(dir, index, out);
    else status = kiln_error(KILN_ERR_IO, "%s: no " ST_SINGLE_NAME " or " ST_INDEX_NAME, dir);
done:
    free(single);
    free(index);
    return status;
}

/* ---- queries --------------------------------------------------------------------------------- */

size_t fe_weights_count(const fe_weights *w) { return w ? w->n_tensors : 0; }

const fe_tensor *fe_weights_at(const fe_weights *w, size_t i) {
    return w && i < w->n_tensors ? &w->tensors[i] : NULL;
}

static int cmp_key_name(const void *key, const void *t) { return strcmp(key, ((const fe_tensor *)t)->name); }

const fe_tensor *fe_weights_find(const fe_weights *w, const char *name) {
    if (!w || !name || w->n_tensors == 0) return NULL;
    return bsearch(name, w->tensors, w->n_tensors, sizeof(fe_tensor), cmp_key_name);
}

const char *fe_weights_metadata(const fe_weights *w, const char *key) {
    if (!w || !key) return NULL;
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) return w->meta[i].value;
    return NULL;
}

void fe_weights_free(fe_weights *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_files; i++) munmap(w->files[i].map, w->files[i].map_bytes);
    free(w->files);
    free(w->tensors);
    free(w->meta);
    kiln_arena_free(w->arena);
    free(w);
}
