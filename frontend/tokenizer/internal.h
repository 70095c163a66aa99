/* internal.h — what the tokenizer's files share, and nothing outside frontend/tokenizer/ should use.
 * The pipeline is HF's: added tokens → normalizer → pre-tokenizer → model → post-processor, each a
 * tagged struct, one concept per file. Text moves through it as code points that each remember the
 * original bytes they came from (the alignment HF's NormalizedString keeps, per character here
 * since HF's is uniform within a character), which is how offsets survive every transformation.
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

typedef struct fe_tok_composition {
    uint32_t first, second, composite;
} fe_tok_composition;

extern const fe_tok_range fe_tok_dropped[], fe_tok_whitespace[], fe_tok_punctuation[],
    fe_tok_nonspacing_marks[], fe_tok_nfd_known[], fe_tok_nfkd_known[], fe_tok_word_chars[], fe_tok_numeric[], fe_tok_combining_marks[];
extern const int32_t fe_tok_n_dropped, fe_tok_n_whitespace, fe_tok_n_punctuation,
    fe_tok_n_nonspacing_marks, fe_tok_n_nfd_known, fe_tok_n_nfkd_known, fe_tok_n_word_chars, fe_tok_n_numeric, fe_tok_n_combining_marks;
extern const fe_tok_case_run fe_tok_lower_runs[];
extern const int32_t fe_tok_n_lower_runs;
// An Oniguruma character class ("L", "Lu", ..., "s", "d", "w"): ranges[2k, 2k + 1] inclusive.
typedef struct fe_tok_uclass {
    const char *name;
    const uint32_t *ranges;
    int32_t n;
} fe_tok_uclass;
extern const fe_tok_uclass fe_tok_onig_classes[];
extern const int32_t fe_tok_n_onig_classes;
extern const fe_tok_composition fe_tok_compositions[];
extern const int32_t fe_tok_n_compositions;

// Decodes the UTF-8 character at s[0..n) (n >= 1). Returns its length in bytes (1..4), or 0 when
// the bytes are not valid UTF-8 (truncated, overlong, a surrogate, past U+10FFFF).
int fe_tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
// Writes cp as UTF-8 (cp must be a valid scalar value); returns the length, 1..4.
int fe_tok_utf8_encode(uint32_t cp, char out[4]);
static inline int fe_tok_utf8_len(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }
// Decodes s[0..n) into malloc'd *cps_out (*n_out code points) and *offsets_out (*n_out + 1 byte
// offsets: character i is bytes [offsets[i], offsets[i+1])). Frees nothing it is handed.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (not valid UTF-8: "<what>: invalid UTF-8 at byte N");
// KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_decode_utf8(const char *what, const char *s, size_t n, uint32_t **cps_out,
                               int64_t **offsets_out, int32_t *n_out);
// Checks that s[0..n) is UTF-8. Returns KILN_OK or KILN_ERR_INVALID_ARG ("<what>: invalid UTF-8 at byte N").
kiln_status fe_tok_check_utf8(const char *what, const char *s, size_t n);

bool fe_tok_is_dropped(uint32_t cp);       // BertNormalizer's clean_text removes it
bool fe_tok_is_whitespace(uint32_t cp);    // Rust char::is_whitespace
bool fe_tok_is_punctuation(uint32_t cp);   // BertPreTokenizer and Punctuation isolate it
bool fe_tok_is_nonspacing_mark(uint32_t cp);
bool fe_tok_is_nfd_known(uint32_t cp);     // HF's NFD decomposes or reorders it
bool fe_tok_is_nfkd_known(uint32_t cp);    // HF's NFKD changes it
bool fe_tok_is_word_char(uint32_t cp);     // Rust regex \w
bool fe_tok_is_numeric(uint32_t cp);       // Rust char::is_numeric
bool fe_tok_is_combining_mark(uint32_t cp);   // StripAccents removes it
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
uint32_t fe_tok_hash(const char *s, size_t len);

/* ---- byte tries (trie.c): added tokens and Unigram pieces ---------------------------------------- */

typedef struct fe_tok_trie_node {
    uint32_t first;   // children are nodes[first, first + n), sorted by byte
    uint32_t n;
    int32_t value;    // -1: no key ends here
    uint8_t byte;
} fe_tok_trie_node;

