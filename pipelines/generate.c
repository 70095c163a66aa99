/* generate.c — the token loop over a causal LM program (kiln.h's text generation section):
 * kiln_decoder keeps a context whose state is the KV cache, each sequence's length, and the last
 * logits; kiln_decode turns a batch of (token, sequence) pairs into right-padded runs of the one
 * program (position -1 marks padding, `past` covers every sequence's keys); kiln_generate samples,
 * streams and stops (eos ids, stop strings, max_new_tokens, a full context).
 * Includes only the runtime and the tokenizer (DESIGN.md): everything about the model comes from
 * the program's head (rt_generation).
 */
#include "frontend/tokenizer/tokenizer.h"
#include "pipelines/chat_template.h"
#include "runtime/program.h"

struct kiln_decoder {
    const kiln_program *prog;
    kiln_context *ctx;
    fe_tokenizer *tok;     // NULL: token ids only
    int32_t n_seq;         // cache rows (the program's max batch)
    int64_t n_ctx;         // positions per sequence
    int64_t max_seq;       // new tokens per sequence in one run
    int64_t n_vocab;
    int64_t *len;          // (n_seq) tokens in each sequence's cache
    float *logits;         // (n_seq, n_vocab) after each sequence's last token of the last kiln_decode
    bool *has_logits;      // (n_seq)
    int64_t *ids, *pos;    // (n_seq, max_seq) one run's inputs
    int32_t *count, *done; // (n_seq) tokens per sequence in this call, and fed so far
};

kiln_decoder_options kiln_decoder_options_default(void) {
    kiln_decoder_options o = {.n_threads = 1, .tokenizer_path = NULL};
    return o;
}

void kiln_decoder_free(kiln_decoder *d) {
    if (!d) return;
    kiln_context_free(d->ctx);
    fe_tokenizer_free(d->tok);
    free(d->len);
    free(d->logits);
    free(d->has_logits);
    free(d->ids);
    free(d->pos);
    free(d->count);
    free(d->done);
    free(d);
}

static int find_symbol(const kiln_program *p, const char *name) {
    for (int s = 0; s < p->n_symbols; s++)
        if (strcmp(p->symbol_names[s], name) == 0) return s;
    return -1;
}

kiln_status kiln_decoder_create(const kiln_program *program, const kiln_decoder_options *opts, kiln_decoder **out) {
    if (!program || !out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_decoder_create: NULL argument");
    *out = NULL;
    const rt_generation *g = &program->head.gen;
    int sb = find_symbol(program, "batch"), ss = find_symbol(program, "seq");
    if (!g->causal_lm || sb < 0 || ss < 0 || find_symbol(program, "past") < 0 || g->max_context <= 0)
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_decoder_create: the program (%s) is not a causal LM with a KV cache",
                          program->head.architecture ? program->head.architecture : "?");
    kiln_decoder_options o = opts ? *opts : kiln_decoder_options_default();
    kiln_status st = KILN_ERR_OUT_OF_MEMORY;
    kiln_decoder *d = calloc(1, sizeof(*d));
    if (!d) return kiln_error(st, "kiln_decoder_create: out of memory");
    d->prog = program;
    d->n_seq = (int32_t)program->symbol_max[sb];
    d->max_seq = program->symbol_max[ss];
    d->n_ctx = g->max_context;
    d->n_vocab = g->vocab_size;
    size_t rows = (size_t)d->n_seq;
    d->len = calloc(rows, sizeof(int64_t));
    d->logits = malloc(rows * (size_t)d->n_vocab * sizeof(float));
    d->has_logits = calloc(rows, sizeof(bool));
    d->ids = malloc(rows * (size_t)d->max_seq * sizeof(int64_t));
    d->pos = malloc(rows * (size_t)d->max_seq * sizeof(int64_t));
    d->count = calloc(rows, sizeof(int32_t));
    d->done = calloc(rows, sizeof(int32_t));
    if (!d->len || !d->logits || !d->has_logits || !d->ids || !d->pos || !d->count || !d->done) {
        kiln_error(st, "kiln_decoder_create: out of memory");
        goto error;
    }
    kiln_context_options co = kiln_context_options_default();
    co.n_threads = o.n_threads;
    if ((st = kiln_context_create(program, &co, &d->ctx))) goto error;
    // NULL: the checkpoint's own tokenizer, when the program has one; "": none.
    if (o.tokenizer_path && *o.tokenizer_path && (st = fe_tokenizer_open(o.tokenizer_path, &d->tok))) goto error;
    if (!o.tokenizer_path && (program->n_tokenizer_files || program->tokenizer_dir) &&
        (st = fe_tokenizer_open_program(program, &d->tok)))
        goto error;
    *out = d;
    return KILN_OK;
error:
    kiln_decoder_free(d);
    return st;
}

