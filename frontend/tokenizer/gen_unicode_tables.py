#!/usr/bin/env python3
"""gen_unicode_tables.py — writes unicode_tables.c: the character classes that Hugging Face
`tokenizers` uses in BertNormalizer and BertPreTokenizer, measured by asking `tokenizers` itself
about every code point. Its classes come from a Rust crate frozen at an old Unicode version and its
lowercasing from the Rust compiler's newer one, so utf8proc's tables would disagree on a few hundred
code points; measuring keeps kiln bit-exact. Run: python gen_unicode_tables.py > unicode_tables.c
"""
import sys

import tokenizers
from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers

CLEAN = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
LOWER = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True)
STRIP = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
NFD = normalizers.NFD()
PRETOK = pre_tokenizers.BertPreTokenizer()


def code_points():
    return (cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)


def ranges(pred):
    out = []
    for cp in code_points():
        if pred(cp):
            if out and out[-1][1] == cp - 1:
                out[-1][1] = cp
            else:
                out.append([cp, cp])
    return out


def is_dropped(cp):   # clean_text removes it: NUL, U+FFFD, and "other" categories except \t \n \r
    return CLEAN.normalize_str(chr(cp)) == ""


def is_space(cp):     # Rust char::is_whitespace, as the pre-tokenizer splits on it
    return len(PRETOK.pre_tokenize_str("a" + chr(cp) + "a")) == 2


def is_punct(cp):     # the pre-tokenizer isolates it
    return len(PRETOK.pre_tokenize_str("a" + chr(cp) + "a")) == 3


def is_mark_nonspacing(cp):   # strip_accents drops it after NFD
    return STRIP.normalize_str(chr(cp)) == ""


def nfd_known(cp):    # HF's NFD tables decompose it or give it a nonzero combining class
    c = chr(cp)
    if NFD.normalize_str(c) != c:
        return True
    # A mark of class k > 1 moves before U+0334 (class 1); one of class k < 240 moves before U+0345.
    return (NFD.normalize_str("a" + c + "\u0334") == "a\u0334" + c or
            NFD.normalize_str("a\u0345" + c) == "a" + c + "\u0345")


NFKD = normalizers.NFKD()
NFC = normalizers.NFC()


DIGITS = pre_tokenizers.Digits(individual_digits=True)


def is_numeric(cp):   # Rust char::is_numeric, as the Digits pre-tokenizer splits on it
    return len(DIGITS.pre_tokenize_str("a" + chr(cp) + "a")) == 3


STRIP_ACCENTS = normalizers.StripAccents()


def is_combining_mark(cp):   # the StripAccents normalizer drops it (Mn, Mc, Me)
    return STRIP_ACCENTS.normalize_str(chr(cp)) == ""


def nfkd_known(cp):   # HF's NFKD changes it (utf8proc knows newer compatibility mappings too)
    return NFKD.normalize_str(chr(cp)) != chr(cp)


def compositions():
    """Canonical pairs (a, b) -> composite that HF's NFC composes (Hangul is algorithmic)."""
    import unicodedata
    out = []
    for cp in code_points():
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<"):
            parts = [int(x, 16) for x in d.split()]
            if len(parts) == 2 and NFC.normalize_str(chr(parts[0]) + chr(parts[1])) == chr(cp):
                out.append((parts[0], parts[1], cp))
    return sorted(out)


