/* tokenizer.h — kiln's text tokenizer, bit-exact with Hugging Face `tokenizers`: text in, token ids,
 * type ids and byte offsets out, and ids back to text. It reads a checkpoint's tokenizer.json (or the
 * legacy vocab.txt, or vocab.json + merges.txt, with tokenizer_config.json) and runs HF's pipeline:
 * added tokens → normalizer → pre-tokenizer → model → truncation → post-processor; decoding runs HF's
 * decoders. What kiln reads:
 *   models          WordPiece, BPE (merge ranks, byte_fallback, fuse_unk, continuing_subword_prefix,
 *                   end_of_word_suffix, ignore_merges; dropout is ignored), Unigram, WordLevel
 *   normalizers     BertNormalizer, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace,
 *                   Prepend, Nmt, Sequence
 *   pre-tokenizers  BertPreTokenizer, ByteLevel, Whitespace, WhitespaceSplit, Metaspace, Split,
 *                   Punctuation, Digits, CharDelimiterSplit, Sequence
 *   post-processors TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence
 *   decoders        WordPiece, ByteLevel, Metaspace, BPEDecoder, Replace, ByteFallback, Fuse, Strip, Sequence
 * Anything else is rejected with KILN_ERR_UNSUPPORTED, never approximated.
 */
#ifndef KILN_FE_TOKENIZER_H
#define KILN_FE_TOKENIZER_H

#include <stdbool.h>
#include <stdint.h>

#include "kiln.h"

// Immutable once open: any number of threads may encode with one tokenizer at the same time.
typedef struct fe_tokenizer fe_tokenizer;

// One encoded text (or text pair). Every array has n entries and all of them live in one
// allocation that the encoding owns: release it with fe_encoding_free, never free() an array.
typedef struct fe_encoding {
    int32_t n;
    int32_t *ids;              // (n) token ids
    int32_t *type_ids;         // (n) token_type_ids: 0 for the text, 1 for the pair (as the template says)
    int32_t *special_mask;     // (n) 1 where the post-processor added the token ([CLS], [SEP]), else 0;
                               //     "[MASK]" typed in the text is an ordinary token here, as in HF
    int32_t *attention_mask;   // (n) all 1 (no padding yet)
    int32_t *sequence_ids;     // (n) 0: from the text, 1: from the pair, -1: added by the post-processor
    int32_t *word_ids;         // (n) the word (pre-tokenizer split) within its sequence, -1 where sequence_ids is
    int64_t (*offsets)[2];     // (n) [start, end) UTF-8 byte offsets into the text the token came from
                               //     (see sequence_ids); (0, 0) for tokens the post-processor added
} fe_encoding;

typedef enum fe_tok_special {
    FE_TOK_UNK = 0,
    FE_TOK_CLS,
    FE_TOK_SEP,
    FE_TOK_PAD,
    FE_TOK_MASK,
    FE_TOK_BOS,
    FE_TOK_EOS,
    FE_TOK_SPECIAL_COUNT
} fe_tok_special;

// Opens the tokenizer of a checkpoint directory: dir/tokenizer.json when it exists, else
// dir/vocab.json + dir/merges.txt (GPT-2 / RoBERTa byte-level BPE, as tokenizer_class says), else
// dir/vocab.txt (BERT). `dir` may also be a GGUF file (fe_tokenizer_open_gguf). tokenizer_config.json and special_tokens_map.json, when present, name the
// special tokens and give model_max_length, padding_side, truncation_side and
// clean_up_tokenization_spaces. Does not keep a pointer to `dir`.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument); KILN_ERR_IO (none of those files: the
// message lists what was looked for; or a file that cannot be read); KILN_ERR_FORMAT (malformed file, naming the file and
// field); KILN_ERR_UNSUPPORTED (a normalizer, pre-tokenizer, model or post-processor type kiln does
// not implement, naming the file and the type); KILN_ERR_OUT_OF_MEMORY. *out is NULL on failure.
kiln_status fe_tokenizer_open(const char *dir, fe_tokenizer **out);