typedef struct fe_tok_trie {
    fe_tok_trie_node *nodes;   // (n_nodes) nodes[0] is the root
    uint32_t n_nodes;
    int32_t root_child[256];   // node of the one-byte prefix, or -1
} fe_tok_trie;

// Builds a trie of keys[i] (lens[i] bytes) -> values[i]; a repeated key keeps the last value.
// Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_trie_build(fe_tok_trie *trie, const char *const *keys, const uint32_t *lens, const int32_t *values,
                              int32_t n);
void fe_tok_trie_free(fe_tok_trie *trie);
// The child of `node` for byte b, or -1.
static inline int32_t fe_tok_trie_step(const fe_tok_trie *t, int32_t node, unsigned char b) {
    if (node == 0) return t->root_child[b];
    const fe_tok_trie_node *nd = &t->nodes[node];
    uint32_t lo = nd->first, hi = nd->first + nd->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->nodes[mid].byte < b) lo = mid + 1;
        else hi = mid;
    }
    return lo < nd->first + nd->n && t->nodes[lo].byte == b ? (int32_t)lo : -1;
}

/* ---- regular expressions (regex.c): PCRE2 with Oniguruma's meaning ------------------------------- */

typedef struct fe_tok_regex fe_tok_regex;

// Compiles `pattern` (UTF-8; literally when `literal`) for HF's Split / Replace, with PCRE2_UTF |
// PCRE2_UCP and JIT. \s and \S are widened to Oniguruma's White_Space (which has U+0085).
// `what` names the field in messages. Returns KILN_OK; KILN_ERR_FORMAT (does not compile: the
// message has PCRE2's reason and offset); KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_regex_compile(const char *what, const char *pattern, size_t len, bool literal, fe_tok_regex **out);
void fe_tok_regex_free(fe_tok_regex *re);

typedef struct fe_tok_ranges {
    int32_t n, cap;
    int64_t (*v)[2];   // (n) [start, end) byte ranges
} fe_tok_ranges;
bool fe_tok_ranges_push(fe_tok_ranges *r, int64_t start, int64_t end);   // false: OOM

// Appends every match of re in s[0..n) (left to right, non-overlapping; an empty match moves on by
// one character) to *out. `match_data` is per-thread scratch (fe_tok_work's).
// Returns KILN_OK; KILN_ERR_OUT_OF_MEMORY; KILN_ERR_INVALID_ARG (PCRE2 gave up, e.g. its JIT stack).
kiln_status fe_tok_regex_find_all(const fe_tok_regex *re, void **match_data, const char *s, size_t n,
                                  fe_tok_ranges *out);
void fe_tok_regex_match_data_free(void *match_data);

/* ---- text as aligned code points ---------------------------------------------------------------- */

// A normalized string: code point i came from original bytes [start[i], end[i]) of the input.
// Characters a normalizer inserts or expands into share the range of the character HF aligns them
// with; removed characters leave no trace.
typedef struct fe_tok_normalized {
    int32_t n, cap;
    uint32_t *cps;    // (n)
    int64_t *start;   // (n)
    int64_t *end;     // (n)
} fe_tok_normalized;

bool fe_tok_normalized_reserve(fe_tok_normalized *s, int32_t n);   // room for n; false: OOM
bool fe_tok_normalized_push(fe_tok_normalized *s, uint32_t cp, int64_t start, int64_t end);   // false: OOM
void fe_tok_normalized_free(fe_tok_normalized *s);
void fe_tok_normalized_swap(fe_tok_normalized *a, fe_tok_normalized *b);

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
    // Added tokens: whitespace characters (lead_n, trail_n) and their bytes (lead_b, trail_b) at
    // the start and end of the matched text, which offset trimming removes. lead_n -1: a model
    // token, whose vocabulary string says instead.
    int16_t lead_n, trail_n, lead_b, trail_b;
    int32_t word;   // index of the pre-tokenizer split it came from (HF's word id), within its sequence
} fe_tok_token;

typedef struct fe_tok_tokens {
    int32_t n, cap;
    fe_tok_token *v;
} fe_tok_tokens;

bool fe_tok_tokens_push(fe_tok_tokens *t, int32_t id, int64_t start, int64_t end);   // false: OOM
bool fe_tok_tokens_reserve(fe_tok_tokens *t, int64_t n);   // room for n tokens; false: OOM

