"""Stage 3: train the denoiser with the masked-diffusion objective, mixed with infill samples
shaped like the editor's requests. One trainer for a CPU and a GPU: logs, checkpoints and resumes.

    OMP_NUM_THREADS=2 python training/train.py --run default              # CPU, resumes if the run exists
    python training/train.py --run smoke --tokens 200000 --eval-every 20   # a few minutes
    bash training/gpu/run.sh                                               # --preset gpu on a CUDA machine

The presets: `cpu` trains d256-4L on the stage-1 corpus (training/.work/corpus, training/.work/tokenizer.json),
its learning rate scheduled over --tokens; `gpu` trains d320-8L on the packed corpus of gpu_data.py (--data
training/gpu-data), scheduled over wall-clock seconds (--budget-seconds) so that the run ends on time. Every
preset value is also an option. What matters on a GPU: --device, --dtype (bf16 autocast, TF32 matmuls and fused
AdamW on CUDA), --workers (DataLoader worker processes, each holding its share of the corpus; 0 makes the batches
in this process) and --loss dense (the loss over all positions, no host sync for a boolean gather).

Batches: each one is of one kind, editor-shaped infill with probability INFILL_SHARE (cut from the text by
infill.Sampler), else plain masked diffusion on token windows of the same text tokenized once, a piece at a time
between batches; 512 tokens with probability LONG_SHARE, else 256.

--seed (default 0) fixes the data and the initialisation, and the log's first line records it: two runs with the
same options see the same batches. A resumed run draws from (seed, step), so it does not repeat the batches of the
steps it already took.

Log lines (runs/<run>/log.jsonl): a start line (the options, seed, device, parameters), every --log-every steps the
tokens seen, loss, tokens/s, step and loader-wait times, and at each eval the held-out masked-token accuracy at mask
ratios 0.15/0.5/0.9 and the non-empty share, exact match of single-line held-out infills decoded one token per step.
"""
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")   # one tokenizer thread per loader worker
import argparse
import json
import lzma
import math
import random
import shutil
import time
from pathlib import Path
from typing import Callable

T_PROCESS = time.time()

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from infill import SEP, Sampler, load_stream
from rules import EOS, MASK, PAD, SLOTS
from model import SIZES, Config, Denoiser
from to_safetensors import write_checkpoint
import parts

HERE = Path(__file__).resolve().parent
RUNS = HERE / "runs"
TOKENIZER = HERE / ".work" / "tokenizer.json"   # stage 2's; a packed folder carries its own

PRESETS = {
    # ~5M parameters: a forward at 256 tokens in ~11-15 ms on 2 CPU threads
    "cpu": dict(size="d256-4L", batch=16, lr=5e-4, tokens=44_000_000, floor=0.1, workers=0),
    # the GPU run (gpu/run.sh): the largest size within 15 ms and 24 MiB (size table in README.md), a few minutes
    "gpu": dict(size="d320-8L", batch=128, lr=1e-3, budget_seconds=390.0, floor=0.05,
                workers=max(1, min(14, (os.cpu_count() or 2) - 2))),
}
PAD_WEIGHT = 0.4      # pads are the easiest target; weight them down (docs/architecture.md, "The decode loop": the empty completion)
INFILL_SHARE = 0.5    # share of samples shaped like editor requests
LONG_SHARE = 0.2      # share of batches at 512 tokens instead of 256
T_MIN = 0.1           # smallest mask ratio: below it the 1/t weights make the gradient too noisy for small batches
PIECE_CHARS = 4_000_000   # text tokenized at once between batches: the first batches wait for one piece, not the corpus


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


def loss_dense(model: Denoiser, ids, masked, weight):
    """loss_on over every position, the unmasked ones weighted zero: the same value without gathering the
    masked rows (a gather by a boolean mask waits for the GPU every step)."""
    h = model.hidden(ids.masked_fill(masked, MASK))
    ce = F.cross_entropy(model.logits(h).flatten(0, 1).float(), ids.flatten(), reduction="none").view(ids.shape)
    w = torch.where(masked, weight, 0.0)
    w = torch.where(ids == PAD, w * PAD_WEIGHT, w)
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


