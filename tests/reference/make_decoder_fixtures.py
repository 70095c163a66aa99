#!/usr/bin/env python3
"""Tiny random GPT-2, LLaMA and Qwen2 checkpoints with Transformers' logits and greedy continuations.

Writes tests/fixtures/decoders/:
  tokenizer/                      a byte-level BPE (trained here on CORPUS) with ChatML special tokens,
                                  shared by every model (vocab_size below)
  <name>/config.json, model.safetensors, generation_config.json   (save_pretrained, safetensors)
  <name>/tokenizer.json, tokenizer_config.json                     (gpt2, llama, qwen2 only)
  <name>/reference.safetensors:
      prompt.<b>          i64 [L_b]          the two prompts (different lengths)
      prefill.<b>         f32 [L_b, vocab]   logits of the prompt run alone (batch 1, no padding)
      decode.<b>          f32 [STEPS, vocab] logits of each decode step, fed greedy.<b>[t] one at a
                                             time with the KV cache (teacher-forced on greedy tokens)
      greedy.<b>          i64 [STEPS]        model.generate(do_sample=False, max_new_tokens=STEPS)
  chat_cases.json                 chat templates rendered by tokenizer.apply_chat_template
  MANIFEST.json                   each fixture's seed, sizes and smallest top-2 logit margin

Each prompt is run alone, so the reference has no padding at all; kiln runs both prompts in one batch
(right-padded, positions per sequence) and must match. As a check, the script also runs Transformers'
own left-padded batched generate and asserts it gives the same greedy tokens.

Seeds are searched so that, at every compared step (prefill's last token and every decode step), the
top-2 logits differ by at least MIN_MARGIN, and no greedy token is an eos id (so 20 tokens come out).

Usage: make_decoder_fixtures.py [OUT_DIR]   (default: tests/fixtures/decoders next to this script)
"""
import json
import os
import shutil
import sys

import torch
import transformers
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, PreTrainedTokenizerFast, Qwen2Config

transformers.logging.set_verbosity_error()
try:
    transformers.utils.logging.disable_progress_bar()
except Exception:
    pass
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "decoders"))

VOCAB = 384
HIDDEN = 32
HEADS = 4
LAYERS = 2
INTER = 72
STEPS = 20
MIN_MARGIN = 1e-3
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]   # ids 0, 1, 2 as in SmolLM2
PROMPTS = ["Once upon a time there was", "The fire was hot"]   # 9 and 6 tokens

CORPUS = """\
The quick brown fox jumps over the lazy dog. Once upon a time there was a small kiln by the river,
and the potter who kept it fired bowls and cups every morning. The fire was hot, the clay was wet,
and the bowls came out hard and bright. A model reads text one token at a time; it keeps the keys
and values of every token it has seen in a cache, so that the next token costs only one step.
Hello, world! How are you today? I am fine, thank you. What is the capital of France? Paris.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000. Stop here, or stop there; the end is near. The end.
"""

SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Qwen2.5-Instruct's template (tools branch included; kiln renders the branches its subset covers).
QWEN2_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

CHAT_MESSAGES = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi!"}],
    [
        {"role": "user", "content": "Count to three."},
        {"role": "assistant", "content": "1, 2, 3"},
        {"role": "user", "content": "  And back?\n"},
    ],
    [{"role": "user", "content": "Quotes ' and \" and \\ stay as they are; unicode: caf\u00e9 \u2603"}],
]


