/* pipeline.c — the pass table (from passes.def), pass selections ("-fuse_attention"), and the
 * pipeline: one named line per step, the verifier after each when asked.
 */
#include "passes/passes.h"

static const struct {
    const char *name, *summary;
} passes[PASS_COUNT] = {
#define KILN_PASS(name, summary) [PASS_##name] = {#name, summary},
#include "passes/passes.def"
};

kiln_pass_ctx pass_ctx_default(void) {
    kiln_pass_ctx c;
    memset(&c, 0, sizeof(c));
    for (int i = 0; i < PASS_COUNT; i++) c.enabled[i] = true;
    c.stop_after = -1;
#ifndef NDEBUG
    c.verify = true;
#endif
    return c;
}

const char *pass_name(int id) { return id >= 0 && id < PASS_COUNT ? passes[id].name : NULL; }
const char *pass_summary(int id) { return id >= 0 && id < PASS_COUNT ? passes[id].summary : NULL; }

int pass_find(const char *name) {
    for (int i = 0; i < PASS_COUNT; i++)
        if (strcmp(passes[i].name, name) == 0) return i;
    return -1;
}

kiln_status pass_parse_spec(const char *spec, bool enabled[PASS_COUNT]) {
    for (int i = 0; i < PASS_COUNT; i++) enabled[i] = true;
    if (!spec || !*spec || strcmp(spec, "all") == 0) return KILN_OK;
    bool only = spec[0] != '-' && strcmp(spec, "none") != 0;
    for (int i = 0; i < PASS_COUNT; i++) enabled[i] = !only && strcmp(spec, "none") != 0;
    if (strcmp(spec, "none") == 0) return KILN_OK;
    for (const char *s = spec; *s;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        bool off = len > 0 && s[0] == '-';
        char name[64];
        if (off != !only || len - off == 0 || len - off >= sizeof(name))
            return kiln_error(KILN_ERR_INVALID_ARG, "passes '%s': give either names to run or -names to skip, not both", spec);
        memcpy(name, s + off, len - off);
        name[len - off] = '\0';
        int id = pass_find(name);
        if (id < 0) {
            char known[512] = "";
            for (int i = 0; i < PASS_COUNT; i++) {
                strncat(known, i ? ", " : "", sizeof(known) - strlen(known) - 1);
                strncat(known, passes[i].name, sizeof(known) - strlen(known) - 1);
            }
            return kiln_error(KILN_ERR_INVALID_ARG, "passes: unknown pass '%s' (known: %s)", name, known);
        }
        enabled[id] = !off;
        s += len;
        if (*s == ',') s++;
    }
    return KILN_OK;
}

typedef kiln_status (*pass_fn)(ir_graph *g, const kiln_pass_ctx *ctx);

// Runs one pass when enabled, verifies the result when asked; *stop says the pipeline ends here.
static kiln_status step(ir_graph *g, const kiln_pass_ctx *ctx, pass_id id, pass_fn fn, bool *stop) {
    *stop = ctx->stop_after == (int)id;
    if (!ctx->enabled[id]) return KILN_OK;
    kiln_status st = fn(g, ctx);
    if (st == KILN_OK && g->status) st = g->status;
    if (st == KILN_OK && ctx->verify) st = ir_verify(g);
    if (st) return kiln_error_prefix(st, "pass %s", passes[id].name);
    return KILN_OK;
}

kiln_status pass_run_pipeline(ir_graph *g, const kiln_pass_ctx *ctx) {
    if (!g || !ctx) return kiln_error(KILN_ERR_INVALID_ARG, "pass_run_pipeline: NULL argument");
    kiln_status st = KILN_OK;
    bool stop = false;
#define STEP(name)                                                        \
    if ((st = step(g, ctx, PASS_##name, pass_##name, &stop)) || stop) return st
    STEP(fold_constants);
    STEP(simplify);
    STEP(cse);
    STEP(dce);
    STEP(pack_qkv);
    STEP(fuse_attention);
    STEP(chunk_ffn);
    STEP(fuse_gemm);
    STEP(fuse_norm);
    STEP(fuse_elementwise);
#undef STEP
    return st;
}
