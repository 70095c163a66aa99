#!/usr/bin/env python3
"""Every tokenizer model kiln reads, trained with Hugging Face `tokenizers` on a small committed text,
and what Transformers makes of a corpus of 2,000+ strings with each of them.

Writes tests/fixtures/tokenizer/ (or OUT_DIR):
  corpus.json            {"strings": [...], "pairs": [[i, j], ...]}: the inputs (pairs index strings)
  <name>/                one trained tokenizer: tokenizer.json + tokenizer_config.json (+ legacy files)
  expect/<name>.json     {"name", "dir", "cases": [case, ...]}: Transformers' encodings of the corpus
  expect/<name>.padding.json   every row of Transformers' padding/truncation table on a small batch
The tokenizer of `minilm` is the real sentence-transformers/all-MiniLM-L6-v2 (MODEL_DIR); only its
recorded outputs are committed, the C test reads its files from $KILN_MODEL_DIR.

A case is {"s": string index, "p": pair index or -1, "add": 0/1 (add_special_tokens),
"ids", "offs", "types", "special", "dec" (decode, skip_special_tokens=True) and "dec_all" (without
skipping, only where it differs)}. Integer lists are strings: space-separated, "v*n" repeats v n
times. "offs" are UTF-8 *byte* offsets into the text the token came from, one item per token:
"len" (the token starts where the previous one ended; the first counts from 0) or "gap:len" (it
starts gap bytes after the previous end, gap may be negative); "v*n" repeats an item. "types",
"special" and "attn" are integer lists too. "dec" is left out where it equals the text (no pair),
"dec_all" is recorded for one case in five.

The trained tokenizers cover what kiln implements: byte-level BPE (RoBERTa style, GPT-2 style, its
legacy vocab.json + merges.txt, LLaMA-3 style Split + ignore_merges), SentencePiece BPE with
byte_fallback (Metaspace; LLaMA style Prepend/Replace + ByteFallback/Fuse/Strip decoders; and a
tokenizer_config.json whose named special tokens transformers adds), Unigram (T5 style, and
prepend_scheme never / split false), WordPiece with other pre-tokenizers, BPE with
continuing_subword_prefix / end_of_word_suffix, and the Split behaviors.

The trainers run on one thread. Byte-level and SentencePiece BPE training is deterministic; the
Unigram and WordPiece trainers, and BPE's with a prefix and suffix, are not, so their models are kept in
train/{unigram,wordpiece,suffix-bpe}.json and reused (--retrain trains new ones). Rerunning the
script reproduces the committed files byte for byte.

Usage: make_tokenizer_fixtures.py [--retrain] MODEL_DIR [OUT_DIR]   (needs: tokenizers, transformers)
"""
import json
import os
import random
import shutil
import sys
import tempfile

os.environ["RUST_BACKTRACE"] = "0"   # expected panics (stride >= max_length) print one line
os.environ["RAYON_NUM_THREADS"] = "1"   # one thread: the trainers' results do not depend on scheduling
import tokenizers  # noqa: E402
import transformers  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from tokenizers import processors, trainers
from transformers import AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_cases import HAND_PAIRS, HAND_PICKED, random_code_point, random_text  # noqa: E402

transformers.logging.set_verbosity_error()

MODEL_MAX = 20   # model_max_length of the trained tokenizers: small, so the padding table bites

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")

