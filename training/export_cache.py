"""The dual cache (docs/model-contract.md, "Dual cache") for a model of this pipeline (training/model.py): writes a model
folder whose model.onnx also returns every layer's keys and values (`kv`) and whose step.onnx runs a window of the
canvas against them, from the weights and an existing folder's tokenizer and manifest.

    python training/export_cache.py [--weights training/checkpoints/default.pt] [--like models/default] --out DIR

The bundled folder itself is left as it is (its size is bounded); this writes a copy with the cache, used to
measure how often cached decodes agree with uncached ones (docs/benchmarks.md).
"""
import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from export import load_model
from export_pretrained import OPSET, TOP_K, quantize, with_window
from model import Denoiser, rotary


def qkv(blk, x, cos, sin):
    b, t, d = x.shape
    q, k, v = blk.qkv(blk.ln1(x)).view(b, t, 3, blk.heads, d // blk.heads).permute(2, 0, 3, 1, 4)
    return rotary(q, cos, sin), rotary(k, cos, sin), v


def finish(blk, x, q, k, v):
    b, t, d = x.shape
    a = F.scaled_dot_product_attention(q, k, v)
    x = x + blk.out(a.transpose(1, 2).reshape(b, t, d))
    return x + blk.down(F.gelu(blk.up(blk.ln2(x))))


def rope(m: Denoiser, pos):
    freqs = pos.float()[:, None] * m.inv_freq[None, :]
    return freqs.cos(), freqs.sin()


def head(m: Denoiser, h, positions):
    idx = positions.unsqueeze(-1).expand(-1, -1, h.shape[-1])
    logp = torch.log_softmax(m.logits(torch.gather(h, 1, idx)).float(), dim=-1)
    probs = logp.exp()
    top_probs, top_ids = torch.topk(probs, TOP_K, dim=-1)
    return top_ids, top_probs, -(probs * logp).sum(-1)


class Context(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, positions):
        m = self.m
        cos, sin = rope(m, torch.arange(input_ids.shape[1]))
        x = m.embed(input_ids)
        kvs = []
        for blk in m.blocks:
            q, k, v = qkv(blk, x, cos, sin)
            kvs.append(torch.stack([k, v]))
            x = finish(blk, x, q, k, v)
        return (*head(m, m.ln_f(x), positions), torch.stack(kvs))


class Step(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, start, kv, positions):
        m = self.m
        w = input_ids.shape[1]
        s = start.reshape(())
        cos, sin = rope(m, s + torch.arange(w))
        x = m.embed(input_ids)
        for i, blk in enumerate(m.blocks):
            q, k, v = qkv(blk, x, cos, sin)
            x = finish(blk, x, q, with_window(kv, i, 0, k, s), with_window(kv, i, 1, v, s))
        return head(m, m.ln_f(x), positions - s)


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=str(here / "checkpoints" / "default.pt"))
    ap.add_argument("--like", default=str(here.parent / "models" / "default"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--precision", choices=["like", "fp32", "int8-weights", "int4"], default="like",
                    help="like the --like folder's (int8), fp32, or weight-only MatMulNBits")
    ap.add_argument("--steps-per-refresh", type=int, default=None,
                    help="the model's refresh rule (unmask.json cache.stepsPerRefresh): at most this many step-graph "
                         "forwards between two refreshes; default: once per block only")
    ap.add_argument("--window-margin", type=int, default=None,
                    help="rows of the prefix and suffix next to the block that each step recomputes with it "
                         "(unmask.json cache.windowMargin); default: the block's rows only")
    args = ap.parse_args()
    model, _ = load_model(Path(args.weights))
    like, out = Path(args.like), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ids = torch.randint(4, model.config.vocab, (1, 32))
    with torch.no_grad():
        kv = Context(model)(ids, torch.tensor([[1, 2]]))[3]
    graphs = {
        "model.onnx": (Context(model), (ids, torch.tensor([[1, 2]])), ["input_ids", "positions"], ["top_ids", "top_probs", "entropy", "kv"],
                       {"input_ids": {0: "batch", 1: "seq"}, "positions": {0: "batch", 1: "n"}, "top_ids": {0: "batch", 1: "n"},
                        "top_probs": {0: "batch", 1: "n"}, "entropy": {0: "batch", 1: "n"}, "kv": {2: "batch", 4: "seq"}}),
        "step.onnx": (Step(model), (ids[:, 4:8], torch.tensor([4]), kv, torch.tensor([[4, 5]])), ["input_ids", "start", "kv", "positions"],
                      ["top_ids", "top_probs", "entropy"], {"input_ids": {0: "batch", 1: "window"}, "kv": {2: "batch", 4: "seq"},
                                                            "positions": {0: "batch", 1: "n"}, "top_ids": {0: "batch", 1: "n"},
                                                            "top_probs": {0: "batch", 1: "n"}, "entropy": {0: "batch", 1: "n"}}),
    }
    manifest = json.loads((like / "unmask.json").read_text())
    precision = "int8" if args.precision == "like" and "int8" in str(manifest.get("precision", "")) else args.precision
    precision = "fp32" if precision == "like" else precision
    manifest["precision"] = precision
    with tempfile.TemporaryDirectory() as tmp:
        for name, (module, a, ins, outs, axes) in graphs.items():
            fp32 = Path(tmp) / f"fp32-{name}"
            with torch.no_grad():
                torch.onnx.export(module.eval(), a, str(fp32), input_names=ins, output_names=outs, opset_version=OPSET,
                                  dynamo=False, dynamic_axes=axes)
            if precision != "fp32":
                quantize(fp32, out / name, precision)
            else:
                shutil.copy(fp32, out / name)
    for f in {"README.md", *(v for k, v in manifest["files"].items() if k != "model")}:  # tokenizer, the learned filter
        shutil.copy(like / f, out / f)
    manifest["cache"] = {"step": "step.onnx", "kvOutput": "kv",
                         **({"stepsPerRefresh": args.steps_per_refresh} if args.steps_per_refresh else {}),
                         **({"windowMargin": args.window_margin} if args.window_margin else {})}
    (out / "unmask.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out}: " + ", ".join(f"{p.name} {p.stat().st_size / 2**20:.1f} MiB" for p in sorted(out.iterdir())))


if __name__ == "__main__":
    main()
