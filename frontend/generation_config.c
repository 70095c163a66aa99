/* generation_config.c — generation_config.json, and the chat template and special-token text
 * from tokenizer_config.json / chat_template.jinja, into one struct of Transformers' defaults
 * overridden by what the files say. Types are checked: a sampling default of the wrong type fails
 * here, named, instead of sampling something else later.
 */
#include "frontend/generation_config.h"

#include <cjson/cJSON.h>
#include <sys/stat.h>

#include "common/common.h"

fe_generation_config fe_generation_config_default(void) {
    fe_generation_config gc = {
        .temperature = 1.0, .top_k = 50, .top_p = 1.0, .repetition_penalty = 1.0, .bos_token_id = -1, .pad_token_id = -1};
    return gc;
}

void fe_generation_config_free(fe_generation_config *gc) {
    if (!gc) return;
    free(gc->eos_token_ids);
    free(gc->chat_template);
    free(gc->bos_token);
    free(gc->eos_token);
    *gc = fe_generation_config_default();
}

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

// Parses dir/name into *root (NULL when the file does not exist).
static kiln_status load_json(const char *dir, const char *name, cJSON **root, char **path_out) {
    *root = NULL;
    char *path = kiln_path_join(dir, name), *text = NULL;
    size_t n = 0;
    if (!path) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
    *path_out = path;
    if (!file_exists(path)) return KILN_OK;
    kiln_status st = kiln_read_file(path, &text, &n);
    if (st) return st;
    *root = cJSON_ParseWithLength(text, n);
    free(text);
    if (!*root || !cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return kiln_error(KILN_ERR_FORMAT, "%s: malformed JSON (not one object)", path);
    }
    return KILN_OK;
}

static kiln_status bad(const char *path, const char *key, const char *want) {
    return kiln_error(KILN_ERR_FORMAT, "%s: \"%s\" must be %s", path, key, want);
}

static kiln_status get_number(const cJSON *root, const char *path, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return KILN_OK;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0)) return bad(path, key, "a non-negative number or null");
    *out = v->valuedouble;
    return KILN_OK;
}

static kiln_status get_int(const cJSON *root, const char *path, const char *key, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return KILN_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 || v->valuedouble != (double)(int64_t)v->valuedouble)
        return bad(path, key, "a non-negative integer or null");
    *out = (int64_t)v->valuedouble;
    return KILN_OK;
}

static kiln_status read_generation(fe_generation_config *gc, const cJSON *root, const char *path) {
    kiln_status st;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "do_sample");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) return bad(path, "do_sample", "true or false");
        gc->do_sample = cJSON_IsTrue(v);
    }
    if ((st = get_number(root, path, "temperature", &gc->temperature)) || (st = get_int(root, path, "top_k", &gc->top_k)) ||
        (st = get_number(root, path, "top_p", &gc->top_p)) || (st = get_number(root, path, "min_p", &gc->min_p)) ||
        (st = get_number(root, path, "repetition_penalty", &gc->repetition_penalty)) ||
        (st = get_int(root, path, "max_new_tokens", &gc->max_new_tokens)) || (st = get_int(root, path, "max_length", &gc->max_length)) ||
        (st = get_int(root, path, "bos_token_id", &gc->bos_token_id)) || (st = get_int(root, path, "pad_token_id", &gc->pad_token_id)))
        return st;
    v = cJSON_GetObjectItemCaseSensitive(root, "eos_token_id");
    if (!v || cJSON_IsNull(v)) return KILN_OK;
    size_t n = cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 1;
    if (!(gc->eos_token_ids = calloc(n + 1, sizeof(int64_t)))) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    gc->n_eos_token_ids = n;
    const cJSON *e = cJSON_IsArray(v) ? v->child : v;
    for (size_t i = 0; i < n; i++, e = e->next) {
        double d = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (d < 0 || d != (double)(int64_t)d) return bad(path, "eos_token_id", "an integer or a list of integers");
        gc->eos_token_ids[i] = (int64_t)d;
    }
    return KILN_OK;
}

// A special token in tokenizer_config.json: "text", or an AddedToken {"content": "text", ...}.
static kiln_status token_text(const cJSON *root, const char *path, const char *key, char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!v || cJSON_IsNull(v)) return KILN_OK;
    if (!cJSON_IsString(v)) return bad(path, key, "a string or {\"content\": string}");
    if (!(*out = strdup(v->valuestring))) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    return KILN_OK;
}

static kiln_status read_template(fe_generation_config *gc, const cJSON *root, const char *path) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "chat_template");
    if (cJSON_IsArray(t)) {   // [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
        const cJSON *pick = NULL;
        for (const cJSON *e = t->child; e; e = e->next) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
            if (!pick || (cJSON_IsString(name) && strcmp(name->valuestring, "default") == 0)) pick = e;
        }
        t = pick ? cJSON_GetObjectItemCaseSensitive(pick, "template") : NULL;
    }
    if (t && !cJSON_IsNull(t)) {
        if (!cJSON_IsString(t)) return bad(path, "chat_template", "a string or a list of {\"name\", \"template\"}");
        if (!(gc->chat_template = strdup(t->valuestring))) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    kiln_status st = token_text(root, path, "bos_token", &gc->bos_token);
    return st ? st : token_text(root, path, "eos_token", &gc->eos_token);
}

kiln_status fe_generation_config_load(const char *dir, fe_generation_config *out) {
    if (!dir || !out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_generation_config_load: NULL argument");
    fe_generation_config gc = fe_generation_config_default();
    *out = gc;
    cJSON *root = NULL;
    char *path = NULL;
    kiln_status st = load_json(dir, "generation_config.json", &root, &path);
    if (!st && root) {
        gc.has_file = true;
        st = read_generation(&gc, root, path);
    }
    cJSON_Delete(root);
    free(path);
    path = NULL;
    if (!st) st = load_json(dir, "tokenizer_config.json", &root, &path);
    if (!st && root) st = read_template(&gc, root, path);
    cJSON_Delete(root);
    free(path);
    path = NULL;
    // Transformers 4.43+ saves the template beside the tokenizer as chat_template.jinja, which wins.
    if (!st && (path = kiln_path_join(dir, "chat_template.jinja")) && file_exists(path)) {
        char *text = NULL;
        size_t n = 0;
        if (!(st = kiln_read_file(path, &text, &n))) {
            free(gc.chat_template);
            gc.chat_template = text;
        }
    }
    free(path);
    if (st) {
        fe_generation_config_free(&gc);
        return st;
    }
    *out = gc;
    return KILN_OK;
}
