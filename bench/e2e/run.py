#!/usr/bin/env python3
"""run.py — kiln end to end against onnxruntime and PyTorch, in one run, on the same inputs.

Engines: kiln JIT (kiln_compile, target cpu), kiln AOT (`kiln compile --shared`, loaded with
kiln_program_load), onnxruntime (the model exported with torch.onnx from the same checkpoint;
all graph optimizations, 2 intra-op threads), PyTorch eager (transformers' BertModel). Models:
all-MiniLM-L6-v2 (real weights) and a BERT-base shape (random weights, make_bert_base.py).
Shapes: batch x seq = 1x128, 1x512, 8x128. Each engine runs in its own worker process (no
shared threads or allocators); rounds alternate the engines, so that a noisy machine spreads
over all of them; medians with min/max are quoted, with each engine's GFLOP/s (the model's FLOPs
counted from kiln's launches) as a share of the FMA peak measured in the same run.

    /tmp/refenv/bin/python bench/e2e/run.py --build build [--rounds 7] [--runs 5] [--threads 2]

Needs torch, transformers (PyPI) and onnxruntime, onnx, onnxscript (installed into this Python if
missing, from PyPI), the build's libkiln and kiln command, and the system C compiler for the workers.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHAPES = [(1, 128), (1, 512), (8, 128)]


# ---- engines as worker processes: "run N" -> N latencies (ms); "info" -> JSON ----

def lcg_ids(n):
    s, out = 7, []
    for _ in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out.append(1000 + (s >> 8) % 20000)
    return out


def python_worker(engine, path, batch, seq, threads):
    import numpy as np
    t0 = time.perf_counter()
    ids = np.array(lcg_ids(batch * seq), dtype=np.int64).reshape(batch, seq)
    mask = np.ones((batch, seq), dtype=np.int64)
    if engine == "onnxruntime":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feed = {"input_ids": ids, "attention_mask": mask}
        names = {i.name for i in sess.get_inputs()}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.zeros_like(ids)

        def step():
            sess.run(None, feed)
    else:
        import torch
        from transformers import BertModel
        torch.set_num_threads(threads)
        model = BertModel.from_pretrained(path).eval()
        tids, tmask = torch.from_numpy(ids), torch.from_numpy(mask)

        def step():
            with torch.inference_mode():
                model(input_ids=tids, attention_mask=tmask)
    step()
    prepare = (time.perf_counter() - t0) * 1e3
    print("ready", flush=True)
    for line in sys.stdin:
        if line.startswith("run "):
            times = []
            for _ in range(int(line[4:])):
                a = time.perf_counter()
                step()
                times.append((time.perf_counter() - a) * 1e3)
            print(" ".join(f"{t:.4f}" for t in times), flush=True)
        elif line.startswith("info"):
            rss = peak_rss_mb()
            print(json.dumps({"peak_rss_mb": rss, "prepare_ms": prepare}), flush=True)
        elif line.startswith("quit"):
            break


def peak_rss_mb():
    """VmHWM: this process's own high-water mark. ru_maxrss would keep the driver's, which forked
    every worker (on Linux it survives exec), and floor every engine at the driver's size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Worker:
    def __init__(self, name, argv, env=None):
        self.name = name
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        line = self.p.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"{name}: worker failed to start ({argv})")
        self.times = []

    def run(self, n):
        self.p.stdin.write(f"run {n}\n")
        self.p.stdin.flush()
        self.times += [float(x) for x in self.p.stdout.readline().split()]

    def info(self):
        self.p.stdin.write("info\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass
        self.p.wait()


# ---- set-up ----

def ensure_packages():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401   (torch.onnx's exporter)
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "onnxruntime", "onnx", "onnxscript"])


def sh(argv, **kw):
    print("$", " ".join(argv), flush=True)
    subprocess.check_call(argv, **kw)


def build_tools(build, work):
    src = ["-O2", "-std=c11", "-I", os.path.join(ROOT, "include"), os.path.join(HERE, "kiln_worker.c")]
    kw = os.path.join(work, "kiln_worker")
    sh(["cc"] + src + ["-o", kw, f"-L{build}", f"-Wl,-rpath,{build}", "-lkiln", "-lkiln_rt"])
    # The AOT rows run as a service shipping an AOT library would: linked with libkiln_rt alone.
    kw_aot = os.path.join(work, "kiln_worker_aot")
    sh(["cc", "-DKILN_WORKER_AOT_ONLY"] + src + ["-o", kw_aot, f"-L{build}", f"-Wl,-rpath,{build}", "-lkiln_rt"])
    fp = os.path.join(work, "fma_peak")
    sh(["cc", "-O2", "-pthread", os.path.join(HERE, "fma_peak.c"), "-o", fp])
    return kw, kw_aot, fp


