/* internal.h — what the tokenizer's files share, and nothing outside frontend/tokenizer/ should use.
 * The pipeline is HF's: normalizer → pre-tokenizer → model → post-processor, each a tagged struct so
 * that byte-level BPE, Unigram or another normalizer joins as a new tag and a new file. Text moves
 * through it as code points that each remember the original bytes they came from (the alignment
 * HF's NormalizedString keeps), which is how offsets survive lowercasing and accent stripping.
 */
#ifndef KILN_FE_TOKENIZER_INTERNAL_H
#define KILN_FE_TOKENIZER_INTERNAL_H

#include <cjson/cJSON.h>

#include "common/common.h"
#include "frontend/tokenizer/tokenizer.h"

/* ---- Unicode (unicode.c, tables in unicode_tables.c) ------------------------------------------ */

typedef struct fe_tok_range {
    uint32_t first, last;   // inclusive
} fe_tok_range;

typedef struct fe_tok_case_run {
    uint32_t first, last;   // cp in [first, last] with (cp - first) % stride == 0 maps to cp + delta
    int32_t delta, stride;
} fe_tok_case_run;

extern const fe_tok_range fe_tok_dropped[], fe_tok_whitespace[], fe_tok_punctuation[],
    fe_tok_nonspacing_marks[], fe_tok_nfd_known[], fe_tok_word_chars[];
extern const int32_t fe_tok_n_dropped, fe_tok_n_whitespace, fe_tok_n_punctuation,
    fe_tok_n_nonspacing_marks, fe_tok_n_nfd_known, fe_tok_n_word_chars;
extern const fe_tok_case_run fe_tok_lower_runs[];
extern const int32_t fe_tok_n_lower_runs;

// Decodes the UTF-8 character at s[0..n) (n >= 1). Returns its length in bytes (1..4), or 0 when
// the bytes are not valid UTF-8 (truncated, overlong, a surrogate, past U+10FFFF).
int fe_tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
// Writes cp as UTF-8 (cp must be a valid scalar value); returns the length, 1..4.
int fe_tok_utf8_encode(uint32_t cp, char out[4]);

// Decodes s[0..n) into malloc'd *cps_out (*n_out code points) and *offsets_out (*n_out + 1 byte
// offsets: character i is bytes [offsets[i], offsets[i+1])). Frees nothing it is handed.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (not valid UTF-8: "<what>: invalid UTF-8 at byte N");
// KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_decode_utf8(const char *what, const char *s, size_t n, uint32_t **cps_out,
                               int64_t **offsets_out, int32_t *n_out);

bool fe_tok_is_dropped(uint32_t cp);       // BertNormalizer's clean_text removes it
bool fe_tok_is_whitespace(uint32_t cp);    // Rust char::is_whitespace
bool fe_tok_is_punctuation(uint32_t cp);   // BertPreTokenizer isolates it
bool fe_tok_is_nonspacing_mark(uint32_t cp);
bool fe_tok_is_nfd_known(uint32_t cp);     // HF's NFD decomposes or reorders it
bool fe_tok_is_word_char(uint32_t cp);     // regex \w, for added tokens' single_word
// Rust char::to_lowercase: writes 1 or 2 code points to out and returns how many.
int fe_tok_to_lower(uint32_t cp, uint32_t out[2]);

/* ---- vocabulary: string -> id (vocab.c) ------------------------------------------------------- */

typedef struct fe_tok_vocab_slot {
    const char *key;   // NUL-terminated copy in the tokenizer's arena; NULL: empty slot
    uint32_t len, hash;
    int32_t id;
} fe_tok_vocab_slot;

typedef struct fe_tok_vocab {
    fe_tok_vocab_slot *slots;   // (cap) open addressing, cap a power of two, at most half full
    uint32_t cap, n;
} fe_tok_vocab;

// Maps s[0..len) to id, replacing an earlier id for the same string. The key is copied into
// `arena`; *key_out (may be NULL) gets the stored copy. Returns KILN_OK, KILN_ERR_INVALID_ARG
// (a key of 4 GiB or more) or KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_vocab_set(fe_tok_vocab *v, kiln_arena *arena, const char *s, size_t len, int32_t id,
                             const char **key_out);
int32_t fe_tok_vocab_get(const fe_tok_vocab *v, const char *s, size_t len);   // -1 if absent
void fe_tok_vocab_free(fe_tok_vocab *v);                                      // leaves it empty

/* ---- text as aligned code points ---------------------------------------------------------------- */

// A normalized string: code point i came from original bytes [start[i], end[i]) of the input.
// Characters a normalizer inserts (spaces around CJK) or expands into (é → e + ◌́) share the
// range of the character they came from (but see NFD's reordering in normalizer_bert.c);
// removed characters leave no trace.
typedef struct fe_tok_normalized {
    int32_t n, cap;
    uint32_t *cps;    // (n)
    int64_t *start;   // (n)
    int64_t *end;     // (n)
} fe_tok_normalized;

bool fe_tok_normalized_push(fe_tok_normalized *s, uint32_t cp, int64_t start, int64_t end);   // false: OOM
void fe_tok_normalized_free(fe_tok_normalized *s);

