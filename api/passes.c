/* passes.c (api) — kiln_compile's pass set-up: the pass selection, the feed-forward chunk from
 * the options or config.json, and the search for chunk sizes under a memory budget. The search
 * runs the real pipeline and the interpreter's planner on plan-only builds (no weights touched),
 * largest chunks first, since larger chunks run faster; the chosen plan is then compiled for the
 * requested target and checked against the budget once more.
 */
#include "api/passes.h"

size_t api_context_bytes(const kiln_program *p) {
    size_t total = p->arena_bytes + p->workspace_bytes;
    for (int i = 0; i < p->n_states; i++) total += p->states[i].size_bytes;
    return total;
}

// Need of one candidate: the graph at the maxima through the pipeline and the interpreter's plan.
static kiln_status plan_need(const kiln_model *m, const md_build_options *bo, const kiln_pass_ctx *ctx, size_t *need,
                             kiln_program **prog_out) {
    ir_graph *g = NULL;
    kiln_program *p = NULL;
    kiln_status st = api_model_build(m, bo, &g);
    if (!st) st = pass_run_pipeline(g, ctx);
    cg_weight_source plan_only = {0};
    if (!st) st = cg_interp_backend.compile(g, &plan_only, NULL, &p);
    ir_graph_free(g);
    if (st) return st;
    *need = api_context_bytes(p);
    if (prog_out) *prog_out = p;
    else rt_program_free(p);
    return KILN_OK;
}

static kiln_status search_budget(const kiln_model *m, const kiln_compile_options *o, const md_build_options *bo, kiln_pass_ctx *ctx) {
    static const int64_t chunks[] = {0, 2048, 1024, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1};
    static const int64_t tiles[] = {0, 32, 16, 8, 4};
    int64_t rows = bo->max_batch * bo->max_seq;
    size_t best = SIZE_MAX;
    int64_t best_chunk = 0, best_tile = 0;
    kiln_program *best_prog = NULL;
    for (size_t c = 0; c < KILN_ARRAY_SIZE(chunks); c++) {
        int64_t chunk = chunks[c] ? chunks[c] : ctx->ff_chunk;   // first: what was asked for
        if (c > 0 && (chunk >= rows || (ctx->ff_chunk && chunk >= ctx->ff_chunk))) continue;
        for (size_t t = 0; t < KILN_ARRAY_SIZE(tiles); t++) {
            kiln_pass_ctx try = *ctx;
            try.ff_chunk = chunk;
            try.attn_tile = tiles[t];
            size_t need = 0;
            kiln_program *p = NULL;
            kiln_status st = plan_need(m, bo, &try, &need, &p);
            if (st) return st;
            if (need <= o->memory_budget) {
                rt_program_free(best_prog);
                rt_program_free(p);
                *ctx = try;
                return KILN_OK;
            }
            if (need < best) {
                best = need;
                best_chunk = chunk;
                best_tile = tiles[t];
                rt_program_free(best_prog);
                best_prog = p;
            } else {
                rt_program_free(p);
            }
        }
    }
    size_t state = 0;
    for (int i = 0; best_prog && i < best_prog->n_states; i++) state += best_prog->states[i].size_bytes;
    char chunk_text[32] = "none";
    if (best_chunk) snprintf(chunk_text, sizeof(chunk_text), "%lld", (long long)best_chunk);
    kiln_status st = kiln_error(KILN_ERR_OUT_OF_MEMORY,
                                "memory budget %zu bytes is too small for %s at batch %lld, seq %lld: the smallest plan needs %zu bytes "
                                "(ff_chunk %s, attention tile %lld: arena %zu + temporaries %zu + state %zu)",
                                o->memory_budget, m->cfg->path, (long long)bo->max_batch, (long long)bo->max_seq, best, chunk_text, (long long)(best_tile ? best_tile : 64), best_prog ? best_prog->arena_bytes : 0,
                                best_prog ? best_prog->workspace_bytes : 0, state);
    rt_program_free(best_prog);
    return st;
}

kiln_status api_passes_setup(const kiln_model *m, const kiln_compile_options *o, const md_build_options *bo, kiln_pass_ctx *ctx) {
    *ctx = pass_ctx_default();
    kiln_status st = pass_parse_spec(o->passes, ctx->enabled);
    if (st) return st;
    if (o->ff_chunk > 0) ctx->ff_chunk = o->ff_chunk;
    else if (o->ff_chunk == 0) ctx->ff_chunk = m->cfg->chunk_size_feed_forward > 0 ? m->cfg->chunk_size_feed_forward : 0;
    else if (o->ff_chunk != -1) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_compile: ff_chunk %lld (want -1, 0 or a row count)", (long long)o->ff_chunk);
    if (o->memory_budget) return search_budget(m, o, bo, ctx);
    return KILN_OK;
}

kiln_status api_check_budget(const kiln_program *p, const kiln_compile_options *o) {
    if (!o->memory_budget) return KILN_OK;
    size_t need = api_context_bytes(p);
    if (need <= o->memory_budget) return KILN_OK;
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "memory budget %zu bytes: the %s program needs %zu bytes (arena %zu + temporaries %zu + state)",
                      o->memory_budget, p->backend ? p->backend : "?", need, p->arena_bytes, p->workspace_bytes);
}
