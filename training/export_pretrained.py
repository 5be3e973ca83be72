"""Export a pretrained Hugging Face diffusion-LM checkpoint to a Unmask model folder (docs/model-contract.md).

Reads a checkpoint folder as downloaded from the Hub (config.json, *.safetensors, tokenizer.json; never the
network, never remote code) of one of two families, both run with bidirectional (non-causal) attention:

* Qwen2 family (model_type qwen2 or Dream): Open-dCoder, Dream-v0, Dream-Coder, DiffuCoder; logitsShift 1
  (adapted from autoregressive models: the prediction for position i is read at row i - 1).
* Llama family (model_type llama, or llada with LLaDA's own weight names: model.transformer.wte, blocks.N.{q,k,v}_proj,
  attn_out, ff_proj (gate), up_proj, ff_out (down), attn_norm, ff_norm, ln_f, ff_out; written from LLaDA's
  published modelling code, not checked against its weight files here: a name that differs is refused, naming the
  tensor): logitsShift 0.

The forward is written here in torch from the safetensors weights (RMSNorm, rotary positions, grouped-query
attention without a mask, SwiGLU), not taken from transformers: the tests compare it with transformers' own
modules. The folder gets:

* model.onnx: the contract's graph (input_ids, positions -> top_ids, top_probs, entropy; positions gathered
  before the vocabulary projection, softmax/top-K/entropy in the graph), plus an output `kv` with every layer's
  keys and values for the whole canvas: the context graph of the dual cache;
* step.onnx: the step graph of the dual cache: it runs only a window of the canvas (the open block) against
  the cached keys and values of the rest (Fast-dLLM, arXiv 2505.22618);
* tokenizer.json, unmask.json (special ids from the checkpoint and tokenizer, slots from rules.SLOTS), README.md.

MatMul weights are int8 (dynamic quantisation, per channel) unless --precision fp32; graphs over 2 GB keep their
weights in external data files next to them. Everything is written into a temporary folder beside --out and
renamed at the end: a failed export never leaves a half-written folder.

    python training/export_pretrained.py CHECKPOINT_DIR --out MODEL_DIR [--precision int8|fp32] [--max-sequence 2048]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from rules import SLOTS, vocab_digest  # noqa: E402

TOP_K = 8
OPSET = 17
PROTOBUF_LIMIT = 2 * 1024**3
FLOAT_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
# mask tokens of the published checkpoints, tried in this order when config.json names no mask_token_id
MASK_NAMES = ("<|mask|>", "<M>", "<|mdm_mask|>", "<mask>", "[MASK]")
# DiffuCoder pads its slots with its own pad token; others pad with pad_token_id or end-of-text
PAD_NAMES = ("<|dlm_pad|>",)
FAMILIES = {"qwen2": "qwen2", "dream": "qwen2", "llama": "llama", "llada": "llada"}
DEFAULT_SHIFT = {"qwen2": 1, "llama": 0, "llada": 0}


class ExportError(Exception):
    """A checkpoint that cannot be exported; the message names the file and field."""


@dataclass
class Arch:
    family: str          # qwen2 | llama | llada (llama with LLaDA's weight names)
    model_type: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int           # rows of the embedding in the checkpoint
    eps: float
    rope_theta: float
    tied: bool
    qkv_bias: bool
    max_positions: int

    def as_dict(self):
        return asdict(self)


# ---------------------------------------------------------------------------------------------- reading


def read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ExportError(f"{path}: missing ({what})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ExportError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def read_arch(ckpt: Path) -> Arch:
    path = ckpt / "config.json"
    c = read_json(path, "the checkpoint's config.json")

    def field(name, *alts, default=None, required=True):
        for key in (name, *alts):
            if c.get(key) is not None:
                return c[key]
        if required and default is None:
            raise ExportError(f'{path}: field "{name}" is missing')
        return default

    model_type = str(c.get("model_type", "")).lower()
    family = FAMILIES.get(model_type)
    if family is None:
        raise ExportError(f'{path}: field "model_type" is {json.dumps(c.get("model_type"))}; supported: '
                          f'{", ".join(sorted(FAMILIES))} (Qwen2 and Llama families with bidirectional attention)')
    if family == "llada":
        if str(c.get("block_type", "llama")) != "llama":
            raise ExportError(f'{path}: field "block_type" is {json.dumps(c.get("block_type"))}; only "llama" blocks are supported')
        act = str(c.get("activation_type", "silu")).lower()
        if act not in ("silu", "swiglu"):
            raise ExportError(f'{path}: field "activation_type" is {json.dumps(act)}; only silu/swiglu is supported')
        hidden, heads = int(field("d_model")), int(field("n_heads"))
        arch = Arch(family, model_type, hidden, int(field("n_layers")), heads, int(field("n_kv_heads", default=heads)),
                    hidden // heads, int(field("mlp_hidden_size")), int(field("embedding_size", "vocab_size")),
                    float(field("rms_norm_eps", default=1e-5)), float(field("rope_theta", default=10000.0)),
                    bool(c.get("weight_tying", False)), bool(c.get("include_qkv_bias", c.get("include_bias", False))),
                    int(field("max_sequence_length", default=4096)))
    else:
        act = str(c.get("hidden_act", "silu")).lower()
        if act != "silu":
            raise ExportError(f'{path}: field "hidden_act" is {json.dumps(act)}; only "silu" (SwiGLU) is supported')
        if c.get("use_sliding_window"):
            raise ExportError(f'{path}: field "use_sliding_window" is true; sliding-window attention is not supported')
        rope = c.get("rope_parameters") or {}
        scaling = c.get("rope_scaling") or {}
        rope_type = scaling.get("rope_type", scaling.get("type")) or rope.get("rope_type") or "default"
        if rope_type != "default":
            raise ExportError(f'{path}: field "rope_scaling" has rope_type {json.dumps(rope_type)}; only plain rotary positions are supported')
        if c.get("mlp_bias"):
            raise ExportError(f'{path}: field "mlp_bias" is true; MLP biases are not supported')
        hidden, heads = int(field("hidden_size")), int(field("num_attention_heads"))
        theta = c.get("rope_theta", rope.get("rope_theta", 10000.0))
        qkv_bias = True if family == "qwen2" else bool(c.get("attention_bias", False))
        arch = Arch(family, model_type, hidden, int(field("num_hidden_layers")), heads,
                    int(field("num_key_value_heads", default=heads)), int(c.get("head_dim") or hidden // heads),
                    int(field("intermediate_size")), int(field("vocab_size")), float(field("rms_norm_eps", default=1e-6)),
                    float(theta), bool(c.get("tie_word_embeddings", False)), qkv_bias,
                    int(field("max_position_embeddings", default=4096)))
    if arch.heads % arch.kv_heads:
        raise ExportError(f'{path}: field "num_key_value_heads" ({arch.kv_heads}) does not divide the {arch.heads} attention heads')
    return arch


def weight_names(arch: Arch, i: int | None = None) -> dict[str, str]:
    """HF weight name of each role, for layer i (or the model's own weights when i is None)."""
    if arch.family == "llada":
        if i is None:
            return {"embed": "model.transformer.wte.weight", "norm": "model.transformer.ln_f.weight",
                    "head": "model.transformer.ff_out.weight"}
        b = f"model.transformer.blocks.{i}."
        return {"ln1": b + "attn_norm.weight", "ln2": b + "ff_norm.weight", "q": b + "q_proj.weight", "k": b + "k_proj.weight",
                "v": b + "v_proj.weight", "o": b + "attn_out.weight", "gate": b + "ff_proj.weight", "up": b + "up_proj.weight",
                "down": b + "ff_out.weight", "q_bias": b + "q_proj.bias", "k_bias": b + "k_proj.bias", "v_bias": b + "v_proj.bias"}
    if i is None:
        return {"embed": "model.embed_tokens.weight", "norm": "model.norm.weight", "head": "lm_head.weight"}
    b = f"model.layers.{i}."
    return {"ln1": b + "input_layernorm.weight", "ln2": b + "post_attention_layernorm.weight",
            "q": b + "self_attn.q_proj.weight", "k": b + "self_attn.k_proj.weight", "v": b + "self_attn.v_proj.weight",
            "o": b + "self_attn.o_proj.weight", "gate": b + "mlp.gate_proj.weight", "up": b + "mlp.up_proj.weight",
            "down": b + "mlp.down_proj.weight", "q_bias": b + "self_attn.q_proj.bias", "k_bias": b + "self_attn.k_proj.bias",
            "v_bias": b + "self_attn.v_proj.bias"}


class Weights:
    """The checkpoint's tensors by name, across shards, read lazily and converted to fp32."""

    def __init__(self, ckpt: Path):
        from safetensors import safe_open

        files = sorted(ckpt.glob("*.safetensors"))
        if not files:
            raise ExportError(f"{ckpt}: no *.safetensors file (PyTorch .bin checkpoints are not read: they can run code when loaded)")
        self.where: dict[str, Path] = {}
        self.handles = {f: safe_open(str(f), framework="pt") for f in files}
        for f, h in self.handles.items():
            for k in h.keys():
                self.where[k] = f

    def has(self, name: str) -> bool:
        return name in self.where

    def get(self, name: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        if name not in self.where:
            raise ExportError(f'{name}: missing from the checkpoint\'s safetensors files (tensor "{name}")')
        f = self.where[name]
        h = self.handles[f]
        dtype = h.get_slice(name).get_dtype()
        if dtype not in FLOAT_DTYPES:
            raise ExportError(f'{f.name}: tensor "{name}" has dtype {dtype}; expected one of {", ".join(FLOAT_DTYPES)} '
                              f'(quantised checkpoints are not supported: export from the original weights)')
        t = h.get_tensor(name).to(torch.float32)
        if shape is not None and tuple(t.shape) != tuple(shape):
            raise ExportError(f'{f.name}: tensor "{name}" has shape {list(t.shape)}, config.json implies {list(shape)}')
        return t


# ---------------------------------------------------------------------------------------------- the forward


def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary positions in the half-split layout (the first and second halves of each head pair up)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, arch: Arch, w: Weights, i: int, vocab_rows: int):
        super().__init__()
        n = weight_names(arch, i)
        h, hd = arch.hidden, arch.head_dim
        q_out, kv_out = arch.heads * hd, arch.kv_heads * hd
        P = lambda t: torch.nn.Parameter(t, requires_grad=False)  # noqa: E731
        self.ln1, self.ln2 = P(w.get(n["ln1"], (h,))), P(w.get(n["ln2"], (h,)))
        self.q, self.k, self.v = P(w.get(n["q"], (q_out, h)).t().contiguous()), P(w.get(n["k"], (kv_out, h)).t().contiguous()), \
            P(w.get(n["v"], (kv_out, h)).t().contiguous())
        self.o = P(w.get(n["o"], (h, q_out)).t().contiguous())
        self.gate, self.up = P(w.get(n["gate"], (arch.ffn, h)).t().contiguous()), P(w.get(n["up"], (arch.ffn, h)).t().contiguous())
        self.down = P(w.get(n["down"], (h, arch.ffn)).t().contiguous())
        if arch.qkv_bias:
            self.qb, self.kb, self.vb = P(w.get(n["q_bias"], (q_out,))), P(w.get(n["k_bias"], (kv_out,))), P(w.get(n["v_bias"], (kv_out,)))
        else:
            self.qb = self.kb = self.vb = None
        self.arch = arch

    def qkv(self, x, cos, sin):
        a = self.arch
        b, t, _ = x.shape
        y = rms_norm(x, self.ln1, a.eps)
        q, k, v = y @ self.q, y @ self.k, y @ self.v
        if self.qb is not None:
            q, k, v = q + self.qb, k + self.kb, v + self.vb
        q = q.view(b, t, a.heads, a.head_dim).transpose(1, 2)
        k = k.view(b, t, a.kv_heads, a.head_dim).transpose(1, 2)
        v = v.view(b, t, a.kv_heads, a.head_dim).transpose(1, 2)
        return rotate(q, cos, sin), rotate(k, cos, sin), v

    def finish(self, x, q, k, v):
        """Attention of the queries q over all keys k / values v (no mask: bidirectional), then the MLP."""
        a = self.arch
        b, t, _ = x.shape
        group = a.heads // a.kv_heads
        # grouped-query attention: query head j reads key/value head j // group
        qg = q.reshape(b, a.kv_heads, group * t, a.head_dim)
        scores = (qg @ k.transpose(-1, -2)) * (1.0 / math.sqrt(a.head_dim))
        att = torch.softmax(scores, dim=-1) @ v
        att = att.reshape(b, a.heads, t, a.head_dim).transpose(1, 2).reshape(b, t, a.heads * a.head_dim)
        x = x + att @ self.o
        y = rms_norm(x, self.ln2, a.eps)
        return x + (F.silu(y @ self.gate) * (y @ self.up)) @ self.down


class Pretrained(torch.nn.Module):
    """The checkpoint's forward in plain torch, on fp32 weights; the vocabulary cut to `vocab_rows`."""

    def __init__(self, arch: Arch, w: Weights, vocab_rows: int):
        super().__init__()
        n = weight_names(arch)
        self.arch = arch
        embed = w.get(n["embed"])
        if embed.shape[1] != arch.hidden or embed.shape[0] < vocab_rows:
            raise ExportError(f'tensor "{n["embed"]}" has shape {list(embed.shape)}; expected [≥{vocab_rows}, {arch.hidden}]')
        self.embed = torch.nn.Parameter(embed[:vocab_rows].contiguous(), requires_grad=False)
        if arch.tied and not w.has(n["head"]):
            head = embed
        else:
            head = w.get(n["head"])
        if head.shape[1] != arch.hidden or head.shape[0] < vocab_rows:
            raise ExportError(f'tensor "{n["head"]}" has shape {list(head.shape)}; expected [≥{vocab_rows}, {arch.hidden}]')
        # a separate [hidden, vocab] copy: the projection is a MatMul (quantised), the embedding a Gather (kept fp32)
        self.head = torch.nn.Parameter(head[:vocab_rows].t().contiguous(), requires_grad=False)
        self.norm = torch.nn.Parameter(w.get(n["norm"], (arch.hidden,)), requires_grad=False)
        self.layers = torch.nn.ModuleList(Layer(arch, w, i, vocab_rows) for i in range(arch.layers))
        self.register_buffer("inv_freq", 1.0 / arch.rope_theta ** (torch.arange(0, arch.head_dim, 2, dtype=torch.float32) / arch.head_dim),
                             persistent=False)

    def rope(self, pos: torch.Tensor):
        freqs = pos.to(torch.float32)[:, None] * self.inv_freq[None, :]
        return freqs.cos(), freqs.sin()

    def hidden(self, ids: torch.Tensor):
        """Final hidden states of every row and the stacked keys/values [layers, 2, batch, kv_heads, seq, head_dim]."""
        cos, sin = self.rope(torch.arange(ids.shape[1], device=ids.device))
        x = F.embedding(ids, self.embed)
        kvs = []
        for layer in self.layers:
            q, k, v = layer.qkv(x, cos, sin)
            kvs.append(torch.stack([k, v]))
            x = layer.finish(x, q, k, v)
        return rms_norm(x, self.norm, self.arch.eps), torch.stack(kvs)

    def head_of(self, h: torch.Tensor, positions: torch.Tensor, top_k: int):
        idx = positions.unsqueeze(-1).expand(-1, -1, h.shape[-1])
        logits = torch.gather(h, 1, idx) @ self.head
        logp = torch.log_softmax(logits, dim=-1)
        probs = logp.exp()
        entropy = -(probs * logp).sum(-1)
        top_probs, top_ids = torch.topk(probs, top_k, dim=-1)
        return top_ids, top_probs, entropy

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.hidden(ids)[0] @ self.head


class ContextGraph(torch.nn.Module):
    """model.onnx: the contract's graph, plus every layer's keys and values for the dual cache."""

    def __init__(self, m: Pretrained, top_k: int):
        super().__init__()
        self.m, self.top_k = m, top_k

    def forward(self, input_ids, positions):
        h, kv = self.m.hidden(input_ids)
        return (*self.m.head_of(h, positions, self.top_k), kv)


class StepGraph(torch.nn.Module):
    """step.onnx: runs the canvas rows [start, start + w) (`input_ids` holds their tokens) against the cached
    keys/values of all rows, whose window rows it replaces with fresh ones; answers at canvas `positions`,
    which must lie in the window."""

    def __init__(self, m: Pretrained, top_k: int):
        super().__init__()
        self.m, self.top_k = m, top_k

    def forward(self, input_ids, start, kv, positions):
        m = self.m
        w = input_ids.shape[1]
        s = start.reshape(())
        cos, sin = m.rope(s + torch.arange(w, device=input_ids.device))
        x = F.embedding(input_ids, m.embed)
        for i, layer in enumerate(m.layers):
            q, k, v = layer.qkv(x, cos, sin)
            x = layer.finish(x, q, with_window(kv, i, 0, k, s), with_window(kv, i, 1, v, s))
        h = rms_norm(x, m.norm, m.arch.eps)
        return m.head_of(h, positions - s, self.top_k)


def with_window(kv: torch.Tensor, layer: int, part: int, fresh: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The cached keys (part 0) or values (part 1) of one layer, [batch, heads, seq, head_dim], with the window's rows
    [s, s + w) replaced by `fresh`. Each side of the window is one Slice straight out of the `kv` input, so every cached
    row is copied twice per step (slice, concatenation): indexing the layer out first, or an elementwise select over
    all rows, made onnxruntime copy the whole cache several times, and the step's cost grew with the context."""
    end = torch.full_like(s, 2 ** 62)  # past the last row (a Slice clamps it)
    return torch.cat([_CacheRows.apply(kv, layer, part, torch.zeros_like(s), s), fresh,
                      _CacheRows.apply(kv, layer, part, s + fresh.shape[2], end)], dim=2)


class _CacheRows(torch.autograd.Function):
    """kv[layer, part, :, :, begin:end] as a single multi-axis ONNX Slice (torch's own indexing exports a chain of
    one-axis Slices, which onnxruntime fuses into a Split that copies every layer)."""

    @staticmethod
    def forward(ctx, kv, layer: int, part: int, begin, end):  # noqa: ARG004
        return kv[layer, part, :, :, int(begin):int(end)]

    @staticmethod
    def symbolic(g, kv, layer: int, part: int, begin, end):
        def vec(x):
            return g.op("Reshape", g.op("Cast", x, to_i=7), g.op("Constant", value_t=torch.tensor([1], dtype=torch.int64)))
        const = lambda xs: g.op("Constant", value_t=torch.tensor(xs, dtype=torch.int64))  # noqa: E731
        starts = g.op("Concat", const([layer, part]), vec(begin), axis_i=0)
        ends = g.op("Concat", const([layer + 1, part + 1]), vec(end), axis_i=0)
        rows = g.op("Slice", kv, starts, ends, const([0, 1, 4]))
        return g.op("Squeeze", rows, const([0, 1]))


# ---------------------------------------------------------------------------------------------- tokens


def read_tokens(ckpt: Path, config: dict, overrides: dict) -> tuple[dict, int, list[dict]]:
    """Special ids for the manifest, the tokenizer's vocabulary size and its added tokens."""
    from tokenizers import Tokenizer

    path = ckpt / "tokenizer.json"
    if not path.is_file():
        raise ExportError(f"{path}: missing (the tokenizer in Hugging Face tokenizers format; slow tokenizers are not converted here)")
    raw = read_json(path, "tokenizer")
    try:
        tok = Tokenizer.from_str(json.dumps(raw))
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"{path}: cannot be loaded as a tokenizer ({str(e).splitlines()[0]})") from None
    vocab = max(tok.get_vocab(with_added_tokens=True).values()) + 1
    added = raw.get("added_tokens") or []
    specials = {t["content"]: t["id"] for t in added if t.get("special")}
    tc_path = ckpt / "tokenizer_config.json"
    tc = read_json(tc_path, "tokenizer config") if tc_path.is_file() else {}

    def named(value, what: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            if value not in specials:
                raise ExportError(f'{path}: the {what} token {json.dumps(value)} is not a special token of added_tokens')
            return specials[value]
        return int(value)

    def first(v):
        return v[0] if isinstance(v, list) and v else v

    mask = named(overrides.get("mask"), "--mask-token")
    if mask is None:
        mask = first(config.get("mask_token_id"))
    if mask is None:
        mask = named(tc.get("mask_token"), "tokenizer_config.json mask_token") if tc.get("mask_token") else None
    if mask is None:
        mask = next((specials[n] for n in MASK_NAMES if n in specials), None)
    if mask is None:
        raise ExportError(f'{path}: no mask token: config.json has no "mask_token_id", and added_tokens has none of '
                          f'{", ".join(MASK_NAMES)} (name it with --mask-token)')
    eos = named(overrides.get("eos"), "--eos-token")
    if eos is None:
        eos = first(config.get("eos_token_id"))
    if eos is None:
        eos = named(tc.get("eos_token"), "tokenizer_config.json eos_token")
    if eos is None:
        raise ExportError(f'{ckpt / "config.json"}: field "eos_token_id" is missing (and tokenizer_config.json names no eos_token)')
    pad = named(overrides.get("pad"), "--pad-token")
    if pad is None:
        pad = next((specials[n] for n in PAD_NAMES if n in specials), None)
    if pad is None:
        pad = first(config.get("pad_token_id"))
    if pad is None:
        pad = eos
    bos = first(config.get("bos_token_id"))
    tokens = {"mask": int(mask), "pad": int(pad), "eos": int(eos), "bos": None if bos is None else int(bos)}
    by_id = {t["id"]: t for t in added}
    for role, i in tokens.items():
        if i is None:
            continue
        t = by_id.get(i)
        if not t or not t.get("special"):
            if role == "bos":
                tokens["bos"] = None  # an optional role: leave it out rather than refuse the checkpoint
                continue
            raise ExportError(f'{path}: the {role} token id {i} is not a special token of added_tokens (it is '
                              f'{json.dumps(tok.id_to_token(i))}); the manifest\'s tokens.{role} must be one')
        if i >= vocab:
            raise ExportError(f"{path}: the {role} token id {i} is beyond the tokenizer's {vocab} tokens")
    if tokens["mask"] in (tokens["pad"], tokens["eos"]):
        raise ExportError(f'{path}: the mask token id {tokens["mask"]} is also the pad or eos id')
    return tokens, vocab, added


# ---------------------------------------------------------------------------------------------- export


def onnx_export(module, args, path: Path, inputs, outputs, axes) -> None:
    with torch.no_grad():
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs, opset_version=OPSET,
                          dynamo=False, dynamic_axes=axes, do_constant_folding=True)


def graph_bytes(path: Path) -> int:
    """A graph's size with the external data files beside it."""
    # torch writes external data as one file per tensor, named after it, beside the graph
    return sum(p.stat().st_size for p in path.parent.iterdir() if p.is_file() and (p == path or p.suffix != ".onnx"))


def place(src: Path, dst: Path) -> None:
    """Writes graph `src` as `dst`: one file when it fits protobuf's 2 GB, else with its weights in `dst`.data."""
    import onnx

    if src.stat().st_size > 0.9 * graph_bytes(src) and src.stat().st_size < PROTOBUF_LIMIT:
        shutil.copy(src, dst)
        return
    model = onnx.load(str(src), load_external_data=True)
    big = sum(t.ByteSize() for t in model.graph.initializer) > PROTOBUF_LIMIT * 0.95
    onnx.save_model(model, str(dst), save_as_external_data=big, all_tensors_to_one_file=True,
                    location=dst.name + ".data", size_threshold=1024)


PRECISIONS = ("int8", "int8-weights", "int4", "fp32")


def quantize(src: Path, dst: Path, precision: str = "int8") -> None:
    """int8: dynamic quantisation, int8 MatMul weights per channel and activations quantised on the fly per tensor (the
    scale then depends on all rows of the input, so a step over a window answers slightly differently from the full
    canvas). int8-weights / int4: weight-only MatMulNBits (blocks of 32, fp32 activations; onnxruntime's CPU
    provider runs 4 and 8 bits), whose answer for a row does not depend on the other rows."""
    import onnx

    big = graph_bytes(src) > PROTOBUF_LIMIT * 0.95
    if precision == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # per output channel; only MatMuls (the embedding Gather stays fp32)
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"],
                         use_external_data_format=big)
        return
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    q = MatMulNBitsQuantizer(onnx.load(str(src), load_external_data=True), bits=4 if precision == "int4" else 8, block_size=32,
                             is_symmetric=True)
    q.process()
    q.model.save_model_to_file(str(dst), use_external_data_format=big)


