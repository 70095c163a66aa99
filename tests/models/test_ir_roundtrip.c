/* test_ir_roundtrip.c — for every fixture model's graph: print → parse → print is identical, and
 * the parsed graph, compiled with the model's weights, gives bit-identical outputs to the
 * original on the fixture inputs.
 */
#include "api/model.h"
#include "fixture.h"

static const char *const fixtures[] = {"bert-base", "bert-seqcls", "bert-multilabel", "bert-regression", "bert-tokcls",
                                       "bert-qa", "bert-mlm", "roberta-base", "roberta-seqcls", "roberta-tokcls",
                                       "roberta-qa", "roberta-mlm", "distilbert-base", "distilbert-seqcls",
                                       "distilbert-tokcls", "distilbert-qa", "distilbert-mlm", "distilbert-sinusoidal",
                                       "bert-f16", "bert-bf16"};

static void roundtrip(const char *name) {
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/models/%s", KILN_FIXTURES, name);
    kiln_model *m = NULL;
    ir_graph *g = NULL, *parsed = NULL;
    kiln_program *p1 = NULL, *p2 = NULL;
    kiln_context *c1 = NULL, *c2 = NULL;
    kiln_strbuf t1 = {0}, t2 = {0};
    fx_tensors in = {0};
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    if (m) CHECK_OK(api_model_graph(m, 3, 64, &g));
    if (!g) goto done;
    CHECK_OK(ir_print(g, &t1));
    CHECK_OK(ir_parse(t1.data, &parsed));
    if (!parsed) goto done;
    CHECK_OK(ir_print(parsed, &t2));
    CHECK_MSG(t1.data && t2.data && strcmp(t1.data, t2.data) == 0, "%s: print -> parse -> print differs", name);
    CHECK_OK(api_compile_graph(m, g, KILN_TARGET_INTERP, &p1));
    CHECK_OK(api_compile_graph(m, parsed, KILN_TARGET_INTERP, &p2));
    if (!p1 || !p2) goto done;
    CHECK_OK(kiln_context_create(p1, NULL, &c1));
    CHECK_OK(kiln_context_create(p2, NULL, &c2));
    snprintf(path, sizeof(path), "%s/inputs_batch3.safetensors", dir);
    CHECK_OK(fx_load(path, &in));
    size_t n_out = kiln_program_n_outputs(p1);
    CHECK(n_out == kiln_program_n_outputs(p2));
    for (size_t i = 0; c1 && c2 && i < n_out && i < 8; i++) {
        kiln_tensor d;
        kiln_program_output(p1, i, &d);
        kiln_tensor o1 = {.name = d.name}, o2 = {.name = d.name};
        CHECK_OK(kiln_run(c1, in.t, in.n, &o1, 1));
        CHECK_OK(kiln_run(c2, in.t, in.n, &o2, 1));
        CHECK_MSG(o1.data && o2.data && o1.size_bytes == o2.size_bytes && memcmp(o1.data, o2.data, o1.size_bytes) == 0,
                  "%s: output %s of the parsed graph differs", name, d.name);
    }
done:
    fx_free(&in);
    kiln_context_free(c1);
    kiln_context_free(c2);
    kiln_program_free(p1);
    kiln_program_free(p2);
    kiln_strbuf_free(&t1);
    kiln_strbuf_free(&t2);
    ir_graph_free(g);
    ir_graph_free(parsed);
    kiln_model_free(m);
}

int main(void) {
    for (size_t i = 0; i < KILN_ARRAY_SIZE(fixtures); i++) roundtrip(fixtures[i]);
    return test_summary();
}