int64_t kiln_decoder_n_ctx(const kiln_decoder *d) { return d ? d->n_ctx : 0; }
int32_t kiln_decoder_n_seq(const kiln_decoder *d) { return d ? d->n_seq : 0; }
int64_t kiln_decoder_n_vocab(const kiln_decoder *d) { return d ? d->n_vocab : 0; }

int64_t kiln_decoder_seq_len(const kiln_decoder *d, int32_t seq) {
    return d && seq >= 0 && seq < d->n_seq ? d->len[seq] : -1;
}

// Forgetting is only a length: rows past a sequence's length are never read (the causal mask is
// key row <= position), and the next tokens overwrite them.
void kiln_decoder_seq_clear(kiln_decoder *d, int32_t seq) {
    if (!d) return;
    for (int32_t s = 0; s < d->n_seq; s++)
        if (seq < 0 || s == seq) d->len[s] = 0, d->has_logits[s] = false;
}

bool kiln_decoder_is_eos(const kiln_decoder *d, kiln_token token) {
    const rt_generation *g = d ? &d->prog->head.gen : NULL;
    for (int32_t i = 0; g && i < g->n_eos; i++)
        if (g->eos_token_ids[i] == token) return true;
    return false;
}

const float *kiln_decoder_logits(const kiln_decoder *d, int32_t seq) {
    if (!d || seq < 0 || seq >= d->n_seq || !d->has_logits[seq]) return NULL;
    return d->logits + (size_t)seq * (size_t)d->n_vocab;
}

// One run: up to max_seq of each sequence's remaining tokens (grouped[] holds each sequence's
// tokens from first[s]), right-padded to the widest, positions -1 on padding.
static kiln_status run_piece(kiln_decoder *d, const kiln_token *grouped, const int32_t *first, int32_t rows) {
    int64_t width = 0, end = 0;
    for (int32_t b = 0; b < rows; b++) width = KILN_MAX(width, KILN_MIN(d->max_seq, (int64_t)(d->count[b] - d->done[b])));
    for (int32_t b = 0; b < rows; b++) {
        int64_t k = KILN_MIN(d->max_seq, (int64_t)(d->count[b] - d->done[b]));
        for (int64_t s = 0; s < width; s++) {
            bool real = s < k;
            d->ids[b * width + s] = real ? grouped[first[b] + d->done[b] + s] : 0;
            d->pos[b * width + s] = real ? d->len[b] + s : -1;
        }
        if (k > 0) end = KILN_MAX(end, d->len[b] + k);
    }
    kiln_tensor in[2] = {
        {.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {rows, width}, .data = d->ids},
        {.name = "position_ids", .dtype = KILN_I64, .rank = 2, .shape = {rows, width}, .data = d->pos},
    };
    kiln_tensor logits = {.name = "logits"};
    kiln_status st = kiln_context_set_dim(d->ctx, "past", end - width);
    if (!st) st = kiln_run(d->ctx, in, 2, &logits, 1);
    if (st) return st;
    int64_t cols = logits.shape[1];
    for (int32_t b = 0; b < rows; b++) {
        int64_t k = KILN_MIN(d->max_seq, (int64_t)(d->count[b] - d->done[b]));
        if (k <= 0) continue;
        int64_t col = d->prog->head.gen.logits_last ? 0 : k - 1;
        memcpy(d->logits + (size_t)b * (size_t)d->n_vocab, (const float *)logits.data + (b * cols + col) * d->n_vocab,
               (size_t)d->n_vocab * sizeof(float));
        d->has_logits[b] = true;
        d->len[b] += k;
        d->done[b] += (int32_t)k;
    }
    return KILN_OK;
}

