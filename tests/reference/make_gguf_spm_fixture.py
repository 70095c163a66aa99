#!/usr/bin/env python3
"""A tiny SentencePiece GGUF tokenizer (tokenizer.ggml.model "llama") and llama.cpp's ids for it, for
tests/tokenizer/test_gguf_spm.c.

No SentencePiece GGUF (LLaMA-2, TinyLlama, Mistral) fits in the repository, so one is made:

1. PyPI `sentencepiece` trains a BPE model (vocab 2000, byte_fallback, digits split, identity
   normalization, no whitespace clean-up: LLaMA-2's trainer settings) on the seed text
   /work/shared/seed/000_4d026a07ed621fd2.txt (English and Chinese; character_coverage 0.995 leaves
   rare Chinese characters to the <0xXX> byte tokens). Three user-defined symbols stand for a chat
   model's added tokens.
2. The model becomes GGUF tokenizer metadata exactly as llama.cpp's convert_hf_to_gguf.py
   (_create_vocab_sentencepiece, _set_vocab_sentencepiece) makes it: pieces, scores and token types
   (UNKNOWN <unk>, CONTROL <s> </s>, BYTE <0xXX>, NORMAL otherwise), then tokenizer_config.json's
   added_tokens_decoder as it would have them: "<|im_start|>" / "<|im_end|>" special (CONTROL, score
   -1000), "{{name}}" not (USER_DEFINED). bos 1, eos 2, unk 0, add_bos_token true, add_eos_token
   false, no add_space_prefix key (llama.cpp's default for SPM, true). PyPI `gguf`'s GGUFWriter
   writes it with the llama.* hyperparameters llama.cpp reads before the vocabulary and no
   tensors: llama.cpp loads it with vocab_only=True.
3. llama.cpp (llama-cpp-python) is the reference: for each string, llm.tokenize(text, add_bos=True,
   special=True), llm.detokenize(ids, special=True) ("decode": control tokens as their text) and
   llm.detokenize(ids) ("decode_skip_special": control tokens left out; llama-cpp-python drops the
   leading space after a BOS). These are transformers' decode(ids) and decode(ids,
   skip_special_tokens=True) for ids that start with BOS, kiln's decode semantics.
4. Cross-check: sentencepiece's own encode ([bos] + sp.encode(text)) must give the same ids except
   where the text holds a control token ("<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>"),
   which llama.cpp parses as special tokens (special=True) and sentencepiece reads as text, or a
   user-defined one ("{{name}}"): both match it, but llama.cpp then tokenizes the text after it as
   a new fragment with its own space prefix ("{{name}}, x" -> "{{name}}" "\u2581" "," ...) where
   sentencepiece goes on ("{{name}}" ","). The cases where they differ are listed in the output's
   "sentencepiece_differs" and must all hold such a token.

    /tmp/refenv/bin/pip install sentencepiece gguf llama-cpp-python
    /tmp/refenv/bin/python tests/reference/make_gguf_spm_fixture.py

Writes tests/fixtures/gguf/tiny-spm.gguf and tests/fixtures/gguf/spm_tokenizer.json. Deterministic
(one training thread, fixed seed): a rerun gives the same files.
"""
import importlib.metadata
import json
import os
import sys
import tempfile

import gguf
import sentencepiece as spm
import llamacpp_plain_cpu  # noqa: F401  (before Llama: AMX / repacked buffers off, they crash this VM)
from llama_cpp import Llama, __version__ as llama_cpp_version

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "gguf")
SEED_TEXT = "/work/shared/seed/000_4d026a07ed621fd2.txt"
USER_SYMBOLS = ["<|im_start|>", "<|im_end|>", "{{name}}"]
SPECIAL_ADDED = {"<|im_start|>", "<|im_end|>"}   # tokenizer_config.json's "special": true

# sentencepiece's ModelProto piece types -> llama.cpp's token types (gguf.TokenType)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

EXTRA = [
    "",
    "Hello world",
    " Hello world",
    "  Hello  world  ",
    "Hello world ",
    "   ",
    " ",
    "\n",
    "\n\nHello\n\n",
    "\tindented\ttext\t",
    "tabs\tand\nnewlines\r\n\n\nend",
    "a  b   c    d     e",
    "<s>",
    "</s>",
    "<unk>",
    "<s>Hello</s>",
    "<s> Hello </s>",
    "Hello<s>world</s>again",
    "text </s> more <s>",
    "</s></s><s><s>",
    "<s",
    "</s",
    "<<s>>",
    "a<unk>b",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are kiln.<|im_end|>",
    " <|im_start|> spaced <|im_end|> ",
    "Hello {{name}}, welcome!",
    "{{name}}{{name}}",
    "{{name}",
    "<0x41> is not a byte here",
    "\u2581 already a meta space \u2581\u2581",
    "\u2581Hello",
    "Pi is 3.14159, e is 2.71828; 1,000,000 and 2024-12-31.",
    "0123456789 9876543210",
    "Caf\u00e9 d\u00e9j\u00e0 vu, na\u00efve r\u00e9sum\u00e9, \u00c5ngstr\u00f6m, Stra\u00dfe",
    "e\u0301 (e + combining acute) vs \u00e9",
    "emoji \U0001F600\U0001F469\u200D\U0001F4BB and \U0001F1EB\U0001F1F7 flags",
    "\U0001F600",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01",
    "\u6f22\u5b57 \ud55c\uad6d\uc5b4 \u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "\u9f98\u9f49\u7228 rare characters",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u05e2\u05d1\u05e8\u05d9\u05ea \u0440\u0443\u0441\u0441\u043a\u0438\u0439",
    "def f(x):\n    return x ** 2  # square\n",
    "pip install transformers datasets",
    "x\u00a0y\u2003z\u3000w",
    "zero\u200bwidth",
    "\x01soh and \x7f del",
    "It's we're they've I'm you'll he'd",
    "https://huggingface.co/docs/transformers/index?q=1&x=2#top",
    "+------+-------+\n| Task | Model |\n+======+=======+",
]