// Opens one tokenizer.json file. Special tokens get BERT's names ([CLS], [SEP], ...) unless the
// file's model or post-processor names them. Statuses as fe_tokenizer_open.
kiln_status fe_tokenizer_open_file(const char *tokenizer_json_path, fe_tokenizer **out);

// Builds a BERT tokenizer from a vocab.txt (one token per line, id = line number) and an optional
// tokenizer_config.json (config_path may be NULL): do_lower_case (default true), strip_accents
// (default: follows do_lower_case), tokenize_chinese_chars (default true), the special token
// names and added_tokens_decoder. Gives exactly what transformers' BertTokenizer gives.
// Statuses as fe_tokenizer_open.
kiln_status fe_tokenizer_open_vocab(const char *vocab_txt_path, const char *config_path, fe_tokenizer **out);

// Builds a byte-level BPE tokenizer from GPT-2's vocab.json + merges.txt, configured as
// transformers' GPT2Tokenizer (or RobertaTokenizer, when tokenizer_config.json's tokenizer_class
// says so) configures it from the same files. config_path may be NULL. Statuses as fe_tokenizer_open.
kiln_status fe_tokenizer_open_bpe_files(const char *vocab_json_path, const char *merges_txt_path,
                                        const char *config_path, fe_tokenizer **out);

// Builds the tokenizer a GGUF file's tokenizer.ggml.* metadata describes (load_gguf.c):
// tokenizer.ggml.model "gpt2" (byte-level BPE) with the pre-tokenizer tokenizer.ggml.pre names
// (llama.cpp's names: default, gpt-2, llama-bpe, qwen2, smollm, ... ; absent means default), or
// "llama" (SentencePiece BPE: scores, token types, byte fallback, as llama.cpp tokenizes it).
// Does not keep the file open. Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument); KILN_ERR_IO
// (cannot open or map the file); KILN_ERR_FORMAT (not a valid GGUF, no tokenizer.ggml.model, a
// tokenizer key missing or of the wrong type, merges missing or naming unknown tokens, "llama"
// without scores, a score that is NaN, a token type outside 0..6, a token that is not UTF-8: the
// message names the file and the key); KILN_ERR_UNSUPPORTED (another
// tokenizer.ggml.model, or a tokenizer.ggml.pre kiln does not know, named); KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tokenizer_open_gguf(const char *gguf_path, fe_tokenizer **out);

// Where the files come from (source.c): `files` (n_files named blobs, the names being the files'
// base names) when set, else the file system. Labels in messages are dir/name.
typedef struct fe_tok_file {
    const char *name;   // "tokenizer.json", "vocab.txt", ...
    const char *data;
    size_t size;
} fe_tok_file;

typedef struct fe_tok_src {
    const fe_tok_file *files;   // NULL: the file system
    int32_t n_files;
} fe_tok_src;

// The files a checkpoint's tokenizer may consist of (NULL-terminated): what a program embeds.
extern const char *const fe_tok_file_names[];

// fe_tokenizer_open over a directory `dir` (a label when src holds the files). Statuses as
// fe_tokenizer_open.
kiln_status fe_tokenizer_open_src(const fe_tok_src *src, const char *dir, fe_tokenizer **out);

// The tokenizer a program carries (api.c): its embedded files, else its tokenizer_dir (a GGUF).
// KILN_ERR_INVALID_ARG when it has none; fe_tokenizer_open's statuses.
kiln_status fe_tokenizer_open_program(const kiln_program *program, fe_tokenizer **out);

void fe_tokenizer_free(fe_tokenizer *t);   // NULL is fine

