/* fill_mask.c — pipeline("fill-mask"): for every mask token of an input, the softmax over the
 * vocabulary (restricted to `targets` when given), its top_k (default 5) as {score, token,
 * token_str, sequence}, as Transformers' FillMaskPipeline.postprocess: the sequence is the input
 * with that token in the mask's place, padding left out, decoded skipping special tokens when the
 * input has one mask (and keeping them with several, so the other masks show). One mask: a list
 * of candidates per input; several: a list of such lists.
 */
#include "kiln.h"
#include "pipelines/pipeline.h"

#include <math.h>

kiln_status pl_fill_mask_init(kiln_pipeline *p, const char *const *targets, size_t n_targets) {
    // tokenizer_config.json's mask_token, else [MASK] (the tokenizer resolves it)
    p->mask_id = kiln_tokenizer_special_id(p->tok, KILN_TOKEN_MASK);
    if (p->mask_id < 0) p->mask_id = kiln_tokenizer_token_to_id(p->tok, "<mask>");
    if (p->mask_id < 0) return kiln_error(KILN_ERR_INVALID_ARG, "fill-mask: the tokenizer has no mask token");
    if (p->o.top_k < 0) return kiln_error(KILN_ERR_INVALID_ARG, "fill-mask: top_k %d < 0", p->o.top_k);
    if (!targets || !n_targets) return KILN_OK;
    p->target_ids = calloc(n_targets, sizeof(int64_t));
    if (!p->target_ids) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "fill-mask: out of memory");
    for (size_t i = 0; i < n_targets; i++) {
        int64_t id = targets[i] ? kiln_tokenizer_token_to_id(p->tok, targets[i]) : -1;
        if (id < 0 && targets[i]) {   // as Transformers: the first token of the target's tokenization
            kiln_encode_options eo = kiln_encode_options_default();
            eo.add_special_tokens = false;
            kiln_batch_encoding b = {0};
            kiln_status st = kiln_tokenizer_encode_batch(p->tok, &targets[i], NULL, 1, &eo, &b);
            if (st) return st;
            if (b.n_rows == 1 && b.rows[0].n > 0) id = b.rows[0].input_ids[0];
            kiln_batch_encoding_free(&b);
        }
        if (id < 0) continue;   // Transformers ignores it, with a warning
        bool dup = false;
        for (size_t k = 0; k < p->n_target_ids; k++) dup |= p->target_ids[k] == id;
        if (!dup) p->target_ids[p->n_target_ids++] = id;
    }
    if (!p->n_target_ids) return kiln_error(KILN_ERR_INVALID_ARG, "fill-mask: none of the %zu targets is in the vocabulary", n_targets);
    return KILN_OK;
}

kiln_status pl_fill_mask_row(const kiln_pipeline *p, const float *logits, int64_t vocab, const kiln_encoding *e, pl_json *j) {
    int64_t n_masks = 0;
    for (size_t s = 0; s < e->n; s++) n_masks += e->input_ids[s] == p->mask_id;
    int64_t n_cand = p->n_target_ids ? (int64_t)p->n_target_ids : vocab;
    int64_t top = p->o.top_k ? p->o.top_k : 5;
    if (top > n_cand) top = n_cand;
    double *prob = malloc(sizeof(double) * (size_t)vocab);
    int64_t *best = malloc(sizeof(int64_t) * (size_t)(top > 0 ? top : 1));
    int64_t *ids = malloc(sizeof(int64_t) * (e->n ? e->n : 1));
    kiln_status st = KILN_OK;
    if (!prob || !best || !ids) {
        st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "fill-mask: out of memory");
        goto done;
    }
    kiln_decode_options dopt = kiln_decode_options_default();
    dopt.skip_special_tokens = n_masks == 1;
    if (n_masks > 1) pl_json_raw(j, "[");
    int64_t m = 0;
    for (size_t pos = 0; pos < e->n; pos++) {
        if (e->input_ids[pos] != p->mask_id) continue;
        const float *l = logits + (int64_t)pos * vocab;
        double mx = -INFINITY, sum = 0;
        for (int64_t v = 0; v < vocab; v++) mx = fmax(mx, l[v]);
        for (int64_t v = 0; v < vocab; v++) sum += (prob[v] = exp((double)l[v] - mx));
        for (int64_t v = 0; v < vocab; v++) prob[v] /= sum;
        // top `top` candidates, best first (ties: the lower candidate index, as torch.topk mostly does)
        for (int64_t k = 0; k < top; k++) {
            int64_t arg = -1;
            for (int64_t c = 0; c < n_cand; c++) {
                int64_t id = p->n_target_ids ? p->target_ids[c] : c;
                bool taken = false;
                for (int64_t q = 0; q < k; q++) taken |= best[q] == id;
                if (!taken && (arg < 0 || prob[id] > prob[arg])) arg = id;
            }
            best[k] = arg;
        }
        if (m++) pl_json_raw(j, ", ");
        pl_json_raw(j, "[");
        for (int64_t k = 0; k < top; k++) {
            char *seq = NULL, *tok_str = NULL;
            size_t n = 0;
            for (size_t s = 0; s < e->n; s++) {
                int64_t id = s == pos ? best[k] : e->input_ids[s];
                if (id != kiln_tokenizer_pad_id(p->tok)) ids[n++] = id;
            }
            kiln_decode_options plain = kiln_decode_options_default();
            if ((st = kiln_tokenizer_decode(p->tok, ids, n, &dopt, &seq)) ||
                (st = kiln_tokenizer_decode(p->tok, &best[k], 1, &plain, &tok_str))) {
                free(seq);
                goto done;
            }
            if (k) pl_json_raw(j, ", ");
            pl_json_raw(j, "{\"score\": ");
            pl_json_num(j, prob[best[k]]);
            char buf[32];
            snprintf(buf, sizeof(buf), ", \"token\": %lld", (long long)best[k]);
            pl_json_raw(j, buf);
            pl_json_raw(j, ", \"token_str\": ");
            pl_json_str(j, tok_str);
            pl_json_raw(j, ", \"sequence\": ");
            pl_json_str(j, seq);
            pl_json_raw(j, "}");
            free(seq);
            free(tok_str);
        }
        pl_json_raw(j, "]");
    }
    if (n_masks > 1) pl_json_raw(j, "]");
done:
    free(prob);
    free(best);
    free(ids);
    return st;
}