EXTRA = [
    "", "", " ", "  ", "    ", "\t\t", "\n\n\n", " \n ", "a  b", "a\t\tb", "a \n b", "end ", " start",
    "x" * 120, "y" * 200, "word" * 40, "é" * 130, "ab" * 70 + " cd", "中文" * 60,
    "👨\u200d👩\u200d👧\u200d👦", "👩\u200d💻 codes", "🏳\ufe0f\u200d🌈", "🧑🏽\u200d🚀", "👁\u200d🗨",
    "مرحبا", "السلام عليكم ورحمة الله", "١٢٣ ٤٥٦", "كتب الطالب الدرس",
    "<s>", "</s>", "<pad>", "<unk>", "<mask>", "<s>hello</s>", "hello <mask> world", "a<mask>b",
    " <mask> ", "<|endoftext|>", "x<|endoftext|>y", "<sep>", "New York", "new york", "NEW YORK city",
    "<extra_id_0>", "kiln kiln", " kiln", "▁", "▁▁", "a▁b", "Ġ", "Ċ", "<0x41>", "<0xE4>",
    "[CLS]", "[SEP] [MASK]", "##", "##ing", "</w>", "a</w>",
    "don't can't won't", "I'm you're", "'s 't 're 've 'm 'll 'd", "'S 'T 'RE", "x'sy",
    "1234567890", "12345 678", "3.14159", "a1b2c3", "٣٤", "½⅓", "①②③", "ⅫⅩ",
    "\u00a0\u00a0", "\u3000中\u3000", "\u2028\u2029", "\x85", "a\x85b", "\u180e", "\u200b\u200c\u200d",
    "\ufeff", "\x0b\x0c", "\r", "\r\r\n", "\x1c\x1d\x1e\x1f", "tab\there", "e\u0301", "e\u0301\u0301",
    "\u1100\u1161\u11a8", "한국어", "ﬁﬂ", "ＡＢＣ", "ｶﾀｶﾅ", "㍻", "㌔", "™", "Å", "Ω", "K",
    "ᾈ", "ǅ", "ΐ", "İ", "ß", "ẞ", "ŉ", "ﬃ", "\u0344", "\u0958", "\u2126", "\u212b",
    "\U0001d400\U0001d401", "\U0001f600\U0001f64f", "\U00010000", "\U000e0001", "\U0010fffd",
]


def read_train(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def make_corpus(train_lines):
    rng = random.Random(20260303)
    strings, seen = [], set()

    def add(s):
        if s not in seen and "\x00" not in s:
            seen.add(s)
            strings.append(s)

    for s in HAND_PICKED + EXTRA + [a for p in HAND_PAIRS for a in p] + train_lines:
        add(s)
    add("")   # de-duplication keeps one empty string; the corpus wants it
    words = " ".join(train_lines).split()
    while len(strings) < 2100:
        r = rng.random()
        if r < 0.35:
            add(random_text(rng))
        elif r < 0.7:   # a run of words from the training text, sometimes damaged
            k = rng.randrange(len(words))
            s = " ".join(words[k:k + rng.randint(1, 12)])
            if rng.random() < 0.3:
                s = s.upper() if rng.random() < 0.5 else s.lower()
            if rng.random() < 0.2:
                i = rng.randrange(len(s) + 1)
                s = s[:i] + rng.choice(["  ", "\t", "\n", "😀", "中", "\u0301", "-", "'", "<mask>"]) + s[i:]
            add(s)
        elif r < 0.85:  # a slice of a training line, cut anywhere
            line = rng.choice(train_lines)
            i = rng.randrange(len(line) + 1)
            add(line[i:i + rng.randint(0, 40)])
        else:           # random code points mixed with ASCII
            add("".join(random_code_point(rng) if rng.random() < 0.4 else rng.choice("ab c.,'1")
                        for _ in range(rng.randint(1, 12))))
    index = {s: i for i, s in enumerate(strings)}
    pairs = [[index[a], index[b]] for a, b in HAND_PAIRS]
    while len(pairs) < 320:
        pairs.append([rng.randrange(len(strings)), rng.randrange(len(strings))])
    return strings, pairs


# ---- training -------------------------------------------------------------------------------

BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


def with_byte_tokens(tok_json, specials):
    """Puts <0x00>..<0xFF> into a trained model's vocabulary right after the special tokens, as
    SentencePiece models carry them, and renumbers the rest."""
    model = tok_json["model"]
    if model["type"] == "BPE":
        old = sorted(model["vocab"].items(), key=lambda kv: kv[1])
        names = [t for t, _ in old if t in specials] + BYTE_TOKENS + [t for t, _ in old if t not in specials]
        model["vocab"] = {t: i for i, t in enumerate(names)}
    else:   # Unigram: [[piece, score], ...]
        old = model["vocab"]
        lowest = min(score for _, score in old)
        head = [v for v in old if v[0] in specials]
        model["vocab"] = head + [[t, lowest - 1.0] for t in BYTE_TOKENS] + [v for v in old if v[0] not in specials]
        model["unk_id"] = [v[0] for v in model["vocab"]].index("<unk>")
    ids = {t: i for i, t in enumerate(model["vocab"] if model["type"] == "BPE" else [v[0] for v in model["vocab"]])}
    for a in tok_json["added_tokens"]:
        a["id"] = ids[a["content"]]
    return tok_json


def renumber_post(tok_json):
    """TemplateProcessing keeps token ids; after renumbering they must follow the vocabulary."""
    ids = {a["content"]: a["id"] for a in tok_json["added_tokens"]}

    def fix(pp):
        if pp is None:
            return
        if pp["type"] == "TemplateProcessing":
            for name, st in pp["special_tokens"].items():
                st["ids"] = [ids[t] for t in st["tokens"]]
        elif pp["type"] == "Sequence":
            for p in pp["processors"]:
                fix(p)
    fix(tok_json.get("post_processor"))
    return tok_json


def train_bytelevel_bpe(lines):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=1000, min_frequency=2, show_progress=False,
                                  special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    return tok


def train_sp_bpe(lines):
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=700, min_frequency=2, show_progress=False,
                                  special_tokens=["<unk>", "<s>", "</s>", "<pad>"])
    tok.train_from_iterator(lines, trainer)
    return tok