# Classes of Oniguruma, the regex engine HF runs Split / Replace patterns with, measured from HF
# itself; kiln spells them out for PCRE2, whose Unicode tables are of another version.
ONIG_CLASSES = ["L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "N", "P", "S", "s", "d", "w"]


def onig_class(name):
    from tokenizers import Regex
    cps = [cp for cp in code_points() if cp]
    text = "".join(chr(c) for c in cps)
    pat = "\\" + name if len(name) == 1 and name.islower() else "\\p{" + name + "}"
    kept = pre_tokenizers.Split(Regex(pat), behavior="removed").pre_tokenize_str(text)
    covered = bytearray(len(text))
    for _, (a, b) in kept:
        covered[a:b] = b"\x01" * (b - a)
    matched = {cps[i] for i in range(len(text)) if not covered[i]}
    return ranges(lambda cp: cp in matched)


def word_chars():
    """Rust regex \\w, which decides whether a single_word added token stands alone: "ab" followed
    by a word character is not matched."""
    tok = Tokenizer(models.WordPiece({"[UNK]": 0}, unk_token="[UNK]"))
    tok.add_tokens([AddedToken("ab", single_word=True, normalized=False)])
    cps = list(code_points())
    encs = tok.encode_batch(["ab" + chr(cp) for cp in cps], add_special_tokens=False)
    word = {cp for cp, enc in zip(cps, encs) if enc.ids[0] != 1}
    return ranges(lambda cp: cp in word)


def lower_runs():
    """Single-code-point lowercase mappings as (first, last, delta, stride) runs."""
    runs, multi = [], []
    for cp in code_points():
        low = LOWER.normalize_str(chr(cp))
        if low == chr(cp):
            continue
        if len(low) != 1:
            multi.append((cp, [ord(c) for c in low]))
            continue
        delta = ord(low) - cp
        if runs:
            first, last, d, stride = runs[-1]
            gap = cp - last
            if d == delta and gap in (1, 2) and (stride == 0 or gap == stride):
                runs[-1] = [first, cp, d, gap]
                continue
        runs.append([cp, cp, delta, 0])
    for r in runs:
        r[3] = r[3] or 1
    return runs, multi


def emit_ranges(name, rs, comment):
    print(f"// {comment}")
    print(f"const fe_tok_range fe_tok_{name}[] = {{")
    line = "   "
    for a, b in rs:
        item = f" {{0x{a:X}, 0x{b:X}}},"
        if len(line) + len(item) > 100:
            print(line)
            line = "   "
        line += item
    print(line)
    print("};")
    print(f"const int32_t fe_tok_n_{name} = {len(rs)};\n")


def main():
    runs, multi = lower_runs()
    if [m[0] for m in multi] != [0x130]:
        sys.exit(f"unexpected multi-code-point lowercase mappings: {multi}")
    print(f"/* unicode_tables.c — GENERATED by gen_unicode_tables.py from tokenizers {tokenizers.__version__};")
    print(" * do not edit. Sorted, inclusive code point ranges, as Hugging Face tokenizers classifies them.")
    print(" */")
    print('#include "frontend/tokenizer/internal.h"\n')
    emit_ranges("dropped", ranges(is_dropped), "BertNormalizer clean_text removes these (controls, format, private use, NUL, U+FFFD).")
    emit_ranges("whitespace", ranges(is_space), "Rust char::is_whitespace (Unicode White_Space).")
    emit_ranges("punctuation", ranges(is_punct), "BertPreTokenizer punctuation: ASCII punctuation and Unicode P* (old tables).")
    emit_ranges("nonspacing_marks", ranges(is_mark_nonspacing), "Category Mn (old tables), which strip_accents removes after NFD.")
    emit_ranges("nfd_known", ranges(nfd_known), "What HF's (older) NFD tables decompose or reorder. utf8proc decomposes\n"
                "// these and only these, so characters newer than HF's tables pass through NFD as HF passes them.")
    emit_ranges("combining_marks", ranges(is_combining_mark), "General category M (Mn, Mc, Me), which the StripAccents normalizer removes.")
    emit_ranges("numeric", ranges(is_numeric), "Rust char::is_numeric (Nd, Nl, No), as the Digits pre-tokenizer splits on it.")
    emit_ranges("nfkd_known", ranges(nfkd_known), "What HF's NFKD changes: utf8proc's compatibility decomposition is applied to\n"
                "// these only (utf8proc also knows mappings of newer characters).")
    emit_ranges("word_chars", word_chars(), "Rust regex \\w (for added tokens' single_word and the Whitespace pre-tokenizer).")
    comps = compositions()
    print("// NFC's canonical compositions, sorted by (first, second): first + second -> composite.")
    print("const fe_tok_composition fe_tok_compositions[] = {")
    line = "   "
    for a, b, c in comps:
        item = f" {{0x{a:X}, 0x{b:X}, 0x{c:X}}},"
        if len(line) + len(item) > 100:
            print(line)
            line = "   "
        line += item
    print(line)
    print("};")
    print(f"const int32_t fe_tok_n_compositions = {len(comps)};\n")
    print("// Oniguruma's classes (\\p{L}, ..., \\s, \\d, \\w) as HF's regexes see them: pairs first, last.")
    for name in ONIG_CLASSES:
        rs = onig_class(name)
        print(f"static const uint32_t onig_{name}[] = {{")
        line = "   "
        for a, b in rs:
            item = f" {a}, {b},"
            if len(line) + len(item) > 100:
                print(line)
                line = "   "
            line += item
        print(line)
        print("};")
    print("const fe_tok_uclass fe_tok_onig_classes[] = {")
    for name in ONIG_CLASSES:
        print(f'    {{"{name}", onig_{name}, (int32_t)(sizeof(onig_{name}) / sizeof(uint32_t) / 2)}},')
    print("};")
    print(f"const int32_t fe_tok_n_onig_classes = {len(ONIG_CLASSES)};\n")
    print("// Rust char::to_lowercase, one code point to one: cp in [first, last] with (cp - first) % stride == 0")
    print("// maps to cp + delta. U+0130 (to \"i\\u0307\") is the only one-to-many mapping and is special-cased.")
    print("const fe_tok_case_run fe_tok_lower_runs[] = {")
    line = "   "
    for first, last, delta, stride in runs:
        item = f" {{0x{first:X}, 0x{last:X}, {delta}, {stride}}},"
        if len(line) + len(item) > 100:
            print(line)
            line = "   "
        line += item
    print(line)
    print("};")
    print(f"const int32_t fe_tok_n_lower_runs = {len(runs)};")


if __name__ == "__main__":
    main()