def lr_at(done: float, warmup: float, peak: float, floor: float) -> float:
    """Linear warm-up over the first `warmup` share of the run, then cosine down to floor·peak at its end (done = 1)."""
    if done < warmup:
        return peak * max(done, 0.01 * warmup) / warmup
    frac = min(1.0, (done - warmup) / max(1e-9, 1 - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))


class Corpus:
    """Where the text comes from: a folder packed by gpu_data.py (train shards of text, xz; the held-out split; its
    tokenizer), or without one the stage-1 corpus (training/.work/corpus) and stage 2's tokenizer."""

    def __init__(self, packed: Path | None):
        self.packed = packed
        if packed is None:
            self.tokenizer, self.shards, self.summary = TOKENIZER, ["train"], None
            return
        manifest = packed / "manifest.json"
        if not manifest.is_file():
            raise SystemExit(f"--data {packed}: no manifest.json (make the folder with python training/gpu_data.py)")
        m = json.loads(manifest.read_text())
        self.tokenizer, self.shards, self.summary = packed / "tokenizer.json", [s["name"] for s in m["shards"]], m.get("summary")

    def read(self, shard: str) -> str:
        if self.packed is None:
            return load_stream(shard)
        with lzma.open(self.packed / shard, "rt", encoding="utf-8") as f:
            return f.read()

    def heldout(self) -> str:
        """The held-out documents in the order infill.load_stream gives them, from either source."""
        if self.packed is None:
            return load_stream("heldout")
        docs = [json.loads(line)["text"] for line in self.read("heldout.jsonl.xz").splitlines() if line]
        random.Random(0).shuffle(docs)
        return SEP.join(docs)


def heldout_eval_set(corpus: Corpus, tok: Tokenizer, n_tasks: int) -> dict:
    held = Sampler(corpus.heldout(), tok, random.Random(7))
    return {"windows": torch.tensor([held.window(256) for _ in range(48)]),
            "tasks": [held.infill_task(256, kind="line-rest", slots=SLOTS["singleLine"]) for _ in range(n_tasks)]}


class Batches(torch.utils.data.IterableDataset):
    """Endless batches (ids, masked, weight), in a loader worker from its own shards (or in this process)."""

    def __init__(self, corpus: Corpus, shards: list[str], batch: int, seed: str):
        self.corpus, self.shards, self.batch, self.seed = corpus, shards, batch, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, n = (info.id, info.num_workers) if info else (0, 1)
        mine = self.shards[wid::n] or [self.shards[wid % len(self.shards)]]
        rng = random.Random(f"{self.seed}:worker{wid}")      # a str seeds the same in every process
        torch.manual_seed(rng.getrandbits(63))
        t0 = time.time()
        tok = Tokenizer.from_file(str(self.corpus.tokenizer))
        texts = [self.corpus.read(s) for s in mine]
        sampler = Sampler(SEP.join(texts), tok, rng)
        untokenized = [piece for text in texts for piece in pieces(text)]
        chars, tokenized = sum(map(len, texts)), []

        def tokenize_next() -> np.ndarray:
            docs = untokenized.pop(0).split(SEP)
            tokenized.append(np.concatenate([np.array(e.ids + [EOS], dtype=np.uint16) for e in tok.encode_batch(docs)]))
            if not untokenized:
                print(json.dumps({"event": "worker", "worker": wid, "shards": len(mine), "megabytes": round(chars / 1e6, 1),
                                  "tokens": int(sum(map(len, tokenized))), "loadSeconds": round(time.time() - t0, 1)}), flush=True)
            return np.concatenate(tokenized) if len(tokenized) > 1 else tokenized[0]

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


def pieces(text: str) -> list[str]:
    """`text` cut at document boundaries into pieces of about PIECE_CHARS."""
    out, at = [], 0
    while at < len(text):
        end = text.find(SEP, at + PIECE_CHARS)
        end = len(text) if end < 0 else end
        out.append(text[at:end])
        at = end + len(SEP)
    return out