def train(tmp):
    prefix = os.path.join(tmp, "spm")
    spm.SentencePieceTrainer.train(
        input=SEED_TEXT, model_prefix=prefix, model_type="bpe", vocab_size=2000, byte_fallback=True,
        character_coverage=0.995, split_digits=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, allow_whitespace_only_pieces=True,
        user_defined_symbols=USER_SYMBOLS, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1, seed_sentencepiece_size=100000, shuffle_input_sentence=False,
        max_sentence_length=100000, minloglevel=2)
    return spm.SentencePieceProcessor(model_file=prefix + ".model")


def gguf_vocab(sp):
    """convert_hf_to_gguf.py's _create_vocab_sentencepiece, then added_tokens_decoder."""
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        t = NORMAL
        if sp.IsUnknown(i):
            t = UNKNOWN
        elif sp.IsControl(i):
            t = CONTROL
        elif sp.IsUnused(i):
            t = UNUSED
        elif sp.IsByte(i):
            t = BYTE
        tokens.append(sp.IdToPiece(i).encode("utf-8"))
        scores.append(sp.GetScore(i))
        types.append(t)
    for content in USER_SYMBOLS:   # as tokenizer_config.json's added_tokens_decoder would list them
        i = sp.PieceToId(content)
        if content in SPECIAL_ADDED:
            types[i] = CONTROL
        else:
            types[i] = USER_DEFINED
            content = content.replace("\u2581", " ")
        scores[i] = -1000.0
        tokens[i] = content.encode("utf-8")
    return tokens, scores, types


def write_gguf(path, tokens, scores, types):
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("kiln tiny SentencePiece tokenizer")
    w.add_context_length(2048)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_rope_dimension_count(16)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def strings():
    with open(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "corpus.json"), encoding="utf-8") as f:
        corpus = json.load(f)["strings"][:150]
    with open(SEED_TEXT, encoding="utf-8") as f:
        lines = [l for l in f.read().split("\n") if l.strip()]
    seed = lines[::25][:40] + ["\n".join(lines[100:104]), lines[200][:40] + "  " + lines[201][:40]]
    out, seen = [], set()
    for s in EXTRA + corpus + seed:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    gguf_path = os.path.join(OUT_DIR, "tiny-spm.gguf")
    with tempfile.TemporaryDirectory() as tmp:
        sp = train(tmp)
        tokens, scores, types = gguf_vocab(sp)
        write_gguf(gguf_path, tokens, scores, types)

    llm = Llama(model_path=gguf_path, vocab_only=True, verbose=False)
    specials = [t.decode() for t, ty in zip(tokens, types) if ty in (UNKNOWN, CONTROL, USER_DEFINED)]
    cases, differs = [], []
    for text in strings():
        ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        # Within the ids of one encode every byte sequence is whole UTF-8: strict decoding
        decode = llm.detokenize(ids, special=True).decode("utf-8")
        decode_skip = llm.detokenize(ids).decode("utf-8")
        cases.append({"text": text, "ids": ids, "decode": decode, "decode_skip_special": decode_skip})
        if [1] + sp.encode(text) != ids:
            if not any(s in text for s in specials):
                raise SystemExit("llama.cpp and sentencepiece differ on %r with no control or user-defined token in it" % text)
            differs.append(text)
    n_byte = sum(any(types[i] == BYTE for i in c["ids"]) for c in cases)
    ref = {
        "generator": "tests/reference/make_gguf_spm_fixture.py",
        "llama_cpp_python": llama_cpp_version, "sentencepiece": spm.__version__, "gguf": importlib.metadata.version("gguf"),
        "file": "tiny-spm.gguf",
        "vocab_size": len(tokens), "bos_token_id": 1, "eos_token_id": 2, "unk_token_id": 0, "pad_token_id": None,
        "notes": ["ids: llama.cpp's tokenize(text, add_bos=True, special=True)",
                  "decode: detokenize(ids, special=True); decode_skip_special: detokenize(ids) (llama-cpp-python)",
                  "sentencepiece_differs: strings where [bos] + sentencepiece's encode differs (control tokens parsed by llama.cpp only; user-defined tokens start a new space-prefixed fragment in llama.cpp)",
                  "cases_with_byte_fallback: %d" % n_byte],
        "sentencepiece_differs": differs,
        "cases": cases,
    }
    out = os.path.join(OUT_DIR, "spm_tokenizer.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print("wrote %s (%d bytes), %s: %d strings, %d with byte fallback, %d differ from sentencepiece (control / user-defined tokens)"
          % (gguf_path, os.path.getsize(gguf_path), out, len(cases), n_byte, len(differs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
