/* passes_test.h — what the pass and plan tests share: graphs straight from a config.json (so
 * BERT-base needs no weights), plan-only compiles, fixture lists, and running two programs on
 * the same inputs to compare their outputs.
 */
#ifndef KILN_TESTS_PASSES_TEST_H
#define KILN_TESTS_PASSES_TEST_H

#include <cjson/cJSON.h>

#include "api/passes.h"
#include "models/fixture.h"

// BERT-base's shapes (bert-base-uncased's config.json), for plans that need no weights.
static const char *const BERT_BASE_CONFIG =
    "{\"model_type\": \"bert\", \"architectures\": [\"BertModel\"], \"hidden_size\": 768, \"num_hidden_layers\": 12,"
    " \"num_attention_heads\": 12, \"intermediate_size\": 3072, \"hidden_act\": \"gelu\", \"max_position_embeddings\": 512,"
    " \"type_vocab_size\": 2, \"vocab_size\": 30522, \"layer_norm_eps\": 1e-12, \"pad_token_id\": 0}";

// The model graph of the checkpoint (or bare config.json) in `dir`, at the given maxima.
static inline kiln_status pt_graph(const char *dir, int64_t batch, int64_t seq, ir_graph **g_out) {
    *g_out = NULL;
    fe_config *cfg = NULL;
    kiln_status st = fe_config_load(dir, &cfg);
    if (st) return st;
    const md_family *fam = md_find_family(cfg->model_type, cfg->path);
    ir_graph *g = ir_graph_create();
    md_build_options bo = {.head = MD_HEAD_BASE, .compute_dtype = KILN_F32, .max_batch = batch, .max_seq = seq};
    st = fam ? fam->build(cfg, &bo, g) : KILN_ERR_UNSUPPORTED;
    fe_config_free(cfg);
    if (st) {
        ir_graph_free(g);
        return st;
    }
    *g_out = g;
    return KILN_OK;
}

// The interpreter's program for `g` without weights: its plan, nothing to run.
static inline kiln_status pt_plan_only(const ir_graph *g, kiln_program **p) {
    cg_weight_source none = {0};
    return cg_interp_backend.compile(g, &none, NULL, p);
}

// Reads tests/fixtures/models/MANIFEST.json; returns the parsed document (cJSON_Delete it) and
// its "fixtures" array in *list.
static inline cJSON *pt_manifest(const cJSON **list) {
    char path[512], *text = NULL;
    snprintf(path, sizeof(path), "%s/models/MANIFEST.json", KILN_FIXTURES);
    if (kiln_read_file(path, &text, NULL)) return NULL;
    cJSON *m = cJSON_Parse(text);
    free(text);
    *list = cJSON_GetObjectItem(m, "fixtures");
    return m;
}

// The fixtures the cpu backend runs in the pass tests: each family's base model and its MLM head
// (an LLVM compile per program makes every fixture too slow for the suite; the heads are the
// interpreter's and tests/llvm's business).
static inline bool pt_cpu_fixture(const char *name) {
    size_t n = name ? strlen(name) : 0;
    return (n > 5 && strcmp(name + n - 5, "-base") == 0) || (n > 4 && strcmp(name + n - 4, "-mlm") == 0);
}

// The largest |a - b| / max(1, |b|) over the elements: an absolute error for values up to 1 and
// a relative one above, where f32 cannot resolve 1e-6 absolute (a logit of 10 moves by 1e-6 at
// its last bit). INFINITY on a shape mismatch or NaN.
static inline double pt_max_diff(const kiln_tensor *a, const kiln_tensor *b) {
    if (a->dtype != b->dtype || a->rank != b->rank) return INFINITY;
    int64_t n = 1;
    for (int i = 0; i < a->rank; i++) {
        if (a->shape[i] != b->shape[i]) return INFINITY;
        n *= a->shape[i];
    }
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = ((const float *)a->data)[i], y = ((const float *)b->data)[i];
        double d = fabs(x - y) / fmax(1.0, fabs(y));
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

// Runs both programs on `in` and returns the largest pt_max_diff over every output (or only the
// output `only` when not NULL); INFINITY on failure. Outputs must be f32.
static inline double pt_compare_output(const kiln_program *p1, const kiln_program *p2, const kiln_tensor *in, size_t n_in,
                                       const char *only) {
    kiln_context *c1 = NULL, *c2 = NULL;
    double worst = INFINITY;
    if (kiln_context_create(p1, NULL, &c1) || kiln_context_create(p2, NULL, &c2)) goto done;
    worst = 0;
    for (size_t i = 0; i < kiln_program_n_outputs(p1); i++) {
        kiln_tensor d;
        kiln_program_output(p1, i, &d);
        if (only && strcmp(only, d.name) != 0) continue;
        kiln_tensor o1 = {.name = d.name}, o2 = {.name = d.name};
        if (kiln_run(c1, in, n_in, &o1, 1) || kiln_run(c2, in, n_in, &o2, 1)) {
            fprintf(stderr, "run: %s\n", kiln_last_error());
            worst = INFINITY;
            break;
        }
        double diff = pt_max_diff(&o1, &o2);
        if (getenv("KILN_TEST_VERBOSE")) printf("  %s: %g\n", d.name, diff);
        if (!(diff <= worst)) worst = diff;
    }
done:
    kiln_context_free(c1);
    kiln_context_free(c2);
    return worst;
}

static inline double pt_compare_programs(const kiln_program *p1, const kiln_program *p2, const kiln_tensor *in, size_t n_in) {
    return pt_compare_output(p1, p2, in, n_in, NULL);
}

#endif  // KILN_TESTS_PASSES_TEST_H
