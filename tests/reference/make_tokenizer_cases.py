#!/usr/bin/env python3
"""WordPiece (BERT) tokenizer fixtures and Hugging Face `tokenizers`' outputs for kiln's tokenizer test.

Writes tests/fixtures/tokenizer/ (or OUT_DIR):
  bert-uncased/  tokenizer.json, vocab.txt, tokenizer_config.json   lowercase + strip accents, TemplateProcessing;
                 also vocab_crlf.txt, the same vocabulary with \r\n line ends
  bert-cased/    tokenizer.json, vocab.txt, tokenizer_config.json   no lowercase, no accent stripping
  bert-flags/    tokenizer.json only: strip accents without lowercase, no CJK spacing, BertProcessing,
                 max_input_chars_per_word 20, added tokens with lstrip / rstrip / single_word / normalized
  bad/           files that must be rejected (malformed JSON, unsupported model type, ...)
  cases.json     {"variants": [...], "cases": [{"text", "pair" (or null), "add_special_tokens",
                 "expect": {variant: {"ids", "type_ids", "special_mask", "sequence_ids", "offsets"}}}]}
Offsets are UTF-8 *byte* offsets into the text the token came from (text or pair), flattened as
[s0, e0, s1, e1, ...]; sequence_ids are 0 / 1 / -1 (-1: added by the post-processor).

The vocabulary is written out by hand below, so the fixtures are deterministic. For bert-uncased and
bert-cased the script also loads vocab.txt + tokenizer_config.json alone through transformers'
AutoTokenizer and tokenizers' BertWordPieceTokenizer and stops if either disagrees with tokenizer.json.

Usage: make_tokenizer_cases.py [OUT_DIR]    (needs: tokenizers, transformers)
"""
import json
import os
import random
import shutil
import sys
import tempfile

import tokenizers
import transformers
from tokenizers import AddedToken, BertWordPieceTokenizer, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors

transformers.logging.set_verbosity_error()

SPECIALS = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAIN_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

WORDS = """the a an of to and in is it that for on with as was he she they we you i be at by this
had not are but from or have one all were her his there can which their said if do will each about
how up out them then many some so these would other into has more two like him see time could no
make than first been its who now people my made over did down only way find use may water long
little very after words called just where most know hello world token tokenizer model models bert
kiln compile compiler runtime transform transformer play run walk talk test data text word piece
mask cafe naive resume ecole uber strasse facade pinata creme brulee paris london new york city
question answer ask yes please thank thanks good bad day night sun moon star cat dog house car
un re pre dis over under inter trans sub super anti semi non mis""".split()

SUFFIXES = """s es ed ing er ers est ly ment ness tion able ible ful less ize izer ized ism ist ity
al ial ic ical ous ive y ie en ern ward wise like ship hood dom ant ent ance ence age ery ory
believ form ation ations ict icted ion ions er's ny i o a e u""".split()

CASED_WORDS = """The A I He She We They It This That Hello World Paris London New York BERT Kiln
GPT HF Python Rust C Mr Mrs Dr Monday January English French Chinese Japanese Korean""".split()

ACCENTED = """à á â ã ä å æ ç è é ê ë ì í î ï ñ ò ó ô õ ö ø ù ú û ü ý ÿ ß œ ð þ ł ş ğ ı
À Á Â Ä Å Ç È É Ê Ö Ø Ü Ñ Œ İ café naïve résumé école über façade piñata crème brûlée
ångström straße""".split()

CJK = list("中文日本语我你他好是的人大小国学生字北京上海天地山水火")
KANA = list("こんにちはありがとうカタナ")
HANGUL_SYLLABLES = list("한국어안녕하세요")
HANGUL_JAMO = [chr(c) for c in (0x1100, 0x1102, 0x110B, 0x1112, 0x1161, 0x1165, 0x1169, 0x116E,
                                0x1175, 0x11A8, 0x11AB, 0x11BC)]
GREEK = list("αβγδεζηθικλμνξοπρσςτυφχψωΣΑΒΩ")
CYRILLIC = list("приветмирПМ")
OTHER = ["😀", "🤗", "👍", "❤", "→", "€", "±", "™", "©", "°", "½", "²", "ﬁ", "ǆ", "ǅ"]


