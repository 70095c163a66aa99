/* decoder.h — what every causal LM family shares: the inputs, the KV cache, the causal mask,
 * rotary embeddings and the LM head. A family builder (gpt2.c, llama.c) calls these around its
 * own layers.
 *
 * The graph a decoder compiles to (one program serves prefill and decode):
 *   inputs   input_ids    [batch, seq] i64
 *            position_ids [batch, seq] i64: each token's position in its sequence, which is also
 *                         its row in the KV cache; -1 marks padding (a token that is not there)
 *   symbols  batch, seq (from the inputs) and past (kiln_context_set_dim): keys [0, past + seq) of
 *            the cache take part in this run's attention, so past + seq must cover every
 *            position in position_ids
 *   state    kv_cache.<layer>.key / .value [batch * kv_heads, max_ctx + 1, head_dim] f32: each
 *            (sequence, kv head) has one row per position, so a run reads positions [0, past + seq)
 *            as one slice of contiguous rows per head; row max_ctx is a scratch row that padding
 *            writes to, so padding never touches a real row, even in a full sequence
 *   output   logits [batch, seq, vocab], or [batch, 1, vocab] at each row's last real token
 *            (md_build_options.logits_last)
 * A query at position p sees the cache rows 0..p of its own sequence: the causal mask is
 * key row <= p, so sequences of different lengths share a batch (right-padded) without an
 * attention mask, and rows past a sequence's length, stale or never written, are never read.
 */
#ifndef KILN_MD_DECODER_H
#define KILN_MD_DECODER_H

#include "models/models.h"

typedef struct md_decoder {
    ir_graph *g;
    const fe_config *cfg;
    kiln_dtype dt;
    int batch, seq, past;   // symbol ids
    int64_t max_ctx;        // positions run in [0, max_ctx); the cache has max_ctx + 1 rows
    bool logits_last;
    ir_node *ids;           // input_ids [batch, seq]
    ir_node *pos;           // position_ids [batch, seq]
    ir_node *pos_c;         // max(pos, 0): what embedding and rotary lookups use
    ir_node *slot;          // cache row each token writes: pos, or max_ctx for padding
    ir_node *visible;       // [batch, 1, 1, seq, past + seq] bool: key row j visible when j <= pos
    ir_node *rope_cos;      // [batch, seq, 1, head_dim / 2] when the family rotates (md_rope_init)
    ir_node *rope_sin;
} md_decoder;

// Declares the symbols (maxima from `o`), inputs, positions, scratch-row slots and causal mask.
// Returns g->status.
kiln_status md_decoder_begin(md_decoder *d, ir_graph *g, const fe_config *cfg, const md_build_options *o);

// A weight named by printf-style `fmt`, of dtype d->dt and a constant shape.
ir_node *md_weight(md_decoder *d, int rank, const int64_t *shape, const char *fmt, ...) KILN_PRINTF(4, 5);
// nn.Linear: x @ W^T (+ b), W [out, in] at "<prefix>.weight".
ir_node *md_linear(md_decoder *d, ir_node *x, const char *prefix, int64_t in, int64_t out, bool bias);

// Rotary tables for head_dim from cfg->rope (types default, linear, dynamic, llama3, yarn),
// computed in f32 as Transformers computes them and gathered by position. KILN_OK, or
// KILN_ERR_UNSUPPORTED (another rope_type, partial rotation) / KILN_ERR_FORMAT (missing factor).
kiln_status md_rope_init(md_decoder *d, int64_t head_dim);
// x [batch, seq, heads, head_dim] rotated: x * cos + rotate_half(x) * sin.
ir_node *md_rope_apply(md_decoder *d, ir_node *x);

// Causal self-attention over layer `layer`'s KV cache. q [batch, seq, heads * head_dim] or
// [batch, seq, heads, head_dim]; k, v likewise with kv_heads (already rotated). Writes k and v into the cache at
// d->slot, attends over rows [0, past + seq) with softmax(q k^T * scale, masked), and returns
// [batch, seq, heads * head_dim] before the output projection.
ir_node *md_attention(md_decoder *d, int layer, ir_node *q, ir_node *k, ir_node *v, int64_t heads, int64_t kv_heads,
                      int64_t head_dim, float scale);

// The head: MD_HEAD_BASE outputs last_hidden_state x; MD_HEAD_CAUSAL_LM outputs logits
// x @ lm_weight^T (lm_weight [vocab, hidden]), at every token or each row's last. Returns g->status.
kiln_status md_decoder_finish(md_decoder *d, md_head head, ir_node *x, ir_node *lm_weight);

#endif  // KILN_MD_DECODER_H
