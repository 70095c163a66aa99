/* pretok_bytelevel.c — HF's ByteLevel pre-tokenizer (GPT-2, RoBERTa): an optional leading space,
 * the GPT-2 regex split (isolated), then every UTF-8 byte of every character becomes one of 256
 * printable characters (bytes_to_unicode), all aligned with the character they came from.
 */
#include "frontend/tokenizer/internal.h"

kiln_status fe_tok_pretok_emit_behavior(fe_tok_work *w, const fe_tok_normalized *text, const fe_tok_split *sp,
                                        const fe_tok_matches *m, fe_tok_behavior behavior, fe_tok_pretokenized *dst);

const char fe_tok_gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the 68 others to U+0100 and up.
static const uint16_t byte_chars[256] = {
    0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x10A, 0x10B, 0x10C, 0x10D, 0x10E, 0x10F,
    0x110, 0x111, 0x112, 0x113, 0x114, 0x115, 0x116, 0x117, 0x118, 0x119, 0x11A, 0x11B, 0x11C, 0x11D, 0x11E, 0x11F,
    0x120, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F,
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F,
    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F,
    0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x7B, 0x7C, 0x7D, 0x7E, 0x121,
    0x122, 0x123, 0x124, 0x125, 0x126, 0x127, 0x128, 0x129, 0x12A, 0x12B, 0x12C, 0x12D, 0x12E, 0x12F, 0x130, 0x131,
    0x132, 0x133, 0x134, 0x135, 0x136, 0x137, 0x138, 0x139, 0x13A, 0x13B, 0x13C, 0x13D, 0x13E, 0x13F, 0x140, 0x141,
    0x142, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0x143, 0xAE, 0xAF,
    0xB0, 0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xBB, 0xBC, 0xBD, 0xBE, 0xBF,
    0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF,
    0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF,
    0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xEE, 0xEF,
    0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF,
};

uint32_t fe_tok_byte_char(uint8_t b) { return byte_chars[b]; }

int fe_tok_char_byte(uint32_t cp) {
    if (cp < 0x100) return byte_chars[cp] == cp ? (int)cp : -1;
    if (cp >= 0x100 + 68) return -1;
    static const uint8_t rest[68] = {
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10,
        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x7F,
        0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F, 0x90,
        0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xAD,
    };
    return rest[cp - 0x100];
}

static kiln_status oom(void) {
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory pre-tokenizing text");
}

// Appends the byte-level form of src[start, end) to dst's text and one split over it.
static bool emit_bytes(fe_tok_pretokenized *dst, const fe_tok_normalized *src, int32_t start, int32_t end) {
    if (start >= end) return true;
    fe_tok_normalized *out = &dst->text;
    int32_t first = out->n;
    if (!fe_tok_normalized_reserve(out, out->n + 4 * (end - start))) return false;
    for (int32_t i = start; i < end; i++) {
        uint32_t cp = src->cps[i];
        int64_t s = src->start[i], e = src->end[i];
        if (cp < 0x80) {
            out->cps[out->n] = fe_tok_byte_char((uint8_t)cp), out->start[out->n] = s, out->end[out->n] = e;
            out->n++;
            continue;
        }
        char bytes[4];
        int k = fe_tok_utf8_encode(cp, bytes);
        for (int j = 0; j < k; j++) {
            out->cps[out->n] = fe_tok_byte_char((uint8_t)bytes[j]), out->start[out->n] = s, out->end[out->n] = e;
            out->n++;
        }
    }
    return fe_tok_pretok_push(dst, (fe_tok_split){first, out->n, src->start[start], 0, -1, 0, 0, 0, 0});
}

kiln_status fe_tok_pretok_bytelevel(const fe_tokenizer *t, const fe_tok_pretokenizer *p, fe_tok_work *w) {
    fe_tok_pretokenized *cur = &w->pt[w->cur], *dst = &w->pt[!w->cur];
    dst->n = 0;
    dst->text.n = 0;
    fe_tok_normalized *pre = &w->tmp2;   // a split with its leading space
    for (int32_t i = 0; i < cur->n; i++) {
        const fe_tok_split *sp = &cur->v[i];
        if (sp->id >= 0) {
            if (!fe_tok_pretok_push(dst, *sp)) return oom();
            continue;
        }
        const fe_tok_normalized *src = &cur->text;
        int32_t start = sp->start, end = sp->end;
        if (p->add_prefix_space && cur->text.cps[start] != ' ') {
            // The space shares the first character's alignment.
            pre->n = 0;
            if (!fe_tok_normalized_reserve(pre, end - start + 1)) return oom();
            pre->cps[0] = ' ', pre->start[0] = cur->text.start[start], pre->end[0] = cur->text.end[start];
            memcpy(pre->cps + 1, cur->text.cps + start, (size_t)(end - start) * sizeof(uint32_t));
            memcpy(pre->start + 1, cur->text.start + start, (size_t)(end - start) * sizeof(int64_t));
            memcpy(pre->end + 1, cur->text.end + start, (size_t)(end - start) * sizeof(int64_t));
            pre->n = end - start + 1;
            src = pre, start = 0, end = pre->n;
        }
        if (!p->use_regex) {
            if (!emit_bytes(dst, src, start, end)) return oom();
            continue;
        }
        if (!fe_tok_work_utf8(w, src, start, end)) return oom();
        w->ranges.n = 0;
        kiln_status st = fe_tok_regex_find_all(t->gpt2_regex, &w->match_data, w->utf8.data, w->utf8.len, &w->ranges);
        if (st != KILN_OK) return st;
        int32_t last = 0;
        for (int32_t k = 0; k < w->ranges.n; k++) {   // isolated: matches and the gaps between them
            int32_t a = w->char_at[w->ranges.v[k][0]], b = w->char_at[w->ranges.v[k][1]];
            if (!emit_bytes(dst, src, start + last, start + a) || !emit_bytes(dst, src, start + a, start + b))
                return oom();
            last = b;
        }
        if (!emit_bytes(dst, src, start + last, end)) return oom();
    }
    w->cur = !w->cur;
    return KILN_OK;
}