// One piece of a pre-tokenized string (HF's Split): characters [start, end) of the text, or an
// added token that is already tokenized (id >= 0, no characters).
typedef struct fe_tok_split {
    int32_t start, end;
    int64_t orig_start, orig_end;   // text: where HF's offsets_original() starts; token: its bytes
    int32_t id;
    int16_t lead_n, trail_n, lead_b, trail_b;   // added token: whitespace around the match (fe_tok_token's)
} fe_tok_split;

typedef struct fe_tok_pretokenized {
    fe_tok_normalized text;
    int32_t n, cap;
    fe_tok_split *v;
} fe_tok_pretokenized;

bool fe_tok_pretok_push(fe_tok_pretokenized *p, fe_tok_split split);   // false: OOM

/* ---- normalizers (normalize.c, normalizer_*.c) -------------------------------------------------- */

typedef enum fe_tok_normalizer_kind {
    FE_TOK_NORMALIZER_NONE = 0,
    FE_TOK_NORMALIZER_BERT,
    FE_TOK_NORMALIZER_NFC,
    FE_TOK_NORMALIZER_NFD,
    FE_TOK_NORMALIZER_NFKC,
    FE_TOK_NORMALIZER_NFKD,
    FE_TOK_NORMALIZER_LOWERCASE,
    FE_TOK_NORMALIZER_STRIP,
    FE_TOK_NORMALIZER_STRIP_ACCENTS,
    FE_TOK_NORMALIZER_REPLACE,
    FE_TOK_NORMALIZER_PREPEND,
    FE_TOK_NORMALIZER_NMT,
    FE_TOK_NORMALIZER_SEQUENCE,
} fe_tok_normalizer_kind;

typedef struct fe_tok_normalizer fe_tok_normalizer;
struct fe_tok_normalizer {
    fe_tok_normalizer_kind kind;
    struct {
        bool clean_text, handle_chinese_chars, strip_accents, lowercase;   // strip_accents resolved
    } bert;
    bool strip_left, strip_right;
    fe_tok_regex *pattern;        // Replace (owned by the tokenizer's regex list)
    const uint32_t *content;      // Replace: the replacement / Prepend: the prefix (code points)
    int32_t n_content;
    fe_tok_normalizer *seq;       // Sequence: (n_seq) in the arena
    int32_t n_seq;
};

typedef struct fe_tok_work fe_tok_work;

// Normalizes *s in place (`shift`: the original offset of the piece, for characters HF aligns
// with nothing). Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_normalize(const fe_tok_normalizer *nz, fe_tok_work *w, fe_tok_normalized *s, int64_t shift);
kiln_status fe_tok_normalize_bert(const fe_tok_normalizer *nz, const fe_tok_normalized *src, fe_tok_normalized *out,
                                  fe_tok_normalized *tmp);
// NFD / NFKD / NFC / NFKC with HF's alignments (normalizer_unicode.c).
kiln_status fe_tok_normalize_unicode(fe_tok_normalizer_kind kind, fe_tok_work *w, fe_tok_normalized *s,
                                     int64_t shift);
kiln_status fe_tok_normalize_replace(const fe_tok_normalizer *nz, fe_tok_work *w, fe_tok_normalized *s,
                                     int64_t shift);

// One step of HF's NormalizedString::transform: the new character and its change (1: inserted,
// 0: replaces the next source character, -k: replaces it and removes k more).
typedef struct fe_tok_change {
    uint32_t cp;
    int32_t change;
} fe_tok_change;
// Rebuilds *s from ch[0..n) as HF's transform() does, with `initial_offset` source characters
// removed at the start. Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_transform(fe_tok_normalized *s, const fe_tok_change *ch, int32_t n, int32_t initial_offset,
                             fe_tok_normalized *tmp, int64_t shift);

/* ---- pre-tokenizers (pretokenize.c, pretok_*.c) ------------------------------------------------- */

typedef enum fe_tok_pretokenizer_kind {
    FE_TOK_PRETOK_NONE = 0,   // the whole piece is one word
    FE_TOK_PRETOK_BERT,
    FE_TOK_PRETOK_BYTE_LEVEL,
    FE_TOK_PRETOK_WHITESPACE,
    FE_TOK_PRETOK_WHITESPACE_SPLIT,
    FE_TOK_PRETOK_METASPACE,
    FE_TOK_PRETOK_SPLIT,
    FE_TOK_PRETOK_PUNCTUATION,
    FE_TOK_PRETOK_DIGITS,
    FE_TOK_PRETOK_CHAR_DELIMITER,
    FE_TOK_PRETOK_SEQUENCE,
} fe_tok_pretokenizer_kind;