def build_vocab():
    """A few hundred entries: specials, characters and their ## forms, words and suffixes."""
    vocab = []
    seen = set()

    def add(tok):
        if tok not in seen:
            seen.add(tok)
            vocab.append(tok)

    for t in SPECIALS:
        add(t)
    for c in [chr(c) for c in range(33, 127) if not chr(c).isalnum()]:
        add(c)
    for c in "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
        add(c)
        add("##" + c)
    for c in (ACCENTED + CJK + KANA + HANGUL_SYLLABLES + HANGUL_JAMO + GREEK + CYRILLIC + OTHER +
              list("…—–«»¿¡、。・【】「」·§¶")):
        add(c)
        if len(c) == 1 and c not in CJK:
            add("##" + c)
    for w in WORDS + CASED_WORDS:
        add(w)
        add(w.lower())
    for s in SUFFIXES:
        add("##" + s)
    for w in ["##ab", "##abc", "##ing", "##kiln", "hello", "##world", "##token", "##ly", "3", "14",
              "##14", "1000", "##000", "[", "]", "mask", "##mask", "un", "##believ", "##able",
              "supercal", "##ifrag", "##ilistic", "##expiali", "##docious", "中国", "##国",
              # musical symbols: spacing marks that survive strip_accents, so NFD's reordering shows
              "\U0001d158", "##\U0001d165", "##\U0001d16d", "##\U0001d16e", "##\u0f71", "##\u0f72"]:
        add(w)
    return vocab


def bert_tokenizer(vocab, lowercase, strip_accents, chinese=True, post="template", max_chars=100,
                   specials=None):
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]",
                                     max_input_chars_per_word=max_chars))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=chinese,
                                                strip_accents=strip_accents, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    if post == "template":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    else:
        tok.post_processor = processors.BertProcessing(("[SEP]", sep), ("[CLS]", cls))
    tok.add_special_tokens(specials or [AddedToken(t, special=True, normalized=False) for t in MAIN_SPECIALS])
    return tok


def write_variant(out_dir, name, vocab, tok, config):
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    if config is not None:
        with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(t + "\n" for t in vocab))
        with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, ensure_ascii=False)
            f.write("\n")
    return d


# ---- test strings ----------------------------------------------------------------------------

HAND_PICKED = [
    "", " ", "   ", "\t", "\n", "\r\n", " \t\n\r ", "a", "A", ".", "...", "hello", "Hello World!",
    "hello world", "HELLO WORLD", "Hello, world! How are you?", "the quick brown fox",
    "unbelievable", "Unbelievable!", "tokenizers tokenizer tokenized", "playing played plays",
    "kiln compiles models", "3.14", "1,000,000", "1000 14 3.14159", "$5.00 & 10% off #1 @home",
    "a-b_c~d`e^f|g\\h/i", "(parens) [brackets] {braces} <angles>", "\"quoted\" 'single'",
    "café", "CAFÉ", "cafe\u0301", "naïve résumé", "Ångström", "crème brûlée", "Straße", "ÉCOLE über",
    "façade piñata", "e\u0301\u0301\u0301", "a\u0301\u0323 x\u0323\u0301", "\u0301", "\u0301abc",
    "İstanbul", "ıi İI", "ΣΊΣΥΦΟΣ σίσυφος", "Привет мир", "ǅ ǆ Ǆ", "ﬁne ﬂow", "K Å Ω",
    "ẞ ß", "Ǆemal", "Ⅻ ⅻ", "Ⓐ ⓐ",
    "我是中国人", "北京 上海", "中文字", "日本語のテキスト", "こんにちは", "ありがとう", "カタカナ",
    "한국어", "안녕하세요", "한국어 text", "中a文b", "x中y", "中国", "\u3400\u4dbf\U00020000\U0002a6df",
    "\uf900\ufaff\U0002f800", "\u2e80\u3000\u3001\u3002", "【東京】「大阪」",
    "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีครับ", "Γειά σου Κόσμε",
    "emoji 😀 🤗 👍", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷🇩🇪", "❤️", "😀😀😀", "a😀b",
    "zero\u200bwidth", "zero\u200cnon\u200djoiner", "bom\ufeffhere", "soft\u00adhyphen",
    "word\u2060joiner", "rtl\u202eoverride", "mongolian\u180evowel", "replacement\ufffdchar",
    "ctrl\x01\x02\x03chars", "bell\x07", "esc\x1b[0m", "del\x7f", "nel\x85line", "\x0b\x0c",
    "\x01", "\x01\x02", "\ufffd", "\u200b", "\u200b\u200b hello \u200b",
    "nbsp\u00a0space", "ideographic\u3000space", "em\u2003space", "line\u2028sep", "para\u2029sep",
    "ogham\u1680space", "narrow\u202fnbsp", "math\u205fspace",
    "tab\tseparated\tvalues", "multi\nline\ntext", "windows\r\nnewlines", "   leading", "trailing   ",
    "a" * 100, "a" * 101, "b" * 99 + "c", "é" * 100, "é" * 101, "中" * 150, "x" * 300,
    "supercalifragilisticexpialidocious", "supercalifragilisticexpialidocious" * 3,
    "hello" + "😀" * 101, "word " * 60,
    "[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[mask]", "[Mask]", "hello [MASK] world",
    "hello[MASK]world", "[MASK][MASK]", "[[MASK]]", "[MASK", "MASK]", "[CLS] a [SEP] b [SEP]",
    " [MASK] ", "\t[MASK]\n", "é[MASK]é", "[MASK]\u0301", "中[MASK]中", "[UNK] unknown",
    "[unused0] [unused1]", "the [MASK] sat on the [MASK].", "[SEP][CLS]",
    "Mr. Smith's dog - it's 5 o'clock!", "e-mail: test@example.com", "http://example.com/a?b=c&d=e",
    "C++ and C# and F#", "¿Qué? ¡Sí!", "«guillemets» „quotes“", "dash—em–en", "ellipsis…",
    "Ⅰ Ⅱ", "x² + y² = z²", "½ ¼", "™ © ®", "°C", "→ ← ↑ ↓", "€100 £50 ¥1000",
    "\u0890\u0891\u08e2", "\u2e52\u2e53\u2e5d", "\u1c89\u1c8a", "\u0898\u0899", "\u1734",
    "\ua7cb\ua7cc\ua7dc", "\U00010d50\U00010d51", "\U00016ea0", "\u166d", "\u061d", "\u1b7d",
    "\U000110cd", "\U00013430", "\U0001e900\U0001e922", "\u10a0\u2d00", "\u0130\u0131",
    "\U000e0001\U000e0041", "\U000f0000\U0010fffd", "\ue000\uf8ff", "\ufe0f\U000e0100",
    "\U0001d400\U0001d7ff", "\u2000\u200a", "\u3164\uffa0", "\u115f\u1160",
    "Hello\u0301 World\u0308", "ḱṷṓn", "Å", "\u212b", "\u00c5", "A\u030a",
    # NFD reorders marks; HF's alignment after reordering is positional, not per character
    "\u00e9\u0323", "x\u0301\u0323", "\U0001d15f\u0323\u0301", "a\u0344\u0323", "\u1e69\u0323",
    "x\U0001d16d\U0001d165", "\U0001d160\U0001d16d", "q\u0f73\u0301 z",
    # single_word next to characters newer than most Unicode tables
    "ab\u1c89", "\u1c89ab", "ab\u0890", "xab ab", "ab, ab. (ab)",
]

