#!/usr/bin/env python3
"""Reference outputs of the real sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384).

Usage: make_minilm_reference.py MODEL_DIR [OUT_DIR]
  MODEL_DIR: CACHE_DIR/models/all-MiniLM-L6-v2 from scripts/fetch_model.sh
  OUT_DIR:   default tests/fixtures/minilm next to this script

Writes OUT_DIR/reference.safetensors:
  input_ids, attention_mask, token_type_ids   int64 [5, S]   (HF fast tokenizer, padding=True)
  last_hidden_state                           f32 [5, S, 384] (AutoModel, eager attention, float32)
  sentence_embedding                          f32 [5, 384]    (mean over attention_mask, then L2 normalize:
                                                               modules.json = Transformer, Pooling(mean), Normalize)
  cosine                                      f32 [5, 5]      (sentence_embedding @ sentence_embedding.T)
and OUT_DIR/sentences.json.
When sentence-transformers is installed, its encode() is checked against sentence_embedding, and
its embeddings of 20 more varied sentences (ST_SENTENCES, batch 4, as sentence-transformers groups
them) are written to OUT_DIR/st_encode.safetensors ("embedding" f32 [20, 384]) with
OUT_DIR/st_sentences.json.
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModel, AutoTokenizer

transformers.logging.set_verbosity_error()
try:
    transformers.utils.logging.disable_progress_bar()
except Exception:
    pass
torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "Stock markets fell sharply today.",
]

ST_SENTENCES = [
    "The cat sits outside.",
    "A man is playing guitar.",
    "The new movie is awesome!",
    "I love pasta, especially with a lot of cheese and fresh basil from the garden.",
    "Kiln compiles transformer checkpoints into native code that runs without Python.",
    "Where is the nearest train station?",
    "Stock markets fell sharply today after the central bank raised interest rates again.",
    "A woman is slicing an onion.",
    "Two dogs are running through a field of snow.",
    "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e na\u00efve r\u00e9sum\u00e9.",
    "\u6771\u4eac\u306f\u65e5\u672c\u306e\u9996\u90fd\u3067\u3059\u3002",
    "Emoji are words too \U0001F600\U0001F44D",
    "hello",
    "A",
    "The quick brown fox jumps over the lazy dog; the dog does not care.",
    "How do I reset my password if I no longer have access to my email account?",
    "Berlin is the capital of Germany.",
    "The GPU was not available, so the benchmark ran on two CPU cores.",
    "She sells sea shells by the sea shore.",
    "   Leading and trailing spaces   ",
]


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    model_dir = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.normpath(os.path.join(HERE, "..", "fixtures", "minilm"))
    os.makedirs(out_dir, exist_ok=True)

    modules = json.load(open(os.path.join(model_dir, "modules.json")))
    types = [m["type"].rsplit(".", 1)[-1] for m in modules]
    assert types == ["Transformer", "Pooling", "Normalize"], types
    pooling = json.load(open(os.path.join(model_dir, "1_Pooling", "config.json")))
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"], pooling

    tok = AutoTokenizer.from_pretrained(model_dir)
    assert tok.is_fast
    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    enc = {k: enc[k].to(torch.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}

    model = AutoModel.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state.float()
    m = enc["attention_mask"].unsqueeze(-1).float()
    mean = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    emb = torch.nn.functional.normalize(mean, p=2, dim=1)
    cos = emb @ emb.T

    tensors = {
        "input_ids": enc["input_ids"].contiguous(),
        "attention_mask": enc["attention_mask"].contiguous(),
        "token_type_ids": enc["token_type_ids"].contiguous(),
        "last_hidden_state": hidden.contiguous(),
        "sentence_embedding": emb.contiguous(),
        "cosine": cos.contiguous(),
    }
    save_file(tensors, os.path.join(out_dir, "reference.safetensors"),
              metadata={"model": "sentence-transformers/all-MiniLM-L6-v2",
                        "transformers": transformers.__version__,
                        "torch": torch.__version__.split("+")[0]})
    with open(os.path.join(out_dir, "sentences.json"), "w") as f:
        json.dump(SENTENCES, f, indent=1)
        f.write("\n")

    for f in ("reference.safetensors", "sentences.json"):  # safetensors writes 0600
        os.chmod(os.path.join(out_dir, f), 0o644)

    for k, v in tensors.items():
        print(f"{k:20s} {str(v.dtype):14s} {list(v.shape)}")
    print("tokens:")
    for i, s in enumerate(SENTENCES):
        n = int(enc["attention_mask"][i].sum())
        print(f"  {s!r}: {tok.convert_ids_to_tokens(enc['input_ids'][i][:n].tolist())}")
    print("cosine:")
    for row in cos.tolist():
        print("  " + " ".join(f"{x:7.4f}" for x in row))

    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        print("sentence-transformers not installed: cross-check skipped")
        return 0
    st = SentenceTransformer(model_dir, device="cpu")
    ref = torch.as_tensor(st.encode(SENTENCES, convert_to_numpy=True, batch_size=len(SENTENCES)))
    diff = float((ref - emb).abs().max())
    print(f"sentence-transformers {__import__('sentence_transformers').__version__} encode(): max|diff| {diff:.3g}")
    assert diff < 1e-5, diff
    st_emb = torch.as_tensor(st.encode(ST_SENTENCES, convert_to_numpy=True, batch_size=4))
    save_file({"embedding": st_emb.float().contiguous()}, os.path.join(out_dir, "st_encode.safetensors"),
              metadata={"model": "sentence-transformers/all-MiniLM-L6-v2",
                        "sentence_transformers": __import__("sentence_transformers").__version__})
    with open(os.path.join(out_dir, "st_sentences.json"), "w") as f:
        json.dump(ST_SENTENCES, f, indent=1)
        f.write("\n")
    for f in ("st_encode.safetensors", "st_sentences.json"):
        os.chmod(os.path.join(out_dir, f), 0o644)
    print(f"st_encode.safetensors: {list(st_emb.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
