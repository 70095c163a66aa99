/* gguf_test_util.h — what the GGUF tests share: the dequantization checksum that
 * tests/reference/make_gguf_fixtures.py records, JSON loading, and a checker of one tensor's listing
 * and dequantized values against a manifest entry.
 */
#ifndef KILN_TEST_GGUF_UTIL_H
#define KILN_TEST_GGUF_UTIL_H

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/quant.h"
#include "frontend/gguf.h"
#include "tests/test.h"

// sum_i bits(v[i]) * (2i + 1) mod 2^64 as 16 hex digits (make_gguf_fixtures.checksum).
static inline void gguf_checksum(const float *v, size_t n, char out[17]) {
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof(bits));
        sum += (uint64_t)bits * (2 * (uint64_t)i + 1);
    }
    snprintf(out, 17, "%016" PRIx64, sum);
}

static inline cJSON *gguf_load_json(const char *path) {
    char *text = NULL;
    size_t n = 0;
    if (kiln_read_file(path, &text, &n) != KILN_OK) {
        fprintf(stderr, "%s\n", kiln_last_error());
        return NULL;
    }
    cJSON *js = cJSON_ParseWithLength(text, n);
    free(text);
    if (!js) fprintf(stderr, "%s: not valid JSON\n", path);
    return js;
}

static inline int64_t gguf_n_elements(const fe_gguf_tensor *t) {
    int64_t n = 1;
    for (int32_t i = 0; i < t->rank; i++) n *= t->shape[i];
    return n;
}

// The tensor `jt` ({name, ggml_type, ggml_type_id, shape, offset, size_bytes, dequant_checksum}) is
// in g with that listing, and kiln_quant_dequantize_row of it has that checksum.
static inline void gguf_check_tensor(const fe_gguf *g, const cJSON *jt) {
    const char *name = cJSON_GetObjectItem(jt, "name")->valuestring;
    const fe_gguf_tensor *t = fe_gguf_find_tensor(g, name);
    CHECK_MSG(t, "%s: tensor '%s' not found", fe_gguf_path(g), name);
    if (!t) return;
    CHECK_MSG(strcmp(fe_gguf_ggml_type_name(t->ggml_type), cJSON_GetObjectItem(jt, "ggml_type")->valuestring) == 0,
              "%s: type %s", name, fe_gguf_ggml_type_name(t->ggml_type));
    CHECK(t->ggml_type == (uint32_t)cJSON_GetObjectItem(jt, "ggml_type_id")->valuedouble);
    const cJSON *shape = cJSON_GetObjectItem(jt, "shape");
    CHECK_MSG(t->rank == cJSON_GetArraySize(shape), "%s: rank %d", name, t->rank);
    for (int i = 0; i < t->rank && i < cJSON_GetArraySize(shape); i++)
        CHECK_MSG(t->shape[i] == (int64_t)cJSON_GetArrayItem(shape, i)->valuedouble, "%s: shape[%d] = %" PRId64, name,
                  i, t->shape[i]);
    CHECK_MSG(t->offset == (uint64_t)cJSON_GetObjectItem(jt, "offset")->valuedouble, "%s: offset %" PRIu64, name,
              t->offset);
    CHECK_MSG(t->size_bytes == (size_t)cJSON_GetObjectItem(jt, "size_bytes")->valuedouble, "%s: %zu bytes", name,
              t->size_bytes);
    CHECK_MSG((uintptr_t)t->data % fe_gguf_alignment(g) == 0, "%s: data not aligned", name);
    CHECK(t->size_bytes == kiln_dtype_bytes(t->dtype, gguf_n_elements(t)));

    int64_t n = gguf_n_elements(t);
    float *values = malloc((size_t)(n ? n : 1) * sizeof(float));
    KILN_ASSERT(values);
    kiln_quant_dequantize_row(t->dtype, t->data, values, n);
    char sum[17];
    gguf_checksum(values, (size_t)n, sum);
    const char *want = cJSON_GetObjectItem(jt, "dequant_checksum")->valuestring;
    CHECK_MSG(strcmp(sum, want) == 0, "%s: tensor '%s' (%s): dequantized checksum %s, gguf's numpy gives %s",
              fe_gguf_path(g), name, fe_gguf_ggml_type_name(t->ggml_type), sum, want);
    free(values);
}

// A JSON integer, or a decimal string for values past 2^53.
static inline int64_t gguf_json_i64(const cJSON *j) {
    return cJSON_IsString(j) ? strtoll(j->valuestring, NULL, 10) : (int64_t)j->valuedouble;
}
static inline uint64_t gguf_json_u64(const cJSON *j) {
    return cJSON_IsString(j) ? strtoull(j->valuestring, NULL, 10) : (uint64_t)j->valuedouble;
}

#endif  // KILN_TEST_GGUF_UTIL_H
