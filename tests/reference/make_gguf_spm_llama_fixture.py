#!/usr/bin/env python3
"""A tiny random LLaMA with the SentencePiece tokenizer of tiny-spm.gguf, as one F32 GGUF, and what
llama.cpp (and Transformers) make of it, for tests/gguf/test_gguf_spm_llama.c.

1. Transformers' LlamaForCausalLM (vocab = tiny-spm.gguf's 2000 tokens, hidden 64, 2 layers, 4 heads,
   2 KV heads, intermediate 128, untied embeddings, norms drawn around 1, the output rows of the
   byte tokens <0x80>..<0xFF> scaled by 1/4 so that fewer continuations end inside a character) is written as llama.cpp's
   convert_hf_to_gguf.py writes a LLaMA: llama.cpp tensor names, attn_q / attn_k rows permuted for
   ggml's interleaved RoPE (make_gguf_fixtures.permute), llama.* hyperparameters, general.file_type 0
   and every tensor in F32, so that llama.cpp computes with f32 weights and f32 activations (no 8-bit
   activation quantization). The tokenizer.* keys are copied from tiny-spm.gguf unchanged (tokens,
   scores, token types, bos 1 / eos 2 / unk 0, add_bos_token true, add_eos_token false), plus a
   ChatML chat template.
2. llama.cpp (llama-cpp-python, plain CPU kernels: llamacpp_plain_cpu; f32 KV cache type_k = type_v =
   0; flash attention off; one thread) tokenizes each prompt (add_bos=True, special=True), evaluates
   it and generates 16 tokens greedily; each step records its token and its top-5 logits. The text of
   the continuation is recorded twice: "text", llama_detokenize of the new tokens (remove_special and
   unparse_special off: the first piece's leading space dropped, as Transformers' decode() and
   kiln_generation.text do), and "pieces", the tokens' pieces concatenated (llama_token_to_piece, what
   llama.cpp streams and what the prompt + continuation are printed as).
3. Transformers (eager, f32) on the same weights, teacher-forced on prompt + llama.cpp's tokens: its
   logits at llama.cpp's top-5 ids ("hf"), its argmax and top-2 margin ("hf_top").
The seed is the first whose every step has top-2 logits at least MIN_MARGIN apart (in both llama.cpp
and Transformers), whose greedy tokens agree between the two, whose continuations hold no control or
unknown token (eos would end kiln's generation early) and decode to whole UTF-8 (byte-fallback tokens
that do not make a character would make the texts compare replacement characters), and one of whose
continuations starts with a "\u2581word" piece (its space: in "pieces", not in "text").

    /tmp/refenv/bin/pip install gguf llama-cpp-python transformers torch
    /tmp/refenv/bin/python tests/reference/make_gguf_spm_llama_fixture.py

Writes tests/fixtures/gguf/tiny-spm-llama.gguf and tests/fixtures/gguf/tiny_spm_llama.json.
Deterministic: fixed seeds, one thread.
"""
import ctypes
import json
import os
import sys

import numpy as np
import torch
import transformers

import gguf
from gguf import GGUFValueType as VT
import llamacpp_plain_cpu  # (before Llama: AMX / repacked buffers off, they crash this VM)
import llama_cpp.llama_cpp as llama_c
from llama_cpp import Llama, __version__ as llama_cpp_version
from make_gguf_fixtures import hf_to_gguf_names, permute

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "fixtures", "gguf"))
SPM = os.path.join(OUT_DIR, "tiny-spm.gguf")
GGUF_OUT = os.path.join(OUT_DIR, "tiny-spm-llama.gguf")
JSON_OUT = os.path.join(OUT_DIR, "tiny_spm_llama.json")

HIDDEN, INTER, LAYERS, HEADS, KV_HEADS = 64, 128, 2, 4, 2
CONTEXT, ROPE_THETA, RMS_EPS = 256, 10000.0, 1e-5
INIT_RANGE = 0.5     # logits of a few units, so that top-2 gaps are rarely tiny
STEPS, TOP = 16, 5
MIN_MARGIN = 1e-2
CONTROL, UNKNOWN, BYTE = 3, 2, 6
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
PROMPTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world!\n\n  Two spaces, then a tab\there.",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u9f98\u9f49 rare characters",
    "Caf\u00e9 d\u00e9j\u00e0 vu, na\u00efve r\u00e9sum\u00e9",
]


