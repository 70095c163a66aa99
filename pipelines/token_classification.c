/* token_classification.c — pipeline("token-classification") as Transformers' TokenClassificationPipeline:
 * per token (special tokens left out) the softmax over labels; aggregation_strategy
 *   "none":   each token as {"entity", "score", "index", "word", "start", "end"};
 *   "simple": adjacent tokens of one tag grouped (B- starts a new group) as {"entity_group", "score"
 *             (the mean), "word", "start", "end"};
 *   "first" / "average" / "max": tokens first joined into words (a token is a sub-word when its
 *             string is longer than the text it covers, with a "##"-style prefix; by the space
 *             heuristic otherwise), each word labelled by its first token, its averaged scores or its
 *             most confident token, then grouped as "simple" does;
 * leaving out entities whose label (or group) is in ignore_labels (default ["O"]). Offsets are
 * characters into the text, as Python indexes a str.
 */
#include "kiln.h"
#include "pipelines/pipeline.h"

#include <math.h>

static int64_t utf8_chars(const char *s) { return pl_char_index(s, (int64_t)strlen(s)); }

static bool ignored(const kiln_pipeline *p, const char *label) {
    if (!p->o.ignore_labels) return strcmp(label, "O") == 0;
    for (size_t i = 0; i < p->o.n_ignore_labels; i++)
        if (p->o.ignore_labels[i] && strcmp(p->o.ignore_labels[i], label) == 0) return true;
    return false;
}

