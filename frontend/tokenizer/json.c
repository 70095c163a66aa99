/* json.c — reading typed fields out of tokenizer.json and tokenizer_config.json with cJSON, so
 * that every malformed value is reported the same way: KILN_ERR_FORMAT naming the file, the field
 * and what was expected.
 */
#include "frontend/tokenizer/internal.h"

cJSON *fe_tok_json_parse(const char *path, const char *text, kiln_status *status) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, true);
    // cJSON does not tell running out of memory from bad syntax; bad syntax is far likelier.
    if (!root)
        *status = kiln_error(KILN_ERR_FORMAT, "%s: not valid JSON near byte %td", path, end ? end - text : 0);
    return root;
}

static kiln_status wrong_type(const char *path, const char *where, const char *name, const char *want) {
    return kiln_error(KILN_ERR_FORMAT, "%s: %s%s%s: expected %s", path, where ? where : "", where ? "." : "",
                      name, want);
}

bool fe_tok_json_is_int(const cJSON *item, int64_t min, int64_t max) {
    if (!cJSON_IsNumber(item)) return false;
    double d = item->valuedouble;
    return d >= (double)min && d <= (double)max && (double)(int64_t)d == d;
}

kiln_status fe_tok_json_bool(const char *path, const char *where, const cJSON *obj, const char *name, bool dflt,
                             bool *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!item || cJSON_IsNull(item)) {
        *out = dflt;
        return KILN_OK;
    }
    if (!cJSON_IsBool(item)) return wrong_type(path, where, name, "true or false");
    *out = cJSON_IsTrue(item);
    return KILN_OK;
}

kiln_status fe_tok_json_int(const char *path, const char *where, const cJSON *obj, const char *name,
                            int64_t min, int64_t max, int64_t dflt, int64_t *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!item || cJSON_IsNull(item)) {
        *out = dflt;
        return KILN_OK;
    }
    if (!fe_tok_json_is_int(item, min, max)) {
        char want[96];
        snprintf(want, sizeof(want), "an integer in [%lld, %lld]", (long long)min, (long long)max);
        return wrong_type(path, where, name, want);
    }
    *out = (int64_t)item->valuedouble;
    return KILN_OK;
}

kiln_status fe_tok_json_string(const char *path, const char *where, const cJSON *obj, const char *name,
                               const char *dflt, const char **out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!item || cJSON_IsNull(item)) {
        *out = dflt;
        return KILN_OK;
    }
    if (!cJSON_IsString(item)) return wrong_type(path, where, name, "a string");
    *out = item->valuestring;
    return KILN_OK;
}
