"""The GPU training path (issue 11): one run of a few wall-clock minutes on one CUDA GPU, fed from
the packed corpus in training/gpu-data/ (made by gpu_data.py), ending on time with its learning rate
annealed, and giving back weights in parts of at most 16 MiB.

    bash training/gpu/run.sh                                    # on the GPU machine: the whole run, parts to $OUT
    python training/train_gpu.py --device cpu --steps 20 ...    # the same script as a smoke test on a CPU

What it does, beside the CPU trainer (train.py), whose batch makers, loss and evaluation it uses:
- DataLoader worker processes, each holding its own shards of the corpus: the text (for the
  editor-shaped infill batches of infill.Sampler) and that text tokenized once, a shard at a time
  between batches (for the plain masked-diffusion batches, cut as token windows instead of being
  tokenized per batch). Each
  batch is of one kind, infill with probability INFILL_SHARE, 512 tokens with LONG_SHARE, as in train.py.
- bf16 autocast, fused AdamW, TF32 matmuls on CUDA; the loss over all positions with the unmasked
  ones weighted zero (same value as train.loss_on, no host sync for a boolean gather) unless --sparse-loss.
- A schedule over wall-clock time: linear warm-up, then cosine down to --min-lr-ratio of the peak at
  the end of the budget. The budget is --budget-seconds, shortened so the whole process (data
  loading and the final evaluation included) ends within --deadline-seconds of its start.
- --init: weights-only start from a checkpoint (the committed training/checkpoints/default.pt); a
  deeper model of the same width grows from it, each old block followed by a copy whose output
  projections are zero (so the grown model computes what the old one did).
- Logs tokens/s and the share of wall time spent waiting for the loader (loaderWait): near 0 the
  GPU (or the Python loop) limits the speed, near 1 the loader does.
"""
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")   # one tokenizer thread per worker process
import argparse
import json
import lzma
import math
import random
import shutil
import time
from pathlib import Path

T_PROCESS = time.time()

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from infill import SEP, Sampler
from rules import EOS, MASK, PAD, SLOTS
from model import SIZES, Config, Denoiser
from train import INFILL_SHARE, LONG_SHARE, PAD_WEIGHT, evaluate, infill_batch, json_lines, loss_on, mdm_mask, save_weights
import parts

HERE = Path(__file__).resolve().parent
DATA = HERE / "gpu-data"
RUNS = HERE / "runs"
GPU_SIZE = "d320-8L"   # the size the GPU run trains: the largest within 15 ms and 24 MiB (size table in README.md)


def read_shard(path: Path) -> str:
    with lzma.open(path, "rt", encoding="utf-8") as f:
        return f.read()


class Batches(torch.utils.data.IterableDataset):
    """Endless batches (ids, masked, weight) from this worker's shards."""

    def __init__(self, data: Path, shards: list[str], batch: int, seed: int):
        self.data, self.shards, self.batch, self.seed = data, shards, batch, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, n = (info.id, info.num_workers) if info else (0, 1)
        mine = self.shards[wid::n] or [self.shards[wid % len(self.shards)]]
        rng = random.Random(self.seed * 1009 + wid)
        torch.manual_seed(self.seed * 1009 + wid)
        t0 = time.time()
        tok = Tokenizer.from_file(str(self.data / "tokenizer.json"))
        texts = [read_shard(self.data / s) for s in mine]
        sampler = Sampler(SEP.join(texts), tok, rng)
        untokenized, pieces = list(texts), []

        def tokenize_next() -> np.ndarray:
            # one shard at a time: the first batches come after one shard, not all of them
            docs = untokenized.pop(0).split(SEP)
            pieces.append(np.concatenate([np.array(e.ids + [EOS], dtype=np.uint16) for e in tok.encode_batch(docs)]))
            if not untokenized:
                print(json.dumps({"event": "worker", "worker": wid, "shards": len(mine),
                                  "megabytes": round(sum(map(len, texts)) / 1e6, 1), "tokens": int(sum(map(len, pieces))),
                                  "loadSeconds": round(time.time() - t0, 1)}), flush=True)
            return np.concatenate(pieces) if len(pieces) > 1 else pieces[0]

        tokens = tokenize_next()
        offsets = np.arange(512)
        made = 0
        while True:
            made += 1
            if untokenized and made % 20 == 0:
                tokens = tokenize_next()
            seq = 512 if rng.random() < LONG_SHARE else 256
            batch = self.batch * 256 // seq
            if rng.random() < INFILL_SHARE:
                yield compact(*infill_batch(sampler, batch, seq, rng))
            else:
                starts = np.array([rng.randrange(0, len(tokens) - seq) for _ in range(batch)])
                yield compact(*mdm_mask(torch.from_numpy(tokens[starts[:, None] + offsets[:seq]].astype(np.int64))))