// SplitDelimiterBehavior.
typedef enum fe_tok_behavior {
    FE_TOK_REMOVED = 0,
    FE_TOK_ISOLATED,
    FE_TOK_MERGED_WITH_PREVIOUS,
    FE_TOK_MERGED_WITH_NEXT,
    FE_TOK_CONTIGUOUS,
} fe_tok_behavior;

typedef enum fe_tok_prepend_scheme { FE_TOK_PREPEND_ALWAYS = 0, FE_TOK_PREPEND_FIRST, FE_TOK_PREPEND_NEVER } fe_tok_prepend_scheme;

typedef struct fe_tok_pretokenizer fe_tok_pretokenizer;
struct fe_tok_pretokenizer {
    fe_tok_pretokenizer_kind kind;
    bool add_prefix_space, use_regex;   // ByteLevel
    uint32_t replacement;               // Metaspace
    fe_tok_prepend_scheme prepend_scheme;
    bool split;                         // Metaspace
    fe_tok_behavior behavior;           // Split, Punctuation
    bool invert;                        // Split
    bool individual_digits;             // Digits
    uint32_t delimiter;                 // CharDelimiterSplit
    fe_tok_regex *pattern;              // Split (the ByteLevel regex is the tokenizer's gpt2 regex)
    fe_tok_pretokenizer *seq;           // Sequence: (n_seq) in the arena
    int32_t n_seq;
};

// Runs the pre-tokenizer over w's current pre-tokenized string.
// Returns KILN_OK; KILN_ERR_OUT_OF_MEMORY; KILN_ERR_INVALID_ARG (a regex gave up).
kiln_status fe_tok_pretokenize(const fe_tokenizer *t, const fe_tok_pretokenizer *p, fe_tok_work *w);

// (range, is_match) pieces covering a string, as HF's Pattern::find_matches gives them.
typedef struct fe_tok_match {
    int32_t start, end;
    bool is_match;
} fe_tok_match;
typedef struct fe_tok_matches {
    int32_t n, cap;
    fe_tok_match *v;
} fe_tok_matches;
bool fe_tok_matches_push(fe_tok_matches *m, int32_t start, int32_t end, bool is_match);

/* ---- models ------------------------------------------------------------------------------------- */

typedef enum fe_tok_model_kind {
    FE_TOK_MODEL_WORDPIECE = 0,
    FE_TOK_MODEL_BPE,
    FE_TOK_MODEL_UNIGRAM,
    FE_TOK_MODEL_WORDLEVEL,
    FE_TOK_MODEL_SPM,   // llama.cpp's SentencePiece BPE of GGUF files: merges ranked by the merged token's score
} fe_tok_model_kind;

typedef struct fe_tok_merge_slot {
    uint64_t key;      // (left id << 32 | right id) + 1; 0: empty
    int32_t rank, new_id;
} fe_tok_merge_slot;

typedef struct fe_tok_unigram_piece {
    double score;
} fe_tok_unigram_piece;

typedef struct fe_tok_model {
    fe_tok_model_kind kind;
    fe_tok_vocab vocab;   // the model's own vocabulary (added tokens live apart, as in HF)
    int32_t n_vocab;      // BPE, WordPiece, WordLevel: entries; Unigram: pieces
    int32_t unk_id;       // -1: none (BPE, Unigram without unk); -2: BPE's unk_token is not in the vocabulary
    struct {
        const char *prefix;                 // continuing_subword_prefix, "##"
        size_t prefix_len;
        int32_t max_input_chars_per_word;   // longer words (in characters) become unk
    } wordpiece;
    struct {
        fe_tok_merge_slot *merges;   // (merge_cap) open addressing over pairs of ids
        uint32_t merge_cap, n_merges;
        const char *prefix, *suffix;   // continuing_subword_prefix, end_of_word_suffix (NULL: none)
        size_t prefix_len, suffix_len;
        bool fuse_unk, byte_fallback, ignore_merges;
        int32_t byte_ids[256];   // id of "<0xXX>", or -1
        int32_t *char_ids;       // (512) id of code point cp < 512 alone (no prefix / suffix), or -1
    } bpe;
    struct {
        double *scores;          // (n_vocab)
        const char **pieces;     // (n_vocab)
        uint32_t *lens;          // (n_vocab)
        double min_score;
        bool byte_fallback;
        fe_tok_trie trie;
        int32_t byte_ids[256];
    } unigram;
    struct {
        int32_t *rank;           // (n_vocab) 0 for the highest tokenizer.ggml.scores, equal scores equal ranks
        uint32_t *lens;          // (n_vocab) bytes of each token
        int32_t byte_ids[256];   // "<0xXX>", else the byte alone as a token, else unk_id
    } spm;
} fe_tok_model;

