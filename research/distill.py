"""Certainty-forcing distillation (dParallel, arXiv 2509.26488) of a trained denoiser on its own sequential decodes.

The targets come from the engine (research/distill-targets.ts): for each infill sample of the TRAINING split, the canvas
the engine decoded (context · mask slots · context), and each slot's final token under `sequential` (pad/eos
included). A training example masks a subset of the slots (the context never changes) and asks for the final token at
every masked slot:

    loss = CE(masked slots)  +  λ · mean entropy of p(·) over the masked slots whose argmax already is the target

Each masked slot's CE is weighted 1 where shaping keeps its text (the slots up to the end of the completion) and
--rest-weight beyond it (text that is cut anyway). The certainty term is off for the first --cf-start share of the
steps, so the model first learns where the trajectories lead and only then is pushed to be sure of it. With
--anchor W, each step also adds W × the pretraining loss (train.py's masked-diffusion and editor-shaped batches on the
training split's text), which holds the model to the code itself while it learns its own trajectories.

The second term is the certainty-forcing loss: where the model is already right it is pushed to be sure, so
confidence-based parallel policies (threshold, factor, entropy) can commit many slots per forward and still give the
text `sequential` gives.

Which slots are masked: with probability --traj-share a state of the sequential trajectory itself (the slots
committed from a random step k on, i.e. what the model sees at step k), otherwise a uniform random fraction
(U(--min-ratio, 1)) of the slots.

    nice python research/distill.py --targets training/.work/distill/targets.jsonl --out training/runs/distill

Writes OUT/weights.pt (the format of model.load_model), OUT/log.jsonl. One CPU thread by default.
"""
import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from tokenizers import Tokenizer

TRAINING = Path(__file__).resolve().parent.parent / "training"
sys.path.insert(0, str(TRAINING))   # the trainer's modules: this research script reuses its batches and loss
from infill import Sampler, load_stream
from model import SHIPPED_MODEL, load_model
from train import INFILL_SHARE, infill_batch, json_lines, loss_on, mdm_batch