def compact(ids, masked, weight):
    """What crosses from a worker: int16 ids (vocabulary 8192) and one weight a row (the batch makers'
    weights are constant along a row): ~100 KB a batch instead of ~430 KB through shared memory."""
    return ids.to(torch.int16), masked, weight[:, :1].contiguous()


def expand(ids, masked, weight, device: str):
    ids = ids.to(device, non_blocking=True).long()
    return ids, masked.to(device, non_blocking=True), weight.to(device, non_blocking=True).expand(ids.shape)


def loss_dense(model: Denoiser, ids, masked, weight):
    """train.loss_on over every position, the unmasked ones weighted zero: the same value without
    gathering the masked rows (a gather by a boolean mask waits for the GPU every step)."""
    h = model.hidden(ids.masked_fill(masked, MASK))
    ce = F.cross_entropy(model.logits(h).flatten(0, 1).float(), ids.flatten(), reduction="none").view(ids.shape)
    w = torch.where(masked, weight, 0.0)
    w = torch.where(ids == PAD, w * PAD_WEIGHT, w)
    return (ce * w).sum() / ids.shape[0]


def lr_at(elapsed: float, budget: float, peak: float, warmup: float, floor: float) -> float:
    """Linear warm-up over `warmup` seconds, then cosine to floor·peak at `budget` seconds."""
    if elapsed < warmup:
        return peak * max(elapsed, 0.01 * warmup) / warmup
    frac = min(1.0, (elapsed - warmup) / max(1e-9, budget - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))


def init_from(model: Denoiser, path: str, device: str) -> dict:
    """Weights-only start; a deeper model of the same width grows from a shallower checkpoint."""
    saved = torch.load(path, map_location=device)
    old = Config(**saved["config"])
    new = model.config
    weights = {k: v.float() for k, v in saved["model"].items()}
    if old == new:
        model.load_state_dict(weights)
        return saved.get("state", {})
    same_width = {k: v for k, v in old.as_dict().items() if k != "layers"} == {k: v for k, v in new.as_dict().items() if k != "layers"}
    if not same_width or new.layers < old.layers:
        raise SystemExit(f"--init {path}: its size {old} cannot start a {new} model (only a deeper one of the same width)")
    grown = {k: v for k, v in weights.items() if not k.startswith("blocks.")}
    for j in range(new.layers):
        i = j * old.layers // new.layers                     # old block this one copies
        first = j == 0 or (j - 1) * old.layers // new.layers != i
        for k, v in weights.items():
            if k.startswith(f"blocks.{i}."):
                name = k[len(f"blocks.{i}."):]
                copy = v.clone()
                if not first and name in ("out.weight", "down.weight"):
                    copy.zero_()                             # the copy adds nothing at first
                grown[f"blocks.{j}.{name}"] = copy
    model.load_state_dict(grown)
    print(f"grown from {old.layers} to {new.layers} blocks (copies start as identities)")
    return saved.get("state", {})


