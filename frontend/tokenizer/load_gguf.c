/* load_gguf.c — a tokenizer from a GGUF file's tokenizer.ggml.* metadata (llama.cpp's single-file
 * checkpoints carry no tokenizer.json). Two tokenizer.ggml.model values are read:
 *   "gpt2"  byte-level BPE (SmolLM2, Qwen2, LLaMA-3): the same fe_tokenizer a tokenizer.json would
 *           give — the file's tokens and merges, a pre-tokenizer of Split(regex, isolated) steps and
 *           ByteLevel, ByteLevel's decoder, control tokens as special added tokens, user-defined
 *           tokens as plain added tokens, bos / eos around the text as add_bos_token /
 *           add_eos_token say;
 *   "llama" SentencePiece BPE (LLaMA-2, TinyLlama, Mistral): llama.cpp's score-ordered merges with
 *           byte fallback (spm.c) behind a "▁" prefix and spaces as "▁", control, unknown and
 *           user-defined tokens matched in text as llama.cpp's tokenize(special=true) does, a bos
 *           before the text by default.
 * Anything else ("bert", "t5", "rwkv", ...) is KILN_ERR_UNSUPPORTED, named.
 *
 * What a file leaves out comes from llama.cpp (src/llama-vocab.cpp), the runtime GGUF files are
 * made for: tokenizer.ggml.pre picks the pre-tokenizer regexes, applied one after the other as
 * llama.cpp's unicode_regex_split does, and the defaults of add_bos_token, add_space_prefix,
 * ignore_merges, SPM's bos / eos / unk ids and the clean-up of decoded spaces. The regexes are
 * written as the models' own tokenizer.json files have them (PCRE2 reads those), where llama.cpp
 * rewrites some for its hand-made matcher. The byte-level vocabulary and added tokens are built as
 * transformers' GGUF converter builds them (integrations/gguf/gguf_tokenizer_mapping.py), the
 * oracle of those tests; llama.cpp itself is the oracle of the SentencePiece ones.
 */
#include "frontend/gguf.h"
#include "frontend/tokenizer/internal.h"

uint32_t fe_tok_byte_char(uint8_t b);   // pretok_bytelevel.c: bytes_to_unicode
int fe_tok_char_byte(uint32_t cp);      // ... and back, -1 outside the 256 characters

#define GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

// Regex lists by llama.cpp's LLAMA_VOCAB_PRE_TYPE_*; each list is applied in order.
typedef enum pre_kind { PRE_DEFAULT, PRE_GPT2, PRE_LLAMA3, PRE_QWEN2, PRE_DIGITS_GPT2, PRE_FALCON, PRE_GPT4O, PRE_TEKKEN } pre_kind;