def train_unigram(lines):
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.Nmt(), normalizers.NFKC(),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=600, show_progress=False, unk_token="<unk>",
                                      special_tokens=["<pad>", "</s>", "<unk>"], max_piece_length=12)
    tok.train_from_iterator(lines, trainer)
    return tok


def train_wordpiece(lines):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=30))
    tok.normalizer = normalizers.Sequence([normalizers.NFKD(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    trainer = trainers.WordPieceTrainer(vocab_size=700, show_progress=False,
                                        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(lines, trainer)
    return tok


def train_suffix_bpe(lines):
    tok = Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix="</w>", continuing_subword_prefix="##",
                               fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=600, min_frequency=2, show_progress=False,
                                  special_tokens=["<unk>", "<pad>"], end_of_word_suffix="</w>",
                                  continuing_subword_prefix="##")
    tok.train_from_iterator(lines, trainer)
    return tok


def json_of(tok):
    return json.loads(tok.to_str())


def build(tok_json):
    return Tokenizer.from_str(json.dumps(tok_json))


def added(content, special=True, normalized=None, lstrip=False, rstrip=False, single_word=False):
    return {"content": content, "special": special, "normalized": (not special) if normalized is None else normalized,
            "lstrip": lstrip, "rstrip": rstrip, "single_word": single_word}


def with_tokens(base, tokens):
    """A tokenizer from tokenizer.json `base` with added tokens (dicts as `added` makes)."""
    tok = build(base)
    tok.add_special_tokens([AddedToken(t["content"], single_word=t["single_word"], lstrip=t["lstrip"],
                                       rstrip=t["rstrip"], normalized=t["normalized"], special=True)
                            for t in tokens if t["special"]])
    tok.add_tokens([AddedToken(t["content"], single_word=t["single_word"], lstrip=t["lstrip"],
                               rstrip=t["rstrip"], normalized=t["normalized"], special=False)
                    for t in tokens if not t["special"]])
    return json_of(tok)


def template(single, pair, tok_json):
    ids = {a["content"]: a["id"] for a in tok_json["added_tokens"]}
    vocab = tok_json["model"]["vocab"]
    if isinstance(vocab, list):
        vocab = {v[0]: i for i, v in enumerate(vocab)}
    names = {w.split(":")[0] for w in (single + " " + pair).split() if not w.startswith("$")}
    return processors.TemplateProcessing(single=single, pair=pair,
                                         special_tokens=[(n, ids.get(n, vocab.get(n))) for n in sorted(names)])


def trained(name, train, lines, out_dir, retrain):
    """The Unigram and WordPiece trainers, and BPE's with a prefix and suffix, are not deterministic
    (tie-breaks follow Rust's randomly seeded hash maps), so their models are kept in
    train/<name>.json and reused: rerunning the script then reproduces the fixtures byte for byte.
    --retrain trains new ones."""
    path = os.path.join(out_dir, "train", name + ".json")
    if os.path.exists(path) and not retrain:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    tok_json = json_of(train(lines))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tok_json, f, ensure_ascii=False, separators=(",", ":"))
    return tok_json


def make_tokenizers(lines, out_dir, retrain):
    """name -> (tokenizer.json object, tokenizer_config.json object)."""
    out = {}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": MODEL_MAX}

    # RoBERTa-style byte-level BPE: ByteLevel, RobertaProcessing with trim_offsets, <mask> lstrip.
    bl = json_of(train_bytelevel_bpe(lines))
    bl = with_tokens(bl, [added("<mask>", lstrip=True)])
    tok = build(bl)
    tok.post_processor = processors.RobertaProcessing(("</s>", bl["model"]["vocab"]["</s>"]),
                                                      ("<s>", bl["model"]["vocab"]["<s>"]),
                                                      trim_offsets=True, add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    out["bytelevel-bpe"] = (json_of(tok), dict(config, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                               sep_token="</s>", cls_token="<s>", pad_token="<pad>",
                                               mask_token="<mask>"))

    # GPT-2 style: add_prefix_space, ByteLevel post-processor trimming offsets, user tokens.
    g = dict(bl, added_tokens=[a for a in bl["added_tokens"] if a["content"] != "<mask>"])
    g = with_tokens(g, [added("<|endoftext|>"), added("New York", special=False, normalized=False, single_word=True),
                        added(" kiln", special=False, normalized=True, rstrip=True)])
    tok = build(g)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, trim_offsets=True)
    tok.post_processor = processors.ByteLevel(trim_offsets=True, add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    out["gpt2-bpe"] = (json_of(tok), dict(config, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                          unk_token="<|endoftext|>", pad_token="<pad>"))

    # LLaMA-3 style: Split with the LLaMA-3 regex, ByteLevel without its regex, ignore_merges,
    # NFC, Sequence post-processor (ByteLevel, then a template with a BOS).
    l3 = json.loads(json.dumps(bl))
    l3["model"]["ignore_merges"] = True
    l3 = with_tokens(l3, [added("<|begin_of_text|>"), added("<|end_of_text|>")])
    tok = build(l3)
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        template("<|begin_of_text|> $A", "<|begin_of_text|> $A:0 <|begin_of_text|>:1 $B:1", json_of(tok))])
    tok.decoder = decoders.ByteLevel()
    out["llama3-bpe"] = (json_of(tok), dict(config, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>",
                                            pad_token="<|end_of_text|>"))

    # SentencePiece BPE: NFKC, Metaspace (prepend_scheme first), byte_fallback, template.
    sp = with_byte_tokens(json_of(train_sp_bpe(lines)), {"<unk>", "<s>", "</s>", "<pad>"})
    sp = with_tokens(sp, [added("<sep>"), added("New York", special=False)])
    tok = build(sp)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=True)
    tok.post_processor = template("<s> $A </s>", "<s> $A </s> $B:1 </s>:1", json_of(tok))
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(prepend_scheme="first")])
    out["sp-bpe"] = (json_of(tok), dict(config, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                        pad_token="<pad>", padding_side="left"))

    # The same tokenizer.json, and a tokenizer_config.json that makes transformers change it: named
    # special tokens that are not added tokens yet (extra ones, a model-specific one), and an explicit
    # add_bos_token / add_eos_token, which replaces the post-processor.
    out["sp-bpe-config"] = (json_of(tok), dict(config, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                               pad_token="<pad>", add_bos_token=False, add_eos_token=True,
                                               additional_special_tokens=["<extra_0>", "kiln"],
                                               image_token="<image>"))

    # LLaMA style: the same model, Prepend + Replace normalizers and no pre-tokenizer.
    tok = build(sp)
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = None
    tok.post_processor = template("<s> $A", "<s> $A <s>:1 $B:1", json_of(tok))
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    out["llama-bpe"] = (json_of(tok), dict(config, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                           pad_token="<unk>"))

    # T5-style Unigram: Nmt + NFKC + Replace, Metaspace, byte_fallback, "$A </s>".
    un = with_byte_tokens(trained("unigram", train_unigram, lines, out_dir, retrain), {"<pad>", "</s>", "<unk>"})
    un["model"]["byte_fallback"] = True
    un = with_tokens(un, [added("<extra_id_0>"), added("kiln kiln", special=False, normalized=True)])
    tok = build(un)
    tok.post_processor = template("$A </s>", "$A </s> $B:1 </s>:1", json_of(tok))
    tok.decoder = decoders.Metaspace(prepend_scheme="always")
    out["unigram"] = (json_of(tok), dict(config, eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                                         truncation_side="left"))

    # Unigram without byte_fallback, Metaspace never / no split, other normalizers.
    u2 = json.loads(json.dumps(un))
    u2["model"]["byte_fallback"] = False
    tok = build(u2)
    tok.normalizer = normalizers.Sequence([normalizers.Strip(left=True, right=True), normalizers.Lowercase(),
                                           normalizers.NFD(), normalizers.StripAccents(),
                                           normalizers.Replace("'", "\u2019"), normalizers.NFC()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never", split=False)
    tok.post_processor = None
    tok.decoder = decoders.Metaspace(prepend_scheme="never", split=False)
    out["unigram-never"] = (json_of(tok), dict(config, unk_token="<unk>", pad_token="<pad>"))

    # WordPiece with NFKD + Lowercase, WhitespaceSplit / Punctuation / Digits, BertProcessing,
    # decoder cleanup and transformers' clean_up_tokenization_spaces.
    wp = trained("wordpiece", train_wordpiece, lines, out_dir, retrain)
    tok = build(wp)
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Punctuation(behavior="isolated"),
                                                 pre_tokenizers.Digits(individual_digits=True)])
    vocab = wp["model"]["vocab"]
    tok.post_processor = processors.BertProcessing(("[SEP]", vocab["[SEP]"]), ("[CLS]", vocab["[CLS]"]))
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    out["wordpiece"] = (json_of(tok), dict(config, unk_token="[UNK]", sep_token="[SEP]", cls_token="[CLS]",
                                           pad_token="[PAD]", mask_token="[MASK]",
                                           clean_up_tokenization_spaces=True))

    # Split behaviors on the same WordPiece vocabulary.
    tok = build(wp)
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("~"), normalizers.NFC(),
                                           normalizers.Replace(Regex(r"\d+"), "7")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\s+"), behavior="removed"),
        pre_tokenizers.Split(Regex(r"[.,!?]"), behavior="isolated"),
        pre_tokenizers.Split("~", behavior="merged_with_next"),
        pre_tokenizers.Digits(individual_digits=False)])
    tok.post_processor = None
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    out["split-a"] = (json_of(tok), dict(config, unk_token="[UNK]", pad_token="[PAD]"))

    tok = build(wp)
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(" ", behavior="merged_with_previous"),
        pre_tokenizers.Split(Regex(r"\p{N}+"), behavior="contiguous"),
        pre_tokenizers.Split(Regex(r"[aeiou]"), behavior="merged_with_next"),
        pre_tokenizers.Split(Regex(r"\p{L}+|\s"), behavior="removed", invert=True),
        pre_tokenizers.Punctuation(behavior="contiguous")])
    tok.decoder = None
    out["split-b"] = (json_of(tok), dict(config, unk_token="[UNK]", pad_token="[PAD]"))

    # BPE with continuing_subword_prefix and end_of_word_suffix, Whitespace, BPEDecoder.
    sb = trained("suffix-bpe", train_suffix_bpe, lines, out_dir, retrain)
    tok = build(sb)
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    out["suffix-bpe"] = (json_of(tok), dict(config, unk_token="<unk>", pad_token="<pad>"))
    return out


