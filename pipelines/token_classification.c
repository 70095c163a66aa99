/* token_classification.c — pipeline("token-classification"), aggregation_strategy "none" or
 * "simple" (adjacent tokens of one tag, B- starting a new group, as Transformers' group_entities;
 * entity_group, mean score, decoded word, start, end). "none":
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

typedef struct tc_entity {
    int label;
    double score;
    size_t index;
    int64_t start, end;   // characters
} tc_entity;

// Transformers' get_tag: "B-X" -> (B, X), "I-X" -> (I, X), anything else -> (I, itself).
static const char *tag_of(const char *label, char *bi) {
    if ((label[0] == 'B' || label[0] == 'I') && label[1] == '-') {
        *bi = label[0];
        return label + 2;
    }
    *bi = 'I';
    return label;
}

// One entity group (aggregation "simple"): entities [a, b).
static kiln_status emit_group(const kiln_pipeline *p, const kiln_encoding *e, const tc_entity *ent, size_t a, size_t b, bool *first,
                              pl_json *j) {
    char bi;
    const char *tag = tag_of(p->prog->head.labels[ent[a].label], &bi);
    if (ignored(p, tag)) return KILN_OK;
    double sum = 0;
    int64_t *ids = malloc(sizeof(int64_t) * (b - a));
    if (!ids) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "token-classification: out of memory");
    for (size_t k = a; k < b; k++) {
        sum += ent[k].score;
        ids[k - a] = e->input_ids[ent[k].index];
    }
    char *word = NULL;
    kiln_decode_options dopt = kiln_decode_options_default();
    dopt.clean_up_tokenization_spaces = 0;   // convert_tokens_to_string: the decoder alone
    kiln_status st = kiln_tokenizer_decode(p->tok, ids, b - a, &dopt, &word);
    free(ids);
    if (st) return st;
    pl_json_raw(j, *first ? "{\"entity_group\": " : ", {\"entity_group\": ");
    *first = false;
    pl_json_str(j, tag);
    pl_json_raw(j, ", \"score\": ");
    pl_json_num(j, sum / (double)(b - a));
    pl_json_raw(j, ", \"word\": ");
    pl_json_str(j, word);
    char buf[64];
    snprintf(buf, sizeof(buf), ", \"start\": %lld, \"end\": %lld}", (long long)ent[a].start, (long long)ent[b - 1].end);
    pl_json_raw(j, buf);
    free(word);
    return KILN_OK;
}

kiln_status pl_token_classification_row(const kiln_pipeline *p, const float *logits, const char *text, const kiln_encoding *e,
                                        pl_json *j) {
    int32_t L = p->prog->head.n_labels;
    int64_t unk = kiln_tokenizer_token_to_id(p->tok, "[UNK]");
    if (unk < 0) unk = kiln_tokenizer_token_to_id(p->tok, "<unk>");
    tc_entity *ent = malloc(sizeof(tc_entity) * (e->n ? e->n : 1));
    if (!ent) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "token-classification: out of memory");
    size_t n_ent = 0;
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
        ent[n_ent++] = (tc_entity){best, exp((double)l[best] - mx) / sum, t, char_index(text, e->offsets[t][0]),
                                   char_index(text, e->offsets[t][1])};
    }
    kiln_status st = KILN_OK;
    bool first = true;
    pl_json_raw(j, "[");
    if (p->simple) {
        size_t a = 0;
        for (size_t k = 1; k <= n_ent && n_ent; k++) {
            char bi = 'I', last_bi;
            const char *tag = k < n_ent ? tag_of(p->prog->head.labels[ent[k].label], &bi) : NULL;
            const char *last_tag = tag_of(p->prog->head.labels[ent[k - 1].label], &last_bi);
            if (tag && strcmp(tag, last_tag) == 0 && bi != 'B') continue;
            if ((st = emit_group(p, e, ent, a, k, &first, j))) break;
            a = k;
        }
    } else {
        for (size_t k = 0; k < n_ent; k++) {
            const char *label = p->prog->head.labels[ent[k].label];
            if (ignored(p, label)) continue;
            size_t t = ent[k].index;
            const char *word = kiln_tokenizer_id_to_token(p->tok, e->input_ids[t]);
            char *ref = NULL;
            if (e->input_ids[t] == unk || !word) {
                size_t nb = (size_t)(e->offsets[t][1] - e->offsets[t][0]);
                ref = malloc(nb + 1);
                if (!ref) {
                    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "token-classification: out of memory");
                    break;
                }
                memcpy(ref, text + e->offsets[t][0], nb);
                ref[nb] = 0;
                word = ref;
            }
            pl_json_raw(j, first ? "{\"entity\": " : ", {\"entity\": ");
            first = false;
            pl_json_str(j, label);
            pl_json_raw(j, ", \"score\": ");
            pl_json_num(j, ent[k].score);
            char buf[64];
            snprintf(buf, sizeof(buf), ", \"index\": %zu, \"word\": ", t);
            pl_json_raw(j, buf);
            pl_json_str(j, word);
            snprintf(buf, sizeof(buf), ", \"start\": %lld, \"end\": %lld}", (long long)ent[k].start, (long long)ent[k].end);
            pl_json_raw(j, buf);
            free(ref);
        }
    }
    pl_json_raw(j, "]");
    free(ent);
    return st;
}
