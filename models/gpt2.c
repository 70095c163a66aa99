/* gpt2.c — the GPT-2 family: learned positions, pre-LayerNorm blocks, Conv1D projections (weights
 * stored [in, out], so x @ W without the transpose nn.Linear needs), a fused c_attn that splits into
 * q, k, v, and an LM head tied to the token embeddings. Follows Transformers' modeling_gpt2.py
 * (eager attention) op for op; the KV cache and mask come from decoder.c.
 */
#include "models/decoder.h"

#include <math.h>

// Conv1D: x @ W + b with W [in, out].
static ir_node *conv1d(md_decoder *d, ir_node *x, const char *prefix, int64_t in, int64_t out) {
    ir_node *y = ir_matmul(d->g, x, md_weight(d, 2, (int64_t[]){in, out}, "%s.weight", prefix), false, false);
    return ir_binary(d->g, IR_OP_ADD, y, md_weight(d, 1, (int64_t[]){out}, "%s.bias", prefix));
}

static ir_node *layer_norm(md_decoder *d, ir_node *x, const char *prefix, int64_t hidden) {
    ir_node *gamma = md_weight(d, 1, (int64_t[]){hidden}, "%s.weight", prefix);
    ir_node *beta = md_weight(d, 1, (int64_t[]){hidden}, "%s.bias", prefix);
    return ir_layer_norm(d->g, x, gamma, beta, (float)d->cfg->layer_norm_eps);
}

static kiln_status build_gpt2(const fe_config *c, const md_build_options *o, ir_graph *g) {
    int64_t hidden = c->hidden_size, heads = c->num_attention_heads;
    int64_t inner = c->intermediate_size ? c->intermediate_size : 4 * hidden;
    if (heads <= 0 || hidden % heads != 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: n_embd %lld is not a multiple of n_head %lld", c->path, (long long)hidden,
                          (long long)heads);
    int64_t head_dim = hidden / heads;
    ir_op act;
    if (!md_activation_op(c->hidden_act, &act))
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: activation_function '%s' is not supported", c->path, c->hidden_act);
    md_decoder dec, *d = &dec;
    kiln_status st = md_decoder_begin(d, g, c, o);
    if (st) return st;
    if (d->max_ctx > c->max_position_embeddings)
        return kiln_error(KILN_ERR_INVALID_ARG, "%s: a context of %lld positions exceeds n_positions %lld", c->path,
                          (long long)d->max_ctx, (long long)c->max_position_embeddings);

    ir_graph_set_path(g, "transformer");
    ir_node *wte = md_weight(d, 2, (int64_t[]){c->vocab_size, hidden}, "wte.weight");
    ir_node *wpe = md_weight(d, 2, (int64_t[]){c->max_position_embeddings, hidden}, "wpe.weight");
    ir_node *x = ir_binary(g, IR_OP_ADD, ir_gather(g, wte, d->ids), ir_gather(g, wpe, d->pos_c));

    char p[128];
    for (int i = 0; i < c->num_hidden_layers; i++) {
        ir_graph_set_path(g, "h.%d.attn", i);
        snprintf(p, sizeof(p), "h.%d.ln_1", i);
        ir_node *h = layer_norm(d, x, p, hidden);
        snprintf(p, sizeof(p), "h.%d.attn.c_attn", i);
        ir_node *qkv = conv1d(d, h, p, hidden, 3 * hidden);
        ir_node *q = ir_slice(g, qkv, 2, ir_dim_const(0), ir_dim_const(hidden));
        ir_node *k = ir_slice(g, qkv, 2, ir_dim_const(hidden), ir_dim_const(2 * hidden));
        ir_node *v = ir_slice(g, qkv, 2, ir_dim_const(2 * hidden), ir_dim_const(3 * hidden));
        double scale = c->scale_attn_weights ? 1.0 / sqrt((double)head_dim) : 1.0;
        if (c->scale_attn_by_inverse_layer_idx) scale /= (double)(i + 1);
        ir_node *a = md_attention(d, i, q, k, v, heads, heads, head_dim, (float)scale);
        snprintf(p, sizeof(p), "h.%d.attn.c_proj", i);
        x = ir_binary(g, IR_OP_ADD, conv1d(d, a, p, hidden, hidden), x);

        ir_graph_set_path(g, "h.%d.mlp", i);
        snprintf(p, sizeof(p), "h.%d.ln_2", i);
        h = layer_norm(d, x, p, hidden);
        snprintf(p, sizeof(p), "h.%d.mlp.c_fc", i);
        h = ir_unary(g, act, conv1d(d, h, p, hidden, inner));
        snprintf(p, sizeof(p), "h.%d.mlp.c_proj", i);
        x = ir_binary(g, IR_OP_ADD, x, conv1d(d, h, p, inner, hidden));
    }
    ir_graph_set_path(g, "transformer.ln_f");
    x = layer_norm(d, x, "ln_f", hidden);
    ir_node *lm = c->tie_word_embeddings ? wte : md_weight(d, 2, (int64_t[]){c->vocab_size, hidden}, "lm_head.weight");
    return md_decoder_finish(d, o->head, x, lm);
}

static int64_t max_seq_gpt2(const fe_config *c) { return c->max_position_embeddings; }

const md_family md_gpt2_family = {"gpt2", "transformer.", "GPT2", max_seq_gpt2, build_gpt2};
