/* test_chat_template.c — kiln's Jinja subset against Transformers' apply_chat_template: every case
 * of tests/fixtures/decoders/chat_cases.json (SmolLM2's and Qwen2.5's templates, and small
 * templates over the subset, rendered by Transformers' own Jinja environment) must come out
 * byte for byte; through the program's head too (kiln_chat_template_apply). Then the errors.
 */
#include <cjson/cJSON.h>

#include "common/common.h"
#include "frontend/generation_config.h"
#include "pipelines/chat_template.h"
#include "test.h"

static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void render_case(const cJSON *c, int index) {
    const char *model = str(c, "model"), *want = str(c, "text");
    const char *tmpl = str(c, "template"), *bos = str(c, "bos_token"), *eos = str(c, "eos_token");
    fe_generation_config gc = fe_generation_config_default();
    if (model) {   // the template the checkpoint carries
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/decoders/%s", KILN_FIXTURES, model);
        CHECK_OK(fe_generation_config_load(dir, &gc));
        tmpl = gc.chat_template, bos = gc.bos_token, eos = gc.eos_token;
    }
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(c, "messages");
    kiln_chat_message m[8];
    size_t n = 0;
    for (const cJSON *e = msgs ? msgs->child : NULL; e && n < 8; e = e->next) m[n++] = (kiln_chat_message){str(e, "role"), str(e, "content")};
    bool agp = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt"));
    char *got = NULL;
    CHECK(tmpl && want);
    if (tmpl) CHECK_OK(pl_chat_render(tmpl, m, n, agp, bos, eos, &got));
    CHECK_MSG(got && want && strcmp(got, want) == 0, "case %d (%s): got\n---\n%s\n---\nwant\n---\n%s\n---", index, model ? model : "template",
              got ? got : "(null)", want ? want : "(null)");
    free(got);
    fe_generation_config_free(&gc);
}

static void program_head_carries_the_template(const cJSON *cases) {
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/decoders/llama", KILN_FIXTURES);
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = 1, co.max_context = 16;
    if (m) CHECK_OK(kiln_compile(m, &co, &p));
    for (const cJSON *c = cases->child; p && c; c = c->next) {
        if (!str(c, "model") || strcmp(str(c, "model"), "llama") != 0) continue;
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(c, "messages");
        kiln_chat_message msg[8];
        size_t n = 0;
        for (const cJSON *e = msgs->child; e && n < 8; e = e->next) msg[n++] = (kiln_chat_message){str(e, "role"), str(e, "content")};
        char *got = NULL;
        CHECK_OK(kiln_chat_template_apply(p, msg, n, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt")), &got));
        CHECK(got && strcmp(got, str(c, "text")) == 0);
        free(got);
    }
    kiln_program_free(p);
    kiln_model_free(m);
}

static void errors_name_the_line(void) {
    kiln_chat_message msg = {"user", "hi"};
    char *out = NULL;
    CHECK_FAILS(pl_chat_render("a\n{% macro x() %}{% endmacro %}", &msg, 1, true, NULL, NULL, &out), KILN_ERR_UNSUPPORTED,
                "line 2: {% macro %} is not supported");
    CHECK_FAILS(pl_chat_render("{{ messages[0].content ", &msg, 1, true, NULL, NULL, &out), KILN_ERR_FORMAT, "never closed");
    CHECK_FAILS(pl_chat_render("{% if true %}x", &msg, 1, true, NULL, NULL, &out), KILN_ERR_FORMAT, "without {% endif %}");
    CHECK_FAILS(pl_chat_render("{% for m in messages %}{% endif %}", &msg, 1, true, NULL, NULL, &out), KILN_ERR_FORMAT,
                "unexpected {% endif %}");
    CHECK_FAILS(pl_chat_render("{% for m in messages %}x", &msg, 1, true, NULL, NULL, &out), KILN_ERR_FORMAT, "without {% endfor %}");
    CHECK_FAILS(pl_chat_render("{{ raise_exception('Only user and assistant roles') }}", &msg, 1, true, NULL, NULL, &out),
                KILN_ERR_INVALID_ARG, "raise_exception: Only user and assistant roles");
    CHECK_FAILS(pl_chat_render("\n\n{{ 'x' | wordcount }}", &msg, 1, true, NULL, NULL, &out), KILN_ERR_UNSUPPORTED, "line 3: filter 'wordcount'");
    CHECK_FAILS(pl_chat_render("{{ 1 + 'a' }}", &msg, 1, true, NULL, NULL, &out), KILN_ERR_INVALID_ARG, "not numbers");
    CHECK_FAILS(pl_chat_render("{{ 'abc }}", &msg, 1, true, NULL, NULL, &out), KILN_ERR_FORMAT, "never closed");
    CHECK(out == NULL);
    kiln_chat_message bad = {"user", NULL};
    CHECK_FAILS(pl_chat_render("x", &bad, 1, true, NULL, NULL, &out), KILN_ERR_INVALID_ARG, "NULL role or content");
}

static void program_without_template_is_refused(void) {
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/decoders/gpt2", KILN_FIXTURES);
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = 1, co.max_context = 16;
    if (m) CHECK_OK(kiln_compile(m, &co, &p));
    kiln_chat_message msg = {"user", "hi"};
    char *out = NULL;
    if (p) CHECK_FAILS(kiln_chat_template_apply(p, &msg, 1, true, &out), KILN_ERR_INVALID_ARG, "no chat template");
    kiln_program_free(p);
    kiln_model_free(m);
}

int main(void) {
    char path[512], *text = NULL;
    size_t n = 0;
    snprintf(path, sizeof(path), "%s/decoders/chat_cases.json", KILN_FIXTURES);
    CHECK_OK(kiln_read_file(path, &text, &n));
    cJSON *cases = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(cJSON_IsArray(cases) && cJSON_GetArraySize(cases) >= 40);
    int i = 0;
    for (const cJSON *c = cases ? cases->child : NULL; c; c = c->next) render_case(c, i++);
    if (cases) program_head_carries_the_template(cases);
    cJSON_Delete(cases);
    errors_name_the_line();
    program_without_template_is_refused();
    return test_summary();
}
