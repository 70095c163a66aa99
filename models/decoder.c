/* decoder.c — the parts of a causal LM graph that GPT-2 and the LLaMA family share: inputs and
 * positions, the KV cache (STATE tensors written by SCATTER), causal attention over it, rotary
 * embeddings (cos/sin tables as constants gathered by position), and the LM head. See decoder.h
 * for the graph's contract; Transformers' modeling_llama.py and modeling_rope_utils.py for the math.
 */
#include "models/decoder.h"

#include <math.h>

// finfo(float32).min: what Transformers adds to masked scores (exp of it underflows to 0 exactly,
// and a row with nothing visible stays finite).
#define MASKED_SCORE (-3.4028234663852886e38f)
#define PI 3.14159265358979323846

static ir_dim D(int64_t v) { return ir_dim_const(v); }
static ir_dim S(int symbol) { return ir_dim_sym(symbol); }

ir_node *md_weight(md_decoder *d, int rank, const int64_t *shape, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    ir_dim dims[IR_MAX_RANK];
    for (int i = 0; i < rank; i++) dims[i] = D(shape[i]);
    return ir_weight(d->g, name, d->dt, rank, dims);
}

ir_node *md_linear(md_decoder *d, ir_node *x, const char *prefix, int64_t in, int64_t out, bool bias) {
    ir_node *y = ir_matmul(d->g, x, md_weight(d, 2, (int64_t[]){out, in}, "%s.weight", prefix), false, true);
    if (bias) y = ir_binary(d->g, IR_OP_ADD, y, md_weight(d, 1, (int64_t[]){out}, "%s.bias", prefix));
    return y;
}

kiln_status md_decoder_begin(md_decoder *d, ir_graph *g, const fe_config *cfg, const md_build_options *o) {
    memset(d, 0, sizeof(*d));
    d->g = g;
    d->cfg = cfg;
    d->dt = o->compute_dtype;
    d->max_ctx = o->max_ctx > 0 ? o->max_ctx : o->max_seq;
    d->logits_last = o->logits_last;
    d->batch = ir_graph_symbol(g, "batch");
    d->seq = ir_graph_symbol(g, "seq");
    d->past = ir_graph_symbol(g, "past");
    if (g->status) return g->status;
    g->symbols[d->batch].max = o->max_batch;
    g->symbols[d->seq].max = KILN_MIN(o->max_seq, d->max_ctx);
    g->symbols[d->past].max = d->max_ctx;

    ir_graph_set_path(g, "model");
    ir_dim bs[2] = {S(d->batch), S(d->seq)};
    d->ids = ir_input(g, "input_ids", KILN_I64, 2, bs);
    d->pos = ir_input(g, "position_ids", KILN_I64, 2, bs);
    ir_node *zero = ir_scalar_i64(g, 0);
    ir_node *real = ir_binary(g, IR_OP_LE, zero, d->pos);
    d->pos_c = ir_binary(g, IR_OP_MAX, d->pos, zero);
    d->slot = ir_where(g, real, d->pos, ir_scalar_i64(g, d->max_ctx));

    ir_graph_set_path(g, "create_causal_mask");
    ir_dim total;
    if (!ir_dim_add(S(d->past), S(d->seq), &total)) return kiln_error(KILN_ERR_INTERNAL, "decoder: past + seq");
    ir_node *key_row = ir_iota(g, KILN_I64, 5, (ir_dim[]){D(1), D(1), D(1), D(1), total}, 4, D(0));
    ir_node *query_pos = ir_reshape(g, d->pos_c, 5, (ir_dim[]){S(d->batch), D(1), D(1), S(d->seq), D(1)});
    d->visible = ir_binary(g, IR_OP_LE, key_row, query_pos);
    ir_graph_set_path(g, NULL);
    return g->status;
}

/* ---- rotary embeddings --------------------------------------------------------------------- */

// inv_freq of plain RoPE in f32, as Transformers computes it: 1 / base^(2i / dim).
static void inv_freq_plain(float *out, int64_t half, int64_t dim, float base) {
    for (int64_t i = 0; i < half; i++) out[i] = 1.0f / powf(base, (float)(2 * i) / (float)dim);
}