// Encodes `text` (and `pair`, NULL for none), both NUL-terminated UTF-8, as HF's
// tokenizer.encode(text, pair, add_special_tokens=...) does. No truncation, no padding.
// Keeps no pointer to text or pair. On success *out owns new arrays (fe_encoding_free); on
// failure *out is empty ({0}) and needs no free.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL t/text/out, text or pair not valid UTF-8: the message
// gives the byte offset); KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tokenizer_encode(const fe_tokenizer *t, const char *text, const char *pair,
                                bool add_special_tokens, fe_encoding *out);
void fe_encoding_free(fe_encoding *e);   // NULL or an empty encoding is fine; leaves *e empty
void fe_encodings_free(fe_encoding *rows, int32_t n);   // frees each row and the array

typedef struct fe_tok_work fe_tok_work;
typedef struct fe_tok_truncation fe_tok_truncation;

// As fe_tokenizer_encode, with truncation (NULL: none) and scratch `w` (fe_tok_work_new; one per
// thread, reused across a batch). rows[0] is the encoding, rows[1..] its overflowing windows in
// HF's order; *rows_out is malloc'd (fe_encodings_free). Returns KILN_OK; KILN_ERR_INVALID_ARG
// (bad UTF-8; stride not below the length left after special tokens; only_second without a pair;
// nothing left to truncate); KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tokenizer_encode_rows(const fe_tokenizer *t, fe_tok_work *w, const char *text, const char *pair,
                                     bool add_special_tokens, const fe_tok_truncation *trunc, fe_encoding **rows_out,
                                     int32_t *n_rows_out);

// Decodes ids to text as HF's Tokenizer.decode (and transformers' clean_up_tokenization when
// clean_up) does: unknown ids are dropped, special added tokens too when skip_special_tokens.
// *text_out is malloc'd. Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument);
// KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_tokenizer_decode(const fe_tokenizer *t, const int32_t *ids, int32_t n, bool skip_special_tokens,
                                bool clean_up, char **text_out);

// tokenizer_config.json's model_max_length, or -1 when there is none (or it is transformers'
// "very large" placeholder).
// transformers' convert_tokens_to_string: the decoder over token strings (" ".join without one).
kiln_status fe_tokenizer_tokens_to_string(const fe_tokenizer *t, const char *const *tokens, int32_t n, char **text_out);
// The model's continuing_subword_prefix ("##" for WordPiece; a BPE's when it has one), else NULL.
const char *fe_tokenizer_subword_prefix(const fe_tokenizer *t);
int64_t fe_tokenizer_model_max_length(const fe_tokenizer *t);
// Special tokens the post-processor adds to one text (pair false) or a pair.
int32_t fe_tokenizer_num_special_tokens_to_add(const fe_tokenizer *t, bool pair);
// Defaults transformers takes from tokenizer_config.json: padding on the left, truncation on the
// left, clean_up_tokenization_spaces, the pad token's type id.
bool fe_tokenizer_padding_left(const fe_tokenizer *t);
bool fe_tokenizer_truncation_left(const fe_tokenizer *t);
bool fe_tokenizer_clean_up_spaces(const fe_tokenizer *t);
int32_t fe_tokenizer_pad_type_id(const fe_tokenizer *t);

// The id of `token` (added tokens first, then the model's vocabulary), or -1.
int32_t fe_tokenizer_token_to_id(const fe_tokenizer *t, const char *token);
// The token string of `id`, owned by the tokenizer, or NULL for an id nothing names.
const char *fe_tokenizer_id_to_token(const fe_tokenizer *t, int32_t id);
// One more than the largest id (the model's vocabulary and the added tokens).
int32_t fe_tokenizer_vocab_size(const fe_tokenizer *t);
// The id of a special token (unk, cls, sep, pad, mask, bos, eos: BERT's [UNK] ... unless the files
// name others), or -1 when the vocabulary has no such token.
int32_t fe_tokenizer_special_id(const fe_tokenizer *t, fe_tok_special which);

#endif  // KILN_FE_TOKENIZER_H
