/* bert.c — the BERT family (BERT, RoBERTa, DistilBERT) as one builder with the differences as
 * parameters: weight names, RoBERTa's positions counted from pad_token_id, DistilBERT's layout
 * and missing token types, each head's layers. Follows Transformers' modeling_bert.py,
 * modeling_roberta.py and modeling_distilbert.py (eager attention) op for op.
 */
#include <math.h>

#include "models/models.h"

typedef enum { FAM_BERT, FAM_ROBERTA, FAM_DISTILBERT } bert_kind;

typedef struct bert_builder {
    ir_graph *g;
    const fe_config *cfg;
    bert_kind kind;
    kiln_dtype dt;
    int batch, seq;   // symbol ids
    int64_t hidden, heads, head_dim, inter;
    ir_op act;
} bert_builder;

static ir_dim D(int64_t v) { return ir_dim_const(v); }

static ir_node *weight(bert_builder *b, int rank, const int64_t *shape, const char *fmt, ...) KILN_PRINTF(4, 5);
static ir_node *weight(bert_builder *b, int rank, const int64_t *shape, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    ir_dim dims[IR_MAX_RANK];
    for (int i = 0; i < rank; i++) dims[i] = D(shape[i]);
    return ir_weight(b->g, name, b->dt, rank, dims);
}

// x @ W^T + b with W [out, in] as Transformers' nn.Linear stores it.
static ir_node *linear(bert_builder *b, ir_node *x, const char *prefix, int64_t in, int64_t out, bool bias) {
    ir_node *w = weight(b, 2, (int64_t[]){out, in}, "%s.weight", prefix);
    ir_node *y = ir_matmul(b->g, x, w, false, true);
    if (bias) y = ir_binary(b->g, IR_OP_ADD, y, weight(b, 1, (int64_t[]){out}, "%s.bias", prefix));
    return y;
}

static ir_node *layer_norm(bert_builder *b, ir_node *x, const char *prefix, double eps) {
    ir_node *gamma = weight(b, 1, (int64_t[]){b->hidden}, "%s.weight", prefix);
    ir_node *beta = weight(b, 1, (int64_t[]){b->hidden}, "%s.bias", prefix);
    return ir_layer_norm(b->g, x, gamma, beta, (float)eps);
}

static double ln_eps(const bert_builder *b) { return b->kind == FAM_DISTILBERT ? 1e-12 : b->cfg->layer_norm_eps; }

// [batch, seq, hidden] -> [batch, heads, seq, head_dim]
static ir_node *split_heads(bert_builder *b, ir_node *x) {
    ir_dim shape[4] = {ir_dim_sym(b->batch), ir_dim_sym(b->seq), D(b->heads), D(b->head_dim)};
    x = ir_reshape(b->g, x, 4, shape);
    return ir_permute(b->g, x, (int[]){0, 2, 1, 3});
}

static ir_node *merge_heads(bert_builder *b, ir_node *x) {
    x = ir_permute(b->g, x, (int[]){0, 2, 1, 3});
    ir_dim shape[3] = {ir_dim_sym(b->batch), ir_dim_sym(b->seq), D(b->hidden)};
    return ir_reshape(b->g, x, 3, shape);
}

// Self-attention with an additive mask [batch, 1, 1, seq]; returns the context before the output
// projection. Paths: <layer>.attention.self (BERT/RoBERTa) or <layer>.attention (DistilBERT).
static ir_node *self_attention(bert_builder *b, ir_node *x, ir_node *mask, const char *layer) {
    char p[192];
    bool distil = b->kind == FAM_DISTILBERT;
    ir_graph_set_path(b->g, distil ? "%s.attention" : "%s.attention.self", layer);
    const char *names[3] = {distil ? "q_lin" : "query", distil ? "k_lin" : "key", distil ? "v_lin" : "value"};
    ir_node *qkv[3];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), distil ? "%s.attention.%s" : "%s.attention.self.%s", layer, names[i]);
        qkv[i] = split_heads(b, linear(b, x, p, b->hidden, b->hidden, true));
    }
    ir_node *scale = ir_scalar_f32(b->g, (float)(1.0 / sqrt((double)b->head_dim)));
    ir_node *q = qkv[0];
    ir_node *scores;
    if (distil) {   // DistilBERT scales q before the product
        q = ir_binary(b->g, IR_OP_MUL, q, scale);
        scores = ir_matmul(b->g, q, qkv[1], false, true);
    } else {
        scores = ir_binary(b->g, IR_OP_MUL, ir_matmul(b->g, q, qkv[1], false, true), scale);
    }
    scores = ir_binary(b->g, IR_OP_ADD, scores, mask);
    ir_node *probs = ir_softmax(b->g, scores, -1);
    return merge_heads(b, ir_matmul(b->g, probs, qkv[2], false, false));
}