// _compute_llama3_parameters.
static void inv_freq_llama3(float *f, int64_t half, const fe_rope *r, int64_t old_ctx) {
    float factor = (float)r->factor, lo = (float)r->low_freq_factor, hi = (float)r->high_freq_factor;
    float low_wavelen = (float)((double)old_ctx / r->low_freq_factor), high_wavelen = (float)((double)old_ctx / r->high_freq_factor);
    for (int64_t i = 0; i < half; i++) {
        float wavelen = (float)(2.0 * PI) / f[i];
        float scaled = wavelen > low_wavelen ? f[i] / factor : f[i];
        float smooth = ((float)old_ctx / wavelen - lo) / (hi - lo);
        float smoothed = (1.0f - smooth) * scaled / factor + smooth * scaled;
        bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
        f[i] = medium ? smoothed : scaled;
    }
}

static double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * log(scale) + 1.0; }

// _compute_yarn_parameters: blends interpolated and extrapolated frequencies; returns the
// attention factor that scales cos and sin.
static float inv_freq_yarn(float *f, int64_t half, int64_t dim, const fe_rope *r, int64_t max_pos) {
    double base = r->theta, factor = r->factor;
    int64_t orig = r->original_max_position_embeddings ? r->original_max_position_embeddings : max_pos;
    if (factor == 0) factor = (double)max_pos / (double)orig;
    double af = r->attention_factor;
    if (af == 0) af = r->mscale != 0 && r->mscale_all_dim != 0 ? yarn_mscale(factor, r->mscale) / yarn_mscale(factor, r->mscale_all_dim)
                                                              : yarn_mscale(factor, 1.0);
    double beta_fast = r->beta_fast != 0 ? r->beta_fast : 32, beta_slow = r->beta_slow != 0 ? r->beta_slow : 1;
#define CORRECTION_DIM(rot) (((double)dim * log((double)orig / ((rot) * 2 * PI))) / (2 * log(base)))
    double low = CORRECTION_DIM(beta_fast), high = CORRECTION_DIM(beta_slow);
#undef CORRECTION_DIM
    if (r->truncate) low = floor(low), high = ceil(high);
    low = fmax(low, 0), high = fmin(high, (double)(dim - 1));
    if (low == high) high += 0.001;
    for (int64_t i = 0; i < half; i++) {
        float pos_freq = powf((float)base, (float)(2 * i) / (float)dim);
        float extrapolation = 1.0f / pos_freq, interpolation = 1.0f / ((float)factor * pos_freq);
        float ramp = ((float)i - (float)low) / (float)(high - low);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        float extra_factor = 1.0f - ramp;
        f[i] = interpolation * (1.0f - extra_factor) + extrapolation * extra_factor;
    }
    return (float)af;
}

// Dynamic NTK at sequence length seq_len > max_pos: the base grows (all in f32, as the tensors are).
static void inv_freq_dynamic(float *f, int64_t half, int64_t dim, const fe_rope *r, int64_t max_pos, int64_t seq_len) {
    float factor = (float)r->factor;
    float grow = powf(factor * (float)seq_len / (float)max_pos - (factor - 1.0f), (float)((double)dim / (double)(dim - 2)));
    inv_freq_plain(f, half, dim, (float)r->theta * grow);
}

