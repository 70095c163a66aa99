/* gguf.c — GGUF checkpoints (llama.cpp's single files) onto the same family builders as Hugging
 * Face checkpoints: a config.json synthesized from the file's metadata (and parsed by
 * fe_config_parse, so defaults and checks are the same), the builders' Hugging Face weight names
 * mapped to llama.cpp's, and the layout changes of llama.cpp's convert_hf_to_gguf.py undone:
 * LLaMA's q/k rows are interleaved per head for ggml's RoPE, GPT-2's Conv1D weights transposed.
 * Block-quantized matmul weights and embedding tables stay quantized (md_gguf_set_weight_dtypes):
 * their blocks are the program's weights, read in place from the mapping, and the kernels
 * dequantize them as they go (common/quant.h's semantics). Everything else comes out as f32:
 * f16/bf16/f32 tensors, vectors, and GPT-2's transposed Conv1D weights (a transposed quantized
 * tensor has no block rows along K, so those are dequantized and transposed at compile time).
 */
#include "common/half.h"
#include "common/quant.h"
#include "models/models.h"

static void json_num(kiln_strbuf *sb, const char *key, double v) { kiln_strbuf_printf(sb, ", \"%s\": %.9g", key, v); }
static void json_int(kiln_strbuf *sb, const char *key, int64_t v) { kiln_strbuf_printf(sb, ", \"%s\": %lld", key, (long long)v); }

kiln_status md_gguf_config(const fe_gguf *g, fe_config **out) {
    *out = NULL;
    fe_gguf_hparams hp;
    kiln_status st = fe_gguf_get_hparams(g, &hp);
    if (st) return st;
    const char *path = fe_gguf_path(g), *arch = hp.architecture;
    bool llama = strcmp(arch, "llama") == 0, qwen2 = strcmp(arch, "qwen2") == 0, gpt2 = strcmp(arch, "gpt2") == 0;
    if (!llama && !qwen2 && !gpt2)
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: general.architecture '%s' is not supported (kiln reads llama, qwen2, gpt2)", path, arch);
    if (fe_gguf_find_tensor(g, "rope_freqs.weight"))
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: tensor 'rope_freqs.weight' (LLaMA 3 RoPE frequency factors) is not supported", path);
    kiln_strbuf sb = {0};
    kiln_strbuf_printf(&sb, "{\"model_type\": \"%s\", \"architectures\": [\"%s\"]", arch,
                       llama ? "LlamaForCausalLM" : qwen2 ? "Qwen2ForCausalLM" : "GPT2LMHeadModel");
    if (hp.vocab_size) json_int(&sb, "vocab_size", hp.vocab_size);
    bool tied = !fe_gguf_find_tensor(g, "output.weight");
    kiln_strbuf_printf(&sb, ", \"tie_word_embeddings\": %s", tied ? "true" : "false");
    if (gpt2) {
        json_int(&sb, "n_embd", hp.embedding_length);
        json_int(&sb, "n_layer", hp.block_count);
        json_int(&sb, "n_head", hp.head_count);
        if (hp.feed_forward_length) json_int(&sb, "n_inner", hp.feed_forward_length);
        if (hp.context_length) json_int(&sb, "n_positions", hp.context_length);
        if (hp.layer_norm_epsilon > 0) json_num(&sb, "layer_norm_epsilon", hp.layer_norm_epsilon);
    } else {
        json_int(&sb, "hidden_size", hp.embedding_length);
        json_int(&sb, "num_hidden_layers", hp.block_count);
        json_int(&sb, "num_attention_heads", hp.head_count);
        json_int(&sb, "num_key_value_heads", hp.head_count_kv);
        if (hp.feed_forward_length) json_int(&sb, "intermediate_size", hp.feed_forward_length);
        if (hp.context_length) json_int(&sb, "max_position_embeddings", hp.context_length);
        if (hp.layer_norm_rms_epsilon > 0) json_num(&sb, "rms_norm_eps", hp.layer_norm_rms_epsilon);
        if (hp.rope_dimension_count != hp.embedding_length / hp.head_count) json_int(&sb, "head_dim", hp.rope_dimension_count);
        kiln_strbuf_printf(&sb, ", \"rope_parameters\": {\"rope_theta\": %.9g", hp.rope_freq_base);
        char key[128];
        fe_gguf_string type = {"none", 4};
        snprintf(key, sizeof(key), "%s.rope.scaling.type", arch);
        if (fe_gguf_find(g, key) && (st = fe_gguf_get_string(g, key, &type))) goto done;
        float factor = 0;
        uint32_t orig = 0;
        snprintf(key, sizeof(key), "%s.rope.scaling.factor", arch);
        if (fe_gguf_find(g, key) && (st = fe_gguf_get_f32(g, key, &factor))) goto done;
        snprintf(key, sizeof(key), "%s.rope.scaling.original_context_length", arch);
        if (fe_gguf_find(g, key) && (st = fe_gguf_get_u32(g, key, &orig))) goto done;
        if (strcmp(type.data, "linear") == 0 || strcmp(type.data, "yarn") == 0) {
            kiln_strbuf_printf(&sb, ", \"rope_type\": \"%s\", \"factor\": %.9g", type.data, factor);
            if (orig) json_int(&sb, "original_max_position_embeddings", orig);
        } else if (strcmp(type.data, "none") != 0) {
            st = kiln_error(KILN_ERR_UNSUPPORTED, "%s: %s.rope.scaling.type '%s' is not supported", path, arch, type.data);
            goto done;
        }
        kiln_strbuf_printf(&sb, "}");
    }
    fe_gguf_tokenizer tk;
    if (fe_gguf_find(g, "tokenizer.ggml.model") && fe_gguf_get_tokenizer(g, &tk) == KILN_OK) {
        fe_gguf_tokenizer_defaults(&tk);   // a SentencePiece file without ids: llama.cpp's bos 1, eos 2
        if (tk.bos_id >= 0) json_int(&sb, "bos_token_id", tk.bos_id);
        if (tk.eos_id >= 0) json_int(&sb, "eos_token_id", tk.eos_id);
        if (tk.pad_id >= 0) json_int(&sb, "pad_token_id", tk.pad_id);
    }
    kiln_strbuf_printf(&sb, "}");
    if (sb.failed) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    else st = fe_config_parse(sb.data, sb.len, path, out);
done:
    kiln_strbuf_free(&sb);
    return st;
}