// A token (Transformers' pre_entity) or, after word aggregation, a word.
typedef struct tc_entity {
    int label;            // best label
    double score;         // its probability (word "average": the averaged one)
    size_t index;         // token position (tokens only)
    int64_t start, end;   // characters
    char *word;           // the token string (the text itself for an unknown token), or the word
    bool is_subword;
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

static kiln_status oom(void) { return kiln_error(KILN_ERR_OUT_OF_MEMORY, "token-classification: out of memory"); }

// convert_tokens_to_string over ent[a, b)'s words.
static kiln_status join_words(const kiln_pipeline *p, const tc_entity *ent, size_t a, size_t b, char **out) {
    const char **words = malloc(sizeof(char *) * (b - a));
    if (!words) return oom();
    for (size_t k = a; k < b; k++) words[k - a] = ent[k].word;
    kiln_status st = kiln_tokenizer_tokens_to_string(p->tok, words, b - a, out);
    free(words);
    return st;
}

static void emit_span(pl_json *j, int64_t start, int64_t end) {
    char buf[64];
    snprintf(buf, sizeof(buf), ", \"start\": %lld, \"end\": %lld}", (long long)start, (long long)end);
    pl_json_raw(j, buf);
}

// One entity group (group_sub_entities): entities [a, b), named after the first one's label with
// its prefix up to the first '-' dropped.
static kiln_status emit_group(const kiln_pipeline *p, const tc_entity *ent, size_t a, size_t b, bool *first, pl_json *j) {
    const char *label = p->prog->head.labels[ent[a].label], *dash = strchr(label, '-');
    const char *group = dash ? dash + 1 : label;
    if (ignored(p, group)) return KILN_OK;
    double sum = 0;
    for (size_t k = a; k < b; k++) sum += ent[k].score;
    char *word = NULL;
    kiln_status st = join_words(p, ent, a, b, &word);
    if (st) return st;
    pl_json_raw(j, *first ? "{\"entity_group\": " : ", {\"entity_group\": ");
    *first = false;
    pl_json_str(j, group);
    pl_json_raw(j, ", \"score\": ");
    pl_json_num(j, sum / (double)(b - a));
    pl_json_raw(j, ", \"word\": ");
    pl_json_str(j, word);
    emit_span(j, ent[a].start, ent[b - 1].end);
    free(word);
    return KILN_OK;
}

// group_entities: adjacent entities of one tag, a B- tag starting a new group.
static kiln_status group_entities(const kiln_pipeline *p, const tc_entity *ent, size_t n, pl_json *j) {
    bool first = true;
    size_t a = 0;
    for (size_t k = 1; k <= n && n; k++) {
        char bi = 'I', last_bi;
        const char *tag = k < n ? tag_of(p->prog->head.labels[ent[k].label], &bi) : NULL;
        const char *last_tag = tag_of(p->prog->head.labels[ent[k - 1].label], &last_bi);
        if (tag && strcmp(tag, last_tag) == 0 && bi != 'B') continue;
        kiln_status st = emit_group(p, ent, a, k, &first, j);
        if (st) return st;
        a = k;
    }
    return KILN_OK;
}

static int argmax(const double *v, int n) {
    int best = 0;
    for (int k = 1; k < n; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

// aggregate_word: the word of tokens ent[a, b) (scores: their probabilities, L per token) into *w.
static kiln_status aggregate_word(const kiln_pipeline *p, const tc_entity *ent, const double *scores, int L, size_t a, size_t b,
                                  tc_entity *w) {
    char *word = NULL;
    kiln_status st = join_words(p, ent, a, b, &word);
    if (st) return st;
    *w = (tc_entity){.start = ent[a].start, .end = ent[b - 1].end, .word = word};
    const char *s = p->o.aggregation_strategy;
    if (strcmp(s, "first") == 0) {
        w->label = ent[a].label;
        w->score = ent[a].score;
    } else if (strcmp(s, "max") == 0) {
        size_t best = a;   // the first token with the highest top score, as Python's max()
        for (size_t k = a + 1; k < b; k++)
            if (ent[k].score > ent[best].score) best = k;
        w->label = ent[best].label;
        w->score = ent[best].score;
    } else {   // average
        double *avg = calloc((size_t)L, sizeof(double));
        if (!avg) {
            free(word);
            w->word = NULL;
            return oom();
        }
        for (size_t k = a; k < b; k++)
            for (int l = 0; l < L; l++) avg[l] += scores[(k - a) * (size_t)L + (size_t)l] / (double)(b - a);
        w->label = argmax(avg, L);
        w->score = avg[w->label];
        free(avg);
    }
    return KILN_OK;
}

kiln_status pl_token_classification_row(const kiln_pipeline *p, const float *logits, const char *text, const kiln_encoding *e,
                                        pl_json *j) {
    int L = p->prog->head.n_labels;
    int64_t unk = kiln_tokenizer_special_id(p->tok, KILN_TOKEN_UNK);
    bool has_prefix = kiln_tokenizer_subword_prefix(p->tok) != NULL;
    size_t cap = e->n ? e->n : 1;
    tc_entity *ent = calloc(cap, sizeof(tc_entity)), *words = NULL;
    double *scores = malloc(sizeof(double) * cap * (size_t)L);
    size_t n_ent = 0, n_words = 0;
    kiln_status st = KILN_OK;
    if (!ent || !scores) {
        st = oom();
        goto done;
    }
    // gather_pre_entities
    for (size_t t = 0; t < e->n; t++) {
        if (e->special_tokens_mask[t]) continue;
        const float *l = logits + (int64_t)t * L;
        double *sc = scores + n_ent * (size_t)L, mx = -INFINITY, sum = 0;
        for (int k = 0; k < L; k++) mx = fmax(mx, l[k]);
        for (int k = 0; k < L; k++) sum += (sc[k] = exp((double)l[k] - mx));
        for (int k = 0; k < L; k++) sc[k] /= sum;
        tc_entity *en = &ent[n_ent++];
        en->label = argmax(sc, L);
        en->score = sc[en->label];
        en->index = t;
        en->start = pl_char_index(text, e->offsets[t][0]);
        en->end = pl_char_index(text, e->offsets[t][1]);
        size_t nb = (size_t)(e->offsets[t][1] - e->offsets[t][0]);
        char *ref = malloc(nb + 1);
        const char *token = kiln_tokenizer_id_to_token(p->tok, e->input_ids[t]);
        if (!ref) {
            st = oom();
            goto done;
        }
        memcpy(ref, text + e->offsets[t][0], nb);
        ref[nb] = 0;
        if (e->input_ids[t] == unk || !token) {
            en->word = ref;
            en->is_subword = false;
            continue;
        }
        if (has_prefix) {
            en->is_subword = utf8_chars(token) != en->end - en->start;
        } else {   // the fallback heuristic: no space just before or at the start
            en->is_subword = en->start > 0 && e->offsets[t][0] > 0 && text[e->offsets[t][0] - 1] != ' ' && text[e->offsets[t][0]] != ' ';
        }
        free(ref);
        if (!(en->word = strdup(token))) {
            st = oom();
            goto done;
        }
    }
    const char *agg = p->o.aggregation_strategy;
    pl_json_raw(j, "[");
    if (!agg) {
        bool first = true;
        for (size_t k = 0; k < n_ent; k++) {
            const char *label = p->prog->head.labels[ent[k].label];
            if (ignored(p, label)) continue;
            pl_json_raw(j, first ? "{\"entity\": " : ", {\"entity\": ");
            first = false;
            pl_json_str(j, label);
            pl_json_raw(j, ", \"score\": ");
            pl_json_num(j, ent[k].score);
            char buf[64];
            snprintf(buf, sizeof(buf), ", \"index\": %zu, \"word\": ", ent[k].index);
            pl_json_raw(j, buf);
            pl_json_str(j, ent[k].word);
            emit_span(j, ent[k].start, ent[k].end);
        }
    } else if (strcmp(agg, "simple") == 0) {
        st = group_entities(p, ent, n_ent, j);
    } else {
        // aggregate_words: a word is a token and the sub-words after it
        if (!(words = calloc(cap, sizeof(tc_entity)))) {
            st = oom();
            goto done;
        }
        for (size_t a = 0, b; a < n_ent && st == KILN_OK; a = b) {
            for (b = a + 1; b < n_ent && ent[b].is_subword;) b++;
            st = aggregate_word(p, ent, scores + a * (size_t)L, L, a, b, &words[n_words]);
            if (st == KILN_OK) n_words++;
        }
        if (st == KILN_OK) st = group_entities(p, words, n_words, j);
    }
    pl_json_raw(j, "]");
done:
    for (size_t k = 0; ent && k < n_ent; k++) free(ent[k].word);
    for (size_t k = 0; k < n_words; k++) free(words[k].word);
    free(ent);
    free(words);
    free(scores);
    return st;
}
