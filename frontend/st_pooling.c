/* st_pooling.c — modules.json + 1_Pooling/config.json (sentence-transformers) → pooling mode. */
#include "frontend/st_pooling.h"

#include <cjson/cJSON.h>
#include <sys/stat.h>

#include "common/common.h"

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static kiln_status read_json(const char *path, cJSON **out) {
    char *text = NULL;
    kiln_status st = kiln_read_file(path, &text, NULL);
    if (st) return st;
    *out = cJSON_Parse(text);
    free(text);
    if (!*out) return kiln_error(KILN_ERR_FORMAT, "%s: malformed JSON", path);
    return KILN_OK;
}

const char *fe_pooling_mode_name(fe_pooling_mode mode) {
    switch (mode) {
    case FE_POOLING_MEAN: return "mean";
    case FE_POOLING_CLS: return "cls";
    case FE_POOLING_MAX: return "max";
    default: return "none";
    }
}

kiln_status fe_pooling_load(const char *dir, fe_pooling *out) {
    out->mode = FE_POOLING_NONE;
    out->normalize = false;
    char *modules_path = kiln_path_join(dir, "modules.json"), *pool_path = NULL;
    cJSON *modules = NULL, *pool = NULL;
    kiln_status st = KILN_OK;
    if (!modules_path) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (!exists(modules_path)) goto done;
    if ((st = read_json(modules_path, &modules))) goto done;
    if (!cJSON_IsArray(modules)) {
        st = kiln_error(KILN_ERR_FORMAT, "%s: expected an array of modules", modules_path);
        goto done;
    }
    const cJSON *mod;
    const char *pool_dir = NULL;
    cJSON_ArrayForEach(mod, modules) {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(mod, "type"));
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(mod, "path"));
        if (!type) continue;
        if (strstr(type, "Normalize")) out->normalize = true;
        if (strstr(type, "Pooling")) pool_dir = path ? path : "";
    }
    if (!pool_dir) goto done;
    if (strstr(pool_dir, "..") || pool_dir[0] == '/') {
        st = kiln_error(KILN_ERR_FORMAT, "%s: Pooling path '%s' leaves the checkpoint directory", modules_path, pool_dir);
        goto done;
    }
    char rel[512];
    snprintf(rel, sizeof(rel), "%s%sconfig.json", pool_dir, pool_dir[0] ? "/" : "");
    if (!(pool_path = kiln_path_join(dir, rel))) {
        st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    out->mode = FE_POOLING_MEAN;   // sentence-transformers' default
    if (!exists(pool_path)) goto done;
    if ((st = read_json(pool_path, &pool))) goto done;
    static const struct {
        const char *key;
        fe_pooling_mode mode;
    } modes[] = {{"pooling_mode_mean_tokens", FE_POOLING_MEAN}, {"pooling_mode_cls_token", FE_POOLING_CLS},
                 {"pooling_mode_max_tokens", FE_POOLING_MAX}};
    static const char *const unsupported[] = {"pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                                              "pooling_mode_lasttoken"};
    for (size_t i = 0; i < KILN_ARRAY_SIZE(unsupported); i++) {
        if (cJSON_IsTrue(cJSON_GetObjectItem(pool, unsupported[i]))) {
            st = kiln_error(KILN_ERR_UNSUPPORTED, "%s: %s is not supported", pool_path, unsupported[i]);
            goto done;
        }
    }
    for (size_t i = 0; i < KILN_ARRAY_SIZE(modes); i++) {
        if (cJSON_IsTrue(cJSON_GetObjectItem(pool, modes[i].key))) {
            out->mode = modes[i].mode;
            break;
        }
    }
done:
    cJSON_Delete(modules);
    cJSON_Delete(pool);
    free(modules_path);
    free(pool_path);
    return st;
}