kiln_status md_rope_init(md_decoder *d, int64_t head_dim) {
    const fe_config *c = d->cfg;
    const fe_rope *r = &c->rope;
    if (r->partial_rotary_factor != 1.0)
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: partial_rotary_factor %g is not supported (kiln rotates the whole head)", c->path,
                          r->partial_rotary_factor);
    if (head_dim % 2 != 0) return kiln_error(KILN_ERR_FORMAT, "%s: head_dim %lld is odd; RoPE rotates pairs", c->path, (long long)head_dim);
    bool plain = strcmp(r->type, "default") == 0, linear = strcmp(r->type, "linear") == 0;
    bool dynamic = strcmp(r->type, "dynamic") == 0, llama3 = strcmp(r->type, "llama3") == 0, yarn = strcmp(r->type, "yarn") == 0;
    if (!plain && !linear && !dynamic && !llama3 && !yarn)
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: rope_type '%s' is not supported (kiln knows default, linear, dynamic, llama3, yarn)",
                          c->path, r->type);
    if ((linear || dynamic || llama3) && !(r->factor > 0))
        return kiln_error(KILN_ERR_FORMAT, "%s: rope_type '%s' needs a positive \"factor\"", c->path, r->type);
    if (llama3 && !(r->high_freq_factor != r->low_freq_factor && r->low_freq_factor > 0 && r->high_freq_factor > 0))
        return kiln_error(KILN_ERR_FORMAT, "%s: rope_type 'llama3' needs positive, different low_freq_factor and high_freq_factor",
                          c->path);
    if (!(r->theta > 0)) return kiln_error(KILN_ERR_FORMAT, "%s: rope_theta %g must be positive", c->path, r->theta);

    int64_t half = head_dim / 2, rows = d->max_ctx, max_pos = c->max_position_embeddings;
    float *inv = calloc((size_t)half, sizeof(float));
    float *cos_t = malloc((size_t)(rows * half) * sizeof(float)), *sin_t = malloc((size_t)(rows * half) * sizeof(float));
    if (!inv || !cos_t || !sin_t) {
        free(inv), free(cos_t), free(sin_t);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "decoder: out of memory for RoPE tables");
    }
    float scale = 1.0f;
    inv_freq_plain(inv, half, head_dim, (float)r->theta);
    if (linear)
        for (int64_t i = 0; i < half; i++) inv[i] /= (float)r->factor;
    if (llama3) inv_freq_llama3(inv, half, r, r->original_max_position_embeddings ? r->original_max_position_embeddings : max_pos);
    if (yarn) scale = inv_freq_yarn(inv, half, head_dim, r, max_pos);
    for (int64_t p = 0; p < rows; p++) {
        // Dynamic NTK: Transformers recomputes the frequencies when a run's largest position
        // passes max_position_embeddings; decoding one token at a time, position p is rotated
        // with the frequencies for length p + 1, which is what this table holds.
        if (dynamic && p + 1 > max_pos) inv_freq_dynamic(inv, half, head_dim, r, max_pos, p + 1);
        for (int64_t i = 0; i < half; i++) {
            float angle = (float)p * inv[i];
            cos_t[p * half + i] = (float)cos((double)angle) * scale;
            sin_t[p * half + i] = (float)sin((double)angle) * scale;
        }
    }
    ir_graph *g = d->g;
    ir_graph_set_path(g, "model.rotary_emb");
    ir_node *ct = ir_const(g, KILN_F32, 2, (int64_t[]){rows, half}, cos_t);
    ir_node *st = ir_const(g, KILN_F32, 2, (int64_t[]){rows, half}, sin_t);
    free(inv), free(cos_t), free(sin_t);
    ir_dim shape[4] = {S(d->batch), S(d->seq), D(1), D(half)};
    d->rope_cos = ir_reshape(g, ir_gather(g, ct, d->pos_c), 4, shape);
    d->rope_sin = ir_reshape(g, ir_gather(g, st, d->pos_c), 4, shape);
    ir_graph_set_path(g, NULL);
    return g->status;
}

ir_node *md_rope_apply(md_decoder *d, ir_node *x) {
    ir_graph *g = d->g;
    if (!x) return NULL;
    int64_t dim;
    KILN_ASSERT(x->rank == 4 && ir_dim_is_const(x->shape[3], &dim));
    ir_node *x1 = ir_slice(g, x, 3, D(0), D(dim / 2)), *x2 = ir_slice(g, x, 3, D(dim / 2), D(dim));
    // [x1, x2] * cos + [-x2, x1] * sin, with cos and sin the halves Transformers concatenates.
    ir_node *lo = ir_binary(g, IR_OP_SUB, ir_binary(g, IR_OP_MUL, x1, d->rope_cos), ir_binary(g, IR_OP_MUL, x2, d->rope_sin));
    ir_node *hi = ir_binary(g, IR_OP_ADD, ir_binary(g, IR_OP_MUL, x2, d->rope_cos), ir_binary(g, IR_OP_MUL, x1, d->rope_sin));
    return ir_concat(g, 2, (ir_node *[]){lo, hi}, 3);
}

/* ---- attention over the cache --------------------------------------------------------------- */