// Each appends the tokens of the word s->cps[start, end) to *out, with original offsets.
// Returns KILN_OK, KILN_ERR_OUT_OF_MEMORY, or KILN_ERR_INVALID_ARG (Unigram meets a character it
// cannot cover and has no unk).
kiln_status fe_tok_wordpiece_tokenize(const fe_tok_model *m, fe_tok_work *w, const fe_tok_normalized *s,
                                      int32_t start, int32_t end, fe_tok_tokens *out);
kiln_status fe_tok_bpe_tokenize(const fe_tokenizer *t, fe_tok_work *w, const fe_tok_normalized *s, int32_t start,
                                int32_t end, fe_tok_tokens *out);
kiln_status fe_tok_unigram_tokenize(const fe_tok_model *m, fe_tok_work *w, const fe_tok_normalized *s,
                                    int32_t start, int32_t end, fe_tok_tokens *out);
kiln_status fe_tok_wordlevel_tokenize(const fe_tok_model *m, fe_tok_work *w, const fe_tok_normalized *s,
                                      int32_t start, int32_t end, fe_tok_tokens *out);
kiln_status fe_tok_spm_tokenize(const fe_tok_model *m, fe_tok_work *w, const fe_tok_normalized *s, int32_t start,
                                int32_t end, fe_tok_tokens *out);

// The queue of pending merges that BPE and SPM share (a binary heap in fe_tok_work's heap): the
// lowest rank first, then the leftmost position.
typedef struct fe_tok_merge_item {
    int32_t rank, pos, new_id;   // pos: the left symbol of the pair
} fe_tok_merge_item;
void fe_tok_merge_push(fe_tok_merge_item *heap, int32_t *n, fe_tok_merge_item item);
fe_tok_merge_item fe_tok_merge_pop(fe_tok_merge_item *heap, int32_t *n);   // *n > 0

// BPE set-up (bpe.c): merges "a b" by rank, each must name vocabulary entries. `path`/`where`
// name the file and field in messages. Returns KILN_OK; KILN_ERR_FORMAT; KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_bpe_add_merge(fe_tokenizer *t, const char *path, int32_t rank, const char *a, size_t a_len,
                                 const char *b, size_t b_len);
kiln_status fe_tok_bpe_finish(fe_tokenizer *t, const char *path);
// Unigram set-up (unigram.c), after pieces and scores are filled in.
kiln_status fe_tok_unigram_finish(fe_tokenizer *t, const char *path);
// SPM set-up (spm.c), after the vocabulary, spm.lens and unk_id: ranks from scores[0..n_vocab)
// and the byte tokens. Returns KILN_OK; KILN_ERR_FORMAT (a score that is NaN, naming `path` and
// tokenizer.ggml.scores); KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_spm_finish(fe_tokenizer *t, const char *path, const float *scores);

/* ---- post-processing (postprocess.c) ------------------------------------------------------------ */

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

// Every HF post-processor kiln reads comes down to a template (BertProcessing, RobertaProcessing
// and none at all are fixed templates) plus ByteLevel's / RobertaProcessing's offset trimming.
typedef struct fe_tok_postprocessor {
    fe_tok_template single, pair;
    bool trim_offsets, trim_add_prefix_space;
    uint8_t (*trim)[2];   // (n_ids) when trim_offsets: 'Ġ' / whitespace characters at each token's start and end
} fe_tok_postprocessor;