typedef struct fe_tok_span {
    int32_t start, end;   // [start, end) indices into a fe_tok_normalized
} fe_tok_span;

typedef struct fe_tok_spans {
    int32_t n, cap;
    fe_tok_span *v;
} fe_tok_spans;

bool fe_tok_spans_push(fe_tok_spans *s, int32_t start, int32_t end);   // false: OOM

typedef struct fe_tok_token {
    int32_t id;
    int64_t start, end;   // original byte offsets
} fe_tok_token;

typedef struct fe_tok_tokens {
    int32_t n, cap;
    fe_tok_token *v;
} fe_tok_tokens;

bool fe_tok_tokens_push(fe_tok_tokens *t, int32_t id, int64_t start, int64_t end);   // false: OOM

/* ---- pipeline stages ---------------------------------------------------------------------------- */

typedef enum fe_tok_normalizer_kind {
    FE_TOK_NORMALIZER_NONE = 0,
    FE_TOK_NORMALIZER_BERT,
} fe_tok_normalizer_kind;

typedef struct fe_tok_normalizer {
    fe_tok_normalizer_kind kind;
    struct {
        bool clean_text, handle_chinese_chars, strip_accents, lowercase;   // strip_accents resolved
    } bert;
} fe_tok_normalizer;

// Normalizes original characters cps[0..n), character i spanning bytes [offsets[i], offsets[i+1]),
// into *out (reset first). `tmp` is scratch. Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_normalize(const fe_tok_normalizer *nz, const uint32_t *cps, const int64_t *offsets,
                             int32_t n, fe_tok_normalized *out, fe_tok_normalized *tmp);
kiln_status fe_tok_normalize_bert(const fe_tok_normalizer *nz, const uint32_t *cps, const int64_t *offsets,
                                  int32_t n, fe_tok_normalized *out, fe_tok_normalized *tmp);

typedef enum fe_tok_pretokenizer_kind {
    FE_TOK_PRETOK_NONE = 0,   // the whole piece is one word
    FE_TOK_PRETOK_BERT,
} fe_tok_pretokenizer_kind;

typedef struct fe_tok_pretokenizer {
    fe_tok_pretokenizer_kind kind;
} fe_tok_pretokenizer;

// Appends the words of s->cps[start, end) to *out. Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_pretokenize_bert(const fe_tok_normalized *s, int32_t start, int32_t end, fe_tok_spans *out);

typedef enum fe_tok_model_kind {
    FE_TOK_MODEL_WORDPIECE = 0,
} fe_tok_model_kind;

typedef struct fe_tok_model {
    fe_tok_model_kind kind;
    fe_tok_vocab vocab;   // the model's own vocabulary (added tokens live apart, as in HF)
    struct {
        int32_t unk_id;                     // always in the vocabulary (checked at load)
        const char *prefix;                 // continuing_subword_prefix, "##"
        size_t prefix_len;
        int32_t max_input_chars_per_word;   // longer words (in characters) become unk
    } wordpiece;
} fe_tok_model;

// Appends the WordPiece tokens of the word s->cps[start, end) to *out.
// Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_wordpiece_tokenize(const fe_tok_model *m, const fe_tok_normalized *s, int32_t start,
                                      int32_t end, fe_tok_tokens *out);

// A piece of a post-processing template: a sequence ($A, $B) or special tokens, with a type id.
typedef struct fe_tok_piece {
    int32_t sequence;   // 0: $A, 1: $B, -1: special tokens
    int32_t type_id;
    int32_t n_ids;      // special tokens only
    int32_t *ids;       // (n_ids)
} fe_tok_piece;

typedef struct fe_tok_template {
    int32_t n;
    fe_tok_piece *pieces;   // (n)
} fe_tok_template;

typedef enum fe_tok_post_kind {
    FE_TOK_POST_NONE = 0,   // text with type id 0, then pair with type id 1
    FE_TOK_POST_TEMPLATE,   // TemplateProcessing, and BertProcessing as the template it amounts to
} fe_tok_post_kind;

typedef struct fe_tok_postprocessor {
    fe_tok_post_kind kind;
    fe_tok_template single, pair;
} fe_tok_postprocessor;

// Sets *pp to BERT's template, "[CLS] $A [SEP]" and "[CLS] $A [SEP] $B:1 [SEP]:1" (what
// BertProcessing does), with pieces from `arena`. Returns false on OOM.
bool fe_tok_post_bert(fe_tok_postprocessor *pp, kiln_arena *arena, int32_t cls_id, int32_t sep_id);
// Joins the tokens of the text (seqs[0]) and the pair (seqs[1], when has_pair) as the
// post-processor says into *out. Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_post_process(const fe_tok_postprocessor *pp, const fe_tok_tokens seqs[2], bool has_pair,
                                bool add_special_tokens, fe_encoding *out);

/* ---- added tokens (added_tokens.c) --------------------------------------------------------------- */

typedef struct fe_tok_added_token {
    const char *content;
    const char *pattern;   // what is matched: content, or content normalized when `normalized`
    size_t pattern_len;
    int32_t id;
    bool special, single_word, lstrip, rstrip, normalized;
} fe_tok_added_token;

