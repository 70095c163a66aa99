/* llama.c — the LLaMA family (LLaMA 1-3, SmolLM, Mistral-style checkpoints without sliding
 * windows) and Qwen2: RMSNorm, rotary embeddings with rope_theta and rope scaling, SwiGLU, grouped-
 * query attention with num_key_value_heads, tied or untied embeddings. Qwen2 differs only in its
 * fixed q/k/v biases (o_proj has none), a parameter here. Follows Transformers' modeling_llama.py and
 * modeling_qwen2.py (eager attention) op for op; the KV cache and mask come from decoder.c.
 */
#include "models/decoder.h"

#include <math.h>

typedef struct llama_variant {
    bool qkv_bias, o_bias, mlp_bias;
} llama_variant;

static ir_node *rms_norm(md_decoder *d, ir_node *x, const char *name, int64_t hidden) {
    return ir_rms_norm(d->g, x, md_weight(d, 1, (int64_t[]){hidden}, "%s.weight", name), (float)d->cfg->layer_norm_eps);
}

// Qwen2 checkpoints may ask for sliding-window attention on some layers; kiln has full attention only.
static kiln_status check_full_attention(const fe_config *c) {
    if (c->use_sliding_window)
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: use_sliding_window true is not supported (kiln attends over the whole context)",
                          c->path);
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(c->json, "layer_types");
    for (const cJSON *t = cJSON_IsArray(types) ? types->child : NULL; t; t = t->next)
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "full_attention") != 0)
            return kiln_error(KILN_ERR_UNSUPPORTED, "%s: layer_types: only \"full_attention\" layers are supported", c->path);
    return KILN_OK;
}

static kiln_status build(const fe_config *c, const md_build_options *o, ir_graph *g, llama_variant var) {
    int64_t hidden = c->hidden_size, heads = c->num_attention_heads, inter = c->intermediate_size;
    int64_t kv_heads = c->num_key_value_heads ? c->num_key_value_heads : heads;
    if (heads <= 0 || (!c->head_dim && hidden % heads != 0))
        return kiln_error(KILN_ERR_FORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld", c->path,
                          (long long)hidden, (long long)heads);
    int64_t head_dim = c->head_dim ? c->head_dim : hidden / heads;
    if (heads % kv_heads != 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld", c->path,
                          (long long)heads, (long long)kv_heads);
    ir_op act;
    if (!md_activation_op(c->hidden_act, &act))
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: hidden_act '%s' is not supported", c->path, c->hidden_act);
    kiln_status st = check_full_attention(c);
    if (st) return st;
    md_decoder dec, *d = &dec;
    if ((st = md_decoder_begin(d, g, c, o)) || (st = md_rope_init(d, head_dim))) return st;

    ir_graph_set_path(g, "model.embed_tokens");
    ir_node *embed = md_weight(d, 2, (int64_t[]){c->vocab_size, hidden}, "embed_tokens.weight");
    ir_node *x = ir_gather(g, embed, d->ids);
    ir_dim B = ir_dim_sym(d->batch), Sq = ir_dim_sym(d->seq);
    float scale = (float)(1.0 / sqrt((double)head_dim));
    char p[128];
    for (int i = 0; i < c->num_hidden_layers; i++) {
        ir_graph_set_path(g, "model.layers.%d.self_attn", i);
        snprintf(p, sizeof(p), "layers.%d.input_layernorm", i);
        ir_node *h = rms_norm(d, x, p, hidden);
        ir_node *qkv[3];
        static const char *const proj[3] = {"q_proj", "k_proj", "v_proj"};
        for (int k = 0; k < 3; k++) {
            int64_t n = k == 0 ? heads : kv_heads;
            snprintf(p, sizeof(p), "layers.%d.self_attn.%s", i, proj[k]);
            qkv[k] = ir_reshape(g, md_linear(d, h, p, hidden, n * head_dim, var.qkv_bias), 4,
                                (ir_dim[]){B, Sq, ir_dim_const(n), ir_dim_const(head_dim)});
        }
        ir_node *a = md_attention(d, i, md_rope_apply(d, qkv[0]), md_rope_apply(d, qkv[1]), qkv[2], heads, kv_heads, head_dim, scale);
        snprintf(p, sizeof(p), "layers.%d.self_attn.o_proj", i);
        x = ir_binary(g, IR_OP_ADD, x, md_linear(d, a, p, heads * head_dim, hidden, var.o_bias));

        ir_graph_set_path(g, "model.layers.%d.mlp", i);
        snprintf(p, sizeof(p), "layers.%d.post_attention_layernorm", i);
        h = rms_norm(d, x, p, hidden);
        snprintf(p, sizeof(p), "layers.%d.mlp.gate_proj", i);
        ir_node *gate = ir_unary(g, act, md_linear(d, h, p, hidden, inter, var.mlp_bias));
        snprintf(p, sizeof(p), "layers.%d.mlp.up_proj", i);
        ir_node *up = md_linear(d, h, p, hidden, inter, var.mlp_bias);
        snprintf(p, sizeof(p), "layers.%d.mlp.down_proj", i);
        x = ir_binary(g, IR_OP_ADD, x, md_linear(d, ir_binary(g, IR_OP_MUL, gate, up), p, inter, hidden, var.mlp_bias));
    }
    ir_graph_set_path(g, "model.norm");
    x = rms_norm(d, x, "norm", hidden);
    ir_node *lm = c->tie_word_embeddings ? embed : md_weight(d, 2, (int64_t[]){c->vocab_size, hidden}, "lm_head.weight");
    return md_decoder_finish(d, o->head, x, lm);
}

static kiln_status build_llama(const fe_config *c, const md_build_options *o, ir_graph *g) {
    return build(c, o, g, (llama_variant){c->attention_bias, c->attention_bias, c->mlp_bias});
}

// Qwen2Attention: q/k/v with bias, o_proj without; the MLP never has biases.
static kiln_status build_qwen2(const fe_config *c, const md_build_options *o, ir_graph *g) {
    return build(c, o, g, (llama_variant){true, false, false});
}

// max_position_embeddings is the context the model was made for; dynamic NTK scaling stretches
// it by its factor (Transformers itself sets no limit; this is where the scaling was meant to go).
static int64_t max_seq_rope(const fe_config *c) {
    if (strcmp(c->rope.type, "dynamic") == 0 && c->rope.factor > 1) return (int64_t)((double)c->max_position_embeddings * c->rope.factor);
    return c->max_position_embeddings;
}

const md_family md_llama_family = {"llama", "model.", "Llama", max_seq_rope, build_llama};
const md_family md_qwen2_family = {"qwen2", "model.", "Qwen2", max_seq_rope, build_qwen2};