HAND_PAIRS = [
    ("hello", "world"), ("", ""), ("a", ""), ("", "b"), ("question?", "answer."),
    ("[MASK] here", "and [SEP] there"), ("中文", "日本語"), ("café", "CAFÉ"),
    ("tab\tsep", "new\nline"), ("a" * 101, "b"), ("😀", "🤗"), ("\x01", "\u200b"),
]

POOLS = {
    "word": WORDS,
    "cased": CASED_WORDS,
    "accented": ACCENTED,
    "cjk": ["".join(CJK[i:i + 3]) for i in range(0, len(CJK), 3)] + ["中国", "北京"],
    "kana": ["こんにちは", "ありがとう", "カタナ"],
    "hangul": ["한국어", "안녕하세요"],
    "greek": ["ΣΊΣΥΦΟΣ", "αβγ", "λόγος"],
    "cyrillic": ["Привет", "мир"],
    "script": ["مرحبا", "שלום", "नमस्ते", "สวัสดี", "ქართული", "Հայերեն"],
    "emoji": ["😀", "🤗", "👍", "👍🏽", "❤️", "🇫🇷", "👨\u200d👩\u200d👧"],
    "punct": list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + list("…—–«»¿¡、。・【】「」·§¶‰′″‹›"),
    "symbol": ["€", "±", "™", "©", "°", "½", "²", "→", "∑", "√", "∞", "♥", "★"],
    "control": ["\x01", "\x07", "\x1b", "\x7f", "\x85", "\u200b", "\u200c", "\u200d", "\u2060",
                "\ufeff", "\u00ad", "\ufffd", "\u202e", "\u180e", "\x0b", "\x0c"],
    "special": ["[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[mask]", "[MASK", "MASK]"],
    "combining": ["\u0301", "\u0308", "\u0323", "\u0303", "e\u0301", "o\u0308", "n\u0303"],
    "number": ["0", "42", "3.14", "1,000", "2024", "7th"],
    "flags": ["yes please", "YES PLEASE", "ab", "xab", "abx", "<sep2>", "<sep2>  ", "ab ab"],
}
SEPARATORS = [" "] * 12 + ["", "\t", "\n", "  ", "\u00a0", "\u3000", "\r\n", "\u2003", "\u200b"]