// Sets *tpl pieces for "[CLS] $A [SEP]" / "[CLS] $A [SEP] $B:1 [SEP]:1" (what BertProcessing does,
// b_type 1) or RoBERTa's "<s> $A </s>" / "<s> $A </s> </s> $B </s>" (b_type 0, double_sep).
bool fe_tok_post_bert(fe_tok_postprocessor *pp, kiln_arena *arena, int32_t cls_id, int32_t sep_id, bool roberta);
// The default: "$A" / "$A $B:1", no special tokens.
bool fe_tok_post_default(fe_tok_postprocessor *pp, kiln_arena *arena);
// Special tokens the template adds to one text (is_pair false) or a pair.
int32_t fe_tok_post_added(const fe_tok_postprocessor *pp, bool is_pair);
// Counts, for trimming, the whitespace at both ends of every token string (after fe_tok_finish's
// id -> token table). Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_post_finish(fe_tokenizer *t);

// Truncation as HF's TruncationParams (strategy 0: none).
typedef enum fe_tok_trunc_strategy {
    FE_TOK_TRUNC_NONE = 0,
    FE_TOK_TRUNC_LONGEST_FIRST,
    FE_TOK_TRUNC_ONLY_FIRST,
    FE_TOK_TRUNC_ONLY_SECOND,
} fe_tok_trunc_strategy;

typedef struct fe_tok_truncation {
    fe_tok_trunc_strategy strategy;
    int64_t max_length, stride;
    bool left;   // truncate on the left (direction Left)
} fe_tok_truncation;

// Truncates (with overflowing windows), trims offsets, and joins the text's and the pair's tokens
// as the post-processor says, into rows[0] (the encoding) and rows[1..] (its overflowing
// windows, in HF's order). *rows_out is malloc'd (fe_encodings_free).
// Returns KILN_OK; KILN_ERR_INVALID_ARG (stride not below the length left after special tokens,
// only_second without a pair, a sequence too short to truncate); KILN_ERR_OUT_OF_MEMORY.
// w's seq_offsets convert byte offsets to characters for trimming (HF trims characters).
kiln_status fe_tok_post_process(const fe_tokenizer *t, fe_tok_work *w, fe_tok_tokens seqs[2], bool has_pair,
                                bool add_special_tokens, const fe_tok_truncation *trunc, fe_encoding **rows_out,
                                int32_t *n_rows_out);

/* ---- decoders (decode.c) ------------------------------------------------------------------------ */

typedef enum fe_tok_decoder_kind {
    FE_TOK_DECODER_NONE = 0,   // tokens joined with " "
    FE_TOK_DECODER_WORDPIECE,
    FE_TOK_DECODER_BYTE_LEVEL,
    FE_TOK_DECODER_METASPACE,
    FE_TOK_DECODER_BPE,
    FE_TOK_DECODER_REPLACE,
    FE_TOK_DECODER_BYTE_FALLBACK,
    FE_TOK_DECODER_FUSE,
    FE_TOK_DECODER_STRIP,
    FE_TOK_DECODER_SEQUENCE,
} fe_tok_decoder_kind;

typedef struct fe_tok_decoder fe_tok_decoder;
struct fe_tok_decoder {
    fe_tok_decoder_kind kind;
    const char *prefix;          // WordPiece
    bool cleanup;                // WordPiece
    const char *suffix;          // BPEDecoder
    uint32_t replacement;        // Metaspace
    fe_tok_prepend_scheme prepend_scheme;
    fe_tok_regex *pattern;       // Replace
    const char *content;         // Replace: replacement; Strip: the character (UTF-8)
    uint32_t strip_char;
    int32_t strip_start, strip_stop;
    fe_tok_decoder *seq;
    int32_t n_seq;
};

/* ---- added tokens (added_tokens.c) --------------------------------------------------------------- */

typedef struct fe_tok_added_token {
    const char *content;
    const char *pattern;   // what is matched: content, or content normalized when `normalized`
    size_t pattern_len;
    int32_t id;
    bool special, single_word, lstrip, rstrip, normalized;
} fe_tok_added_token;

typedef struct fe_tok_split_range {
    size_t start, end;   // byte range of the string that was split
    int32_t id;          // the added token's id, or -1 for text between added tokens
} fe_tok_split_range;

typedef struct fe_tok_splits {
    int32_t n, cap;
    fe_tok_split_range *v;
} fe_tok_splits;

bool fe_tok_splits_push(fe_tok_splits *s, size_t start, size_t end, int32_t id);   // false: OOM