def export(ckpt: Path, out: Path, precision: str = "int8", max_sequence: int | None = None, logits_shift: int | None = None,
           name: str | None = None, tokens_override: dict | None = None, cache: bool = True, force: bool = False,
           log=print) -> dict:
    ckpt, out = Path(ckpt), Path(out)
    if not ckpt.is_dir():
        raise ExportError(f"{ckpt}: checkpoint folder not found")
    if precision not in PRECISIONS:
        raise ExportError(f"--precision is {json.dumps(precision)}; expected one of {', '.join(PRECISIONS)}")
    if out.exists() and not force:
        raise ExportError(f"{out}: already exists (pass --force to replace it)")
    t0 = time.time()
    arch = read_arch(ckpt)
    config = read_json(ckpt / "config.json", "config")
    tokens, vocab, _ = read_tokens(ckpt, config, tokens_override or {})
    if vocab > arch.vocab:
        raise ExportError(f'{ckpt / "config.json"}: field "vocab_size" is {arch.vocab}, but tokenizer.json has {vocab} tokens')
    shift = DEFAULT_SHIFT[arch.family] if logits_shift is None else int(logits_shift)
    if shift not in (0, 1):
        raise ExportError(f"--logits-shift is {shift}; expected 0 or 1")
    seq = min(arch.max_positions, max_sequence or 2048, 4096)
    weights = Weights(ckpt)
    model = Pretrained(arch, weights, vocab).eval()
    params = sum(p.numel() for p in model.parameters()) - model.head.numel() * (arch.tied and 1)
    log(f"read {ckpt.name}: {arch.family} ({arch.model_type}), {arch.layers} layers, hidden {arch.hidden}, "
        f"{arch.heads}/{arch.kv_heads} heads, vocabulary {vocab} of {arch.vocab} rows, {params / 1e6:.1f}M parameters")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        work = Path(tempfile.mkdtemp(prefix="unmask-export-"))
        try:
            t = min(16, seq)
            ids = torch.randint(0, vocab, (1, t))
            pos = torch.tensor([[1, 2, 3]])
            graphs = {"model.onnx": (ContextGraph(model, TOP_K), (ids, pos), ["input_ids", "positions"],
                                     ["top_ids", "top_probs", "entropy", "kv"],
                                     {"input_ids": {0: "batch", 1: "seq"}, "positions": {0: "batch", 1: "n"},
                                      "top_ids": {0: "batch", 1: "n"}, "top_probs": {0: "batch", 1: "n"},
                                      "entropy": {0: "batch", 1: "n"}, "kv": {2: "batch", 4: "seq"}})}
            if cache:
                with torch.no_grad():
                    kv = model.hidden(ids)[1]
                graphs["step.onnx"] = (StepGraph(model, TOP_K), (ids[:, 4:8], torch.tensor([4]), kv, torch.tensor([[4, 5]])),
                                       ["input_ids", "start", "kv", "positions"], ["top_ids", "top_probs", "entropy"],
                                       {"input_ids": {0: "batch", 1: "window"}, "kv": {2: "batch", 4: "seq"},
                                        "positions": {0: "batch", 1: "n"}, "top_ids": {0: "batch", 1: "n"},
                                        "top_probs": {0: "batch", 1: "n"}, "entropy": {0: "batch", 1: "n"}})
            for file, (module, args, ins, outs, axes) in graphs.items():
                gdir = work / file.removesuffix(".onnx")
                gdir.mkdir()
                fp32 = gdir / "fp32.onnx"
                onnx_export(module, args, fp32, ins, outs, axes)
                chosen = fp32
                if precision != "fp32":
                    chosen = gdir / "quantized.onnx"
                    quantize(fp32, chosen, precision)
                place(chosen, tmp / file)
                shutil.rmtree(gdir, ignore_errors=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)

        shutil.copy(ckpt / "tokenizer.json", tmp / "tokenizer.json")
        display = name or config.get("_name_or_path") or ckpt.name
        display = str(display).rstrip("/").split("/")[-1] or ckpt.name
        manifest = {
            "format": 1, "name": display, "architecture": f"bidirectional-{arch.family}",
            "vocabSize": vocab, "maxSequence": seq, "topK": TOP_K,
            "tokens": tokens, "slots": SLOTS, "logitsShift": shift,
            "files": {"model": "model.onnx", "tokenizer": "tokenizer.json"},
            "vocabDigest": vocab_digest(tmp / "tokenizer.json", vocab),
            **({"cache": {"step": "step.onnx", "kvOutput": "kv"}} if cache else {}),
            "license": str(config.get("license") or "see the checkpoint's own licence"),
            "training": {"tokens": 0, "corpus": "pretrained checkpoint (see its own model card)"},
            "precision": {"int8": "int8 (MatMul weights, dynamic activations; embedding fp32)", "fp32": "fp32",
                          "int8-weights": "int8 weight-only MatMulNBits (blocks of 32; embedding fp32)",
                          "int4": "int4 weight-only MatMulNBits (blocks of 32; embedding fp32)"}[precision],
            "parameters": int(params),
            "source": {"checkpoint": ckpt.name, "modelType": arch.model_type, "config": arch.as_dict(),
                       "vocabularyCut": vocab < arch.vocab},
        }
        (tmp / "unmask.json").write_text(json.dumps(manifest, indent=2) + "\n")
        (tmp / "README.md").write_text(card(manifest, arch, vocab, tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)   # mkdtemp makes it private; the folder is meant to be shared like any other
        for f in tmp.iterdir():
            os.chmod(f, 0o666 & ~umask)   # so are onnx's external data files
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    log(f"wrote {out} in {time.time() - t0:.0f} s: " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sizes.items()))
    return {"manifest": manifest, "bytes": sizes}