// Hugging Face name (without the base-model prefix) -> llama.cpp name, by family.
static const struct {
    const char *hf, *gguf;
} llama_names[] = {
    {"input_layernorm.weight", "attn_norm.weight"},       {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},             {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},             {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},             {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.o_proj.bias", "attn_output.bias"},        {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},          {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},          {"embed_tokens.weight", "token_embd.weight"},
    {"norm.weight", "output_norm.weight"},                {"lm_head.weight", "output.weight"},
}, gpt2_names[] = {
    {"ln_1.weight", "attn_norm.weight"},        {"ln_1.bias", "attn_norm.bias"},
    {"attn.c_attn.weight", "attn_qkv.weight"},  {"attn.c_attn.bias", "attn_qkv.bias"},
    {"attn.c_proj.weight", "attn_output.weight"}, {"attn.c_proj.bias", "attn_output.bias"},
    {"ln_2.weight", "ffn_norm.weight"},         {"ln_2.bias", "ffn_norm.bias"},
    {"mlp.c_fc.weight", "ffn_up.weight"},       {"mlp.c_fc.bias", "ffn_up.bias"},
    {"mlp.c_proj.weight", "ffn_down.weight"},   {"mlp.c_proj.bias", "ffn_down.bias"},
    {"wte.weight", "token_embd.weight"},        {"wpe.weight", "position_embd.weight"},
    {"ln_f.weight", "output_norm.weight"},      {"ln_f.bias", "output_norm.bias"},
    {"lm_head.weight", "output.weight"},
};

bool md_gguf_find(const fe_gguf *g, const md_family *f, const fe_config *cfg, const char *name, md_gguf_weight *out) {
    memset(out, 0, sizeof(*out));
    bool gpt2 = f == &md_gpt2_family;
    size_t n = gpt2 ? KILN_ARRAY_SIZE(gpt2_names) : KILN_ARRAY_SIZE(llama_names);
    int layer = -1, used = 0;
    const char *rest = name;
    if (sscanf(name, gpt2 ? "h.%d.%n" : "layers.%d.%n", &layer, &used) == 1 && used > 0) rest = name + used;
    for (size_t i = 0; i < n; i++) {
        const char *hf = gpt2 ? gpt2_names[i].hf : llama_names[i].hf, *gg = gpt2 ? gpt2_names[i].gguf : llama_names[i].gguf;
        if (strcmp(rest, hf) != 0) continue;
        char buf[160];
        if (layer >= 0) snprintf(buf, sizeof(buf), "blk.%d.%s", layer, gg);
        else snprintf(buf, sizeof(buf), "%s", gg);
        out->tensor = fe_gguf_find_tensor(g, buf);
        if (!out->tensor) return false;
        // convert_hf_to_gguf.py: LLaMA's q/k rows (and biases) interleaved per head; Qwen2 keeps them.
        if (f == &md_llama_family && strncmp(hf, "self_attn.q_proj", 16) == 0) out->permute_heads = (int)cfg->num_attention_heads;
        if (f == &md_llama_family && strncmp(hf, "self_attn.k_proj", 16) == 0)
            out->permute_heads = (int)(cfg->num_key_value_heads ? cfg->num_key_value_heads : cfg->num_attention_heads);
        // ... and GPT-2's Conv1D weights [in, out] stored transposed, as nn.Linear's [out, in].
        out->transpose = gpt2 && layer >= 0 && strstr(hf, ".c_") && strstr(hf, ".weight");
        return true;
    }
    return false;
}

// Row r of the tensor as f32.
static void row_f32(const fe_gguf_tensor *t, int64_t r, int64_t cols, float *dst) {
    size_t row_bytes = kiln_dtype_bytes(t->dtype, cols);
    const uint8_t *src = (const uint8_t *)t->data + (size_t)r * row_bytes;
    if (t->dtype == KILN_F32) memcpy(dst, src, (size_t)cols * sizeof(float));
    else if (t->dtype == KILN_F16 || t->dtype == KILN_BF16) kiln_convert_to_f32(t->dtype, src, dst, (size_t)cols);
    else kiln_quant_dequantize_row(t->dtype, src, dst, cols);
}

void md_gguf_shape(const md_gguf_weight *w, int *rank, int64_t *shape) {
    *rank = w->tensor->rank;
    memcpy(shape, w->tensor->shape, sizeof(int64_t) * (size_t)w->tensor->rank);
    if (w->transpose && w->tensor->rank == 2) shape[0] = w->tensor->shape[1], shape[1] = w->tensor->shape[0];
}

kiln_status md_gguf_read(const md_gguf_weight *w, float *dst) {
    const fe_gguf_tensor *t = w->tensor;
    if (t->dtype != KILN_F32 && t->dtype != KILN_F16 && t->dtype != KILN_BF16 && !kiln_quant_supported(t->dtype))
        return kiln_error(KILN_ERR_UNSUPPORTED, "gguf tensor '%s': type %s cannot be read as weights", t->name,
                          kiln_dtype_get_info(t->dtype)->name);
    int64_t cols = t->rank ? t->shape[t->rank - 1] : 1, rows = 1;
    for (int d = 0; d + 1 < t->rank; d++) rows *= t->shape[d];
    bool bias = t->rank == 1 && w->permute_heads;   // a 1-D q/k bias permutes its elements
    float *tmp = w->transpose || bias ? malloc((size_t)cols * sizeof(float)) : NULL;
    if ((w->transpose || bias) && !tmp) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "gguf: out of memory reading '%s'", t->name);
    int64_t n = bias ? cols : rows, head = w->permute_heads ? n / w->permute_heads : 0, half = head / 2;
    if (bias) row_f32(t, 0, cols, tmp);
    for (int64_t r = 0; r < n; r++) {
        // Hugging Face row h*head + p*half + i is the file's row h*head + 2*i + p.
        int64_t src = head ? (r / head) * head + 2 * ((r % head) % half) + (r % head) / half : r;
        if (bias) dst[r] = tmp[src];
        else if (!w->transpose) row_f32(t, src, cols, dst + r * cols);
        else {   // file row r is column r of the [in, out] weight
            row_f32(t, r, cols, tmp);
            for (int64_t c = 0; c < cols; c++) dst[c * rows + r] = tmp[c];
        }
    }
    free(tmp);
    return KILN_OK;
}