def export_onnx(model_dir, out):
    if os.path.exists(out):
        return
    import torch
    from transformers import BertModel
    model = BertModel.from_pretrained(model_dir).eval()
    ids = torch.ones(1, 16, dtype=torch.int64)
    mask = torch.ones(1, 16, dtype=torch.int64)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "last_hidden_state": {0: "batch", 1: "seq"}, "pooler_output": {0: "batch"}}
    kwargs = dict(input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state", "pooler_output"],
                  dynamic_axes=axes, opset_version=17)
    try:
        torch.onnx.export(model, (ids, mask), out, dynamo=False, **kwargs)
    except TypeError:   # torch versions without the dynamo switch
        torch.onnx.export(model, (ids, mask), out, **kwargs)


def models(cache):
    out = [("all-MiniLM-L6-v2", os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2"))]
    bert = os.path.join(cache, "bert-base-random")
    if not os.path.exists(os.path.join(bert, "model.safetensors")):
        sh([sys.executable, os.path.join(HERE, "make_bert_base.py"), bert])
    out.append(("bert-base (random)", bert))
    return out


# ---- the run ----

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="the CMake build with libkiln and kiln")
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache", "bench"), help="exported models, random weights")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7, help="rounds over the engines (alternating)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per engine per round")
    ap.add_argument("--only", default="", help="substring of 'model batch x seq' rows to run")
    ap.add_argument("--engines", default="kiln-jit,kiln-aot,onnxruntime,pytorch")
    ap.add_argument("--json", help="also write every sample to this file")
    ap.add_argument("--settle-ms", type=float, default=0,
                    help="sleep before each engine's block of runs (lets the previous engine's spinning threads go idle)")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    ensure_packages()
    os.makedirs(a.cache, exist_ok=True)
    kw, kw_aot, fp = build_tools(a.build, a.cache)
    kiln = os.path.join(a.build, "kiln")
    peak = json.loads(subprocess.check_output([fp, str(a.threads)]))
    peak1 = json.loads(subprocess.check_output([fp, "1"]))
    print(f"FMA peak ({peak['isa']}): {peak1['gflops']:.0f} GFLOP/s on 1 thread, {peak['gflops']:.0f} on {a.threads}")
    settings = (f"kiln: {a.threads} context threads; onnxruntime: intra_op {a.threads}, inter_op 1, ORT_ENABLE_ALL; "
                f"pytorch: torch.set_num_threads({a.threads}), inference_mode, default allocator and OpenMP settings")
    print(settings)
    engines = a.engines.split(",")
    results = []
    for mname, mdir in models(a.cache):
        onnx_path = os.path.join(a.cache, mname.split()[0] + ".onnx")
        if "onnxruntime" in engines:
            export_onnx(mdir, onnx_path)
        for batch, seq in SHAPES:
            row = f"{mname} {batch}x{seq}"
            if a.only and a.only not in row:
                continue
            print(f"\n== {row}", flush=True)
            workers = []
            for e in engines:
                base = [str(batch), str(seq), str(a.threads)]
                if e == "kiln-jit":
                    workers.append(Worker(e, [kw, "jit", mdir] + base))
                elif e == "kiln-aot":
                    lib = os.path.join(a.cache, f"lib{mname.split()[0]}-{batch}x{seq}.so")
                    sh([kiln, "compile", mdir, "-o", lib, "--shared", "--max-batch", str(batch), "--max-seq", str(seq)],
                       stdout=subprocess.DEVNULL)
                    workers.append(Worker(e, [kw_aot, "aot", lib] + base))
                else:
                    path = onnx_path if e == "onnxruntime" else mdir
                    workers.append(Worker(e, [sys.executable, __file__, "--worker", e, path] + base))
            for w in workers:   # warm-up
                w.run(2)
                w.times = []
            for r in range(a.rounds):
                order = workers[r % len(workers):] + workers[:r % len(workers)]
                for w in order:
                    if a.settle_ms > 0:
                        time.sleep(a.settle_ms / 1000.0)
                    w.run(a.runs)
            flops = None
            infos = {}
            for w in workers:
                infos[w.name] = w.info()
                if "flops" in infos[w.name]:
                    flops = infos[w.name]["flops"]
                w.close()
            ref = next((w for w in workers if w.name == "onnxruntime"), None)
            ref_med = statistics.median(ref.times) if ref else None
            print(f"{'engine':12s} {'median ms':>10s} {'min':>8s} {'max':>8s} {'vs ORT':>7s} {'GFLOP/s':>8s} {'% peak':>7s} {'RSS MB':>7s}")
            for w in workers:
                med = statistics.median(w.times)
                gf = flops / (med * 1e-3) * 1e-9 if flops else 0.0
                ratio = f"{med / ref_med:.2f}" if ref_med else "-"
                print(f"{w.name:12s} {med:10.2f} {min(w.times):8.2f} {max(w.times):8.2f} {ratio:>7s} {gf:8.1f} "
                      f"{100 * gf / peak['gflops']:6.1f}% {infos[w.name]['peak_rss_mb']:7.0f}")
                results.append({"model": mname, "batch": batch, "seq": seq, "engine": w.name, "median_ms": med,
                                "min_ms": min(w.times), "max_ms": max(w.times), "gflops": gf, "flops": flops,
                                "peak_rss_mb": infos[w.name]["peak_rss_mb"], "samples": w.times})
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"peak": peak, "settings": settings, "results": results}, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        python_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        main()