ir_node *md_attention(md_decoder *d, int layer, ir_node *q, ir_node *k, ir_node *v, int64_t heads, int64_t kv_heads,
                      int64_t head_dim, float scale) {
    ir_graph *g = d->g;
    ir_dim B = S(d->batch), Sq = S(d->seq), T, BH, rs;
    if (!ir_dim_add(S(d->past), Sq, &T) || !ir_dim_mul(B, D(kv_heads), &BH) || !ir_dim_mul(D(heads / kv_heads), Sq, &rs)) return NULL;
    int64_t rep = heads / kv_heads;
    // The cache is [batch * kv_heads, max_ctx + 1, head_dim]: each (sequence, kv head) owns a run
    // of rows, one per position, so that reading positions [0, past + seq) is one slice of
    // contiguous rows per head, already in the layout the score matmul takes. Each kv head writes
    // its rows at the sequence's slots.
    ir_node *slot = ir_reshape(g, ir_expand(g, ir_reshape(g, d->slot, 3, (ir_dim[]){B, D(1), Sq}), 3, (ir_dim[]){B, D(kv_heads), Sq}), 2,
                               (ir_dim[]){BH, Sq});
    ir_dim cache_shape[3] = {BH, D(d->max_ctx + 1), D(head_dim)};
    char name[64];
    ir_node *cache[2], *kv[2] = {k, v};
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "kv_cache.%d.%s", layer, i ? "value" : "key");
        ir_node *rows = ir_reshape(g, kv[i], 4, (ir_dim[]){B, Sq, D(kv_heads), D(head_dim)});
        rows = ir_reshape(g, ir_permute(g, rows, (int[]){0, 2, 1, 3}), 3, (ir_dim[]){BH, Sq, D(head_dim)});
        cache[i] = ir_scatter(g, ir_state(g, name, KILN_F32, 3, cache_shape), slot, rows);
        cache[i] = ir_reshape(g, ir_slice(g, cache[i], 1, D(0), T), 4, (ir_dim[]){B, D(kv_heads), T, D(head_dim)});
    }
    // Queries grouped by the kv head they share: [batch, kv_heads, rep * seq, head_dim].
    ir_node *qg = ir_reshape(g, q, 5, (ir_dim[]){B, Sq, D(kv_heads), D(rep), D(head_dim)});
    qg = ir_reshape(g, ir_permute(g, qg, (int[]){0, 2, 3, 1, 4}), 4, (ir_dim[]){B, D(kv_heads), rs, D(head_dim)});
    ir_node *scores = ir_binary(g, IR_OP_MUL, ir_matmul(g, qg, cache[0], false, true), ir_scalar_f32(g, scale));
    scores = ir_reshape(g, scores, 5, (ir_dim[]){B, D(kv_heads), D(rep), Sq, T});
    scores = ir_where(g, d->visible, scores, ir_scalar_f32(g, MASKED_SCORE));
    ir_node *probs = ir_reshape(g, ir_softmax(g, scores, -1), 4, (ir_dim[]){B, D(kv_heads), rs, T});
    ir_node *out = ir_matmul(g, probs, cache[1], false, false);   // [batch, kv_heads, rep * seq, head_dim]
    out = ir_reshape(g, out, 5, (ir_dim[]){B, D(kv_heads), D(rep), Sq, D(head_dim)});
    out = ir_permute(g, out, (int[]){0, 3, 1, 2, 4});
    return ir_reshape(g, out, 3, (ir_dim[]){B, Sq, D(heads * head_dim)});
}

/* ---- heads -------------------------------------------------------------------------------- */

// x [batch, seq, hidden] -> [batch, 1, hidden] at each row's last token whose position is >= 0
// (row 0 when a row has none): the largest flat index b * seq + s among real tokens.
static ir_node *last_tokens(md_decoder *d, ir_node *x, int64_t hidden) {
    ir_graph *g = d->g;
    ir_dim B = S(d->batch), Sq = S(d->seq), BS;
    if (!ir_dim_mul(B, Sq, &BS)) return NULL;
    ir_node *flat = ir_reshape(g, ir_iota(g, KILN_I64, 1, &BS, 0, D(0)), 2, (ir_dim[]){B, Sq});
    ir_node *minus1 = ir_scalar_i64(g, -1), *zero = ir_scalar_i64(g, 0);
    ir_node *real = ir_binary(g, IR_OP_LE, zero, d->pos);
    ir_node *last = ir_reduce(g, IR_OP_REDUCE_MAX, ir_where(g, real, flat, minus1), 1, false);
    last = ir_binary(g, IR_OP_MAX, last, zero);
    ir_node *rows = ir_gather(g, ir_reshape(g, x, 2, (ir_dim[]){BS, D(hidden)}), last);
    return ir_reshape(g, rows, 3, (ir_dim[]){B, D(1), D(hidden)});
}

kiln_status md_decoder_finish(md_decoder *d, md_head head, ir_node *x, ir_node *lm_weight) {
    ir_graph *g = d->g;
    if (head == MD_HEAD_BASE) {
        ir_graph_set_path(g, NULL);
        return ir_graph_add_output(g, "last_hidden_state", x);
    }
    if (head != MD_HEAD_CAUSAL_LM) return kiln_error(KILN_ERR_UNSUPPORTED, "%s: decoders have base and causal LM heads only", d->cfg->path);
    ir_graph_set_path(g, "lm_head");
    int64_t hidden;
    KILN_ASSERT(!x || ir_dim_is_const(x->shape[2], &hidden));
    if (x && d->logits_last) x = last_tokens(d, x, hidden);
    ir_graph_add_output(g, "logits", ir_matmul(g, x, lm_weight, false, true));
    ir_graph_set_path(g, NULL);
    return g->status;
}