# Small templates that exercise the Jinja subset kiln implements (pipelines/chat_template.h),
# rendered by Transformers' own Jinja environment (trim_blocks, lstrip_blocks).
JINJA_CASES = [
    "{{ bos_token }}{% for m in messages %}{{ m.role | upper }}: {{ m['content'] | trim }}\n{% endfor %}",
    "{% for m in messages %}\n  {% if m.role == 'user' %}\n    U{{ loop.index }}/{{ loop.length }}\n  {% elif m.role == 'system' %}\n"
    "    S\n  {% else %}\n    A{{ loop.index0 }}{{ '!' if loop.last else '' }}\n  {% endif %}\n{% endfor %}\n",
    "{%- for m in messages -%}\n  [{{- m.content -}}]  \n{%- endfor -%}\n{{ eos_token }}",
    "{# comment #}{% set n = messages | length %}{{ n }} {{ n * 2 + 1 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 1.5 * 2 }}",
    "{{ messages[0].content[:4] }}|{{ messages[-1]['content'][2:] }}|{{ (messages[1:] | length) }}",
    "{% if tools is defined %}T{% else %}no tools{% endif %} {{ 'x' in 'xyz' }} {{ 'q' not in 'xyz' }} {{ none is none }}",
    "{{ messages[0].content.startswith('What') }} {{ messages[0].content.endswith('?') }} {{ '  a b  '.strip() ~ '|' }}",
    "{% for k, v in {'a': 1, 'b': 'two'}.items() %}{{ k }}={{ v }};{% endfor %} {{ {'a': [1, 'x', none, true]} | tojson }}",
    "{% for m in [] %}x{% else %}empty{% endfor %} {{ [1, 2] + [3] }} {{ 'a' ~ 1 ~ none }} {{ undefined_thing }}.",
    "{% set greeting = 'hi' %}{% for m in messages %}{% set greeting = m.role %}{{ greeting }} {% endfor %}{{ greeting }}",
    "{{ messages[0]['content'] | tojson }} {{ 'caf\u00e9 \\n \\\\ \\' end' | tojson }} {{ 3 > 2 and not 1 == 2 or false }}",
    "  {% if add_generation_prompt %}\n  gen\n  {%+ endif %}\n{% if true %}  x  {% endif %}\n   {{ 'kept' }}",
]


def make_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False)
    tok.train_from_iterator([CORPUS] * 4, trainer=trainer)
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    return tok


def hf_tokenizer(tok, template):
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   unk_token=None, pad_token="<|endoftext|>", chat_template=template)


def gpt2_config():
    return GPT2Config(vocab_size=VOCAB, n_positions=128, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS,
                      activation_function="gelu_new", bos_token_id=0, eos_token_id=0, initializer_range=0.2)


def llama_config(rope, max_pos=128, **extra):
    return LlamaConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
                       num_attention_heads=HEADS, num_key_value_heads=2, max_position_embeddings=max_pos,
                       rope_parameters=rope, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                       initializer_range=0.2, rms_norm_eps=1e-5, **extra)


def qwen2_config():
    return Qwen2Config(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
                       num_attention_heads=HEADS, num_key_value_heads=1, max_position_embeddings=128,
                       rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, tie_word_embeddings=True,
                       bos_token_id=None, eos_token_id=[2, 0], initializer_range=0.2, rms_norm_eps=1e-6)