typedef struct fe_tok_split {
    size_t start, end;   // byte range of the string that was split
    int32_t id;          // the added token's id, or -1 for text between added tokens
} fe_tok_split;

typedef struct fe_tok_splits {
    int32_t n, cap;
    fe_tok_split *v;
} fe_tok_splits;

bool fe_tok_splits_push(fe_tok_splits *s, size_t start, size_t end, int32_t id);   // false: OOM

// Splits s[0..n) around the added tokens whose `normalized` flag equals `normalized`, as HF's
// AddedVocabulary::find_matches does: leftmost-longest matches, single_word / lstrip / rstrip
// applied. Appends splits that cover s to *out (nothing for an empty s).
// Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_added_split(const fe_tokenizer *t, bool normalized, const char *s, size_t n,
                               fe_tok_splits *out);

/* ---- JSON fields (json.c) ----------------------------------------------------------------------- */

// Parses a whole JSON file's text; NULL with KILN_ERR_FORMAT ("path: not valid JSON near byte N")
// in *status on failure. The caller cJSON_Delete()s the result.
cJSON *fe_tok_json_parse(const char *path, const char *text, kiln_status *status);
// Each reads the member `name` of `obj`, which `where` names in messages ("normalizer"). An absent
// or null member gives `dflt`; a value of the wrong type is KILN_ERR_FORMAT naming path and field.
kiln_status fe_tok_json_bool(const char *path, const char *where, const cJSON *obj, const char *name, bool dflt,
                             bool *out);
kiln_status fe_tok_json_int(const char *path, const char *where, const cJSON *obj, const char *name,
                            int64_t min, int64_t max, int64_t dflt, int64_t *out);
kiln_status fe_tok_json_string(const char *path, const char *where, const cJSON *obj, const char *name,
                               const char *dflt, const char **out);   // *out points into obj
bool fe_tok_json_is_int(const cJSON *item, int64_t min, int64_t max);

/* ---- the tokenizer ------------------------------------------------------------------------------- */

struct fe_tokenizer {
    kiln_arena *arena;   // every string and table below
    fe_tok_normalizer normalizer;
    fe_tok_pretokenizer pretokenizer;
    fe_tok_model model;
    fe_tok_postprocessor post;
    fe_tok_added_token *added;   // (n_added, malloc'd, room for cap_added) in the file's order
    int32_t n_added, cap_added;
    bool has_added[2];           // [normalized flag]: any added token with it
    bool added_first_byte[2][256];   // [normalized flag][byte]: some pattern starts with it
    fe_tok_vocab added_vocab;    // added token content -> id
    const char **id_to_token;    // (n_ids) NULL where nothing names an id
    int32_t n_ids;
    int32_t special_ids[FE_TOK_SPECIAL_COUNT];   // -1: none
};

// Special token names that files may override (tokenizer_config.json, model.unk_token, ...).
typedef struct fe_tok_names {
    char *names[FE_TOK_SPECIAL_COUNT];   // arena strings; NULL: BERT's default
} fe_tok_names;

fe_tokenizer *fe_tok_new(void);   // empty tokenizer with an arena; NULL on OOM
// Reads tokenizer.json text (named `path` in messages) into t. Statuses as fe_tokenizer_open.
kiln_status fe_tok_load_json(fe_tokenizer *t, const char *path, const char *text, fe_tok_names *names);
// Reads vocab.txt text into a WordPiece model with BERT's defaults. Statuses as fe_tokenizer_open.
kiln_status fe_tok_load_vocab_txt(fe_tokenizer *t, const char *path, const char *text, size_t size);

// tokenizer_config.json, as far as kiln reads it.
typedef struct fe_tok_config {
    int do_lower_case;            // -1: absent
    int strip_accents;            // -1: absent or null
    int tokenize_chinese_chars;   // -1: absent
    fe_tok_names names;
    fe_tok_added_token *added;    // (n_added) from added_tokens_decoder, in the file's order
    int32_t n_added;
} fe_tok_config;

// Reads tokenizer_config.json text (named `path` in messages); strings go to t->arena.
// Returns KILN_OK; KILN_ERR_FORMAT; KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_read_config(fe_tokenizer *t, const char *path, const char *text, fe_tok_config *cfg);

// Registers an added token: content and flags from *tok (content is copied); its id is tok->id
// when >= 0, else the id the model's vocabulary or an earlier added token gives the content, else
// the next free id, as HF assigns them. A token normalized=true is matched in its normalized form,
// so the normalizer must be set first. Re-adding a content replaces its flags.
// Returns KILN_OK; KILN_ERR_FORMAT (content that is not UTF-8); KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_add_token(fe_tokenizer *t, const fe_tok_added_token *tok);
// After loading: builds the id -> token table and looks up the special ids.
// Returns KILN_OK; KILN_ERR_FORMAT (ids far sparser than any real vocabulary); KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_finish(fe_tokenizer *t, const fe_tok_names *names);

#endif  // KILN_FE_TOKENIZER_INTERNAL_H
