#!/usr/bin/env python3
"""Tokenizer throughput, kiln against Hugging Face `tokenizers` (PyPI, Rust), one thread each.

Builds bench_tokenizer.c against BUILD/libkiln_rt.so, writes >= 10 MB of text (one text per line,
40 to 1,000 bytes each, made of lines of the Python standard library's source, which is English
prose in docstrings and comments and code, and now and then a multilingual line of
tests/fixtures/tokenizer/corpus.json), checks that kiln and `tokenizers`
give the same ids for every line, then times both on the whole text, interleaved, --repeat
rounds, and prints the medians in MB/s and their ratio.

  kiln:       kiln_tokenizer_encode_batch, batches of 1000 lines, special tokens, byte offsets
  tokenizers: Tokenizer.encode_batch (and encode_batch_fast, which skips offsets), the same
              batches, RAYON_NUM_THREADS=1 and TOKENIZERS_PARALLELISM=false

usage: bench_tokenizer.py [--build build] [--minilm .cache/models/all-MiniLM-L6-v2] [--repeat 5] [--mb 10]
"""
import os

os.environ["RAYON_NUM_THREADS"] = "1"          # before tokenizers is imported: one thread
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import tokenizers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BATCH = 1000


def make_text(path, megabytes):
    """Lines of the standard library's .py files, and now and then a multilingual fixture line."""
    lines = []
    stdlib = sysconfig.get_paths()["stdlib"]
    for dirpath, dirnames, filenames in sorted(os.walk(stdlib)):
        dirnames.sort()
        if "site-packages" in dirpath or "test" in dirpath.split(os.sep):
            continue
        for name in sorted(filenames):
            if name.endswith(".py"):
                with open(os.path.join(dirpath, name), encoding="utf-8", errors="ignore") as f:
                    lines += [line.strip() for line in f if line.strip()]
    with open(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "corpus.json"), encoding="utf-8") as f:
        extra = [s.replace("\n", " ").replace("\r", " ") for s in json.load(f)["strings"] if s.strip()]
    rng = random.Random(10)
    out, size = [], 0
    while size < megabytes * 1_000_000:   # texts of 40 to 1,000 bytes: a few lines each
        want, parts, n = rng.randint(40, 1000), [], 0
        while n < want:
            line = rng.choice(extra) if rng.random() < 0.05 else lines[rng.randrange(len(lines))]
            if "\x00" not in line:
                parts.append(line)
                n += len(line.encode("utf-8")) + 1
        text = " ".join(parts)
        out.append(text)
        size += len(text.encode("utf-8"))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    return out, size


def build_bench(build):
    exe = os.path.join(build, "bench_tokenizer_py")
    subprocess.run(["cc", "-O2", "-std=c11", "-I", os.path.join(ROOT, "include"), os.path.join(HERE, "bench_tokenizer.c"),
                    "-L", build, "-lkiln_rt", f"-Wl,-rpath,{os.path.abspath(build)}", "-o", exe], check=True)
    return exe


def kiln_run(exe, tok_dir, text_path, repeat, ids=None):
    cmd = [exe, tok_dir, text_path, "--repeat", str(repeat), "--batch", str(BATCH)] + (["--ids", ids] if ids else [])
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def read_ids(path):
    with open(path, "rb") as f:
        data = f.read()
    out, at = [], 0
    while at < len(data):
        (n,) = struct.unpack_from("<i", data, at)
        out.append(list(struct.unpack_from(f"<{n}i", data, at + 4)))
        at += 4 + 4 * n
    return out


def hf_time(tok, lines, fast):
    encode = tok.encode_batch_fast if fast else tok.encode_batch
    t0 = time.perf_counter()
    for at in range(0, len(lines), BATCH):
        encode(lines[at:at + BATCH], add_special_tokens=True)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--minilm", default=os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--mb", type=float, default=10)
    args = ap.parse_args()
    exe = build_bench(args.build)
    cases = [("WordPiece (all-MiniLM-L6-v2)", args.minilm),
             ("byte-level BPE (tests/fixtures/tokenizer/bytelevel-bpe)",
              os.path.join(ROOT, "tests", "fixtures", "tokenizer", "bytelevel-bpe"))]
    with tempfile.TemporaryDirectory() as tmp:
        text_path = os.path.join(tmp, "text.txt")
        lines, size = make_text(text_path, args.mb)
        print(f"text: {len(lines)} lines, {size / 1e6:.1f} MB; tokenizers {tokenizers.__version__}, one thread each, "
              f"batches of {BATCH}, medians of {args.repeat} interleaved rounds")
        for label, tok_dir in cases:
            tok = tokenizers.Tokenizer.from_file(os.path.join(tok_dir, "tokenizer.json"))
            tok.no_padding()
            tok.no_truncation()
            # Agreement first: every line's ids.
            ids_path = os.path.join(tmp, "ids.bin")
            kiln_run(exe, tok_dir, text_path, 1, ids_path)
            kiln_ids = read_ids(ids_path)
            hf_ids = [e.ids for at in range(0, len(lines), BATCH)
                      for e in tok.encode_batch(lines[at:at + BATCH], add_special_tokens=True)]
            bad = sum(a != b for a, b in zip(kiln_ids, hf_ids)) + abs(len(kiln_ids) - len(hf_ids))
            n_tokens = sum(len(x) for x in hf_ids)
            kiln_mbs, hf_mbs, hf_fast_mbs = [], [], []
            for _ in range(args.repeat):
                kiln_mbs += kiln_run(exe, tok_dir, text_path, 1)["mb_s"]
                hf_mbs.append(size / hf_time(tok, lines, False) / 1e6)
                hf_fast_mbs.append(size / hf_time(tok, lines, True) / 1e6)
            k, h, hf = statistics.median(kiln_mbs), statistics.median(hf_mbs), statistics.median(hf_fast_mbs)
            print(f"\n{label}: {n_tokens} tokens, ids {'identical' if bad == 0 else f'DIFFER on {bad} lines'}")
            print(f"  kiln                         {k:8.2f} MB/s")
            print(f"  tokenizers encode_batch      {h:8.2f} MB/s   kiln / tokenizers = {k / h:.2f}x")
            print(f"  tokenizers encode_batch_fast {hf:8.2f} MB/s   kiln / fast       = {k / hf:.2f}x")
            if bad:
                raise SystemExit(f"{label}: kiln and tokenizers disagree on {bad} lines")


if __name__ == "__main__":
    main()