# ---- recording ------------------------------------------------------------------------------

def ints(values):
    """Space-separated items with runs of 3 or more written v*n."""
    out, i = [], 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            j += 1
        if j - i >= 3:
            out.append(f"{values[i]}*{j - i}")
        else:
            out.extend(str(values[i]) for _ in range(j - i))
        i = j
    return " ".join(out)


def byte_prefix(text):
    prefix = [0]
    for c in text:
        prefix.append(prefix[-1] + len(c.encode("utf-8")))
    return prefix


def row_record(enc, row, text, pair, with_masks):
    """One row of a BatchEncoding (`enc`), offsets turned into bytes and delta-coded."""
    seq_ids = enc.encodings[row].sequence_ids
    char_offs = enc["offset_mapping"][row]
    pt, pp = byte_prefix(text), byte_prefix(pair or "")
    offs, prev = [], 0
    for sid, (s, e) in zip(seq_ids, char_offs):
        if sid is None:
            bs, be = 0, 0
            assert (s, e) == (0, 0)
        else:
            p = pt if sid == 0 else pp
            bs, be = p[s], p[e]
        offs.append(f"{be - bs}" if bs == prev else f"{bs - prev}:{be - bs}")
        prev = be
    words = [-1 if w is None else w for w in enc.encodings[row].word_ids]
    rec = {"ids": ints(enc["input_ids"][row]), "offs": ints(offs),
           "types": ints(enc["token_type_ids"][row]), "special": ints(enc["special_tokens_mask"][row]),
           "words": ints(words)}
    if with_masks:
        rec["attn"] = ints(enc["attention_mask"][row])
    else:
        assert all(m == 1 for m in enc["attention_mask"][row])
    return rec


