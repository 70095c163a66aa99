#!/usr/bin/env python3
"""What Transformers' GGUF tokenizer gives for GGUF files' tokenizer.ggml.* metadata, for
tests/gguf/test_gguf_tokenizer.c.

Loads each file with AutoTokenizer.from_pretrained(dir, gguf_file=name) (transformers converts the
metadata to a fast tokenizer) and records, for a corpus of strings (a subset of
tests/fixtures/tokenizer/corpus.json plus strings with special tokens and digits): the ids of
tok(text), tok.decode(ids) and tok.decode(ids, skip_special_tokens=True); and, for the chat cases of
tests/fixtures/decoders/chat_cases.json, apply_chat_template's text and the ids of that text
tokenized without special tokens (what `kiln run text-generation --chat` feeds the model).

One correction, named in the output: transformers' converter has no pre-tokenizer for
tokenizer.ggml.pre "smollm" and falls back to GPT-2's regex, while llama.cpp (the runtime the file
is made for) and SmolLM2's own tokenizer.json split every digit first (Digits(individual_digits) then
ByteLevel). The reference uses SmolLM2's own pre-tokenizer; `smollm_digit_fix_changes` counts the
strings where that changes the ids.

Usage: make_gguf_tokenizer_reference.py [SMOLLM2_GGUF] [OUT_DIR]
  SMOLLM2_GGUF defaults to .cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch_smollm2.sh);
  writes OUT_DIR/smollm2_tokenizer.json and OUT_DIR/tiny_tokenizer.json (tiny-llama-f32.gguf from
  make_gguf_fixtures.py), OUT_DIR defaulting to tests/fixtures/gguf.
"""
import hashlib
import json
import os
import sys

import tokenizers
import transformers
from tokenizers import pre_tokenizers
from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

EXTRA = [
    "hello 12345 world",
    "Hello world! 123",
    "Pi is 3.14159, e is 2.71828; 1,000,000 and 2024-12-31.",
    "\u0661\u0662\u0663 Arabic-Indic digits, \u2155 and \u2460 are numbers too",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more<|im_end|><|im_start|>",
    " <|im_start|> spaced <|im_end|> ",
    "<repo_name>kiln<file_sep>main.c<filename>x<gh_stars>100",
    "<|im_start|",
    "Caf\u00e9 d\u00e9j\u00e0 vu.",
    "  multiple   spaces",
    "tabs\tand\nnewlines\r\n\n\nend",
    "It's we're they've I'm you'll he'd",
    "IT'S WE'RE THEY'VE",
    "emoji \U0001F600\U0001F469\u200D\U0001F4BB and CJK \u6f22\u5b57 \ud55c\uad6d\uc5b4",
    "def f(x):\n    return x ** 2  # square\n",
]


def valid(s):
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def corpus(n_edge=60, n_total=200):
    strings = [s for s in json.load(open(os.path.join(FIXTURES, "tokenizer", "corpus.json")))["strings"] if valid(s)]
    rest = strings[n_edge:]
    step = max(1, len(rest) // (n_total - n_edge - len(EXTRA)))
    picked = strings[:n_edge] + rest[::step]
    return picked[: n_total - len(EXTRA)] + EXTRA


def chat_cases():
    cases = json.load(open(os.path.join(FIXTURES, "decoders", "chat_cases.json")))
    return [c for c in cases if c.get("model") == "llama"]


def load(path):
    tok = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(path)), gguf_file=os.path.basename(path))
    import gguf
    r = gguf.GGUFReader(path)
    f = r.fields.get("tokenizer.ggml.pre")
    pre = bytes(f.parts[f.data[0]]).decode() if f else None
    return tok, pre


def smollm_pre_tokenizer():
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])


def record(path, out_path, strings):
    tok, pre = load(path)
    before = [tok(s)["input_ids"] for s in strings]
    fixed = 0
    if pre == "smollm":
        tok.backend_tokenizer.pre_tokenizer = smollm_pre_tokenizer()
        fixed = sum(1 for s, b in zip(strings, before) if tok(s)["input_ids"] != b)
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    cases = []
    for s in strings:
        ids = tok(s)["input_ids"]
        cases.append({"text": s, "ids": ids, "decode": tok.decode(ids),
                      "decode_skip_special": tok.decode(ids, skip_special_tokens=True)})
    chats = []
    if tok.chat_template:
        for c in chat_cases():
            text = tok.apply_chat_template(c["messages"], tokenize=False, add_generation_prompt=c["add_generation_prompt"])
            chats.append({"messages": c["messages"], "add_generation_prompt": c["add_generation_prompt"], "text": text,
                          "ids": tok(text, add_special_tokens=False)["input_ids"]})
    out = {
        "generator": f"make_gguf_tokenizer_reference.py, transformers {transformers.__version__}, "
                     f"tokenizers {tokenizers.__version__}",
        "file": os.path.basename(path), "sha256": sha, "pre": pre,
        "smollm_digit_fix_changes": fixed,
        "vocab_size": len(tok), "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id, "unk_token_id": tok.unk_token_id,
        "clean_up_tokenization_spaces": bool(tok.clean_up_tokenization_spaces),
        "cases": cases, "chats": chats,
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=True, indent=0)
        f.write("\n")
    print(f"{out_path}: {len(cases)} strings, {len(chats)} chats; smollm digit fix changed {fixed}")


def main():
    smollm = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, ".cache", "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(FIXTURES, "gguf")
    strings = corpus()
    record(smollm, os.path.join(out_dir, "smollm2_tokenizer.json"), strings)
    # The tiny file's 64 tokens spell only a little English: short lower-case strings, and the same corpus.
    tiny = ["the cat is here", "the other, the weather!", "hi there.\nwhat is it?", "<|im_start|>hi<|im_end|>",
            "ab 12 cd", "THE END", ""] + strings[:40]
    record(os.path.join(FIXTURES, "gguf", "tiny-llama-f32.gguf"), os.path.join(out_dir, "tiny_tokenizer.json"), tiny)


if __name__ == "__main__":
    main()
