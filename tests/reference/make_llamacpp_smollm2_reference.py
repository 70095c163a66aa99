#!/usr/bin/env python3
"""llama.cpp's greedy continuation of fixed prompts on the real SmolLM2-135M-Instruct Q4_1 GGUF, for
tests/gguf/test_smollm2_llamacpp.c.

llama.cpp (PyPI llama-cpp-python, which builds it here) tokenizes each prompt (chat markup parsed as
special tokens), evaluates it, and generates 64 tokens greedily; every step records the token it
chose and the 20 largest logits of that step (ids and values). kiln is then teacher-forced on
llama.cpp's own tokens and compared step by step: its argmax must equal llama.cpp's wherever
llama.cpp's top-2 logits differ by more than 0.05 (llama.cpp quantizes activations to 8 bits per
block, kiln keeps them in f32 — common/quant.h — so near-ties may flip), and the largest difference
over the recorded logits is reported.

    /tmp/refenv/bin/pip install llama-cpp-python
    /tmp/refenv/bin/python tests/reference/make_llamacpp_smollm2_reference.py .cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf

The same sequences (prompt + llama.cpp's tokens) also go through Transformers on the GGUF's weights
dequantized to f32 (`from_pretrained(dir, gguf_file=...)`, which is kiln's semantics exactly): each step
records Transformers' logits at llama.cpp's 20 ids and its own top-2, so the test checks kiln against an
f32 reference of the real model tightly, and shows that where kiln and llama.cpp disagree near ties,
Transformers disagrees with llama.cpp the same way.

Writes tests/fixtures/gguf/smollm2_llamacpp.json.
"""
import json
import os
import sys

import llamacpp_plain_cpu  # (before Llama: AMX / repacked buffers off, they crash this VM)
from llama_cpp import Llama, __version__ as llama_cpp_version

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "gguf", "smollm2_llamacpp.json"))
STEPS, TOP = 64, 20
PROMPTS = [
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nWrite a short poem about a compiler that turns models into fast code.<|im_end|>\n<|im_start|>assistant\n",
    "The three primary colors are",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
]


_hf_model = None


def hf_logits(gguf_path, case):
    """Transformers on the dequantized GGUF, teacher-forced on the same tokens."""
    global _hf_model
    import torch
    from transformers import AutoModelForCausalLM
    if _hf_model is None:
        torch.set_num_threads(1)
        _hf_model = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(gguf_path)),
                                                         gguf_file=os.path.basename(gguf_path), dtype=torch.float32).eval()
    ids = case["ids"] + [s["token"] for s in case["steps"]]
    with torch.no_grad():
        logits = _hf_model(torch.tensor([ids])).logits[0]
    n = len(case["ids"])
    for i, step in enumerate(case["steps"]):
        row = logits[n - 1 + i]
        top2 = torch.topk(row, 2)
        step["hf"] = [float("%.7g" % row[tid].item()) for tid, _ in step["top"]]
        step["hf_top"] = [int(top2.indices[0]), float("%.7g" % (top2.values[0] - top2.values[1]).item())]


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    # f32 KV cache (type_k/type_v 0 = GGML_TYPE_F32), as kiln keeps it: what is left is the weights x 8-bit activations
    llm = Llama(model_path=sys.argv[1], n_ctx=512, n_batch=512, logits_all=True, n_threads=1, verbose=False, seed=0,
                type_k=0, type_v=0)
    cases = []
    for prompt in PROMPTS:
        ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        steps = llamacpp_plain_cpu.greedy_steps(llm, ids, STEPS, TOP, 6)
        cases.append({"prompt": prompt, "ids": [int(i) for i in ids], "steps": steps})
        hf_logits(sys.argv[1], cases[-1])
        text = llm.detokenize([s["token"] for s in steps]).decode("utf-8", errors="replace")
        print(repr(prompt[-40:]), "->", repr(text[:80]))
    with open(OUT, "w") as f:
        json.dump({"generator": "tests/reference/make_llamacpp_smollm2_reference.py", "llama_cpp_python": llama_cpp_version,
                   "notes": ["steps[i]: llama.cpp's greedy token after prompt + steps[:i] tokens, and its top-20 logits",
                             "hf: Transformers' logits (f32, dequantized weights) at those 20 ids; hf_top: its argmax and top-2 margin",
                             "teacher-force kiln on these tokens; compare argmax where llama.cpp's top-2 margin > 0.05"],
                   "cases": cases}, f, indent=0)
        f.write("\n")
    print("wrote", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
