"""Stage 3: train the denoiser with the masked-diffusion objective, mixed with infill samples
shaped like the editor's requests. Runs in the background, logs, checkpoints and resumes.

    OMP_NUM_THREADS=2 python training/train.py --run default            # CPU, resumes if the run exists
    python training/train.py --run big --device cuda --preset gpu        # larger budget on a GPU
    python training/train.py --run smoke --tokens 200000 --eval-every 20 # a few minutes

Log lines (runs/<run>/log.jsonl): tokens seen, loss, tokens/s, and at each eval the held-out
masked-token accuracy at mask ratios 0.15/0.5/0.9 and the non-empty share, exact match of
single-line held-out infills decoded one token per step.
"""
import argparse
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from infill import Sampler, load_stream
from rules import EOS, MASK, PAD, SLOTS
from model import Config, Denoiser
from to_safetensors import write_checkpoint

HERE = Path(__file__).resolve().parent
RUNS = HERE / "runs"

PRESETS = {
    # ~5M parameters: a forward at 256 tokens in ~11-15 ms on 2 CPU threads
    "cpu": dict(config=Config(), batch=16, lr=5e-4, tokens=44_000_000),
    "gpu": dict(config=Config(), batch=128, lr=1e-3, tokens=600_000_000),
}
PAD_WEIGHT = 0.4      # pads are the easiest target; weight them down (docs/architecture.md, "The decode loop": the empty completion)
INFILL_SHARE = 0.5    # share of samples shaped like editor requests
LONG_SHARE = 0.2      # share of batches at 512 tokens instead of 256
T_MIN = 0.1           # smallest mask ratio: below it the 1/t weights make the gradient too noisy for small batches


def mdm_batch(sampler: Sampler, batch: int, seq: int, rng: random.Random):
    """Plain masked diffusion: mask each token with probability t ~ U(0,1]."""
    return mdm_mask(torch.tensor([sampler.window(seq) for _ in range(batch)]))


def mdm_mask(ids: torch.Tensor):
    """The masks and 1/t weights of a plain masked-diffusion batch of windows (batch × seq)."""
    batch, seq = ids.shape
    t = torch.rand(batch, 1).clamp_min(T_MIN)
    masked = torch.rand(ids.shape) < t
    return ids, masked, (1.0 / (t * seq)).expand_as(ids).contiguous()


def infill_batch(sampler: Sampler, batch: int, seq: int, rng: random.Random):
    """Editor-shaped: prefix · middle · pads · suffix, only the slots masked (a fraction t of them)."""
    rows, slot_masks = [], []
    for _ in range(batch):
        canvas, start, n_slots = sampler.infill_canvas(seq)
        rows.append(canvas)
        m = torch.zeros(seq, dtype=torch.bool)
        m[start:start + n_slots] = True
        slot_masks.append(m)
    ids = torch.tensor(rows)
    slots = torch.stack(slot_masks)
    t = torch.rand(batch, 1).clamp_min(T_MIN)
    t = torch.where(torch.rand(batch, 1) < 0.3, torch.ones_like(t), t)   # often the first step: all masked
    masked = slots & (torch.rand(ids.shape) < t)
    # at least one masked slot per row
    first = slots.float().argmax(1)
    masked[torch.arange(batch), first] |= ~masked.any(1)
    region = slots.sum(1, keepdim=True).float()
    return ids, masked, (1.0 / (t * region)).expand_as(ids).contiguous()


def loss_on(model: Denoiser, ids, masked, weight):
    """Σ over masked tokens of CE/t, per row divided by the tokens that could be masked (LLaDA's estimator)."""
    h = model.hidden(ids.masked_fill(masked, MASK))
    target = ids[masked]
    ce = F.cross_entropy(model.logits(h[masked]).float(), target, reduction="none")
    w = weight[masked]
    w = torch.where(target == PAD, w * PAD_WEIGHT, w)
    return (ce * w).sum() / ids.shape[0]


@torch.no_grad()
def masked_accuracy(model: Denoiser, windows: torch.Tensor, ratio: float) -> float:
    g = torch.Generator().manual_seed(1234)
    masked = torch.rand(windows.shape, generator=g) < ratio
    windows, masked = windows.to(model.embed.weight.device), masked.to(model.embed.weight.device)
    pred = model(windows.masked_fill(masked, MASK)).argmax(-1)
    return (pred[masked] == windows[masked]).float().mean().item()


@torch.no_grad()
def sequential_infill(model: Denoiser, canvas: list[int], start: int, n: int) -> list[int]:
    """One token per forward, most confident slot first (the quality reference)."""
    ids = torch.tensor([canvas], device=model.embed.weight.device)
    ids[0, start:start + n] = MASK
    for _ in range(n):
        still = (ids[0, start:start + n] == MASK).nonzero().flatten() + start
        probs = model(ids)[0, still].softmax(-1)
        p, tok = probs.max(-1)
        best = p.argmax()
        ids[0, still[best]] = tok[best]
    out = ids[0, start:start + n].tolist()
    while out and out[-1] == PAD:
        out.pop()
    return [x for x in out if x not in (PAD, EOS)]


