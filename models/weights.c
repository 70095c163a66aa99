/* weights.c — graph weight names → checkpoint tensors: the base-model prefix present or not,
 * legacy names (LayerNorm gamma/beta), the MLM decoder bias stored under either name; and the
 * check, at open, that every weight exists with the shape the config implies.
 */
#include "models/models.h"

static const fe_tensor *find_prefixed(const fe_weights *w, const md_family *f, const char *name) {
    const fe_tensor *t = fe_weights_find(w, name);
    if (t) return t;
    char buf[512];
    size_t n = strlen(f->prefix);
    if (strncmp(name, f->prefix, n) == 0) return fe_weights_find(w, name + n);
    snprintf(buf, sizeof(buf), "%s%s", f->prefix, name);
    return fe_weights_find(w, buf);
}

static bool replace_suffix(char *buf, size_t size, const char *name, const char *from, const char *to) {
    size_t n = strlen(name), k = strlen(from);
    if (n < k || strcmp(name + n - k, from) != 0) return false;
    snprintf(buf, size, "%.*s%s", (int)(n - k), name, to);
    return true;
}

const fe_tensor *md_find_weight(const fe_weights *w, const md_family *f, const char *name) {
    const fe_tensor *t = find_prefixed(w, f, name);
    if (t) return t;
    static const char *const aliases[][2] = {
        {"LayerNorm.weight", "LayerNorm.gamma"},
        {"LayerNorm.bias", "LayerNorm.beta"},
        {"cls.predictions.bias", "cls.predictions.decoder.bias"},
        {"lm_head.bias", "lm_head.decoder.bias"},
    };
    char buf[512];
    for (size_t i = 0; i < KILN_ARRAY_SIZE(aliases); i++) {
        if (replace_suffix(buf, sizeof(buf), name, aliases[i][0], aliases[i][1]) && (t = find_prefixed(w, f, buf))) return t;
        if (replace_suffix(buf, sizeof(buf), name, aliases[i][1], aliases[i][0]) && (t = find_prefixed(w, f, buf))) return t;
    }
    return NULL;
}

static void shape_text(char *buf, size_t size, int rank, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && k < size; i++) k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < size) snprintf(buf + k, size - k, "]");
}

kiln_status md_check_weights(const ir_graph *g, const fe_weights *w, const md_family *f, const fe_config *cfg) {
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (n->op != IR_OP_WEIGHT) continue;
        const fe_tensor *t = md_find_weight(w, f, n->name);
        if (!t)
            return kiln_error(KILN_ERR_FORMAT, "checkpoint: missing tensor '%s' (also looked for '%s%s'), needed by %s", n->name,
                              f->prefix, n->name, n->path ? n->path : "the graph");
        if (t->dtype != KILN_F32 && t->dtype != KILN_F16 && t->dtype != KILN_BF16)
            return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': dtype %s, expected a float type (F32, F16, BF16)", t->file, t->name,
                              kiln_dtype_get_info(t->dtype)->name);
        int64_t want[IR_MAX_RANK];
        bool same = t->rank == n->rank;
        for (int d = 0; d < n->rank; d++) {
            KILN_ASSERT(ir_dim_is_const(n->shape[d], &want[d]));
            same = same && t->shape[d] == want[d];
        }
        if (!same) {
            char got[128], exp[128];
            shape_text(got, sizeof(got), t->rank, t->shape);
            shape_text(exp, sizeof(exp), n->rank, want);
            return kiln_error(KILN_ERR_FORMAT,
                              "%s: tensor '%s': shape %s, but %s (hidden_size=%lld, intermediate_size=%lld, vocab_size=%lld, "
                              "max_position_embeddings=%lld) implies %s",
                              t->file, t->name, got, cfg->path, (long long)cfg->hidden_size, (long long)cfg->intermediate_size,
                              (long long)cfg->vocab_size, (long long)cfg->max_position_embeddings, exp);
        }
    }
    return KILN_OK;
}