static const char *const pre_regexes[][4] = {
    [PRE_DEFAULT] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]"},
    [PRE_GPT2] = {GPT2_RE},
    [PRE_LLAMA3] = {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    [PRE_QWEN2] = {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                   "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    [PRE_DIGITS_GPT2] = {"\\p{N}", GPT2_RE},
    [PRE_FALCON] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_RE, "[0-9][0-9][0-9]"},
    [PRE_GPT4O] = {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
                   "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
                   "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    [PRE_TEKKEN] = {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
                    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
                    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
};

// tokenizer.ggml.pre values, with what llama.cpp's llama_vocab::load sets for each.
static const struct {
    const char *name;
    pre_kind kind;
    bool add_bos, ignore_merges, clean_spaces;
} pre_names[] = {
    {"default", PRE_DEFAULT, false, false, true},
    {"llama3", PRE_LLAMA3, true, true, true},      {"llama-v3", PRE_LLAMA3, true, true, true},
    {"llama-bpe", PRE_LLAMA3, true, true, true},   {"falcon3", PRE_LLAMA3, true, true, true},
    {"falcon-h1", PRE_LLAMA3, true, true, true},   {"pixtral", PRE_LLAMA3, true, true, true},
    {"midm-2.0", PRE_LLAMA3, true, true, true},    {"lfm2", PRE_LLAMA3, true, true, true},
    {"dbrx", PRE_LLAMA3, false, false, true},      {"smaug-bpe", PRE_LLAMA3, false, false, true},
    {"falcon", PRE_FALCON, false, false, true},
    {"gpt-2", PRE_GPT2, false, false, true},       {"gpt2", PRE_GPT2, false, false, true},
    {"phi-2", PRE_GPT2, false, false, true},       {"mpt", PRE_GPT2, false, false, true},
    {"olmo", PRE_GPT2, false, false, true},        {"jais", PRE_GPT2, false, false, true},
    {"jina-es", PRE_GPT2, false, false, true},     {"jina-de", PRE_GPT2, false, false, true},
    {"jina-v2-es", PRE_GPT2, false, false, true},  {"jina-v2-de", PRE_GPT2, false, false, true},
    {"gigachat", PRE_GPT2, false, false, true},    {"exaone4", PRE_GPT2, false, false, true},
    {"trillion", PRE_GPT2, false, false, false},   {"granite-docling", PRE_GPT2, false, false, false},
    {"smollm", PRE_DIGITS_GPT2, false, false, false},  {"command-r", PRE_DIGITS_GPT2, false, false, false},
    {"starcoder", PRE_DIGITS_GPT2, false, false, true}, {"refact", PRE_DIGITS_GPT2, false, false, true},
    {"codeshell", PRE_DIGITS_GPT2, false, false, true}, {"exaone", PRE_DIGITS_GPT2, false, false, true},
    {"minerva-7b", PRE_DIGITS_GPT2, false, false, true},
    {"qwen2", PRE_QWEN2, false, false, false},     {"deepseek-r1-qwen", PRE_QWEN2, false, false, false},
    {"kormo", PRE_QWEN2, false, false, false},     {"hunyuan", PRE_QWEN2, false, false, false},
    {"stablelm2", PRE_QWEN2, false, false, true},  {"megrez", PRE_QWEN2, false, false, true},
    {"gpt-4o", PRE_GPT4O, false, false, false},    {"llama4", PRE_GPT4O, false, false, false},
    {"minimax-m2", PRE_GPT4O, false, false, false},
    {"tekken", PRE_TEKKEN, true, true, false},
};

// tokenizer.ggml.token_type values (llama.cpp's LLAMA_TOKEN_TYPE_*).
enum { TYPE_UNDEFINED, TYPE_NORMAL, TYPE_UNKNOWN, TYPE_CONTROL, TYPE_USER_DEFINED, TYPE_UNUSED, TYPE_BYTE };

static kiln_status oom(const char *path) { return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path); }

// True when every character of s[0..n) is one of ByteLevel's 256 (a token spelled byte-level).
static bool byte_level_spelled(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int len = fe_tok_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (len == 0 || fe_tok_char_byte(cp) < 0) return false;
        i += (size_t)len;
    }
    return true;
}

// The file's tokens into the model's vocabulary. For byte-level BPE (`byte_level`), a token not
// spelled byte-level (a mislabelled "<|begin of text|>" with a real space) is respelled byte by
// byte, as transformers does.
static kiln_status read_vocab(fe_tokenizer *t, const char *path, const fe_gguf_tokenizer *tk, bool byte_level) {
    kiln_strbuf sb = {0};
    kiln_status st = KILN_OK;
    if (tk->n_tokens > INT32_MAX - 1)
        return kiln_error(KILN_ERR_FORMAT, "%s: key 'tokenizer.ggml.tokens': %zu tokens is too many", path, tk->n_tokens);
    for (size_t i = 0; i < tk->n_tokens && st == KILN_OK; i++) {
        const fe_gguf_string *s = &tk->tokens[i];
        if (fe_tok_check_utf8("tokenizer.ggml.tokens", s->data, s->len) != KILN_OK) {
            st = kiln_error(KILN_ERR_FORMAT, "%s: key 'tokenizer.ggml.tokens': token %zu is not valid UTF-8", path, i);
            break;
        }
        const char *text = s->data;
        size_t len = s->len;
        if (byte_level && !byte_level_spelled(s->data, s->len)) {
            sb.len = 0;
            for (size_t b = 0; b < s->len; b++) {
                char u[4];
                int n = fe_tok_utf8_encode(fe_tok_byte_char((uint8_t)s->data[b]), u);
                kiln_strbuf_printf(&sb, "%.*s", n, u);
            }
            if (sb.failed) {
                st = oom(path);
                break;
            }
            text = sb.data, len = sb.len;
        }
        st = fe_tok_vocab_set(&t->model.vocab, t->arena, text, len, (int32_t)i, NULL);
        t->model.n_vocab++;
    }
    t->n_ids = (int32_t)tk->n_tokens;
    kiln_strbuf_free(&sb);
    return st;
}