def evaluate(model: Denoiser, held: dict, tok: Tokenizer) -> dict:
    model.eval()
    res = {f"acc@{r}": round(masked_accuracy(model, held["windows"], r), 4) for r in (0.15, 0.5, 0.9)}
    nonempty = exact = 0
    for canvas, start, n, truth in held["tasks"]:
        out = sequential_infill(model, canvas, start, n)
        nonempty += bool(tok.decode(out).strip())
        exact += tok.decode(out).strip() == truth.strip()
    res["nonEmpty"] = round(nonempty / len(held["tasks"]), 3)
    res["exactMatch"] = round(exact / len(held["tasks"]), 3)
    model.train()
    return res


def lr_at(tokens: int, total: int, peak: float, warmup: int = 1_000_000) -> float:
    if tokens < warmup:
        return peak * tokens / warmup
    frac = min(1.0, (tokens - warmup) / max(1, total - warmup))
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default="default")
    ap.add_argument("--preset", default="cpu", choices=PRESETS)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tokens", type=int, help="total training tokens (default: the preset's)")
    ap.add_argument("--eval-every", type=int, default=400, help="steps between evals and checkpoints")
    ap.add_argument("--eval-tasks", type=int, default=48)
    ap.add_argument("--init", help="weights-only checkpoint to start from (e.g. a committed one)")
    args = ap.parse_args()

    preset = PRESETS[args.preset]
    total = args.tokens or preset["tokens"]
    torch.manual_seed(0)
    run = RUNS / args.run
    run.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer.from_file(str(HERE / ".work" / "tokenizer.json"))
    rng = random.Random(int(time.time()))
    train = Sampler(load_stream("train"), tok, rng)
    held_sampler = Sampler(load_stream("heldout"), tok, random.Random(7))
    held = {"windows": torch.tensor([held_sampler.window(256) for _ in range(48)]),
            "tasks": [held_sampler.infill_task(256, kind="line-rest", slots=SLOTS["singleLine"]) for _ in range(args.eval_tasks)]}

    config = preset["config"]
    model = Denoiser(config).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=preset["lr"], betas=(0.9, 0.95), weight_decay=0.1)
    state = {"tokens": 0, "step": 0, "seconds": 0.0}
    ckpt = run / "ckpt.pt"
    if ckpt.exists():
        saved = torch.load(ckpt, map_location=args.device)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        state = saved["state"]
        print(f"resumed {ckpt} at {state['tokens']:,} tokens")
    elif args.init:
        saved = torch.load(args.init, map_location=args.device)
        model.load_state_dict({k: v.float() for k, v in saved["model"].items()})
        state = saved.get("state", state)
        print(f"initialised from {args.init} at {state['tokens']:,} tokens")
    print(f"{model.parameter_count():,} parameters, training to {total:,} tokens on {args.device}")

    emit = json_lines(run / "log.jsonl")
    model.train()
    t0, window_tokens, window_loss, window_n = time.time(), 0, 0.0, 0
    while state["tokens"] < total:
        seq = 512 if rng.random() < LONG_SHARE else 256
        batch = preset["batch"] * 256 // seq
        make = infill_batch if rng.random() < INFILL_SHARE else mdm_batch
        ids, masked, weight = (x.to(args.device) for x in make(train, batch, seq, rng))
        for g in opt.param_groups:
            g["lr"] = lr_at(state["tokens"], total, preset["lr"])
        loss = loss_on(model, ids, masked, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state["tokens"] += ids.numel()
        state["step"] += 1
        window_tokens += ids.numel()
        window_loss += loss.item()
        window_n += 1
        if state["step"] % 50 == 0 or state["tokens"] >= total:  # the last step always logs and evaluates
            dt = time.time() - t0
            state["seconds"] += dt
            line = {"step": state["step"], "tokens": state["tokens"], "loss": round(window_loss / window_n, 4),
                    "tokensPerSecond": round(window_tokens / dt), "lr": round(opt.param_groups[0]["lr"], 6)}
            t0, window_tokens, window_loss, window_n = time.time(), 0, 0.0, 0
            if state["step"] % args.eval_every == 0 or state["tokens"] >= total:
                line.update(evaluate(model, held, tok))
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state,
                            "config": config.as_dict()}, str(ckpt) + ".tmp")
                os.replace(str(ckpt) + ".tmp", ckpt)
                save_weights(model, state, config, run / "weights.pt")
                t0 = time.time()   # eval time is not training time
            emit(line)
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state, "config": config.as_dict()}, ckpt)
    save_weights(model, state, config, run / "weights.pt")
    print("done", json.dumps(state))


def json_lines(path: Path, mode: str = "a") -> Callable[[dict], None]:
    """A run's log: each call prints one JSON line and writes it to `path`, flushed (a stopped run keeps its log)."""
    log = open(path, mode)

    def emit(line: dict) -> None:
        text = json.dumps(line)
        print(text, flush=True)
        log.write(text + "\n")
        log.flush()
    return emit


def save_weights(model: Denoiser, state: dict, config: Config, path: Path) -> None:
    """Compact weights-only checkpoint (fp16): small enough to commit, enough to resume; beside it the same weights as a
    checkpoint folder (config.json + model.safetensors + tokenizer.json) that `npm run convert` turns into a model."""
    weights = {k: v.half() for k, v in model.state_dict().items()}
    torch.save({"model": weights, "state": state, "config": config.as_dict()}, path)
    write_checkpoint(weights, config, path.parent / "checkpoint", HERE / ".work" / "tokenizer.json", state)


if __name__ == "__main__":
    main()