def card(manifest: dict, arch: Arch, vocab: int, folder: Path) -> str:
    files = "\n".join(f"| `{p.name}` | {p.stat().st_size / 2**20:.1f} MiB |" for p in sorted(folder.iterdir()) if p.is_file())
    cut = (f"The checkpoint's embedding has {arch.vocab} rows; the {arch.vocab - vocab} beyond the tokenizer's {vocab} "
           "tokens (padding, never a token) are left out of the graph, so the softmax is over the tokenizer's vocabulary.\n\n"
           if vocab < arch.vocab else "")
    return f"""# {manifest["name"]} (exported for Unmask)

Exported by `training/export_pretrained.py` from the Hugging Face checkpoint `{manifest["source"]["checkpoint"]}`
(model_type `{arch.model_type}`). Its weights, training data, licence and measured quality are those of the
original checkpoint: read its own model card. Licence field of its config: {manifest["license"]}.

| | |
| --- | --- |
| family | {arch.family}, bidirectional attention (no causal mask) |
| layers, hidden, heads (query/key-value), head size, MLP | {arch.layers}, {arch.hidden}, {arch.heads}/{arch.kv_heads}, {arch.head_dim}, {arch.ffn} |
| parameters | {manifest["parameters"] / 1e6:.1f}M |
| vocabulary | {vocab} |
| special tokens | mask {manifest["tokens"]["mask"]}, pad {manifest["tokens"]["pad"]}, eos {manifest["tokens"]["eos"]}, bos {manifest["tokens"]["bos"]} |
| logitsShift | {manifest["logitsShift"]} ({"prediction for position i read at row i − 1" if manifest["logitsShift"] else "prediction read at its own row"}) |
| maxSequence | {manifest["maxSequence"]} |
| precision | {manifest["precision"]} |
| dual cache | {"model.onnx also returns every layer's keys/values (`kv`); step.onnx runs the open block against them" if "cache" in manifest else "no"} |

{cut}| file | size |
| --- | --- |
{files}

What is not measured here: the completion quality of this export in Unmask. The parity of the export's forward
with transformers' modules is tested on tiny random checkpoints of both families (test/unit/model/pretrainedExport.test.ts).
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json)")
    ap.add_argument("--out", required=True, help="model folder to write")
    ap.add_argument("--precision", default="int8", choices=PRECISIONS)
    ap.add_argument("--max-sequence", type=int, default=2048, help="maxSequence of the manifest (at most the checkpoint's)")
    ap.add_argument("--logits-shift", type=int, choices=[0, 1], help="override the family's default (Qwen2 1, Llama 0)")
    ap.add_argument("--name", help="name in the manifest (default: the checkpoint's)")
    ap.add_argument("--mask-token", help="the mask token's text, when config.json and the tokenizer do not say")
    ap.add_argument("--pad-token", help="the pad token's text (default: <|dlm_pad|>, pad_token_id, else eos)")
    ap.add_argument("--no-cache", action="store_true", help="write only model.onnx (no dual-cache step graph)")
    ap.add_argument("--force", action="store_true", help="replace --out if it exists")
    args = ap.parse_args(argv)
    try:
        export(Path(args.checkpoint), Path(args.out), precision=args.precision, max_sequence=args.max_sequence,
               logits_shift=args.logits_shift, name=args.name, cache=not args.no_cache, force=args.force,
               tokens_override={"mask": args.mask_token, "pad": args.pad_token})
    except ExportError as e:
        print(f"export_pretrained: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