kiln_dtype md_gguf_weight_dtype(const md_gguf_weight *w, bool quantizable) {
    const fe_gguf_tensor *t = w->tensor;
    const kiln_dtype_info *info = kiln_dtype_get_info(t->dtype);
    if (!quantizable || !info->is_quantized || !kiln_quant_supported(t->dtype) || w->transpose || t->rank != 2 ||
        t->shape[1] % info->block_size != 0)
        return KILN_F32;
    return t->dtype;
}

void md_gguf_set_weight_dtypes(ir_graph *g, const fe_gguf *gg, const md_family *f, const fe_config *cfg) {
    // bad[id]: weight `id` has a reader that cannot take blocks.
    bool *bad = calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!bad) return;   // stays f32: correct, only larger
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) {
            const ir_node *x = n->inputs[k];
            bool ok = (n->op == IR_OP_MATMUL && k == 1 && n->p.trans_b && !n->p.trans_a && n->inputs[0] != x) || (n->op == IR_OP_GATHER && k == 0);
            if (x->op == IR_OP_WEIGHT && !ok) bad[x->id] = true;
        }
    }
    for (int o = 0; o < g->n_outputs; o++) bad[g->outputs[o].node->id] = true;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        md_gguf_weight w;
        if (n->op != IR_OP_WEIGHT || n->dtype != KILN_F32 || !md_gguf_find(gg, f, cfg, n->name, &w)) continue;
        n->dtype = md_gguf_weight_dtype(&w, !bad[n->id]);
    }
    free(bad);
}