static kiln_status read_merges(fe_tokenizer *t, const char *path, const fe_gguf_tokenizer *tk) {
    char where[1100];
    snprintf(where, sizeof(where), "%s: key 'tokenizer.ggml.merges'", path);
    if (tk->n_merges > INT32_MAX)
        return kiln_error(KILN_ERR_FORMAT, "%s: %zu merges is too many", where, tk->n_merges);
    for (size_t i = 0; i < tk->n_merges; i++) {
        const fe_gguf_string *m = &tk->merges[i];
        // llama.cpp splits at the first space after the first byte ("Ġ Ġ" and "  " stay possible).
        const char *sp = m->len > 1 ? memchr(m->data + 1, ' ', m->len - 1) : NULL;
        if (!sp || sp + 1 == m->data + m->len)
            return kiln_error(KILN_ERR_FORMAT, "%s: merge %zu '%.*s' is not two tokens separated by a space", where, i,
                              (int)KILN_MIN(m->len, 100), m->data);
        kiln_status st = fe_tok_bpe_add_merge(t, where, (int32_t)i, m->data, (size_t)(sp - m->data), sp + 1,
                                              (size_t)(m->data + m->len - sp - 1));
        if (st != KILN_OK) return st;
    }
    return fe_tok_bpe_finish(t, where);
}

// Split(regex, isolated) for each of the pre type's regexes, then ByteLevel without its own regex.
static kiln_status build_pretokenizer(fe_tokenizer *t, const char *path, pre_kind kind) {
    int32_t n = 0;
    while (n < 4 && pre_regexes[kind][n]) n++;
    fe_tok_pretokenizer *seq = kiln_arena_alloc(t->arena, (size_t)(n + 1) * sizeof(*seq));
    if (!seq) return oom(path);
    memset(seq, 0, (size_t)(n + 1) * sizeof(*seq));
    for (int32_t i = 0; i < n; i++) {
        const char *re = pre_regexes[kind][i];
        fe_tok_regex *compiled = NULL;
        kiln_status st = fe_tok_regex_compile("tokenizer.ggml.pre", re, strlen(re), false, &compiled);
        if (st != KILN_OK) {
            kiln_error_prefix(st, "%s", path);
            return st;
        }
        if (!fe_tok_own_regex(t, compiled)) return oom(path);
        seq[i] = (fe_tok_pretokenizer){.kind = FE_TOK_PRETOK_SPLIT, .pattern = compiled, .behavior = FE_TOK_ISOLATED};
    }
    seq[n] = (fe_tok_pretokenizer){.kind = FE_TOK_PRETOK_BYTE_LEVEL, .add_prefix_space = false, .use_regex = false};
    t->pretokenizer = (fe_tok_pretokenizer){.kind = FE_TOK_PRETOK_SEQUENCE, .seq = seq, .n_seq = n + 1};
    return KILN_OK;
}

// "bos $A eos" / "bos $A eos bos:1 $B:1 eos:1" (bos and eos where >= 0), as transformers'
// update_post_processor writes it. The single template is the pair's first half.
static bool build_template(fe_tokenizer *t, int32_t bos, int32_t eos) {
    int32_t *ids = kiln_arena_alloc(t->arena, 2 * sizeof(int32_t));
    fe_tok_piece *pieces = kiln_arena_alloc(t->arena, 6 * sizeof(fe_tok_piece));
    if (!ids || !pieces) return false;
    ids[0] = bos, ids[1] = eos;
    int32_t n = 0, n_single = 0;
    for (int32_t seq = 0; seq < 2; seq++) {
        if (bos >= 0) pieces[n++] = (fe_tok_piece){-1, seq, 1, &ids[0]};
        pieces[n++] = (fe_tok_piece){seq, seq, 0, NULL};
        if (eos >= 0) pieces[n++] = (fe_tok_piece){-1, seq, 1, &ids[1]};
        if (seq == 0) n_single = n;
    }
    t->post.single = (fe_tok_template){n_single, pieces};
    t->post.pair = (fe_tok_template){n, pieces};
    return true;
}