kiln_status kiln_decode(kiln_decoder *d, const kiln_batch *batch) {
    if (!d || !batch || batch->n_tokens <= 0 || !batch->tokens)
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_decode: NULL argument or an empty batch");
    memset(d->count, 0, (size_t)d->n_seq * sizeof(int32_t));
    memset(d->done, 0, (size_t)d->n_seq * sizeof(int32_t));
    int32_t rows = 0;
    for (int32_t i = 0; i < batch->n_tokens; i++) {
        kiln_token t = batch->tokens[i];
        int32_t s = batch->seq_ids ? batch->seq_ids[i] : 0;
        if (t < 0 || t >= d->n_vocab)
            return kiln_error(KILN_ERR_INVALID_ARG, "kiln_decode: token %d (batch entry %d) is outside the vocabulary [0, %lld)", t, i,
                              (long long)d->n_vocab);
        if (s < 0 || s >= d->n_seq)
            return kiln_error(KILN_ERR_INVALID_ARG, "kiln_decode: sequence %d (batch entry %d) is outside [0, %d)", s, i, d->n_seq);
        d->count[s]++;
        rows = KILN_MAX(rows, s + 1);
    }
    for (int32_t s = 0; s < rows; s++)
        if (d->len[s] + d->count[s] > d->n_ctx)
            return kiln_error(KILN_ERR_INVALID_ARG,
                              "kiln_decode: sequence %d would hold %lld + %d tokens, more than the context of %lld (max_context)", s,
                              (long long)d->len[s], d->count[s], (long long)d->n_ctx);
    // Each sequence's tokens, in order, one after the other.
    kiln_token *grouped = malloc((size_t)batch->n_tokens * sizeof(kiln_token));
    int32_t *first = calloc((size_t)rows + 1, sizeof(int32_t)), *fill = calloc((size_t)rows + 1, sizeof(int32_t));
    kiln_status st = KILN_OK;
    if (!grouped || !first || !fill) {
        st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_decode: out of memory");
        goto done;
    }
    for (int32_t s = 1; s < rows; s++) first[s] = first[s - 1] + d->count[s - 1];
    for (int32_t i = 0; i < batch->n_tokens; i++) {
        int32_t s = batch->seq_ids ? batch->seq_ids[i] : 0;
        grouped[first[s] + fill[s]++] = batch->tokens[i];
    }
    for (int32_t s = 0; s < d->n_seq; s++) d->has_logits[s] = false;
    for (;;) {
        bool left = false;
        for (int32_t s = 0; s < rows; s++) left |= d->done[s] < d->count[s];
        if (!left) break;
        if ((st = run_piece(d, grouped, first, rows))) {
            // The cache rows of this call's sequences may be half written: forget those sequences.
            for (int32_t s = 0; s < rows; s++)
                if (d->count[s]) d->len[s] = 0, d->has_logits[s] = false;
            break;
        }
    }
done:
    free(grouped);
    free(first);
    free(fill);
    return st;
}

/* ---- text --------------------------------------------------------------------------------- */

