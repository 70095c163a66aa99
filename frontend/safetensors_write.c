/* safetensors_write.c — writes tensors as a safetensors file laid out as Hugging Face's writer does
 * (compact JSON header padded with spaces to 8 bytes, contiguous data), so `kiln exec -o` output
 * opens in Python and tests can build checkpoints from C instead of committing binaries.
 */
#include "frontend/safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "common/common.h"

// Appends s as a JSON string literal: quotes, backslashes and control bytes escaped, UTF-8 as is.
static void json_string(kiln_strbuf *sb, const char *s) {
    kiln_strbuf_append(sb, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            kiln_strbuf_append(sb, esc, 2);
        } else if (*p < 0x20) {
            kiln_strbuf_printf(sb, "\\u%04x", *p);
        } else {
            kiln_strbuf_append(sb, (const char *)p, 1);
        }
    }
    kiln_strbuf_append(sb, "\"", 1);
}

// Checks tensor i and returns its byte size through *bytes_out.
static kiln_status check_tensor(const char *path, const kiln_tensor *tensors, size_t i, size_t *bytes_out) {
    const kiln_tensor *t = &tensors[i];
    if (!t->name) return kiln_error(KILN_ERR_INVALID_ARG, "%s: tensor %zu has no name", path, i);
    if (strcmp(t->name, "__metadata__") == 0)
        return kiln_error(KILN_ERR_INVALID_ARG, "%s: tensor %zu: the name '__metadata__' is reserved", path, i);
    for (size_t j = 0; j < i; j++)
        if (strcmp(tensors[j].name, t->name) == 0)
            return kiln_error(KILN_ERR_INVALID_ARG, "%s: tensor '%s' given twice (%zu and %zu)", path, t->name, j, i);
    if (!fe_safetensors_dtype_name(t->dtype)) {
        const kiln_dtype_info *info = kiln_dtype_get_info(t->dtype);
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s cannot be written to safetensors", path,
                          t->name, info ? info->name : "(invalid)");
    }
    if (t->rank < 0 || t->rank > KILN_MAX_RANK)
        return kiln_error(KILN_ERR_INVALID_ARG, "%s: tensor '%s': rank %" PRId32 " outside 0..%d", path, t->name,
                          t->rank, KILN_MAX_RANK);
    size_t elem_bytes = kiln_dtype_bytes(t->dtype, 1), n = 1;
    bool empty = false;
    for (int32_t d = 0; d < t->rank; d++) {
        if (t->shape[d] < 0)
            return kiln_error(KILN_ERR_INVALID_ARG, "%s: tensor '%s': shape[%" PRId32 "] is negative (%" PRId64 ")",
                              path, t->name, d, t->shape[d]);
        empty |= t->shape[d] == 0;
    }
    for (int32_t d = 0; d < t->rank && !empty; d++) {
        if ((uint64_t)t->shape[d] > SIZE_MAX / elem_bytes / n)
            return kiln_error(KILN_ERR_INVALID_ARG, "%s: tensor '%s': size overflows", path, t->name);
        n *= (size_t)t->shape[d];
    }
    *bytes_out = empty ? 0 : n * elem_bytes;
    if (*bytes_out && !t->data)
        return kiln_error(KILN_ERR_INVALID_ARG, "%s: tensor '%s': data is NULL", path, t->name);
    return KILN_OK;
}

kiln_status fe_safetensors_write(const char *path, const kiln_tensor *tensors, size_t n) {
    if (!path || (n && !tensors)) return kiln_error(KILN_ERR_INVALID_ARG, "fe_safetensors_write: NULL argument");
    kiln_status status;
    kiln_strbuf header = {0};
    size_t *sizes = calloc(n ? n : 1, sizeof(*sizes));
    FILE *file = NULL;
    if (!sizes) {
        status = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto error;
    }
    for (size_t i = 0; i < n; i++) {
        status = check_tensor(path, tensors, i, &sizes[i]);
        if (status != KILN_OK) goto error;
    }

    kiln_strbuf_printf(&header, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const kiln_tensor *t = &tensors[i];
        kiln_strbuf_append(&header, ",", 1);
        json_string(&header, t->name);
        kiln_strbuf_printf(&header, ":{\"dtype\":\"%s\",\"shape\":[", fe_safetensors_dtype_name(t->dtype));
        for (int32_t d = 0; d < t->rank; d++) kiln_strbuf_printf(&header, d ? ",%" PRId64 : "%" PRId64, t->shape[d]);
        kiln_strbuf_printf(&header, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", offset, offset + sizes[i]);
        offset += sizes[i];
    }
    kiln_strbuf_append(&header, "}", 1);
    while (!header.failed && header.len % 8 != 0) kiln_strbuf_append(&header, " ", 1);
    if (header.failed) {
        status = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory building the header", path);
        goto error;
    }

    status = KILN_ERR_IO;
    file = fopen(path, "wb");
    if (!file) {
        kiln_error(status, "%s: cannot create: %s", path, strerror(errno));
        goto error;
    }
    // Only a regular file we are writing is removed on failure: never a device or pipe (-o /dev/stdout).
    struct stat st;
    bool regular = fstat(fileno(file), &st) == 0 && S_ISREG(st.st_mode);
    unsigned char len_le[8];
    for (int i = 0; i < 8; i++) len_le[i] = (unsigned char)((uint64_t)header.len >> (8 * i));
    bool ok = fwrite(len_le, 1, 8, file) == 8 && fwrite(header.data, 1, header.len, file) == header.len;
    for (size_t i = 0; ok && i < n; i++) ok = !sizes[i] || fwrite(tensors[i].data, 1, sizes[i], file) == sizes[i];
    int close_rc = fclose(file);
    file = NULL;
    if (!ok || close_rc != 0) {
        kiln_error(status, "%s: write failed: %s", path, strerror(errno));
        if (regular) remove(path);
        goto error;
    }
    kiln_strbuf_free(&header);
    free(sizes);
    return KILN_OK;

error:
    kiln_strbuf_free(&header);
    free(sizes);
    return status;
}