// Tokens of the given tokenizer.ggml.token_type values become added tokens, matched whole in
// text before the model runs: user-defined ones plain, the others special. `byte_level`: a token
// not spelled byte-level is left out.
static kiln_status add_typed_tokens(fe_tokenizer *t, const char *path, const fe_gguf_tokenizer *tk,
                                    const int32_t *types, int n_types, bool byte_level) {
    for (int k = 0; k < n_types && tk->token_type; k++) {
        for (size_t i = 0; i < tk->n_tokens; i++) {
            const fe_gguf_string *s = &tk->tokens[i];
            if (tk->token_type[i] != types[k] || !s->len || memchr(s->data, 0, s->len) ||
                (byte_level && !byte_level_spelled(s->data, s->len)))
                continue;
            fe_tok_added_token a = {.content = s->data, .id = -1, .special = types[k] != TYPE_USER_DEFINED};
            kiln_status st = fe_tok_add_token(t, &a);
            if (st != KILN_OK) {
                kiln_error_prefix(st, "%s: key 'tokenizer.ggml.tokens': token %zu", path, i);
                return st;
            }
        }
    }
    return KILN_OK;
}

// The named special tokens, as transformers adds them when they are not added tokens yet; then bos
// / eos around the text as add_bos_token / add_eos_token say (`add_bos_default` when the file does
// not).
static kiln_status add_specials(fe_tokenizer *t, const char *path, const fe_gguf_tokenizer *tk, fe_tok_names *names,
                                bool add_bos_default) {
    const int64_t named_ids[] = {tk->bos_id, tk->eos_id, tk->unk_id, tk->pad_id};
    const fe_tok_special named[] = {FE_TOK_BOS, FE_TOK_EOS, FE_TOK_UNK, FE_TOK_PAD};
    for (size_t i = 0; i < KILN_ARRAY_SIZE(named); i++) {
        if (named_ids[i] < 0) continue;
        const fe_gguf_string *s = &tk->tokens[named_ids[i]];
        if (!(names->names[named[i]] = kiln_arena_strdup(t->arena, s->data))) return oom(path);
        if (fe_tok_vocab_get(&t->added_vocab, s->data, strlen(s->data)) >= 0) continue;
        fe_tok_added_token a = {.content = s->data, .id = -1, .special = true};
        kiln_status st = fe_tok_add_token(t, &a);
        if (st != KILN_OK) return st;
    }
    bool add_bos = tk->add_bos_token >= 0 ? tk->add_bos_token == 1 : add_bos_default;
    bool add_eos = tk->add_eos_token == 1;
    int32_t bos = add_bos && tk->bos_id >= 0 ? fe_tokenizer_token_to_id(t, names->names[FE_TOK_BOS]) : -1;
    int32_t eos = add_eos && tk->eos_id >= 0 ? fe_tokenizer_token_to_id(t, names->names[FE_TOK_EOS]) : -1;
    if (!build_template(t, bos, eos)) return oom(path);
    return KILN_OK;
}

