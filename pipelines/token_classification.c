/* token_classification.c — pipeline("token-classification") with aggregation_strategy "none":
 * per token (special tokens left out) the softmax over labels, its best label as "entity",
 * "score", "index" (the token's position), "word" (the token string; the text itself for an
 * unknown token), "start" / "end" (character offsets into the text), leaving out tokens whose
 * label is in ignore_labels (default ["O"]), as Transformers' TokenClassificationPipeline.
 */
#include "kiln.h"
#include "pipelines/pipeline.h"

#include <math.h>

// Characters (code points) in text[0..byte): Transformers' offsets index a Python str.
static int64_t char_index(const char *text, int64_t byte) {
    int64_t n = 0;
    for (int64_t i = 0; i < byte && text[i]; i++) n += ((unsigned char)text[i] & 0xC0) != 0x80;
    return n;
}

static bool ignored(const kiln_pipeline *p, const char *label) {
    if (!p->o.ignore_labels) return strcmp(label, "O") == 0;
    for (size_t i = 0; i < p->o.n_ignore_labels; i++)
        if (p->o.ignore_labels[i] && strcmp(p->o.ignore_labels[i], label) == 0) return true;
    return false;
}

kiln_status pl_token_classification_row(const kiln_pipeline *p, const float *logits, const char *text, const kiln_encoding *e,
                                        pl_json *j) {
    int32_t L = p->prog->head.n_labels;
    int64_t unk = kiln_tokenizer_token_to_id(p->tok, "[UNK]");
    if (unk < 0) unk = kiln_tokenizer_token_to_id(p->tok, "<unk>");
    pl_json_raw(j, "[");
    bool first = true;
    for (size_t t = 0; t < e->n; t++) {
        if (e->special_tokens_mask[t]) continue;
        const float *l = logits + (int64_t)t * L;
        double mx = -INFINITY, sum = 0;
        int best = 0;
        for (int k = 0; k < L; k++) {
            if (l[k] > l[best]) best = k;
            mx = fmax(mx, l[k]);
        }
        for (int k = 0; k < L; k++) sum += exp((double)l[k] - mx);
        const char *label = p->prog->head.labels[best];
        if (ignored(p, label)) continue;
        int64_t start = char_index(text, e->offsets[t][0]), end = char_index(text, e->offsets[t][1]);
        const char *word = kiln_tokenizer_id_to_token(p->tok, e->input_ids[t]);
        char *ref = NULL;
        if (e->input_ids[t] == unk || !word) {
            size_t nb = (size_t)(e->offsets[t][1] - e->offsets[t][0]);
            ref = malloc(nb + 1);
            if (!ref) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "token-classification: out of memory");
            memcpy(ref, text + e->offsets[t][0], nb);
            ref[nb] = 0;
            word = ref;
        }
        pl_json_raw(j, first ? "{\"entity\": " : ", {\"entity\": ");
        first = false;
        pl_json_str(j, label);
        pl_json_raw(j, ", \"score\": ");
        pl_json_num(j, exp((double)l[best] - mx) / sum);
        char buf[64];
        snprintf(buf, sizeof(buf), ", \"index\": %zu, \"word\": ", t);
        pl_json_raw(j, buf);
        pl_json_str(j, word);
        snprintf(buf, sizeof(buf), ", \"start\": %lld, \"end\": %lld}", (long long)start, (long long)end);
        pl_json_raw(j, buf);
        free(ref);
    }
    pl_json_raw(j, "]");
    return KILN_OK;
}