def call(hf, texts, pairs, **kw):
    return hf(texts, pairs, return_offsets_mapping=True, return_special_tokens_mask=True,
              return_token_type_ids=True, return_attention_mask=True, **kw)


def record_cases(hf, raw, strings, pairs, which_strings, which_pairs, no_special):
    """Encodes each string (and pair) in batches of 64, as transformers does; checks that the raw
    `tokenizers` Tokenizer agrees (without the padding and truncation that tokenizer.json may carry,
    which transformers turns off for a call without them)."""
    raw.no_padding()
    raw.no_truncation()
    jobs = [(i, -1, 1) for i in which_strings] + [(a, b, 1) for a, b in which_pairs]
    jobs += [(i, -1, 0) for i in no_special] + [(a, b, 0) for a, b in which_pairs[:len(no_special) // 4]]
    cases = []
    for k in range(0, len(jobs), 64):
        chunk = jobs[k:k + 64]
        for add in (0, 1):
            for has_pair in (False, True):
                sel = [j for j in chunk if j[2] == add and (j[1] >= 0) == has_pair]
                if not sel:
                    continue
                texts = [strings[s] for s, _, _ in sel]
                prs = [strings[p] for _, p, _ in sel] if has_pair else None
                enc = call(hf, texts, prs, add_special_tokens=bool(add))
                for r, (s, p, _) in enumerate(sel):
                    rec = {"s": s, "p": p, "add": add}
                    rec.update(row_record(enc, r, strings[s], strings[p] if p >= 0 else None, False))
                    want = raw.encode(strings[s], strings[p] if p >= 0 else None, add_special_tokens=bool(add))
                    assert want.ids == enc["input_ids"][r], (strings[s], want.ids, enc["input_ids"][r])
                    ids = enc["input_ids"][r]
                    dec = hf.decode(ids, skip_special_tokens=True)
                    if p >= 0 or dec != strings[s]:
                        rec["dec"] = dec
                    if (s + p) % 5 == 0:
                        rec["dec_all"] = hf.decode(ids, skip_special_tokens=False)
                    cases.append(rec)
    order = {(s, p, a): i for i, (s, p, a) in enumerate(jobs)}
    cases.sort(key=lambda c: order[(c["s"], c["p"], c["add"])])
    return cases


# Transformers' padding / truncation table (padding=..., truncation=..., max_length=...) and the
# other knobs, on a batch of 6 texts (and 6 pairs) with one long text.
def table_calls():
    calls = []
    for pairs in (False, True):
        base = {"pair": pairs}
        # no truncation
        for padding in (False, True, "longest", "max_length", "do_not_pad"):
            calls.append(dict(base, padding=padding))
        calls.append(dict(base, padding="max_length", max_length=42))
        calls.append(dict(base, padding=True, pad_to_multiple_of=8))
        calls.append(dict(base, padding=True, max_length=10))   # max_length ignored, with a warning
        calls.append(dict(base, max_length=9))                  # max_length alone truncates
        # truncation to the model's maximum, and to a given length, each strategy
        for strategy in (True, "longest_first", "only_first", "only_second", False, "do_not_truncate"):
            for padding in (False, True, "max_length"):
                calls.append(dict(base, padding=padding, truncation=strategy))
                calls.append(dict(base, padding=padding, truncation=strategy, max_length=9))
        calls.append(dict(base, padding="max_length", truncation=True, max_length=12, pad_to_multiple_of=4))
        calls.append(dict(base, padding="max_length", truncation=True, max_length=12, pad_to_multiple_of=5))
        calls.append(dict(base, padding=True, truncation=True, max_length=9, pad_to_multiple_of=3))
        for side in ("left", "right"):
            calls.append(dict(base, padding=True, padding_side=side))
            calls.append(dict(base, padding="max_length", truncation=True, max_length=11, padding_side=side))
            calls.append(dict(base, truncation=True, max_length=7, truncation_side=side))
            calls.append(dict(base, truncation="only_first", max_length=9, truncation_side=side, stride=2,
                              return_overflowing_tokens=True))
        for strategy in ("longest_first", "only_first", "only_second"):
            # longest_first cuts both texts of a pair, and every window of one meets every window
            # of the other: stride 3 there would record over a thousand rows.
            for stride in (0, 1) if pairs and strategy == "longest_first" else (0, 1, 3):
                calls.append(dict(base, padding=True, truncation=strategy, max_length=10, stride=stride,
                                  return_overflowing_tokens=True))
        calls.append(dict(base, truncation=True, max_length=12, stride=12, return_overflowing_tokens=True))
        calls.append(dict(base, padding="max_length", truncation=True, max_length=12, stride=2,
                          return_overflowing_tokens=True, pad_to_multiple_of=4))
        calls.append(dict(base, truncation=True, max_length=2, return_overflowing_tokens=True))
        calls.append(dict(base, add_special_tokens=False, padding=True, truncation=True, max_length=5))
    # Pairs whose first (or second) text is the long one, so that only_first (only_second) can cut.
    for pairs in ("long_first", "long_second"):
        for strategy in ("longest_first", "only_first", "only_second"):
            calls.append(dict(pair=pairs, truncation=strategy, max_length=12))
            calls.append(dict(pair=pairs, padding="max_length", truncation=strategy, max_length=16))
            calls.append(dict(pair=pairs, truncation=strategy, max_length=10, stride=2, return_overflowing_tokens=True))
            calls.append(dict(pair=pairs, padding=True, truncation=strategy, max_length=11, stride=1,
                              return_overflowing_tokens=True, truncation_side="left"))
    return calls


def table_inputs(c, texts, pairs):
    """The texts and pairs (string indices) of a table call."""
    if c["pair"] == "long_first":
        return texts[4:6] + texts[4:5], [pairs[0], pairs[2], pairs[3]]
    if c["pair"] == "long_second":
        return [pairs[0], pairs[2], pairs[3]], texts[4:6] + texts[4:5]
    return texts, pairs if c["pair"] else None


def record_table(hf, strings, texts, pairs):
    out = []
    for c in table_calls():
        kw = {k: v for k, v in c.items() if k not in ("pair", "truncation_side")}
        ti, pi = table_inputs(c, texts, pairs)
        prs = [strings[p] for p in pi] if pi else None
        tx = [strings[t] for t in ti]
        rec = {"call": c}
        hf.truncation_side = c.get("truncation_side", hf.init_kwargs.get("truncation_side", "right"))
        try:
            enc = call(hf, tx, prs, **kw)
        except (Exception, BaseException) as e:   # a ValueError or a Rust panic: kiln must refuse too
            if isinstance(e, KeyboardInterrupt):
                raise
            rec["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
            out.append(rec)
            continue
        mapping = enc.get("overflow_to_sample_mapping", list(range(len(tx))))
        rec["rows"] = [row_record(enc, r, tx[mapping[r]], prs[mapping[r]] if prs else None, True)
                       for r in range(len(enc["input_ids"]))]
        if "overflow_to_sample_mapping" in enc:
            rec["mapping"] = enc["overflow_to_sample_mapping"]
        out.append(rec)
    hf.truncation_side = hf.init_kwargs.get("truncation_side", "right")
    return out


def check_same(a, b, strings, what):
    """Two tokenizers (say tokenizer.json and its legacy files) must agree on every string."""
    for i, s in enumerate(strings):
        x, y = a(s), b(s)
        if x["input_ids"] != y["input_ids"]:
            sys.exit(f"{what}: disagree on {s!r}: {x['input_ids']} vs {y['input_ids']}")


def main():
    args = [a for a in sys.argv[1:] if a != "--retrain"]
    retrain = "--retrain" in sys.argv
    if not args:
        sys.exit(__doc__)
    model_dir = args[0]
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = args[1] if len(args) > 1 else os.path.join(here, "..", "fixtures", "tokenizer")
    lines = read_train(os.path.join(out_dir, "train", "train.txt"))
    strings, pairs = make_corpus(lines)
    with open(os.path.join(out_dir, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": f"make_tokenizer_fixtures.py, tokenizers {tokenizers.__version__}, "
                                f"transformers {transformers.__version__}",
                   "strings": strings, "pairs": pairs}, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    os.makedirs(os.path.join(out_dir, "expect"), exist_ok=True)

    rng = random.Random(7)
    subset = sorted(rng.sample(range(len(strings)), 320)) + list(range(40))
    subset = sorted(set(subset))
    sub_pairs = pairs[:12] + rng.sample(pairs[12:], 48)
    no_special = sorted(rng.sample(range(len(strings)), 120))
    table_texts = [strings.index(s) for s in ("Hello World!", "a", "", "hello [MASK] world")] + [0, 0]
    table_texts[4] = strings.index("The quick brown fox jumps over the lazy dog. The five boxing wizards jump quickly.")
    table_texts[5] = strings.index("supercalifragilisticexpialidocious")
    table_pairs = [strings.index(s) for s in ("question?", "", "b", "answer.")] + [table_texts[4], 0]

    todo = []   # (name, tokenizer dir as the C test opens it, AutoTokenizer, raw Tokenizer, main?)
    hf = AutoTokenizer.from_pretrained(model_dir)
    todo.append(("minilm", "$KILN_MODEL_DIR", hf, Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json")),
                 True))
    for name, (tok_json, config) in make_tokenizers(lines, out_dir, retrain).items():
        d = os.path.join(out_dir, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tok_json, f, ensure_ascii=False, separators=(",", ":"))
        with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=1, ensure_ascii=False)
        raw = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        hf = AutoTokenizer.from_pretrained(d)
        assert type(hf).__name__ == "TokenizersBackend", type(hf)
        if name == "sp-bpe-config":   # transformers' own changes are the point: compare with its backend
            raw = hf.backend_tokenizer
        todo.append((name, name, hf, raw, name in ("bytelevel-bpe", "sp-bpe", "unigram")))
        if name == "bytelevel-bpe":
            # GPT-2's legacy files: vocab.json + merges.txt, written by the model's save().
            leg = os.path.join(out_dir, "gpt2-legacy")
            shutil.rmtree(leg, ignore_errors=True)
            os.makedirs(leg)
            raw.model.save(leg)
            with open(os.path.join(leg, "tokenizer_config.json"), "w", encoding="utf-8") as f:
                json.dump({"tokenizer_class": "GPT2Tokenizer", "model_max_length": MODEL_MAX, "add_prefix_space": False,
                           "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"},
                          f, indent=1)
            hleg = AutoTokenizer.from_pretrained(leg)
            assert type(hleg).__name__ == "GPT2Tokenizer", type(hleg)
            todo.append(("gpt2-legacy", "gpt2-legacy", hleg, hleg.backend_tokenizer, False))

    for name, d, hf, raw, main_one in todo:
        which = range(len(strings)) if main_one else subset
        cases = record_cases(hf, raw, strings, pairs, which, pairs if main_one else sub_pairs,
                             no_special if main_one else no_special[:30])
        doc = {"name": name, "dir": d, "cases": cases}
        if main_one:
            doc["table"] = {"texts": table_texts, "pairs": table_pairs,
                            "model_max_length": hf.model_max_length, "calls": record_table(hf, strings, table_texts,
                                                                                           table_pairs)}
        with open(os.path.join(out_dir, "expect", name + ".json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        print(f"{name}: {len(cases)} cases" + (f", {len(doc['table']['calls'])} table calls" if main_one else ""))


if __name__ == "__main__":
    main()