// The byte-level BPE of tokenizer.ggml.model "gpt2".
static kiln_status load_gpt2(fe_tokenizer *t, const char *path, const fe_gguf_tokenizer *tk, fe_tok_names *names) {
    if (!tk->merges)
        return kiln_error(KILN_ERR_FORMAT, "%s: missing key 'tokenizer.ggml.merges' (a byte-level BPE tokenizer, "
                                           "tokenizer.ggml.model 'gpt2', needs its merges)", path);
    const char *pre = tk->pre ? tk->pre : "default";   // llama.cpp's choice when the key is absent
    size_t p = 0;
    while (p < KILN_ARRAY_SIZE(pre_names) && strcmp(pre_names[p].name, pre) != 0) p++;
    if (p == KILN_ARRAY_SIZE(pre_names))
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: key 'tokenizer.ggml.pre': pre-tokenizer '%.100s' is not supported "
                                                "(kiln reads default, gpt-2, llama-bpe, qwen2, smollm and the names "
                                                "llama.cpp gives the same regexes)", path, pre);
    fe_tok_model *m = &t->model;
    m->kind = FE_TOK_MODEL_BPE;
    m->unk_id = -1;   // transformers' GPT2Tokenizer builds its BPE without unk, as llama.cpp's BPE has none
    m->bpe.ignore_merges = pre_names[p].ignore_merges;
    kiln_status st;
    if ((st = read_vocab(t, path, tk, true)) != KILN_OK || (st = read_merges(t, path, tk)) != KILN_OK ||
        (st = build_pretokenizer(t, path, pre_names[p].kind)) != KILN_OK)
        return st;
    t->decoder = (fe_tok_decoder){.kind = FE_TOK_DECODER_BYTE_LEVEL};
    t->clean_up_tokenization_spaces = pre_names[p].clean_spaces;

    // A control token not spelled byte-level is a converter's mislabel and stays an ordinary token
    // (transformers' add_gguf_special_tokens).
    static const int32_t types[] = {TYPE_CONTROL, TYPE_USER_DEFINED};
    if ((st = add_typed_tokens(t, path, tk, types, 2, true)) != KILN_OK) return st;
    return add_specials(t, path, tk, names, pre_names[p].add_bos);
}

// tokenizer.ggml.model "llama": SentencePiece BPE, run as llama.cpp's llm_tokenizer_spm (spm.c).
// The text stages are what llama.cpp does around it, written as HF's LLaMA tokenizer.json has
// them: a "▁" before each piece of text between special tokens (add_space_prefix; llama.cpp puts
// it after every special token, as Prepend does per piece) and every space as "▁"; decoding turns
// "▁" back into spaces and <0xXX> tokens into bytes, and drops the leading space.
static kiln_status load_spm(fe_tokenizer *t, const char *path, const fe_gguf_tokenizer *file, fe_tok_names *names) {
    if (!file->scores)
        return kiln_error(KILN_ERR_FORMAT, "%s: missing key 'tokenizer.ggml.scores' (a SentencePiece tokenizer, "
                                           "tokenizer.ggml.model 'llama', merges by the tokens' scores)", path);
    for (size_t i = 0; file->token_type && i < file->n_tokens; i++)
        if (file->token_type[i] < TYPE_UNDEFINED || file->token_type[i] > TYPE_BYTE)
            return kiln_error(KILN_ERR_FORMAT, "%s: key 'tokenizer.ggml.token_type': token %zu has type %d (llama.cpp's "
                                               "types are 0 to 6: undefined, normal, unknown, control, user-defined, "
                                               "unused, byte)", path, i, (int)file->token_type[i]);
    // llama.cpp's ids for SPM when the file names none.
    fe_gguf_tokenizer tk = *file;
    fe_gguf_tokenizer_defaults(&tk);
    const int64_t n = (int64_t)tk.n_tokens;
    fe_tok_model *m = &t->model;
    m->kind = FE_TOK_MODEL_SPM;
    m->unk_id = (int32_t)tk.unk_id;
    kiln_status st = read_vocab(t, path, &tk, false);
    if (st != KILN_OK) return st;
    if (!(m->spm.lens = kiln_arena_alloc(t->arena, ((size_t)n + 1) * sizeof(uint32_t)))) return oom(path);
    for (int64_t i = 0; i < n; i++) m->spm.lens[i] = (uint32_t)tk.tokens[i].len;
    if ((st = fe_tok_spm_finish(t, path, tk.scores)) != KILN_OK) return st;

    bool space_prefix = tk.add_space_prefix != 0;   // absent: true
    static const uint32_t meta[] = {0x2581};        // "▁"
    fe_tok_regex *space = NULL, *meta_re = NULL;
    if ((st = fe_tok_regex_compile("tokenizer.ggml.model", " ", 1, true, &space)) != KILN_OK ||
        !fe_tok_own_regex(t, space) || (st = fe_tok_regex_compile("tokenizer.ggml.model", "\xE2\x96\x81", 3, true, &meta_re)) != KILN_OK ||
        !fe_tok_own_regex(t, meta_re))
        return st != KILN_OK ? st : oom(path);
    fe_tok_normalizer *nz = kiln_arena_alloc(t->arena, 2 * sizeof(*nz));
    fe_tok_decoder *dec = kiln_arena_alloc(t->arena, 4 * sizeof(*dec));
    if (!nz || !dec) return oom(path);
    nz[0] = (fe_tok_normalizer){.kind = FE_TOK_NORMALIZER_PREPEND, .content = meta, .n_content = 1};
    nz[1] = (fe_tok_normalizer){.kind = FE_TOK_NORMALIZER_REPLACE, .pattern = space, .content = meta, .n_content = 1};
    t->normalizer = space_prefix ? (fe_tok_normalizer){.kind = FE_TOK_NORMALIZER_SEQUENCE, .seq = nz, .n_seq = 2} : nz[1];
    dec[0] = (fe_tok_decoder){.kind = FE_TOK_DECODER_REPLACE, .pattern = meta_re, .content = " "};
    dec[1] = (fe_tok_decoder){.kind = FE_TOK_DECODER_BYTE_FALLBACK};
    dec[2] = (fe_tok_decoder){.kind = FE_TOK_DECODER_FUSE};
    dec[3] = (fe_tok_decoder){.kind = FE_TOK_DECODER_STRIP, .content = " ", .strip_char = ' ', .strip_start = 1};
    t->decoder = (fe_tok_decoder){.kind = FE_TOK_DECODER_SEQUENCE, .seq = dec, .n_seq = space_prefix ? 4 : 3};
    t->clean_up_tokenization_spaces = false;

    // llama.cpp's special tokens (parsed in text with special=true): control and unknown ones, and
    // user-defined ones, which decoding keeps. kiln takes the leftmost-longest match where llama.cpp
    // splits at the longest token first; they differ only for tokens that overlap in the text.
    static const int32_t types[] = {TYPE_CONTROL, TYPE_UNKNOWN, TYPE_USER_DEFINED};
    if ((st = add_typed_tokens(t, path, &tk, types, 3, false)) != KILN_OK) return st;
    return add_specials(t, path, &tk, names, true);
}