def load_targets(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if any(t < 0 for t in d["final"]):      # ran out of time: no complete target
                continue
            rows.append({"canvas": torch.tensor(d["canvas"], dtype=torch.long), "start": d["slotStart"], "slots": d["slots"],
                         "final": torch.tensor(d["final"], dtype=torch.long), "order": torch.tensor(d["order"], dtype=torch.long),
                         "forwards": d["forwards"], "file": d["file"], "keep": d["keep"]})
    return rows


def choose_mask(row: dict, rng: random.Random, traj_share: float, min_ratio: float) -> torch.Tensor:
    """A boolean mask over the sample's slots, at least one True."""
    n = row["slots"]
    if rng.random() < traj_share:
        k = rng.randrange(row["forwards"])
        m = row["order"] >= k                     # still masked when the sequential decode ran its step k
    else:
        ratio = rng.uniform(min_ratio, 1.0)
        m = torch.rand(n, generator=None) < ratio
    if not m.any():
        m[rng.randrange(n)] = True
    return m


def batches(rows: list[dict], batch: int, rng: random.Random):
    """Shuffled batches; canvases of different lengths are padded at the end and the padding is masked out of
    attention (model.hidden's valid), so each sample is computed exactly as the engine's unpadded forward."""
    order = list(rows)
    rng.shuffle(order)
    return [order[i:i + batch] for i in range(0, len(order), batch)]


def forward_loss(model, group: list[dict], masks: list[torch.Tensor], lam: float, mask_id: int, rest_weight: float = 1.0):
    length = max(len(r["canvas"]) for r in group)
    ids = torch.full((len(group), length), 0, dtype=torch.long)
    valid = torch.zeros((len(group), length), dtype=torch.bool)
    for b, r in enumerate(group):
        ids[b, :len(r["canvas"])] = r["canvas"]
        valid[b, :len(r["canvas"])] = True
    rows, cols, targets, weights = [], [], [], []
    for b, (r, m) in enumerate(zip(group, masks)):
        slot_idx = torch.nonzero(m).flatten()
        pos = r["start"] + slot_idx
        ids[b, r["start"]:r["start"] + r["slots"]] = r["final"]          # committed slots hold their final tokens
        ids[b, pos] = mask_id
        rows.append(torch.full_like(pos, b))
        cols.append(pos)
        targets.append(r["final"][slot_idx])
        weights.append(torch.where(slot_idx < r["keep"], 1.0, rest_weight))
    rows, cols, target, weight = torch.cat(rows), torch.cat(cols), torch.cat(targets), torch.cat(weights)
    h = model.hidden(ids, None if bool(valid.all()) else valid)
    logits = model.logits(h[rows, cols]).float()                        # only the masked slots go through the head
    logp = torch.log_softmax(logits, -1)
    ce = (F.nll_loss(logp, target, reduction="none") * weight).sum() / weight.sum()
    p = logp.exp()
    entropy = -(p * logp).sum(-1)
    correct = logits.argmax(-1) == target
    cf = entropy[correct].mean() if correct.any() else logits.sum() * 0
    loss = ce + lam * cf
    with torch.no_grad():
        p1 = p.max(-1).values
        stats = {"ce": ce.item(), "cf": cf.item(), "acc": correct.float().mean().item(),
                 "sure": ((p1 >= 0.9) & correct).float().mean().item(), "p1": p1.mean().item(), "n": len(target)}
    return loss, stats


@torch.no_grad()
def evaluate(model, rows: list[dict], lam: float, mask_id: int, seed: int = 7) -> dict:
    """Fixed masks (half trajectory states, half random) on held-back training-split samples."""
    model.eval()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    agg, total = {}, 0
    for r in rows:
        for share in (1.0, 0.0):
            m = choose_mask(r, rng, share, 0.1)
            _, s = forward_loss(model, [r], [m], lam, mask_id)
            for k, v in s.items():
                if k != "n":
                    agg[k] = agg.get(k, 0.0) + v * s["n"]
            total += s["n"]
    model.train()
    return {k: round(v / total, 4) for k, v in agg.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", nargs="+", default=[str(TRAINING / ".work" / "distill" / "targets.jsonl")], help="one or more target files")
    ap.add_argument("--init", default=str(TRAINING / "checkpoints" / "default.pt"))
    ap.add_argument("--out", default=str(TRAINING / "runs" / "distill"))
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--lam", type=float, default=0.5, help="weight of the certainty-forcing (entropy) term")
    ap.add_argument("--cf-start", type=float, default=0.0, help="share of the steps before the certainty term is switched on")
    ap.add_argument("--rest-weight", type=float, default=1.0, help="CE weight of the slots past the text shaping keeps")
    ap.add_argument("--anchor", type=float, default=0.0, help="weight of train.py's pretraining loss on the training split")
    ap.add_argument("--traj-share", type=float, default=0.5, help="share of examples masked as a sequential trajectory state")
    ap.add_argument("--min-ratio", type=float, default=0.1)
    ap.add_argument("--val", type=int, default=64, help="samples held back for the loss curve")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--max-minutes", type=float, default=0, help="stop (and save) after this many minutes; 0: no limit")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    from rules import MASK
    # the pretraining text, tokenized as the shipped model's folder tokenizes it
    anchor = Sampler(load_stream("train"), Tokenizer.from_file(str(SHIPPED_MODEL / "tokenizer.json")), random.Random(args.seed)) \
        if args.anchor else None
    model, state = load_model(Path(args.init))
    model.train()
    rows = [row for t in args.targets for row in load_targets(Path(t))]
    rng.shuffle(rows)
    val, train = rows[:args.val], rows[args.val:]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    emit = json_lines(out / "log.jsonl", "w")

    steps_per_epoch = len(batches(train, args.batch, random.Random(0)))
    total_steps = max(1, int(steps_per_epoch * args.epochs))
    warmup = min(20, total_steps // 10)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, warmup)) *
                                              (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total_steps)))))
    emit({"event": "start", "train": len(train), "val": len(val), "stepsPerEpoch": steps_per_epoch, "steps": total_steps,
          **{k: v for k, v in vars(args).items()}})
    emit({"event": "eval", "step": 0, **evaluate(model, val, args.lam, MASK)})
    t0 = time.time()
    step, run, stop = 0, {}, False
    epoch = 0
    while step < total_steps and not stop:
        for group in batches(train, args.batch, rng):
            masks = [choose_mask(r, rng, args.traj_share, args.min_ratio) for r in group]
            lam = args.lam if step >= args.cf_start * total_steps else 0.0
            loss, s = forward_loss(model, group, masks, lam, MASK, args.rest_weight)
            if anchor:
                make = infill_batch if rng.random() < INFILL_SHARE else mdm_batch
                pre = loss_on(model, *make(anchor, args.batch, 256, rng))
                loss = loss + args.anchor * pre
                s["pre"] = pre.item()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            for k, v in s.items():
                run[k] = run.get(k, 0.0) + v
            run["steps"] = run.get("steps", 0) + 1
            if step % 10 == 0:
                c = run.pop("steps")
                emit({"step": step, "epoch": epoch, "seconds": round(time.time() - t0, 1), "lr": round(sched.get_last_lr()[0], 7),
                      **{k: round(v / c, 4) for k, v in run.items() if k != "n"}})
                run = {}
            if step % args.eval_every == 0:
                emit({"event": "eval", "step": step, "seconds": round(time.time() - t0, 1), **evaluate(model, val, args.lam, MASK)})
                torch.save({"model": model.state_dict(), "config": model.config.as_dict(), "state": state}, out / "weights.pt")
            if step >= total_steps or (args.max_minutes and time.time() - t0 > args.max_minutes * 60):
                stop = True
                break
        epoch += 1
    emit({"event": "eval", "step": step, "seconds": round(time.time() - t0, 1), **evaluate(model, val, args.lam, MASK)})
    state = {**state, "distill": {"targets": args.targets, "samples": len(train), "steps": step, "epochs": round(step / steps_per_epoch, 2),
                                  "lam": args.lam, "cfStart": args.cf_start, "restWeight": args.rest_weight, "anchor": args.anchor, "lr": args.lr,
                                  "trajShare": args.traj_share}}
    torch.save({"model": model.state_dict(), "config": model.config.as_dict(), "state": state}, out / "weights.pt")
    emit({"event": "done", "steps": step, "seconds": round(time.time() - t0, 1)})


if __name__ == "__main__":
    main()