kiln_status kiln_decoder_detokenize(const kiln_decoder *d, const kiln_token *tokens, size_t n, char **text_out) {
    if (!d || (n && !tokens) || !text_out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_decoder_detokenize: NULL argument");
    if (!d->tok) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_decoder_detokenize: the decoder has no tokenizer (tokenizer_path)");
    return fe_tokenizer_decode(d->tok, tokens, (int32_t)n, false, false, text_out);
}

// Whether text ends inside a UTF-8 character: decoders render incomplete bytes as U+FFFD.
static bool ends_incomplete(const char *text, size_t n) { return n >= 3 && memcmp(text + n - 3, "\xEF\xBF\xBD", 3) == 0; }

/* ---- generation --------------------------------------------------------------------------- */

kiln_generate_options kiln_generate_options_default(const kiln_program *program) {
    kiln_generate_options o = {.sampling = kiln_program_sampling(program), .max_new_tokens = 256};
    if (program && program->head.gen.max_new_tokens > 0) o.max_new_tokens = program->head.gen.max_new_tokens;
    return o;
}

void kiln_generation_free(kiln_generation *g) {
    if (!g) return;
    free(g->tokens);
    free(g->text);
    memset(g, 0, sizeof(*g));
}

// What one sequence carries through the loop.
typedef struct seq_state {
    kiln_sampler *sampler;
    kiln_token *history;     // prompt, then generated tokens
    size_t n_prompt, n_history;
    size_t printed;          // bytes of streamed text so far
    size_t text_len;         // bytes of the full text (special tokens kept) before the last token
    char *prompt_text;       // the prompt's text (special tokens skipped), once generated_text needs it
    bool active;
    kiln_finish_reason finish;
} seq_state;

// The text of sequence q's generated tokens (special tokens skipped) as Transformers' text-generation
// pipeline cuts it: decode(prompt + generated) past decode(prompt). A SentencePiece decoder drops
// the first space of what it decodes, so decode(generated) alone would lose the space of a first
// "▁word" ("Hello" + "world"); llama.cpp's pieces keep it too. Where the prompt's text is not a
// prefix (byte tokens fusing across the boundary), the generated tokens' own text.
static kiln_status generated_text(const kiln_decoder *d, seq_state *q, char **text_out) {
    kiln_status st;
    *text_out = NULL;
    if (!q->prompt_text && (st = fe_tokenizer_decode(d->tok, q->history, (int32_t)q->n_prompt, true, false, &q->prompt_text))) return st;
    char *full = NULL;
    if ((st = fe_tokenizer_decode(d->tok, q->history, (int32_t)q->n_history, true, false, &full))) return st;
    size_t n = strlen(q->prompt_text);
    if (strncmp(full, q->prompt_text, n) == 0) {
        memmove(full, full + n, strlen(full + n) + 1);
        *text_out = full;
        return KILN_OK;
    }
    free(full);
    return fe_tokenizer_decode(d->tok, q->history + q->n_prompt, (int32_t)(q->n_history - q->n_prompt), true, false, text_out);
}

// After sequence s's new token: checks its stop strings against the generated text (special
// tokens kept, as Transformers matches them) and streams the new text (special tokens skipped).
static kiln_status after_token(kiln_decoder *d, const kiln_generate_options *o, int32_t s, seq_state *q, kiln_token tok,
                               bool *stop) {
    const kiln_token *gen = q->history + q->n_prompt;
    int32_t n_gen = (int32_t)(q->n_history - q->n_prompt);
    char *text = NULL;
    kiln_status st;
    if (d->tok && o->n_stop_strings) {
        if ((st = fe_tokenizer_decode(d->tok, gen, n_gen, false, false, &text))) return st;
        // A stop string counts once it ends inside the new token's text.
        for (size_t i = 0; i < o->n_stop_strings && !*stop; i++) {
            size_t len = strlen(o->stop_strings[i]), from = q->text_len >= len ? q->text_len - len + 1 : 0;
            if (from <= strlen(text) && strstr(text + from, o->stop_strings[i])) *stop = true, q->finish = KILN_FINISH_STOP_STRING;
        }
        q->text_len = strlen(text);
        free(text);
        text = NULL;
    }
    if (!o->on_token) return KILN_OK;
    const char *piece = NULL;
    size_t piece_len = 0;
    if (d->tok) {
        if ((st = generated_text(d, q, &text))) return st;
        size_t n = strlen(text);
        piece = "";
        if (!ends_incomplete(text, n) && n >= q->printed) {   // hold back a character still being spelled
            piece = text + q->printed;
            piece_len = n - q->printed;
            q->printed = n;
        }
    }
    bool go_on = o->on_token(o->user, s, tok, piece, piece_len);
    free(text);
    if (!go_on && !*stop) *stop = true, q->finish = KILN_FINISH_CALLBACK;
    return KILN_OK;
}

kiln_status kiln_generate(kiln_decoder *d, const kiln_token *const *prompts, const size_t *n_prompt_tokens, size_t n_prompts,
                          const kiln_generate_options *opts, kiln_generation *results) {
    if (!d || !prompts || !n_prompt_tokens || !results || !opts) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_generate: NULL argument");
    const kiln_generate_options *o = opts;
    if (n_prompts == 0 || n_prompts > (size_t)d->n_seq)
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_generate: %zu prompts, the program decodes 1 to %d sequences (max_batch)", n_prompts,
                          d->n_seq);
    if (o->max_new_tokens <= 0) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_generate: max_new_tokens %lld must be positive", (long long)o->max_new_tokens);
    if (o->n_stop_strings && !d->tok)
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_generate: stop strings need a tokenizer (kiln_decoder_options.tokenizer_path)");
    for (size_t i = 0; i < o->n_stop_strings; i++)
        if (!o->stop_strings || !o->stop_strings[i] || !*o->stop_strings[i])
            return kiln_error(KILN_ERR_INVALID_ARG, "kiln_generate: stop string %zu is NULL or empty", i);
    size_t total = 0;
    for (size_t i = 0; i < n_prompts; i++) {
        if (!prompts[i] || n_prompt_tokens[i] == 0) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_generate: prompt %zu is empty", i);
        if ((int64_t)n_prompt_tokens[i] > d->n_ctx)
            return kiln_error(KILN_ERR_INVALID_ARG, "kiln_generate: prompt %zu has %zu tokens, more than the context of %lld (max_context)", i,
                              n_prompt_tokens[i], (long long)d->n_ctx);
        total += n_prompt_tokens[i];
    }
    memset(results, 0, n_prompts * sizeof(*results));
    kiln_status st = KILN_ERR_OUT_OF_MEMORY;
    seq_state *q = calloc(n_prompts, sizeof(*q));
    kiln_token *tokens = malloc((total + n_prompts) * sizeof(kiln_token));
    int32_t *seqs = malloc((total + n_prompts) * sizeof(int32_t));
    if (!q || !tokens || !seqs) {
        kiln_error(st, "kiln_generate: out of memory");
        goto done;
    }
    kiln_batch batch = {.n_tokens = 0, .tokens = tokens, .seq_ids = seqs};
    for (size_t i = 0; i < n_prompts; i++) {
        kiln_sampling sp = o->sampling;
        sp.seed += i;   // sequence i draws from seed + i: a prompt's tokens do not depend on its neighbours
        size_t cap = n_prompt_tokens[i] + (size_t)o->max_new_tokens + 1;
        if ((st = kiln_sampler_create(&sp, d->n_vocab, &q[i].sampler))) goto done;
        if (!(q[i].history = malloc(cap * sizeof(kiln_token)))) {
            st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_generate: out of memory");
            goto done;
        }
        memcpy(q[i].history, prompts[i], n_prompt_tokens[i] * sizeof(kiln_token));
        q[i].n_prompt = q[i].n_history = n_prompt_tokens[i];
        q[i].active = true;
        kiln_decoder_seq_clear(d, (int32_t)i);
        for (size_t k = 0; k < n_prompt_tokens[i]; k++) {
            tokens[batch.n_tokens] = prompts[i][k];
            seqs[batch.n_tokens++] = (int32_t)i;
        }
    }
    if ((st = kiln_decode(d, &batch))) goto done;
    for (;;) {
        batch.n_tokens = 0;
        for (size_t i = 0; i < n_prompts; i++) {
            seq_state *s = &q[i];
            if (!s->active) continue;
            kiln_token tok;
            if ((st = kiln_sampler_sample(s->sampler, kiln_decoder_logits(d, (int32_t)i), s->history, s->n_history, &tok))) goto done;
            s->history[s->n_history++] = tok;
            bool stop = false;
            if (!o->ignore_eos && kiln_decoder_is_eos(d, tok)) stop = true, s->finish = KILN_FINISH_EOS;
            if ((st = after_token(d, o, (int32_t)i, s, tok, &stop))) goto done;
            if (!stop && (int64_t)(s->n_history - s->n_prompt) >= o->max_new_tokens) stop = true, s->finish = KILN_FINISH_LENGTH;
            if (!stop && d->len[i] >= d->n_ctx) stop = true, s->finish = KILN_FINISH_CONTEXT;
            if (stop) {
                s->active = false;
                continue;
            }
            tokens[batch.n_tokens] = tok;
            seqs[batch.n_tokens++] = (int32_t)i;
        }
        if (batch.n_tokens == 0) break;
        if ((st = kiln_decode(d, &batch))) goto done;
    }
    for (size_t i = 0; i < n_prompts; i++) {
        kiln_generation *r = &results[i];
        r->n_tokens = q[i].n_history - q[i].n_prompt;
        r->finish = q[i].finish;
        if (!(r->tokens = malloc((r->n_tokens + 1) * sizeof(kiln_token)))) {
            st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_generate: out of memory");
            goto done;
        }
        memcpy(r->tokens, q[i].history + q[i].n_prompt, r->n_tokens * sizeof(kiln_token));
        if (d->tok && (st = generated_text(d, &q[i], &r->text))) goto done;
    }
    st = KILN_OK;
done:
    for (size_t i = 0; q && i < n_prompts; i++) {
        kiln_sampler_free(q[i].sampler);
        free(q[i].history);
        free(q[i].prompt_text);
        if (st) kiln_generation_free(&results[i]);
    }
    free(q);
    free(tokens);
    free(seqs);
    return st;
}

