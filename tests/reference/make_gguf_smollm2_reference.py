#!/usr/bin/env python3
"""What PyPI gguf reads from the real SmolLM2-135M-Instruct Q4_1 GGUF, for tests/gguf/test_gguf_smollm2.c.

Writes tests/fixtures/gguf/smollm2.json: the file's sha256, version, alignment, data offset; every key/value
(scalars and strings in full; arrays as element type, length, first and last elements); every tensor (name, ggml
type, shape in PyTorch order, offset into the data section, bytes) with the checksum of its
gguf.quants.dequantize values (make_gguf_fixtures.checksum), so kiln's dequantization of the real file is checked
bit for bit without storing any of it.

Usage: scripts/fetch_smollm2.sh .cache
       make_gguf_smollm2_reference.py .cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf [OUT_JSON]
"""
import hashlib
import json
import os
import sys

import numpy as np

import gguf
from gguf import GGUFValueType as VT

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gguf_fixtures import TYPE_NAMES, checksum, dequantize  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "gguf", "smollm2.json"))


def scalar(v):
    if isinstance(v, float):
        return float(np.float32(v))
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2 ** 53:
        return str(v)
    return v


def main():
    path = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    r = gguf.GGUFReader(path)
    kvs = []
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        t = f.types[0]
        if t == VT.ARRAY:
            sub = f.types[-1]
            assert len(f.types) == 2, f"nested array {f.name}"
            values = f.contents()
            kvs.append({"key": f.name, "type": "array",
                        "value": {"type": TYPE_NAMES[sub], "n": len(values),
                                  "head": [scalar(v) for v in values[:4]], "last": scalar(values[-1])}})
        else:
            v = f.contents()
            if t == VT.FLOAT32:
                v = float(np.float32(v))
            kvs.append({"key": f.name, "type": TYPE_NAMES[t], "value": scalar(v)})
    tensors = []
    for t in r.tensors:
        values = dequantize(np.asarray(t.data), t.tensor_type)
        tensors.append({"name": t.name, "ggml_type": t.tensor_type.name, "ggml_type_id": int(t.tensor_type),
                        "shape": [int(s) for s in reversed(t.shape.tolist())],
                        "offset": int(t.data_offset - r.data_offset), "size_bytes": int(t.n_bytes),
                        "dequant_checksum": checksum(values)})
    doc = {"file": os.path.basename(path), "sha256": sha, "version": 3, "alignment": int(r.alignment),
           "data_offset": int(r.data_offset), "gguf": "0.19.0"}
    one = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731
    lines = ["{"] + [f" {one(k)}: {one(v)}," for k, v in doc.items()]
    lines.append(' "kv": [')
    lines += [f"  {one(kv)}" + ("," if i + 1 < len(kvs) else "") for i, kv in enumerate(kvs)]
    lines.append(" ],")
    lines.append(' "tensors": [')
    lines += [f"  {one(t)}" + ("," if i + 1 < len(tensors) else "") for i, t in enumerate(tensors)]
    lines += [" ]", "}"]
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out}: {len(kvs)} key/values, {len(tensors)} tensors")


if __name__ == "__main__":
    main()