def heldout_eval_set(data: Path, tok: Tokenizer, n_tasks: int) -> dict:
    """The held-out windows and tasks train.py evaluates on (same stream order, same seeds)."""
    docs = [json.loads(line)["text"] for line in read_shard(data / "heldout.jsonl.xz").splitlines() if line]
    random.Random(0).shuffle(docs)                       # as infill.load_stream
    held = Sampler(SEP.join(docs), tok, random.Random(7))
    return {"windows": torch.tensor([held.window(256) for _ in range(48)]),
            "tasks": [held.infill_task(256, kind="line-rest", slots=SLOTS["singleLine"]) for _ in range(n_tasks)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default="gpu")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", default=GPU_SIZE, choices=SIZES)
    ap.add_argument("--init", help="weights-only checkpoint to start from, e.g. training/checkpoints/default.pt")
    ap.add_argument("--batch", type=int, default=128, help="rows of 256 tokens a step (half as many rows at 512)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.05)
    ap.add_argument("--warmup-seconds", type=float, default=15.0)
    ap.add_argument("--budget-seconds", type=float, default=390.0, help="training time the schedule spans")
    ap.add_argument("--deadline-seconds", type=float, default=450.0, help="the whole process ends within this")
    ap.add_argument("--reserve-seconds", type=float, default=40.0, help="kept for the final evaluation and writing")
    ap.add_argument("--steps", type=int, help="stop after this many steps (smoke runs)")
    ap.add_argument("--workers", type=int, default=max(1, min(14, (os.cpu_count() or 2) - 2)))
    ap.add_argument("--shards", type=int, help="use only the first N shards (smoke runs)")
    ap.add_argument("--prefetch", type=int, default=6, help="batches each worker keeps ready")
    ap.add_argument("--log-seconds", type=float, default=15.0)
    ap.add_argument("--eval-seconds", type=float, default=120.0)
    ap.add_argument("--eval-tasks", type=int, default=48)
    ap.add_argument("--sparse-loss", action="store_true", help="train.loss_on (gather the masked rows) instead")
    ap.add_argument("--loader-seconds", type=float, help="only measure the loader: drain it this long, report tokens/s, exit")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="also write the weights here in parts of ≤16 MiB, with the log and summary")
    args = ap.parse_args()

    data = Path(args.data)
    manifest = json.loads((data / "manifest.json").read_text())
    shards = [s["name"] for s in manifest["shards"]][: args.shards]
    cuda = args.device.startswith("cuda")
    torch.manual_seed(args.seed)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    run = RUNS / args.run
    run.mkdir(parents=True, exist_ok=True)
    emit = json_lines(run / "log.jsonl")

    # workers start loading their shards now, while the model is built and evaluated
    loader = torch.utils.data.DataLoader(
        Batches(data, shards, args.batch, args.seed), batch_size=None, num_workers=args.workers,
        pin_memory=cuda, prefetch_factor=args.prefetch if args.workers else None, persistent_workers=args.workers > 0)
    batches = iter(loader)

    tok = Tokenizer.from_file(str(data / "tokenizer.json"))
    held = heldout_eval_set(data, tok, args.eval_tasks)
    config = SIZES[args.size]
    model = Denoiser(config).to(args.device)
    state = {"tokens": 0, "step": 0, "seconds": 0.0}
    if args.init:
        state.update(init_from(model, args.init, args.device))
    state = {"tokens": int(state.get("tokens", 0)), "step": int(state.get("step", 0)), "seconds": float(state.get("seconds", 0.0))}
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1, fused=cuda)
    loss_fn = loss_on if args.sparse_loss or not cuda else loss_dense
    emit({"event": "start", "size": args.size, "parameters": model.parameter_count(), "device": args.device,
          "gpu": torch.cuda.get_device_name() if cuda else None, "workers": args.workers, "shards": len(shards),
          "batch": args.batch, "lr": args.lr, "loss": loss_fn.__name__, "init": args.init, "startTokens": state["tokens"],
          "corpus": manifest.get("summary")})
    t = time.time()
    emit({"event": "eval", "tokens": state["tokens"], "seconds": 0.0, **evaluate(model, held, tok),
          "evalSeconds": round(time.time() - t, 1)})

    first = next(batches)
    startup = time.time() - T_PROCESS
    budget = min(args.budget_seconds, args.deadline_seconds - startup - args.reserve_seconds)
    if budget <= args.warmup_seconds and not args.steps:
        raise SystemExit(f"no time left to train: {startup:.0f} s went on loading (deadline {args.deadline_seconds:.0f} s)")
    emit({"event": "loaded", "startupSeconds": round(startup, 1), "budgetSeconds": round(budget, 1)})
    if args.loader_seconds:
        t, n, kinds = time.time(), 0, 0
        while time.time() - t < args.loader_seconds:
            n += next(batches)[0].numel()
            kinds += 1
        dt = time.time() - t
        emit({"event": "loader", "workers": args.workers, "batches": kinds, "tokensPerSecond": round(n / dt),
              "tokensPerSecondPerWorker": round(n / dt / max(1, args.workers))})
        return

    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)
    model.train()
    t_train = time.time()
    paused = 0.0                                   # time spent on evaluations
    win = {"t": time.time(), "tokens": 0, "steps": 0, "wait": 0.0, "loss": torch.zeros((), device=args.device)}
    next_log, next_eval = args.log_seconds, args.eval_seconds
    total_wait, run_tokens, step = 0.0, 0, 0
    pending = first
    while True:
        elapsed = time.time() - t_train            # wall clock, evaluations included: the run ends on time
        if (args.steps and step >= args.steps) or (not args.steps and elapsed >= budget):
            break
        tw = time.time()
        ids, masked, weight = pending if pending is not None else next(batches)
        pending = None
        waited = time.time() - tw
        ids, masked, weight = expand(ids, masked, weight, args.device)
        # a smoke run of --steps steps goes through the whole schedule by steps instead of seconds
        at = elapsed if not args.steps else budget * step / args.steps
        lr = lr_at(at, budget, args.lr, args.warmup_seconds, args.min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr
        with autocast:
            loss = loss_fn(model, ids, masked, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        n_tokens = ids.numel()
        state["tokens"] += n_tokens
        state["step"] += 1
        run_tokens += n_tokens
        win["tokens"] += n_tokens
        win["steps"] += 1
        win["wait"] += waited
        total_wait += waited
        win["loss"] += loss.detach()
        elapsed = time.time() - t_train
        last = (args.steps and step >= args.steps) or (not args.steps and elapsed >= budget)
        if elapsed >= next_log or last:
            mean_loss = (win["loss"] / win["steps"]).item()          # the one host sync per log line
            dt = time.time() - win["t"]
            emit({"step": state["step"], "tokens": state["tokens"], "loss": round(mean_loss, 4),
                  "tokensPerSecond": round(win["tokens"] / dt), "lr": round(lr, 6), "seconds": round(elapsed, 1),
                  "stepMs": round(1000 * (dt - win["wait"]) / win["steps"], 2),
                  "loaderWaitMs": round(1000 * win["wait"] / win["steps"], 2), "loaderWait": round(win["wait"] / dt, 3)})
            next_log = elapsed + args.log_seconds
            win = {"t": time.time(), "tokens": 0, "steps": 0, "wait": 0.0, "loss": torch.zeros((), device=args.device)}
        if elapsed >= next_eval and not last:
            te = time.time()
            emit({"event": "eval", "tokens": state["tokens"], "seconds": round(elapsed, 1), **evaluate(model, held, tok),
                  "evalSeconds": round(time.time() - te, 1)})
            save_weights(model, state, config, run / "weights.pt")
            paused += time.time() - te
            next_eval = elapsed + args.eval_seconds
            win["t"] += time.time() - te

    train_seconds = time.time() - t_train - paused   # training time proper, for tokens/s
    state["seconds"] += train_seconds
    te = time.time()
    final = evaluate(model, held, tok)
    emit({"event": "eval", "tokens": state["tokens"], "seconds": round(train_seconds, 1), **final,
          "evalSeconds": round(time.time() - te, 1)})
    save_weights(model, state, config, run / "weights.pt")
    summary = {"event": "done", "size": args.size, "parameters": model.parameter_count(), "device": args.device,
               "runTokens": run_tokens, "steps": step, "trainSeconds": round(train_seconds, 1),
               "tokensPerSecond": round(run_tokens / max(train_seconds, 1e-9)),
               "loaderWait": round(total_wait / max(train_seconds, 1e-9), 3), "startupSeconds": round(startup, 1),
               "totalTokens": state["tokens"], "final": final, "wallSeconds": round(time.time() - T_PROCESS, 1),
               "maxMemoryGiB": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None}
    emit(summary)
    (run / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    if args.out:
        out = Path(args.out)
        parts.split(run / "weights.pt", out)
        shutil.copy(run / "log.jsonl", out / "log.jsonl")
        shutil.copy(run / "summary.json", out / "summary.json")


if __name__ == "__main__":
    main()