def compact(ids, masked, weight):
    """What crosses from a worker: int16 ids (vocabulary 8192) and one weight a row (the batch makers'
    weights are constant along a row): ~100 KB a batch instead of ~430 KB through shared memory."""
    return ids.to(torch.int16), masked, weight[:, :1].contiguous()


def expand(ids, masked, weight, device: str):
    ids = ids.to(device, non_blocking=True).long()
    return ids, masked.to(device, non_blocking=True), weight.to(device, non_blocking=True).expand(ids.shape)


def init_from(model: Denoiser, path: str, device: str) -> dict:
    """Weights-only start; a deeper model of the same width grows from a shallower checkpoint."""
    saved = torch.load(path, map_location=device)
    old = Config(**saved["config"]) if "config" in saved else model.config
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


def options() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default="default", help="runs/<run>: its log, checkpoint and weights; resumed if it exists")
    ap.add_argument("--preset", default="cpu", choices=PRESETS, help="the defaults of the options below")
    ap.add_argument("--data", help="a folder packed by gpu_data.py (default: the stage-1 corpus; the gpu preset: training/gpu-data)")
    ap.add_argument("--size", choices=SIZES, help="the model's size")
    ap.add_argument("--init", help="weights-only checkpoint to start from, e.g. training/checkpoints/default.pt; "
                                   "a deeper model of the same width grows from it")
    ap.add_argument("--batch", type=int, help="rows of 256 tokens a step (half as many rows at 512)")
    ap.add_argument("--lr", type=float, help="peak learning rate")
    ap.add_argument("--tokens", type=int, help="train to this many tokens, the schedule spanning them")
    ap.add_argument("--budget-seconds", type=float, help="train this long instead, the schedule spanning wall-clock time")
    ap.add_argument("--deadline-seconds", type=float, default=450.0, help="with --budget-seconds: the process ends within this")
    ap.add_argument("--reserve-seconds", type=float, default=40.0, help="with --budget-seconds: kept for the final evaluation and writing")
    ap.add_argument("--warmup-tokens", type=int, default=1_000_000, help="warm-up of a schedule over tokens")
    ap.add_argument("--warmup-seconds", type=float, default=15.0, help="warm-up of a schedule over wall-clock time")
    ap.add_argument("--min-lr-ratio", type=float, help="the learning rate at the end, as a share of the peak")
    ap.add_argument("--steps", type=int, help="stop after this many steps, the schedule spanning them (smoke runs)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=("bf16", "fp32"), help="autocast precision (default: bf16 on CUDA, else fp32)")
    ap.add_argument("--loss", choices=("dense", "sparse"), help="dense: over all positions, unmasked weighted zero "
                                                               "(default on CUDA); sparse: gather the masked ones")
    ap.add_argument("--workers", type=int, help="DataLoader worker processes; 0 makes the batches in this process")
    ap.add_argument("--prefetch", type=int, default=6, help="batches each worker keeps ready")
    ap.add_argument("--shards", type=int, help="use only the first N shards of --data (smoke runs)")
    ap.add_argument("--seed", type=int, default=0, help="the data's and the initialisation's seed, recorded in the log")
    ap.add_argument("--log-every", type=int, default=50, help="steps between log lines")
    ap.add_argument("--eval-every", type=int, default=400, help="steps between evals and checkpoints")
    ap.add_argument("--eval-tasks", type=int, default=48)
    ap.add_argument("--loader-seconds", type=float, help="only measure the loader: drain it this long, log tokens/s, exit")
    ap.add_argument("--out", help="also write the weights here in parts of at most 16 MiB, with the log and summary")
    args = ap.parse_args()
    preset = PRESETS[args.preset]
    for name in ("size", "batch", "lr", "workers"):
        if getattr(args, name) is None:
            setattr(args, name, preset[name])
    if args.budget_seconds is None and args.tokens is None:
        args.budget_seconds, args.tokens = preset.get("budget_seconds"), preset.get("tokens")
    args.min_lr_ratio = preset["floor"] if args.min_lr_ratio is None else args.min_lr_ratio
    if args.data is None and args.preset == "gpu":
        args.data = str(HERE / "gpu-data")
    cuda = args.device.startswith("cuda")
    args.dtype = args.dtype or ("bf16" if cuda else "fp32")
    args.loss = args.loss or ("dense" if cuda else "sparse")
    return args


def main() -> None:
    args = options()
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    run = RUNS / args.run
    run.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(Path(args.data) if args.data else None)
    tok = Tokenizer.from_file(str(corpus.tokenizer))
    config = SIZES[args.size]
    torch.manual_seed(args.seed)
    model = Denoiser(config).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1, fused=cuda)
    state = {"tokens": 0, "step": 0, "seconds": 0.0}
    ckpt = run / "ckpt.pt"
    if ckpt.exists():
        saved = torch.load(ckpt, map_location=args.device)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        state = saved["state"]
        print(f"resumed {ckpt} at {state['tokens']:,} tokens")
    elif args.init:
        got = init_from(model, args.init, args.device)
        state = {"tokens": int(got.get("tokens", 0)), "step": int(got.get("step", 0)), "seconds": float(got.get("seconds", 0.0))}
        print(f"initialised from {args.init} at {state['tokens']:,} tokens")
    emit = json_lines(run / "log.jsonl")
    # the data's seed: the run's, and where it resumes, so a resumed run draws new batches, the same ones every time
    data_seed = f"{args.seed}:{state['step']}"
    emit({"event": "start", "seed": args.seed, "dataSeed": data_seed, "size": args.size, "parameters": model.parameter_count(),
          "device": args.device, "gpu": torch.cuda.get_device_name() if cuda else None, "dtype": args.dtype, "loss": args.loss,
          "workers": args.workers, "batch": args.batch, "lr": args.lr, "tokens": args.tokens, "budgetSeconds": args.budget_seconds,
          "steps": args.steps, "init": args.init, "startTokens": state["tokens"], "data": args.data or "training/.work/corpus",
          "corpus": corpus.summary})

    # workers start loading their shards now, while the held-out set is built
    shards = corpus.shards[: args.shards]
    loader = torch.utils.data.DataLoader(
        Batches(corpus, shards, args.batch, data_seed), batch_size=None, num_workers=args.workers, pin_memory=cuda,
        prefetch_factor=args.prefetch if args.workers else None, persistent_workers=args.workers > 0)
    batches = iter(loader)
    held = heldout_eval_set(corpus, tok, args.eval_tasks)
    pending = next(batches)
    startup = time.time() - T_PROCESS
    if args.loader_seconds:
        t, n, made = time.time(), 0, 0
        while time.time() - t < args.loader_seconds:
            n += next(batches)[0].numel()
            made += 1
        dt = time.time() - t
        emit({"event": "loader", "workers": args.workers, "batches": made, "tokensPerSecond": round(n / dt),
              "tokensPerSecondPerWorker": round(n / dt / max(1, args.workers))})
        return

    # the schedule spans --steps, else --budget-seconds of wall clock (shortened so the process ends by the
    # deadline, evaluations included), else --tokens; `done` is the share of it behind us
    if args.budget_seconds is not None:
        budget = min(args.budget_seconds, args.deadline_seconds - startup - args.reserve_seconds)
        if budget <= args.warmup_seconds and not args.steps:
            raise SystemExit(f"no time left to train: {startup:.0f} s went on loading (deadline {args.deadline_seconds:.0f} s)")
        emit({"event": "loaded", "startupSeconds": round(startup, 1), "budgetSeconds": round(budget, 1)})
        warmup = args.warmup_seconds / budget
    else:
        warmup = args.warmup_tokens / args.tokens
    t_train, start_tokens = time.time(), state["tokens"]

    def done() -> float:
        if args.steps:
            return step / args.steps
        if args.budget_seconds is not None:
            return (time.time() - t_train) / budget
        return state["tokens"] / args.tokens

    autocast = torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16, enabled=args.dtype == "bf16")
    loss_fn = loss_dense if args.loss == "dense" else loss_on
    model.train()
    win = {"t": time.time(), "tokens": 0, "steps": 0, "wait": 0.0, "loss": torch.zeros((), device=args.device)}
    step, accounted = 0, 0.0                            # seconds after t_train already counted in state["seconds"]
    while done() < 1:
        tw = time.time()
        ids, masked, weight = pending if pending is not None else next(batches)
        pending = None
        win["wait"] += time.time() - tw
        ids, masked, weight = expand(ids, masked, weight, args.device)
        lr = lr_at(done(), warmup, args.lr, args.min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr
        with autocast:
            loss = loss_fn(model, ids, masked, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        state["step"] += 1
        state["tokens"] += ids.numel()
        win["tokens"] += ids.numel()
        win["steps"] += 1
        win["loss"] += loss.detach()
        last = done() >= 1
        if state["step"] % args.log_every == 0 or last:     # the last step always logs and evaluates
            dt = time.time() - win["t"]
            emit({"step": state["step"], "tokens": state["tokens"], "loss": round((win["loss"] / win["steps"]).item(), 4),
                  "tokensPerSecond": round(win["tokens"] / dt), "lr": round(lr, 6), "seconds": round(time.time() - t_train, 1),
                  "stepMs": round(1000 * (dt - win["wait"]) / win["steps"], 2), "loaderWait": round(win["wait"] / dt, 3)})
            win = {"t": time.time(), "tokens": 0, "steps": 0, "wait": 0.0, "loss": torch.zeros((), device=args.device)}
        if state["step"] % args.eval_every == 0 or last:
            te = time.time()
            emit({"event": "eval", "step": state["step"], "tokens": state["tokens"], **evaluate(model, held, tok),
                  "evalSeconds": round(time.time() - te, 1)})
            state["seconds"] += te - t_train - accounted
            accounted = time.time() - t_train              # eval time is not training time
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state,
                        "config": config.as_dict()}, str(ckpt) + ".tmp")
            os.replace(str(ckpt) + ".tmp", ckpt)
            save_weights(model, state, config, run / "weights.pt", corpus.tokenizer)
            win["t"] = time.time()

    summary = {"event": "done", "seed": args.seed, "size": args.size, "parameters": model.parameter_count(), "device": args.device,
               "runTokens": state["tokens"] - start_tokens, "steps": step, "totalTokens": state["tokens"],
               "trainSeconds": round(state["seconds"], 1), "startupSeconds": round(startup, 1),
               "wallSeconds": round(time.time() - T_PROCESS, 1),
               "maxMemoryGiB": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None}
    emit(summary)
    (run / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    if args.out:
        out = Path(args.out)
        parts.split(run / "weights.pt", out)
        shutil.copy(run / "log.jsonl", out / "log.jsonl")
        shutil.copy(run / "summary.json", out / "summary.json")


def json_lines(path: Path, mode: str = "a") -> Callable[[dict], None]:
    """A run's log: each call prints one JSON line and writes it to `path`, flushed (a stopped run keeps its log)."""
    log = open(path, mode)

    def emit(line: dict) -> None:
        text = json.dumps(line)
        print(text, flush=True)
        log.write(text + "\n")
        log.flush()
    return emit


def save_weights(model: Denoiser, state: dict, config: Config, path: Path, tokenizer: Path = TOKENIZER) -> None:
    """Compact weights-only checkpoint (fp16): small enough to commit, enough to resume; beside it the same weights as a
    checkpoint folder (config.json + model.safetensors + tokenizer.json) that `npm run convert` turns into a model."""
    weights = {k: v.half() for k, v in model.state_dict().items()}
    torch.save({"model": weights, "state": state, "config": config.as_dict()}, path)
    write_checkpoint(weights, config, path.parent / "checkpoint", tokenizer, state)


if __name__ == "__main__":
    main()