// Splits s[0..n) around the added tokens whose `normalized` flag equals `normalized`, as HF's
// AddedVocabulary::find_matches does: leftmost-longest matches, single_word / lstrip / rstrip
// applied. Appends splits that cover s to *out (nothing for an empty s).
// Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_added_split(const fe_tokenizer *t, bool normalized, const char *s, size_t n,
                               fe_tok_splits *out);
// Builds the matching tries once all added tokens are known. Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_added_finish(fe_tokenizer *t);

/* ---- per-call scratch (work.c) --------------------------------------------------------------------- */

typedef struct fe_tok_bpe_cache fe_tok_bpe_cache;

// Everything one encoding needs besides the (shared, immutable) tokenizer. One per thread; reused
// across the texts of a batch so that its buffers and the BPE cache stay warm.
struct fe_tok_work {
    uint32_t *cps;          // (n_cps) the sequence's code points
    int64_t *offsets;       // (n_cps + 1) their byte offsets: seq_offsets[0] or [1]
    int32_t n_cps, cap_cps;
    int64_t *seq_offsets[2];   // per sequence (text, pair): character -> byte offset, n_seq_cps + 1
    int32_t n_seq_cps[2], cap_seq_offsets[2];
    fe_tok_splits splits, norm_splits;
    fe_tok_normalized norm, tmp, tmp2;
    fe_tok_pretokenized pt[2];   // pt[cur]: the pre-tokenized string; the other: scratch
    int cur;
    kiln_strbuf utf8;          // a piece as UTF-8
    int32_t *char_at;          // (cap_char_at) character index of each byte of utf8
    int32_t cap_char_at;
    int64_t *utf8_at;          // (cap_utf8_at) where each character starts in utf8
    int32_t cap_utf8_at;
    fe_tok_ranges ranges;
    fe_tok_matches matches;
    fe_tok_spans spans;
    fe_tok_change *changes;
    int32_t cap_changes;
    void *match_data;          // PCRE2 match data
    void *sym;                 // BPE symbols / Unigram lattice (bpe.c, unigram.c)
    size_t cap_sym;
    void *heap;                // BPE merge queue
    size_t cap_heap;
    fe_tok_bpe_cache *bpe_cache;
    fe_tok_tokens seqs[2];
};

fe_tok_work *fe_tok_work_new(void);   // NULL on OOM
void fe_tok_work_free(fe_tok_work *w);
// Grows w->changes / w->char_at / w->utf8_at to hold n; false: OOM.
bool fe_tok_work_changes(fe_tok_work *w, int32_t n);
// UTF-8 of s->cps[start, end) into w->utf8, with w->char_at (byte -> character index relative to
// start) and w->utf8_at (character -> byte, n + 1 entries). false: OOM.
bool fe_tok_work_utf8(fe_tok_work *w, const fe_tok_normalized *s, int32_t start, int32_t end);

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

// Special token names that files may override (tokenizer_config.json, model.unk_token, ...).
typedef struct fe_tok_names {
    char *names[FE_TOK_SPECIAL_COUNT];   // arena strings; NULL: not named
    char *json_pad;                      // tokenizer.json's padding.pad_token (a default for pad_token)
} fe_tok_names;

struct fe_tokenizer {
    kiln_arena *arena;   // every string and table below
    fe_tok_normalizer normalizer;
    fe_tok_pretokenizer pretokenizer;
    fe_tok_model model;
    fe_tok_postprocessor post;
    fe_tok_decoder decoder;
    fe_tok_regex *gpt2_regex;        // ByteLevel's pre-tokenizer regex, compiled once
    fe_tok_regex **regexes;          // (n_regexes) every regex the stages own (freed with t)
    int32_t n_regexes, cap_regexes;
    fe_tok_added_token *added;   // (n_added, malloc'd, room for cap_added) in the file's order
    int32_t n_added, cap_added;
    bool has_added[2];           // [normalized flag]: any added token with it
    bool added_first_byte[2][256];   // [normalized flag][byte]: some pattern starts with it
    fe_tok_trie added_trie[2];   // [normalized flag]: pattern -> index into added
    fe_tok_vocab added_vocab;    // added token content -> id
    const char **id_to_token;    // (n_ids) NULL where nothing names an id
    uint8_t *id_is_special;      // (n_ids) 1: an added token marked special (decode skips it)
    int32_t n_ids;
    int32_t special_ids[FE_TOK_SPECIAL_COUNT];   // -1: none
    // From tokenizer_config.json (and tokenizer.json's padding / truncation), as transformers reads them.
    int64_t model_max_length;   // -1: none (absent, or above transformers' LARGE_INTEGER)
    int32_t pad_type_id;
    bool padding_left, truncation_left;
    bool clean_up_tokenization_spaces;
};

