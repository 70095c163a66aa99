/* pretok_bert.c — HF's BertPreTokenizer: split a normalized string on whitespace (dropped) and on
 * punctuation (each mark its own word). Words are spans of the normalized string, so their
 * original offsets come from its alignment.
 */
#include "frontend/tokenizer/internal.h"

kiln_status fe_tok_pretokenize_bert(const fe_tok_normalized *s, int32_t start, int32_t end, fe_tok_spans *out);

kiln_status fe_tok_pretokenize_bert(const fe_tok_normalized *s, int32_t start, int32_t end, fe_tok_spans *out) {
    int32_t word = start;
    for (int32_t i = start; i < end; i++) {
        uint32_t cp = s->cps[i];
        bool space, punct;
        if (cp < 0x80) {
            if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') continue;
            if (cp >= '0' && cp <= '9') continue;
        }
        space = fe_tok_is_whitespace(cp);
        punct = !space && fe_tok_is_punctuation(cp);
        if (!space && !punct) continue;
        if ((word < i && !fe_tok_spans_push(out, word, i)) || (punct && !fe_tok_spans_push(out, i, i + 1)))
            return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory splitting words");
        word = i + 1;
    }
    if (word < end && !fe_tok_spans_push(out, word, end))
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory splitting words");
    return KILN_OK;
}