kiln_status kiln_generate_text(kiln_decoder *d, const char *prompt, bool chat, const kiln_generate_options *opts, kiln_generation *result) {
    if (!d || !prompt || !opts || !result) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_generate_text: NULL argument");
    if (!d->tok) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_generate_text: the decoder has no tokenizer (kiln_decoder_options.tokenizer_path)");
    char *text = NULL;
    kiln_status st;
    if (chat) {
        kiln_chat_message m = {"user", prompt};
        if ((st = kiln_chat_template_apply(d->prog, &m, 1, true, &text))) return st;
    }
    // A rendered chat already holds its special tokens (apply_chat_template tokenizes without adding any).
    fe_encoding e;
    st = fe_tokenizer_encode(d->tok, chat ? text : prompt, NULL, !chat, &e);
    free(text);
    if (st) return st;
    kiln_token *ids = malloc(((size_t)e.n + 1) * sizeof(kiln_token));
    if (!ids) {
        fe_encoding_free(&e);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_generate_text: out of memory");
    }
    memcpy(ids, e.ids, (size_t)e.n * sizeof(kiln_token));
    size_t n = (size_t)e.n;
    fe_encoding_free(&e);
    const kiln_token *p = ids;
    st = kiln_generate(d, &p, &n, 1, opts, result);
    free(ids);
    return st;
}
