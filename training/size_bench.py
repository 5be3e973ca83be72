"""Choose the model size by measurement (issue 11, item 2): for each candidate size, export a
random-weight graph with the project's exporter (ContractHead, opset 17, int8 MatMul weights per
channel as export.py writes them), then time one forward at 256 tokens with 24 wanted positions on
2 onnxruntime threads, and weigh the file. Latency does not depend on the weights' values, so
random weights give the trained model's latency.

The machine is shared and noisy: the candidates are timed in interleaved rounds (each round runs
every candidate once, in a shuffled order) and the p50 is over all rounds; the fastest round's
median (the least disturbed) is printed beside it.

    python training/size_bench.py [--sizes d256-4L,d320-8L] [--rounds 9] [--runs 20] [--json out.json]
"""
import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from export import export_onnx, quantize
from model import SIZES, Config, Denoiser

MAX_P50_MS = 15.0
MAX_MIB = 24.0


def config_of(name: str) -> Config:
    return SIZES[name]


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
    feeds = {"input_ids": ids, "positions": pos}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {}
        for name in names:
            model = Denoiser(config_of(name)).eval()
            fp32, int8 = Path(tmp) / f"{name}.fp32.onnx", Path(tmp) / f"{name}.int8.onnx"
            export_onnx(model, fp32)
            quantize(fp32, int8)
            sessions[name] = session(int8, args.threads)
            for _ in range(5):
                sessions[name].run(None, feeds)
            rows[name] = {"parameters": model.parameter_count(), "bytes": int8.stat().st_size, "times": [], "roundMedians": []}
        if args.reference and Path(args.reference).is_file():
            sessions["shipped"] = session(Path(args.reference), args.threads)
            rows["shipped"] = {"parameters": 0, "bytes": Path(args.reference).stat().st_size, "times": [], "roundMedians": []}
            names.append("shipped")
        order = list(names)
        for r in range(args.rounds):
            random.Random(r).shuffle(order)
            for name in order:
                times = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    sessions[name].run(None, feeds)
                    times.append((time.perf_counter() - t0) * 1000)
                rows[name]["times"] += times
                rows[name]["roundMedians"].append(float(np.median(times)))
    table = []
    print(f"| size | parameters | int8 file | p50 ms (all rounds) | p90 ms | best round's median | fits |")
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