# name, config factory, chat template (None: no tokenizer files), generation_config overrides
FIXTURES = [
    ("gpt2", gpt2_config, None, {}),
    ("llama", lambda: llama_config({"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 16}),
     SMOLLM2_TEMPLATE, {}),
    ("qwen2", qwen2_config, QWEN2_TEMPLATE,
     {"do_sample": True, "temperature": 0.7, "top_k": 20, "top_p": 0.8, "repetition_penalty": 1.05}),
    ("llama-linear", lambda: llama_config({"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}), None, {}),
    ("llama-dynamic", lambda: llama_config({"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0}, max_pos=16),
     None, {}),
    ("llama-yarn", lambda: llama_config({"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                                         "original_max_position_embeddings": 16}), None, {}),
]


def margin(logits):
    top = torch.topk(logits.double(), 2).values
    return float(top[0] - top[1])


def build(make_config, seed):
    torch.manual_seed(seed)
    cfg = make_config()
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    with torch.no_grad():   # biases and norm gains away from their 0 / 1 initial values
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.2)
    return model.eval()


@torch.no_grad()
def reference(model, prompt, eos_ids):
    ids = torch.tensor([prompt])
    out = model(input_ids=ids, use_cache=True)
    prefill, cache = out.logits[0], out.cache if hasattr(out, "cache") else out.past_key_values
    greedy = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=STEPS,
                            min_new_tokens=0)[0, len(prompt):]
    margins = [margin(prefill[-1])]
    decode = []
    for t in range(len(greedy)):
        out = model(input_ids=greedy[t:t + 1].view(1, 1), cache=cache, use_cache=True)
        cache = out.cache if hasattr(out, "cache") else out.past_key_values
        decode.append(out.logits[0, -1])
        if t + 1 < len(greedy):
            margins.append(margin(decode[-1]))
            assert int(decode[-1].argmax()) == int(greedy[t + 1]), "teacher-forced argmax differs from generate()"
    ok = len(greedy) == STEPS and not any(int(x) in eos_ids for x in greedy)
    return prefill, torch.stack(decode) if decode else None, greedy, min(margins), ok


@torch.no_grad()
def batched_left_padded(model, prompts, pad_id):
    n = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (n - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (n - len(p)) + [1] * len(p) for p in prompts])
    out = model.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=STEPS, pad_token_id=pad_id)
    return [row[n:].tolist() for row in out]


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    tok = make_tokenizer()
    prompts = [tok.encode(p).ids for p in PROMPTS]
    assert len(prompts[0]) != len(prompts[1]), prompts
    manifest = {"transformers": transformers.__version__, "torch": torch.__version__, "steps": STEPS,
                "min_top2_margin": MIN_MARGIN, "fixtures": {}}
    chat_cases = []
    for name, make_config, template, gen_overrides in FIXTURES:
        for seed in range(200):
            model = build(make_config, seed)
            eos = model.generation_config.eos_token_id
            eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
            refs = [reference(model, p, eos_ids) for p in prompts]
            if all(r[4] for r in refs) and min(r[3] for r in refs) >= MIN_MARGIN:
                break
        else:
            raise SystemExit(f"{name}: no seed under 200 gives margins >= {MIN_MARGIN}")
        left = batched_left_padded(model, prompts, pad_id=0)
        assert left == [r[2].tolist() for r in refs], f"{name}: left-padded batch generate differs from one at a time"
        d = os.path.join(out_dir, name)
        for k, v in gen_overrides.items():
            setattr(model.generation_config, k, v)
        model.save_pretrained(d, safe_serialization=True)
        if template is not None:
            hf_tokenizer(tok, template).save_pretrained(d)
            for messages in CHAT_MESSAGES:
                for agp in (True, False):
                    text = hf_tokenizer(tok, template).apply_chat_template(messages, tokenize=False, add_generation_prompt=agp)
                    chat_cases.append({"model": name, "messages": messages, "add_generation_prompt": agp, "text": text})
        tensors = {}
        for b, (prefill, decode, greedy, _, _) in enumerate(refs):
            tensors[f"prompt.{b}"] = torch.tensor(prompts[b], dtype=torch.int64)
            tensors[f"prefill.{b}"] = prefill.float().contiguous()
            tensors[f"decode.{b}"] = decode.float().contiguous()
            tensors[f"greedy.{b}"] = greedy.to(torch.int64).contiguous()
        save_file(tensors, os.path.join(d, "reference.safetensors"), metadata={"format": "pt"})
        manifest["fixtures"][name] = {"seed": seed, "model_type": model.config.model_type,
                                      "margin": min(r[3] for r in refs), "prompt_lengths": [len(p) for p in prompts],
                                      "greedy": [r[2].tolist() for r in refs]}
        print(f"{name}: seed {seed}, min top-2 margin {manifest['fixtures'][name]['margin']:.4g}")
    from transformers.utils.chat_template_utils import _compile_jinja_template
    for i, template in enumerate(JINJA_CASES):
        messages = CHAT_MESSAGES[i % len(CHAT_MESSAGES)] if i % 3 else CHAT_MESSAGES[2]
        for agp in (True, False):
            text = _compile_jinja_template(template).render(messages=messages, add_generation_prompt=agp,
                                                            bos_token="<s>", eos_token="</s>")
            chat_cases.append({"template": template, "messages": messages, "add_generation_prompt": agp,
                               "bos_token": "<s>", "eos_token": "</s>", "text": text})
    tdir = os.path.join(out_dir, "tokenizer")
    hf_tokenizer(tok, SMOLLM2_TEMPLATE).save_pretrained(tdir)
    with open(os.path.join(out_dir, "chat_cases.json"), "w") as f:
        json.dump(chat_cases, f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(out_dir, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
