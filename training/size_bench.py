"""Choose the model size by measurement: for each candidate size, convert a random-weight checkpoint with the
project's converter (`npm run convert`, int8: the precision of the bundled model), then time one forward at 256
tokens with 24 wanted positions on 2 onnxruntime threads, and weigh the folder's graph and weights. Latency does not depend on the weights' values, so
random weights give the trained model's latency.

The machine is shared and noisy: the candidates are timed in interleaved rounds (each round runs
every candidate once, in a shuffled order) and the p50 is over all rounds; the fastest round's
median (the least disturbed) is printed beside it.

    python training/size_bench.py [--sizes d256-4L,d320-8L] [--rounds 9] [--runs 20] [--json out.json]
"""
import argparse
import json
import random
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from ort_quiet import ort
import torch

from bench_forward import WANTED, full_feeds
from model import SIZES, Config, Denoiser
from to_safetensors import write_checkpoint

ROOT = Path(__file__).resolve().parent.parent

MAX_P50_MS = 15.0
MAX_MIB = 24.0


def config_of(name: str) -> Config:
    return SIZES[name]


def graph_bytes(graph: Path) -> int:
    """The graph and its weights beside it (model.onnx.data)."""
    return sum(p.stat().st_size for p in (graph, graph.with_name(graph.name + ".data")) if p.exists())


def session(path: Path, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--runs", type=int, default=20, help="timed forwards per candidate per round")
    ap.add_argument("--json", help="write the table here as JSON too")
    ap.add_argument("--reference", default=str(Path(__file__).resolve().parent.parent / "models" / "default" / "model.onnx"),
                    help="the shipped graph, timed in the same rounds (its card says 4.6 ms through onnxruntime-node)")
    args = ap.parse_args()
    names = args.sizes.split(",")
    torch.manual_seed(0)
    seq, n = args.seq, 24
    ids = (4 + (np.arange(seq) * 7919) % 8000).astype(np.int64)[None]
    pos = (np.arange(n) + seq // 2 - n // 2).astype(np.int64)[None]
    feeds = lambda sess: full_feeds(sess, ids, pos)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {}
        for name in names:
            model = Denoiser(config_of(name)).eval()
            checkpoint, folder = Path(tmp) / f"{name}.checkpoint", Path(tmp) / name
            write_checkpoint(model.state_dict(), config_of(name), checkpoint, ROOT / "models" / "default" / "tokenizer.json")
            subprocess.run(["npx", "tsx", str(ROOT / "src" / "cli" / "convert.ts"), str(checkpoint), "--out", str(folder)], check=True, cwd=ROOT)
            graph = folder / "model.onnx"
            sessions[name] = session(graph, args.threads)
            for _ in range(5):
                sessions[name].run(WANTED, feeds(sessions[name]))
            rows[name] = {"parameters": model.parameter_count(), "bytes": graph_bytes(graph), "times": [], "roundMedians": []}
        if args.reference and Path(args.reference).is_file():
            sessions["shipped"] = session(Path(args.reference), args.threads)
            rows["shipped"] = {"parameters": 0, "bytes": graph_bytes(Path(args.reference)), "times": [], "roundMedians": []}
            names.append("shipped")
        order = list(names)
        for r in range(args.rounds):
            random.Random(r).shuffle(order)
            for name in order:
                times = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    sessions[name].run(WANTED, feeds(sessions[name]))
                    times.append((time.perf_counter() - t0) * 1000)
                rows[name]["times"] += times
                rows[name]["roundMedians"].append(float(np.median(times)))
    table = []
    print(f"| size | parameters | int8 graph + weights | p50 ms (all rounds) | p90 ms | best round's median | fits |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name in names:
        r = rows[name]
        p50, p90 = float(np.median(r["times"])), float(np.percentile(r["times"], 90))
        best = min(r["roundMedians"])
        mib = r["bytes"] / 2**20
        fits = p50 <= MAX_P50_MS and mib <= MAX_MIB
        table.append({"size": name, "config": config_of(name).as_dict() if name in SIZES else None, "parameters": r["parameters"],
                      "mib": round(mib, 2), "p50Ms": round(p50, 2), "p90Ms": round(p90, 2),
                      "bestRoundMedianMs": round(best, 2), "fits": fits})
        head = f"| {name} | {r['parameters'] / 1e6:.1f}M |" if r["parameters"] else f"| {name} (models/default, trained) | 5.2M |"
        print(head + f" {mib:.1f} MiB | {p50:.1f} | {p90:.1f} | {best:.1f} | {'yes' if fits else 'no'} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"seq": seq, "threads": args.threads, "rounds": args.rounds,
                                               "runsPerRound": args.runs, "rows": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