def tokenizer_fields():
    """tiny-spm.gguf's tokenizer.* keys: (key, value type, value, array element type), in file order."""
    r = gguf.GGUFReader(SPM)
    out = []
    for f in r.fields.values():
        if not f.name.startswith("tokenizer."):
            continue
        vtype = f.types[0]
        sub = f.types[1] if vtype == VT.ARRAY else None
        out.append((f.name, vtype, f.contents(), sub))
    return out


def make_model(seed, vocab, high_bytes=()):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=CONTEXT,
        rms_norm_eps=RMS_EPS, rope_theta=ROPE_THETA, tie_word_embeddings=False, initializer_range=INIT_RANGE,
        bos_token_id=1, eos_token_id=2, attn_implementation="eager")
    model = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
        model.lm_head.weight[list(high_bytes)] *= 0.25   # fewer lone UTF-8 bytes in the continuations
    return model


def write_gguf(model, fields):
    w = gguf.GGUFWriter(GGUF_OUT, "llama")
    w.add_name("kiln tiny llama spm")
    w.add_file_type(0)   # LLAMA_FTYPE_ALL_F32
    w.add_vocab_size(model.config.vocab_size)
    w.add_context_length(CONTEXT)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(INTER)
    w.add_rope_dimension_count(HIDDEN // HEADS)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_layer_norm_rms_eps(RMS_EPS)
    w.add_rope_freq_base(ROPE_THETA)
    for key, vtype, value, sub in fields:
        w.add_key_value(key, value, vtype, sub_type=sub)
    w.add_chat_template(CHAT_TEMPLATE)
    names = hf_to_gguf_names(LAYERS)
    for hf_name, t in model.state_dict().items():
        x = t.detach().float().numpy()
        g = names[hf_name]
        if g.endswith("attn_q.weight"):
            x = permute(x, HEADS)
        elif g.endswith("attn_k.weight"):
            x = permute(x, KV_HEADS)
        w.add_tensor(g, np.ascontiguousarray(x, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def hf_greedy(model, ids):
    """Transformers' greedy tokens and each step's top-2 margin."""
    seq, tokens, margins = list(ids), [], []
    with torch.no_grad():
        for _ in range(STEPS):
            row = model(torch.tensor([seq])).logits[0, -1]
            top = torch.topk(row, 2)
            tokens.append(int(top.indices[0]))
            margins.append(float(top.values[0] - top.values[1]))
            seq.append(tokens[-1])
    return tokens, margins


def c_detokenize(llm, ids):
    """llama_detokenize(remove_special=false, unparse_special=false): llama.cpp's text of ids."""
    arr = (llama_c.llama_token * len(ids))(*ids)
    buf = ctypes.create_string_buffer(4096)
    n = llama_c.llama_detokenize(llm._model.vocab, arr, len(ids), buf, len(buf), False, False)
    assert 0 <= n < len(buf), n
    return buf.raw[:n]


def acceptable(vocab_llm, types, tokens):
    if any(types[t] in (CONTROL, UNKNOWN) for t in tokens):
        return False
    try:
        vocab_llm.detokenize(tokens).decode("utf-8")
        c_detokenize(vocab_llm, tokens).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def llamacpp_run(prompts_ids):
    llm = Llama(model_path=GGUF_OUT, n_ctx=CONTEXT, n_batch=CONTEXT, logits_all=True, n_threads=1, verbose=False,
                seed=0, type_k=0, type_v=0, flash_attn=False)
    cases = []
    for text, ids in prompts_ids:
        assert llm.tokenize(text.encode("utf-8"), add_bos=True, special=True) == ids
        steps = llamacpp_plain_cpu.greedy_steps(llm, ids, STEPS, TOP, 7)
        gen = [s["token"] for s in steps]
        cases.append({"prompt": text, "ids": ids, "steps": steps, "tokens": gen})
    for c in cases:
        c["text_bytes"] = c_detokenize(llm, c["tokens"])
        c["pieces_bytes"] = llm.detokenize(c["tokens"])
    del llm
    return cases


def hf_teacher_forced(model, case):
    ids = case["ids"] + case["tokens"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    n, worst = len(case["ids"]), 0.0
    for i, step in enumerate(case["steps"]):
        row = logits[n - 1 + i]
        top2 = torch.topk(row, 2)
        step["hf"] = [float("%.7g" % row[tid].item()) for tid, _ in step["top"]]
        step["hf_top"] = [int(top2.indices[0]), float("%.7g" % (top2.values[0] - top2.values[1]).item())]
        worst = max(worst, max(abs(a - v) for a, (_, v) in zip(step["hf"], step["top"])))
    return worst


def main():
    fields = tokenizer_fields()
    types = dict((k, v) for k, _, v, _ in fields)["tokenizer.ggml.token_type"]
    vocab = len(types)
    pieces = dict((k, v) for k, _, v, _ in fields)["tokenizer.ggml.tokens"]
    vocab_llm = Llama(model_path=SPM, vocab_only=True, verbose=False)
    prompts_ids = [(p, vocab_llm.tokenize(p.encode("utf-8"), add_bos=True, special=True)) for p in PROMPTS]
    high_bytes = [i for i, p in enumerate(pieces) if types[i] == BYTE and int(p[3:5], 16) >= 0x80]
    for seed in range(500):
        model = make_model(seed, vocab, high_bytes)
        greedy = [hf_greedy(model, ids) for _, ids in prompts_ids]
        if min(min(m) for _, m in greedy) < 2 * MIN_MARGIN or not all(acceptable(vocab_llm, types, t) for t, _ in greedy):
            continue
        if not any(pieces[t[0]].startswith("\u2581") for t, _ in greedy):
            continue   # one continuation starts with a "▁word" piece: its space must survive
        write_gguf(model, fields)
        cases = llamacpp_run(prompts_ids)
        margins = [s["top"][0][1] - s["top"][1][1] for c in cases for s in c["steps"]]
        if min(margins) < MIN_MARGIN or [c["tokens"] for c in cases] != [t for t, _ in greedy]:
            print(f"seed {seed}: llama.cpp differs from Transformers or a margin is under {MIN_MARGIN}", file=sys.stderr)
            continue
        break
    else:
        raise SystemExit("no seed found")
    hf_worst = max(hf_teacher_forced(model, c) for c in cases)
    hf_margin = min(s["hf_top"][1] for c in cases for s in c["steps"])
    for c in cases:
        c["text"] = c.pop("text_bytes").decode("utf-8")
        c["pieces"] = c.pop("pieces_bytes").decode("utf-8")
        print(repr(c["prompt"]), c["ids"], "->", repr(c["pieces"]))
    ref = {
        "generator": "tests/reference/make_gguf_spm_llama_fixture.py",
        "llama_cpp_python": llama_cpp_version, "transformers": transformers.__version__, "torch": torch.__version__,
        "file": os.path.basename(GGUF_OUT), "seed": seed, "vocab_size": vocab,
        "model": {"hidden": HIDDEN, "intermediate": INTER, "layers": LAYERS, "heads": HEADS, "kv_heads": KV_HEADS,
                  "context": CONTEXT, "rope_theta": ROPE_THETA, "rms_eps": RMS_EPS, "init_range": INIT_RANGE},
        "min_top2_margin_llamacpp": min(margins), "min_top2_margin_hf": hf_margin,
        "max_abs_llamacpp_minus_hf": hf_worst,
        "notes": ["ids: llama.cpp's tokenize(prompt, add_bos=True, special=True)",
                  "steps[i]: llama.cpp's greedy token after ids + steps[:i] tokens (f32 weights, f32 KV cache, no flash "
                  "attention), and its top-5 logits [id, value]",
                  "hf: Transformers' logits (eager, f32) at those 5 ids, teacher-forced; hf_top: its argmax and top-2 margin",
                  "text: llama_detokenize(tokens) (leading space of the first piece dropped); pieces: the tokens' pieces "
                  "concatenated (llama_token_to_piece, as llama.cpp streams them)"],
        "cases": cases,
    }
    with open(JSON_OUT, "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"wrote {GGUF_OUT} ({os.path.getsize(GGUF_OUT)} bytes) and {JSON_OUT}: seed {seed}, min top-2 margin "
          f"{min(margins):.4g} (llama.cpp) / {hf_margin:.4g} (Transformers), max |llama.cpp - Transformers| {hf_worst:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