static ir_node *encoder_layer(bert_builder *b, ir_node *x, ir_node *mask, int i) {
    char layer[64], p[192], q[192];
    bool distil = b->kind == FAM_DISTILBERT;
    snprintf(layer, sizeof(layer), distil ? "transformer.layer.%d" : "encoder.layer.%d", i);
    ir_node *ctx = self_attention(b, x, mask, layer);

    ir_graph_set_path(b->g, distil ? "%s.attention" : "%s.attention.output", layer);
    snprintf(p, sizeof(p), distil ? "%s.attention.out_lin" : "%s.attention.output.dense", layer);
    snprintf(q, sizeof(q), distil ? "%s.sa_layer_norm" : "%s.attention.output.LayerNorm", layer);
    ir_node *attn = ir_binary(b->g, IR_OP_ADD, linear(b, ctx, p, b->hidden, b->hidden, true), x);
    x = layer_norm(b, attn, q, ln_eps(b));

    ir_graph_set_path(b->g, distil ? "%s.ffn" : "%s.intermediate", layer);
    snprintf(p, sizeof(p), distil ? "%s.ffn.lin1" : "%s.intermediate.dense", layer);
    ir_node *h = ir_unary(b->g, b->act, linear(b, x, p, b->hidden, b->inter, true));
    ir_graph_set_path(b->g, distil ? "%s.ffn" : "%s.output", layer);
    snprintf(p, sizeof(p), distil ? "%s.ffn.lin2" : "%s.output.dense", layer);
    snprintf(q, sizeof(q), distil ? "%s.output_layer_norm" : "%s.output.LayerNorm", layer);
    ir_node *out = ir_binary(b->g, IR_OP_ADD, linear(b, h, p, b->inter, b->hidden, true), x);
    return layer_norm(b, out, q, ln_eps(b));
}

// Position ids: 0..seq-1, or RoBERTa's cumsum(ids != pad) * (ids != pad) + pad.
static ir_node *position_ids(bert_builder *b, ir_node *ids) {
    if (b->kind != FAM_ROBERTA) {
        ir_dim shape[1] = {ir_dim_sym(b->seq)};
        return ir_iota(b->g, KILN_I64, 1, shape, 0, D(0));
    }
    ir_node *pad = ir_scalar_i64(b->g, b->cfg->pad_token_id);
    ir_node *m = ir_cast(b->g, ir_binary(b->g, IR_OP_NE, ids, pad), KILN_I64);
    ir_node *pos = ir_binary(b->g, IR_OP_MUL, ir_cumsum(b->g, m, 1), m);
    return ir_binary(b->g, IR_OP_ADD, pos, pad);
}

// Returns the embedded tokens; *word_emb_out is the word table (the MLM decoder ties to it).
static ir_node *embeddings(bert_builder *b, ir_node *ids, ir_node *type_ids, ir_node **word_emb_out) {
    const fe_config *c = b->cfg;
    ir_graph_set_path(b->g, "embeddings");
    ir_node *word = weight(b, 2, (int64_t[]){c->vocab_size, b->hidden}, "embeddings.word_embeddings.weight");
    *word_emb_out = word;
    ir_node *x = ir_gather(b->g, word, ids);
    if (type_ids) {
        ir_node *tt = weight(b, 2, (int64_t[]){c->type_vocab_size, b->hidden}, "embeddings.token_type_embeddings.weight");
        x = ir_binary(b->g, IR_OP_ADD, x, ir_gather(b->g, tt, type_ids));
    }
    ir_node *pt = weight(b, 2, (int64_t[]){c->max_position_embeddings, b->hidden}, "embeddings.position_embeddings.weight");
    x = ir_binary(b->g, IR_OP_ADD, x, ir_gather(b->g, pt, position_ids(b, ids)));
    return layer_norm(b, x, "embeddings.LayerNorm", b->kind == FAM_DISTILBERT ? 1e-12 : c->layer_norm_eps);
}