def random_code_point(rng):
    """Anything from the whole Unicode range but surrogates and NUL, biased to assigned planes."""
    while True:
        plane = rng.choice([0, 0, 0, 0, 1, 1, 2, 3, 14, 15, 16])
        cp = plane * 0x10000 + rng.randrange(0x10000)
        if cp and not 0xD800 <= cp <= 0xDFFF:
            return chr(cp)


def random_text(rng):
    n = rng.choice([1, 2, 3, 4, 6, 8, 12, 20])
    parts = []
    for _ in range(n):
        kind = rng.choice(list(POOLS) + ["word", "word", "cased", "letters", "codepoint"])
        if kind == "letters":
            alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéü"
            parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))))
        elif kind == "codepoint":
            parts.append("".join(random_code_point(rng) for _ in range(rng.randint(1, 3))))
        else:
            parts.append(rng.choice(POOLS[kind]))
        parts.append(rng.choice(SEPARATORS))
    text = "".join(parts)
    if rng.random() < 0.15:
        text = text.upper()
    elif rng.random() < 0.1:
        text = text.title()
    return text


def make_cases():
    rng = random.Random(20240607)
    cases = [(t, None, True) for t in HAND_PICKED]
    cases += [(a, b, True) for a, b in HAND_PAIRS]
    cases += [(t, None, False) for t in HAND_PICKED[::5]]
    cases += [(a, b, False) for a, b in HAND_PAIRS[::2]]
    for i in range(380):
        pair = random_text(rng) if i % 4 == 0 else None
        cases.append((random_text(rng), pair, i % 7 != 3))
    for text, pair, _ in cases:
        assert "\x00" not in text and (pair is None or "\x00" not in pair), "C strings cannot hold NUL"
    return cases


# ---- recording -------------------------------------------------------------------------------

def byte_offsets(text, char_offsets):
    prefix = [0]
    for c in text:
        prefix.append(prefix[-1] + len(c.encode("utf-8")))
    return [prefix[i] for i in char_offsets]


def record(enc, text, pair):
    offsets = []
    for seq, (s, e) in zip(enc.sequence_ids, enc.offsets):
        if seq is None:
            offsets += [0, 0]
        else:
            offsets += byte_offsets(pair if seq == 1 else text, [s, e])
    return {"ids": enc.ids, "type_ids": enc.type_ids, "special_mask": enc.special_tokens_mask,
            "sequence_ids": [-1 if s is None else s for s in enc.sequence_ids], "offsets": offsets}


def check_vocab_loaders(d, tok_json, lowercase, cases):
    """vocab.txt + tokenizer_config.json alone must give exactly what tokenizer.json gives."""
    with tempfile.TemporaryDirectory() as tmp:
        for f in ("vocab.txt", "tokenizer_config.json"):
            shutil.copy(os.path.join(d, f), tmp)
        hf = transformers.AutoTokenizer.from_pretrained(tmp)
        wp = BertWordPieceTokenizer(os.path.join(tmp, "vocab.txt"), lowercase=lowercase,
                                    strip_accents=None if lowercase else False)
        for text, pair, add in cases:
            want = tok_json.encode(text, pair, add_special_tokens=add)
            got = hf(text, pair, add_special_tokens=add, return_offsets_mapping=True,
                     return_special_tokens_mask=True)
            if add:
                alt = wp.encode(text, pair, add_special_tokens=True)
                assert alt.ids == want.ids and alt.offsets == want.offsets, (d, text, pair)
            same = (got["input_ids"] == want.ids and got["token_type_ids"] == want.type_ids and
                    [tuple(o) for o in got["offset_mapping"]] == want.offsets and
                    got["special_tokens_mask"] == want.special_tokens_mask)
            if not same and pair == "":
                continue   # transformers treats an empty pair as no pair; tokenizers does not
            if not same:
                sys.exit(f"{d}: vocab.txt and tokenizer.json disagree on {text!r} / {pair!r}:\n"
                         f"  {got}\n  {want.ids} {want.offsets}")


