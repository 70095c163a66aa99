/* util.c — string buffer, whole-file reads, path joining, dtype descriptors. */
#include "common.h"

#include <errno.h>

void kiln_strbuf_append(kiln_strbuf *sb, const char *s, size_t n) {
    if (sb->failed) return;
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + n + 1) cap *= 2;
        char *d = realloc(sb->data, cap);
        if (!d) {
            sb->failed = true;
            return;
        }
        sb->data = d;
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void kiln_strbuf_printf(kiln_strbuf *sb, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof(small)) {
        kiln_strbuf_append(sb, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        sb->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    kiln_strbuf_append(sb, big, (size_t)n);
    free(big);
}

void kiln_strbuf_free(kiln_strbuf *sb) {
    free(sb->data);
    memset(sb, 0, sizeof(*sb));
}

kiln_status kiln_read_file(const char *path, char **data_out, size_t *size_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return kiln_error(KILN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 65536;
            char *d = realloc(data, cap + 1);
            if (!d) {
                free(data);
                fclose(f);
                return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory reading file", path);
            }
            data = d;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(data);
        return kiln_error(KILN_ERR_IO, "%s: read error", path);
    }
    data[len] = '\0';
    *data_out = data;
    if (size_out) *size_out = len;
    return KILN_OK;
}

char *kiln_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t i = a;
    if (a && dir[a - 1] != '/') p[i++] = '/';
    memcpy(p + i, name, b + 1);
    return p;
}

static const kiln_dtype_info dtype_infos[KILN_DTYPE_COUNT] = {
    [KILN_F32] = {"f32", 1, 4, true, false},     [KILN_F16] = {"f16", 1, 2, true, false},
    [KILN_BF16] = {"bf16", 1, 2, true, false},   [KILN_I32] = {"i32", 1, 4, false, false},
    [KILN_I64] = {"i64", 1, 8, false, false},    [KILN_BOOL] = {"bool", 1, 1, false, false},
    [KILN_Q8_0] = {"q8_0", 32, 34, true, true},  [KILN_Q4_0] = {"q4_0", 32, 18, true, true},
    [KILN_Q4_1] = {"q4_1", 32, 20, true, true},  [KILN_Q4_K] = {"q4_k", 256, 144, true, true},
    [KILN_Q6_K] = {"q6_k", 256, 210, true, true},
};

const kiln_dtype_info *kiln_dtype_get_info(kiln_dtype dtype) {
    if ((int)dtype < 0 || dtype >= KILN_DTYPE_COUNT) return NULL;
    return &dtype_infos[dtype];
}

size_t kiln_dtype_bytes(kiln_dtype dtype, int64_t n) {
    const kiln_dtype_info *info = kiln_dtype_get_info(dtype);
    if (!info || n < 0) return 0;
    return (size_t)((n + info->block_size - 1) / info->block_size) * (size_t)info->block_bytes;
}