// attention_mask [batch, seq] (1 keep, 0 pad) -> (1 - mask) * finfo(f32).min as [batch, 1, 1, seq].
static ir_node *additive_mask(bert_builder *b, ir_node *mask) {
    ir_graph_set_path(b->g, "get_extended_attention_mask");
    ir_node *m = ir_cast(b->g, mask, KILN_F32);
    ir_node *inv = ir_binary(b->g, IR_OP_SUB, ir_scalar_f32(b->g, 1.0f), m);
    ir_node *add = ir_binary(b->g, IR_OP_MUL, inv, ir_scalar_f32(b->g, -3.4028234663852886e38f));
    ir_dim shape[4] = {ir_dim_sym(b->batch), D(1), D(1), ir_dim_sym(b->seq)};
    return ir_reshape(b->g, add, 4, shape);
}

// x[:, 0, :] -> [batch, hidden]
static ir_node *first_token(bert_builder *b, ir_node *x) {
    ir_node *s = ir_slice(b->g, x, 1, D(0), D(1));
    ir_dim shape[2] = {ir_dim_sym(b->batch), D(b->hidden)};
    return ir_reshape(b->g, s, 2, shape);
}

static ir_node *pooler(bert_builder *b, ir_node *x) {
    ir_graph_set_path(b->g, "pooler");
    return ir_unary(b->g, IR_OP_TANH, linear(b, first_token(b, x), "pooler.dense", b->hidden, b->hidden, true));
}

static kiln_status mlm_head(bert_builder *b, ir_node *x, ir_node *word_emb) {
    const fe_config *c = b->cfg;
    ir_graph *g = b->g;
    const char *dense, *norm, *bias;
    ir_op act = b->act;
    switch (b->kind) {
    case FAM_BERT:
        ir_graph_set_path(g, "cls.predictions");
        dense = "cls.predictions.transform.dense", norm = "cls.predictions.transform.LayerNorm", bias = "cls.predictions.bias";
        break;
    case FAM_ROBERTA:   // RobertaLMHead always uses exact (erf) GELU, whatever hidden_act says
        ir_graph_set_path(g, "lm_head");
        dense = "lm_head.dense", norm = "lm_head.layer_norm", bias = "lm_head.bias", act = IR_OP_GELU;
        break;
    default:
        ir_graph_set_path(g, "vocab_transform");
        dense = "vocab_transform", norm = "vocab_layer_norm", bias = "vocab_projector.bias";
        break;
    }
    ir_node *h = ir_unary(g, act, linear(b, x, dense, b->hidden, b->hidden, true));
    h = layer_norm(b, h, norm, b->kind == FAM_DISTILBERT ? 1e-12 : c->layer_norm_eps);
    ir_node *dec = word_emb;
    if (!c->tie_word_embeddings) {
        const char *name = b->kind == FAM_BERT ? "cls.predictions.decoder" : b->kind == FAM_ROBERTA ? "lm_head.decoder" : "vocab_projector";
        dec = weight(b, 2, (int64_t[]){c->vocab_size, b->hidden}, "%s.weight", name);
    }
    ir_node *logits = ir_matmul(g, h, dec, false, true);
    logits = ir_binary(g, IR_OP_ADD, logits, weight(b, 1, (int64_t[]){c->vocab_size}, "%s", bias));
    return ir_graph_add_output(g, "logits", logits);
}