kiln_status fe_tokenizer_open_gguf(const char *path, fe_tokenizer **out) {
    if (out) *out = NULL;
    if (!path || !out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_open_gguf: NULL argument");
    fe_gguf *g = NULL;
    fe_tokenizer *t = NULL;
    fe_tok_names names = {.json_pad = NULL};
    kiln_status st = fe_gguf_open(path, &g);
    if (st != KILN_OK) return st;
    fe_gguf_tokenizer tk;
    if (!fe_gguf_find(g, "tokenizer.ggml.model")) {
        st = kiln_error(KILN_ERR_FORMAT, "%s: missing key 'tokenizer.ggml.model': the file has no tokenizer", path);
        goto error;
    }
    if ((st = fe_gguf_get_tokenizer(g, &tk)) != KILN_OK) goto error;
    if (!(t = fe_tok_new())) {
        st = oom(path);
        goto error;
    }
    if (strcmp(tk.model, "gpt2") == 0) {
        st = load_gpt2(t, path, &tk, &names);
    } else if (strcmp(tk.model, "llama") == 0) {
        st = load_spm(t, path, &tk, &names);
    } else {
        st = kiln_error(KILN_ERR_UNSUPPORTED, "%s: key 'tokenizer.ggml.model': tokenizer '%.100s' is not supported "
                                              "(kiln reads 'gpt2', byte-level BPE, and 'llama', SentencePiece BPE)",
                        path, tk.model);
    }
    if (st != KILN_OK) goto error;
    if ((st = fe_tok_finish(t, &names)) != KILN_OK) {
        kiln_error_prefix(st, "%s", path);
        goto error;
    }
    fe_gguf_free(g);   // every string the tokenizer keeps was copied into its arena
    *out = t;
    return KILN_OK;
error:
    fe_tokenizer_free(t);
    fe_gguf_free(g);
    return st;
}
