/* postprocess.c — the post-processor: joins the text's and the pair's tokens with the special
 * tokens of HF's TemplateProcessing ("[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1"; BertProcessing
 * is loaded as that template) and lays the result out as one fe_encoding allocation.
 */
#include "frontend/tokenizer/internal.h"

bool fe_tok_post_bert(fe_tok_postprocessor *pp, kiln_arena *arena, int32_t cls_id, int32_t sep_id) {
    int32_t *ids = kiln_arena_alloc(arena, 2 * sizeof(int32_t));
    fe_tok_piece *pieces = kiln_arena_alloc(arena, 8 * sizeof(fe_tok_piece));
    if (!ids || !pieces) return false;
    ids[0] = cls_id, ids[1] = sep_id;
    int32_t *cls = &ids[0], *sep = &ids[1];
    const fe_tok_piece layout[8] = {
        {-1, 0, 1, cls}, {0, 0, 0, NULL}, {-1, 0, 1, sep},                                     // single
        {-1, 0, 1, cls}, {0, 0, 0, NULL}, {-1, 0, 1, sep}, {1, 1, 0, NULL}, {-1, 1, 1, sep},   // pair
    };
    memcpy(pieces, layout, sizeof(layout));
    pp->kind = FE_TOK_POST_TEMPLATE;
    pp->single = (fe_tok_template){3, pieces};
    pp->pair = (fe_tok_template){5, pieces + 3};
    return true;
}

kiln_status fe_tok_post_process(const fe_tok_postprocessor *pp, const fe_tok_tokens seqs[2], bool has_pair,
                                bool add_special_tokens, fe_encoding *out) {
    // Without a post-processor HF gives the text type id 0 and the pair type id 1.
    static const fe_tok_piece plain[2] = {{.sequence = 0, .type_id = 0}, {.sequence = 1, .type_id = 1}};
    const fe_tok_piece *pieces = plain;
    int32_t n_pieces = has_pair ? 2 : 1;
    if (pp->kind == FE_TOK_POST_TEMPLATE) {
        const fe_tok_template *tpl = has_pair ? &pp->pair : &pp->single;
        pieces = tpl->pieces;
        n_pieces = tpl->n;
    }
    int64_t n = 0;
    for (int32_t i = 0; i < n_pieces; i++) {
        const fe_tok_piece *p = &pieces[i];
        if (p->sequence >= 0) n += seqs[p->sequence].n;
        else if (add_special_tokens) n += p->n_ids;
    }
    if (n > INT32_MAX / 64)
        return kiln_error(KILN_ERR_INVALID_ARG, "tokenizer: text too long (%lld tokens)", (long long)n);

    // Offsets first, so that the int64 array is aligned; at least one element so no array is NULL.
    size_t cap = n ? (size_t)n : 1;
    void *block = malloc(cap * (sizeof(int64_t[2]) + 5 * sizeof(int32_t)));
    if (!block)
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory for %lld tokens", (long long)n);
    *out = (fe_encoding){.n = (int32_t)n, .offsets = block};
    out->ids = (int32_t *)(out->offsets + cap);
    out->type_ids = out->ids + cap;
    out->special_mask = out->type_ids + cap;
    out->attention_mask = out->special_mask + cap;
    out->sequence_ids = out->attention_mask + cap;

    int32_t k = 0;
    for (int32_t i = 0; i < n_pieces; i++) {
        const fe_tok_piece *p = &pieces[i];
        if (p->sequence >= 0) {
            const fe_tok_tokens *seq = &seqs[p->sequence];
            for (int32_t j = 0; j < seq->n; j++, k++) {
                out->ids[k] = seq->v[j].id;
                out->type_ids[k] = p->type_id;
                out->special_mask[k] = 0;
                out->attention_mask[k] = 1;
                out->sequence_ids[k] = p->sequence;
                out->offsets[k][0] = seq->v[j].start;
                out->offsets[k][1] = seq->v[j].end;
            }
        } else if (add_special_tokens) {
            for (int32_t j = 0; j < p->n_ids; j++, k++) {
                out->ids[k] = p->ids[j];
                out->type_ids[k] = p->type_id;
                out->special_mask[k] = 1;
                out->attention_mask[k] = 1;
                out->sequence_ids[k] = -1;
                out->offsets[k][0] = out->offsets[k][1] = 0;
            }
        }
    }
    KILN_ASSERT(k == n);
    return KILN_OK;
}