static kiln_status build(const fe_config *c, const md_build_options *o, ir_graph *g, bert_kind kind) {
    bert_builder b = {.g = g, .cfg = c, .kind = kind, .dt = o->compute_dtype};
    b.hidden = c->hidden_size;
    b.heads = c->num_attention_heads;
    b.inter = c->intermediate_size;
    if (b.heads <= 0 || b.hidden % b.heads != 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld", c->path,
                          (long long)b.hidden, (long long)b.heads);
    b.head_dim = b.hidden / b.heads;
    if (!md_activation_op(c->hidden_act, &b.act))
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: %s '%s' is not supported", c->path,
                          kind == FAM_DISTILBERT ? "activation" : "hidden_act", c->hidden_act);
    if (c->position_embedding_type && strcmp(c->position_embedding_type, "absolute") != 0)
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: position_embedding_type '%s' is not supported (only 'absolute')", c->path,
                          c->position_embedding_type);
    b.batch = ir_graph_symbol(g, "batch");
    b.seq = ir_graph_symbol(g, "seq");
    g->symbols[b.batch].max = o->max_batch;
    g->symbols[b.seq].max = o->max_seq;

    ir_dim bs[2] = {ir_dim_sym(b.batch), ir_dim_sym(b.seq)};
    ir_node *ids = ir_input(g, "input_ids", KILN_I64, 2, bs);
    ir_node *mask = ir_input(g, "attention_mask", KILN_I64, 2, bs);
    if (mask) mask->flags |= IR_NODE_DEFAULT_ONE;
    ir_node *type_ids = NULL;
    if (kind != FAM_DISTILBERT && c->type_vocab_size > 0) {
        type_ids = ir_input(g, "token_type_ids", KILN_I64, 2, bs);
        if (type_ids) type_ids->flags |= IR_NODE_DEFAULT_ZERO;
    }
    ir_node *word_emb = NULL;
    ir_node *x = embeddings(&b, ids, type_ids, &word_emb);
    ir_node *am = additive_mask(&b, mask);
    for (int i = 0; i < c->num_hidden_layers; i++) x = encoder_layer(&b, x, am, (int)i);
    ir_graph_set_path(g, NULL);
    ir_graph_add_output(g, "last_hidden_state", x);

    ir_node *y;
    switch (o->head) {
    case MD_HEAD_BASE:
        if (kind != FAM_DISTILBERT) ir_graph_add_output(g, "pooler_output", pooler(&b, x));
        break;
    case MD_HEAD_SEQUENCE_CLASSIFICATION:
        if (kind == FAM_BERT) {
            y = pooler(&b, x);
            ir_graph_set_path(g, "classifier");
            y = linear(&b, y, "classifier", b.hidden, c->num_labels, true);
        } else if (kind == FAM_ROBERTA) {
            ir_graph_set_path(g, "classifier");
            y = ir_unary(g, IR_OP_TANH, linear(&b, first_token(&b, x), "classifier.dense", b.hidden, b.hidden, true));
            y = linear(&b, y, "classifier.out_proj", b.hidden, c->num_labels, true);
        } else {
            ir_graph_set_path(g, "pre_classifier");
            y = ir_unary(g, IR_OP_RELU, linear(&b, first_token(&b, x), "pre_classifier", b.hidden, b.hidden, true));
            ir_graph_set_path(g, "classifier");
            y = linear(&b, y, "classifier", b.hidden, c->num_labels, true);
        }
        ir_graph_add_output(g, "logits", y);
        break;
    case MD_HEAD_TOKEN_CLASSIFICATION:
        ir_graph_set_path(g, "classifier");
        ir_graph_add_output(g, "logits", linear(&b, x, "classifier", b.hidden, c->num_labels, true));
        break;
    case MD_HEAD_QUESTION_ANSWERING: {
        ir_graph_set_path(g, "qa_outputs");
        ir_node *se = linear(&b, x, "qa_outputs", b.hidden, 2, true);
        for (int k = 0; k < 2; k++) {
            ir_node *s = ir_slice(g, se, 2, D(k), D(k + 1));
            ir_graph_add_output(g, k ? "end_logits" : "start_logits", ir_reshape(g, s, 2, bs));
        }
        break;
    }
    case MD_HEAD_MASKED_LM:
        mlm_head(&b, x, word_emb);
        break;
    case MD_HEAD_CAUSAL_LM:   // the registry gives encoders no causal LM head
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: %s has no causal LM head", c->path, c->model_type);
    }
    ir_graph_set_path(g, NULL);
    return g->status;
}

static kiln_status build_bert(const fe_config *c, const md_build_options *o, ir_graph *g) { return build(c, o, g, FAM_BERT); }
static kiln_status build_roberta(const fe_config *c, const md_build_options *o, ir_graph *g) { return build(c, o, g, FAM_ROBERTA); }
static kiln_status build_distilbert(const fe_config *c, const md_build_options *o, ir_graph *g) { return build(c, o, g, FAM_DISTILBERT); }

static int64_t max_seq_absolute(const fe_config *c) { return c->max_position_embeddings; }
// RoBERTa's positions start at pad_token_id + 1.
static int64_t max_seq_roberta(const fe_config *c) { return c->max_position_embeddings - c->pad_token_id - 1; }

const md_family md_bert_family = {"bert", "bert.", "Bert", max_seq_absolute, build_bert};
const md_family md_roberta_family = {"roberta", "roberta.", "Roberta", max_seq_roberta, build_roberta};
const md_family md_distilbert_family = {"distilbert", "distilbert.", "DistilBert", max_seq_absolute, build_distilbert};