void md_gguf_read_rows(const md_gguf_weight *w, void *dst) {
    const fe_gguf_tensor *t = w->tensor;
    KILN_ASSERT(t->rank == 2 && !w->transpose);
    int64_t rows = t->shape[0], head = w->permute_heads ? rows / w->permute_heads : 0, half = head / 2;
    if (!head) {
        memcpy(dst, t->data, t->size_bytes);
        return;
    }
    size_t row_bytes = kiln_dtype_bytes(t->dtype, t->shape[1]);
    for (int64_t r = 0; r < rows; r++) {   // as md_gguf_read: HF row h*head + p*half + i is file row h*head + 2*i + p
        int64_t src = (r / head) * head + 2 * ((r % head) % half) + (r % head) / half;
        memcpy((uint8_t *)dst + (size_t)r * row_bytes, (const uint8_t *)t->data + (size_t)src * row_bytes, row_bytes);
    }
}

kiln_status md_gguf_check_weights(const ir_graph *g, const fe_gguf *gg, const md_family *f, const fe_config *cfg) {
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (n->op != IR_OP_WEIGHT) continue;
        md_gguf_weight w;
        if (!md_gguf_find(gg, f, cfg, n->name, &w))
            return kiln_error(KILN_ERR_FORMAT, "%s: no tensor for '%s' (llama.cpp's name for it is missing), needed by %s", fe_gguf_path(gg),
                              n->name, n->path ? n->path : "the graph");
        int rank;
        int64_t shape[KILN_MAX_RANK];
        md_gguf_shape(&w, &rank, shape);
        bool same = rank == n->rank;
        for (int d = 0; same && d < rank; d++) {
            int64_t want;
            same = ir_dim_is_const(n->shape[d], &want) && want == shape[d];
        }
        if (!same) {
            char got[96] = "", exp[96] = "";
            for (int d = 0; d < rank; d++) snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%lld", d ? ", " : "", (long long)shape[d]);
            for (int d = 0; d < n->rank; d++) {
                int64_t v = 0;
                ir_dim_is_const(n->shape[d], &v);
                snprintf(exp + strlen(exp), sizeof(exp) - strlen(exp), "%s%lld", d ? ", " : "", (long long)v);
            }
            return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s' (for '%s'): shape [%s], but the metadata implies [%s]", fe_gguf_path(gg),
                              w.tensor->name, n->name, got, exp);
        }
        if (w.permute_heads && (rank ? shape[0] : 0) % (2 * w.permute_heads) != 0)
            return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s': %lld rows do not split into %d heads of pairs", fe_gguf_path(gg),
                              w.tensor->name, (long long)shape[0], w.permute_heads);
    }
    return KILN_OK;
}
