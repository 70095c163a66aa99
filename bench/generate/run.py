#!/usr/bin/env python3
"""Text generation speed: kiln (bench_generate) against llama.cpp and PyTorch, interleaved and repeated.

  smollm2   SmolLM2-135M-Instruct Q4_1 GGUF, 128-token prompt then 64 greedy tokens, same threads:
            kiln vs llama.cpp (PyPI llama-cpp-python, if installed) -- prompt tok/s and decode tok/s
  gpt2      GPT-2 small shape (random f32 weights, made here with save_pretrained), same prompt and
            decode: kiln vs PyTorch eager with its KV cache (use_cache=True)

Each round runs every engine once (interleaved); medians over --rounds are printed with the ratios
kiln / other (> 1: kiln is faster).

usage: bench/generate/run.py [--build build] [--threads 2] [--rounds 5] [--target interp|cpu]
                             [--gguf .cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf] [--only smollm2|gpt2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PROMPT, DECODE = 128, 64


def ids_for(vocab):
    return [(i * 7919 + 13) % vocab for i in range(PROMPT)]   # as bench_generate makes them


def run_kiln(args, model):
    exe = os.path.join(args.build, "bench", "generate", "bench_generate")
    out = subprocess.run([exe, model, "--prompt", str(PROMPT), "--decode", str(DECODE), "--repeat", "1",
                          "--threads", str(args.threads), "--target", args.target], check=True, capture_output=True, text=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["prefill_tok_s"], r["decode_tok_s"]


def make_llama_cpp(args):
    try:
        from llama_cpp import Llama
    except ImportError:
        print("llama.cpp: PyPI llama-cpp-python is not installed; kiln alone", file=sys.stderr)
        return None
    if not args.llama_extra_bufts:
        # llama.cpp's extra CPU buffer types (weight repacking, AMX) are off by default here:
        # llama-cpp-python 0.3.36 segfaults in ggml_backend_amx_mul_mat on a Q4_1 model on a
        # Sapphire Rapids VM (AMX present). Q4_1 has no CPU repacking, so for this file that
        # leaves llama.cpp's ordinary AVX-512 kernels. --llama-extra-bufts turns them back on.
        sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
        import llamacpp_plain_cpu
        llamacpp_plain_cpu.plain_cpu()
    llm = Llama(model_path=args.gguf, n_ctx=PROMPT + DECODE + 8, n_batch=PROMPT, n_threads=args.threads,
                n_threads_batch=args.threads, verbose=False, logits_all=False)

    import numpy as np
    import llama_cpp

    def last_argmax():   # the last token's logits (eval keeps none unless logits_all)
        row = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        return int(np.argmax(np.ctypeslib.as_array(row, shape=(llm.n_vocab(),))))

    def run():
        llm.reset()
        ids = ids_for(llm.n_vocab())
        t0 = time.perf_counter()
        llm.eval(ids)
        t1 = time.perf_counter()
        tok = last_argmax()
        for _ in range(DECODE):
            llm.eval([tok])
            tok = last_argmax()
        t2 = time.perf_counter()
        return PROMPT / (t1 - t0), DECODE / (t2 - t1)
    return run


def make_torch_gpt2(args, model_dir):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()

    @torch.no_grad()
    def run():
        ids = torch.tensor([ids_for(m.config.vocab_size)])
        t0 = time.perf_counter()
        out = m(input_ids=ids, use_cache=True)
        t1 = time.perf_counter()
        cache, tok = out.cache, out.logits[:, -1:].argmax(-1)
        for _ in range(DECODE):
            out = m(input_ids=tok, cache=cache, use_cache=True)
            cache, tok = out.cache, out.logits[:, -1:].argmax(-1)
        t2 = time.perf_counter()
        return PROMPT / (t1 - t0), DECODE / (t2 - t1)
    return run


def gpt2_small(path):
    if os.path.exists(os.path.join(path, "config.json")):
        return path
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config()).eval().save_pretrained(path, safe_serialization=True)
    return path


def compare(name, engines, rounds):
    results = {k: ([], []) for k in engines}
    for _ in range(rounds):
        for k, fn in engines.items():
            p, d = fn()
            results[k][0].append(p)
            results[k][1].append(d)
    med = {k: (statistics.median(v[0]), statistics.median(v[1])) for k, v in results.items()}
    print(f"\n{name}: {PROMPT}-token prompt, {DECODE} decoded tokens, medians of {rounds} interleaved rounds")
    for k, (p, d) in med.items():
        print(f"  {k:<10} prompt {p:9.1f} tok/s   decode {d:8.1f} tok/s")
    for k, (p, d) in med.items():
        if k != "kiln":
            print(f"  kiln / {k}: prompt x{med['kiln'][0] / p:.2f}, decode x{med['kiln'][1] / d:.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--target", default="interp")
    ap.add_argument("--gguf", default=os.path.join(ROOT, ".cache", "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--gpt2-dir", default=os.path.join(ROOT, ".cache", "models", "gpt2-small-random"))
    ap.add_argument("--only", choices=["smollm2", "gpt2"])
    ap.add_argument("--llama-extra-bufts", action="store_true",
                    help="let llama.cpp use its extra CPU buffer types (repacking, AMX); off by default, see make_llama_cpp")
    args = ap.parse_args()
    if args.only in (None, "smollm2"):
        engines = {"kiln": lambda: run_kiln(args, args.gguf)}
        llama = make_llama_cpp(args)
        if llama:
            engines["llama.cpp"] = llama
        compare("SmolLM2-135M-Instruct Q4_1", engines, args.rounds)
    if args.only in (None, "gpt2"):
        d = gpt2_small(args.gpt2_dir)
        compare("GPT-2 small (random f32)", {"kiln": lambda: run_kiln(args, d), "pytorch": make_torch_gpt2(args, d)}, args.rounds)


if __name__ == "__main__":
    main()