fe_tokenizer *fe_tok_new(void);   // empty tokenizer with an arena; NULL on OOM
// Registers a regex the tokenizer owns. Returns false on OOM (and frees re).
bool fe_tok_own_regex(fe_tokenizer *t, fe_tok_regex *re);
// Reads tokenizer.json text (named `path` in messages) into t. Statuses as fe_tokenizer_open.
kiln_status fe_tok_load_json(fe_tokenizer *t, const char *path, const char *text, fe_tok_names *names);
// Reads vocab.txt text into a WordPiece model with BERT's defaults. Statuses as fe_tokenizer_open.
kiln_status fe_tok_load_vocab_txt(fe_tokenizer *t, const char *path, const char *text, size_t size);

// tokenizer_config.json (and special_tokens_map.json), as far as kiln reads them.
typedef struct fe_tok_config {
    int do_lower_case;            // -1: absent
    int strip_accents;            // -1: absent or null
    int tokenize_chinese_chars;   // -1: absent
    int add_prefix_space;         // -1: absent
    int clean_up_tokenization_spaces;   // -1: absent
    int padding_left, truncation_left;  // -1: absent
    int64_t model_max_length;     // -1: absent or too large
    const char *tokenizer_class;  // NULL: absent
    fe_tok_names names;
    const char **extra;           // (n_extra) model-specific "..._token" names, then extra_special_tokens
    int32_t n_extra;              // (or additional_special_tokens), in transformers' order
    fe_tok_added_token *added;    // (n_added) from added_tokens_decoder, in the file's order
    int32_t n_added;
} fe_tok_config;

// Reads tokenizer_config.json text (named `path` in messages); strings go to t->arena. Fields
// already set in *cfg (a special_tokens_map.json read first) are overridden.
// Returns KILN_OK; KILN_ERR_FORMAT; KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_read_config(fe_tokenizer *t, const char *path, const char *text, fe_tok_config *cfg);
void fe_tok_config_init(fe_tok_config *cfg);
// Reads dir's tokenizer_config.json and special_tokens_map.json when they exist.
kiln_status fe_tok_read_config_dir(fe_tokenizer *t, const fe_tok_src *src, const char *dir, fe_tok_config *cfg);
// source.c: a file of the source (NULL: the file system) exists / its bytes, NUL-terminated, malloc'd.
bool fe_tok_src_exists(const fe_tok_src *src, const char *path);
kiln_status fe_tok_src_read(const fe_tok_src *src, const char *path, char **text_out, size_t *size_out);
// The loaders over a source (the path functions of tokenizer.h pass NULL: the file system).
kiln_status fe_tok_open_vocab_src(const fe_tok_src *src, const char *vocab_txt_path, const char *config_path, fe_tokenizer **out);
kiln_status fe_tok_open_bpe_files_src(const fe_tok_src *src, const char *vocab_json_path, const char *merges_txt_path,
                                      const char *config_path, fe_tokenizer **out);

// Registers an added token: content and flags from *tok (content is copied); its id is tok->id
// when >= 0, else the id the model's vocabulary or an earlier added token gives the content, else
// the next free id, as HF assigns them. A token normalized=true is matched in its normalized form,
// so the normalizer must be set first. Re-adding a content replaces its flags.
// Returns KILN_OK; KILN_ERR_FORMAT (content that is not UTF-8); KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_add_token(fe_tokenizer *t, const fe_tok_added_token *tok);
// After loading: builds the id -> token table, the added-token tries and looks up the special ids.
// Returns KILN_OK; KILN_ERR_FORMAT (ids far sparser than any real vocabulary); KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tok_finish(fe_tokenizer *t, const fe_tok_names *names);
// Applies tokenizer_config.json's settings (model_max_length, sides, clean-up, special names).
void fe_tok_apply_config(fe_tokenizer *t, const fe_tok_config *cfg, fe_tok_names *names);

// The vocabulary string of a model token (for trimming offsets), or "".
const char *fe_tok_token_string(const fe_tokenizer *t, int32_t id);

#endif  // KILN_FE_TOKENIZER_INTERNAL_H