def write_bad(out_dir, good_json):
    d = os.path.join(out_dir, "bad")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "malformed.json"), "w") as f:       # cut off mid-object
        f.write(good_json[: len(good_json) // 3])
    obj = json.loads(good_json)
    # Types HF has (or had) and kiln does not: a model type, and the SentencePiece charsmap normalizer.
    bpe = dict(obj, model={"type": "Lattice", "vocab": {"a": 0}})
    normalizer = dict(obj, normalizer={"type": "Precompiled", "precompiled_charsmap": ""})
    decoder = dict(obj, decoder={"type": "CTC", "pad_token": "<pad>", "word_delimiter_token": "|", "cleanup": True})
    pretok = dict(obj, pre_tokenizer={"type": "UnicodeScripts"})
    bad_regex = dict(obj, pre_tokenizer={"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated",
                                         "invert": False})
    bad_merge = {"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}
    vocab_type = dict(obj, model=dict(obj["model"], vocab={"[UNK]": "zero"}))
    no_unk = dict(obj, model=dict(obj["model"], unk_token="[NOPE]"))
    sparse = dict(obj, model=dict(obj["model"], vocab=dict(obj["model"]["vocab"], far=2_000_000_000)))
    half = dict(obj, added_tokens=[dict(a, content="@HALF@") if a["content"] == "[MASK]" else a
                                   for a in obj["added_tokens"]])
    with open(os.path.join(d, "added_token_not_utf8.json"), "wb") as f:   # half of 中: \xe4\xb8
        f.write(json.dumps(half, ensure_ascii=False).encode().replace(b"@HALF@", b"\xe4\xb8"))
    for name, o in [("unsupported_model.json", bpe), ("unsupported_normalizer.json", normalizer),
                    ("unsupported_decoder.json", decoder), ("unsupported_pretokenizer.json", pretok),
                    ("bad_regex.json", bad_regex), ("merge_not_in_vocab.json", bad_merge),
                    ("bad_vocab_id.json", vocab_type), ("missing_unk.json", no_unk),
                    ("sparse_ids.json", sparse)]:
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            json.dump(o, f, ensure_ascii=False)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "fixtures", "tokenizer")
    os.makedirs(out_dir, exist_ok=True)
    vocab = build_vocab()
    flags_vocab = vocab + ["yes please"]   # "<sep2>" gets the next id as an added token
    base_config = {"tokenizer_class": "BertTokenizer", "unk_token": "[UNK]", "sep_token": "[SEP]",
                   "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
                   "tokenize_chinese_chars": True, "model_max_length": 512}

    uncased = bert_tokenizer(vocab, lowercase=True, strip_accents=None)
    cased = bert_tokenizer(vocab, lowercase=False, strip_accents=False)
    flags_specials = [AddedToken(t, special=True, normalized=False, lstrip=t == "[MASK]")
                      for t in MAIN_SPECIALS]
    flags_specials.append(AddedToken("<sep2>", rstrip=True, normalized=False, special=True))
    flags = bert_tokenizer(flags_vocab, lowercase=False, strip_accents=True, chinese=False,
                           post="bert", max_chars=20, specials=flags_specials)
    flags.add_tokens([AddedToken("yes please", normalized=True),
                      AddedToken("ab", single_word=True, normalized=False)])
    variants = {
        "bert-uncased": (uncased, dict(base_config, do_lower_case=True, strip_accents=None), True),
        "bert-cased": (cased, dict(base_config, do_lower_case=False, strip_accents=False), False),
        "bert-flags": (flags, None, None),
    }
    cases = make_cases()
    expect = {}
    for name, (tok, config, lowercase) in variants.items():
        d = write_variant(out_dir, name, flags_vocab if name == "bert-flags" else vocab, tok, config)
        tok_json = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        if config is not None:
            check_vocab_loaders(d, tok_json, lowercase, cases)
        if name == "bert-uncased":   # Python reads \r\n as a line end too; so must kiln
            with open(os.path.join(d, "vocab_crlf.txt"), "w", encoding="utf-8", newline="\r\n") as f:
                f.write("".join(t + "\n" for t in vocab))
        expect[name] = [record(tok_json.encode(t, p, add_special_tokens=a), t, p) for t, p, a in cases]
    with open(os.path.join(out_dir, "bert-uncased", "tokenizer.json"), encoding="utf-8") as f:
        write_bad(out_dir, f.read())

    out = {"generator": f"make_tokenizer_cases.py, tokenizers {tokenizers.__version__}, "
                        f"transformers {transformers.__version__}",
           "variants": list(variants),
           "cases": [{"text": t, "pair": p, "add_special_tokens": a,
                      "expect": {name: expect[name][i] for name in variants}}
                     for i, (t, p, a) in enumerate(cases)]}
    with open(os.path.join(out_dir, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"{len(cases)} cases x {len(variants)} variants -> {out_dir}")


if __name__ == "__main__":
    main()
