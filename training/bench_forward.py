"""One forward pass through Python onnxruntime, for comparison with onnxruntime-node
(called by `npm run bench:forward`). Prints JSON: {"<model>|<threads>|<seq>": {"medianMs", "p90Ms"}}.

    python training/bench_forward.py --model models/default/model.onnx --lengths 128,256,512 --threads 1,2 --runs 30
"""
import argparse
import json
import time

import numpy as np
from ort_quiet import ort
from rules import GRAPH_INPUTS, PREDICTIONS

# the full forward of the model graph (docs/model-contract.md): no past rows, the predictions only (as OnnxDenoiser)
WANTED = PREDICTIONS


def empty_past(sess: ort.InferenceSession) -> np.ndarray:
    """past_kv [layers, 2, batch 1, kvHeads, 0 rows, headDim], its sizes read from the graph."""
    shape = next(i.shape for i in sess.get_inputs() if i.name == GRAPH_INPUTS["pastKv"])
    return np.zeros([1 if k == 2 else 0 if k == 4 else d for k, d in enumerate(shape)], np.float32)


def full_feeds(sess: ort.InferenceSession, ids: np.ndarray, positions: np.ndarray) -> dict:
    """The full forward's inputs for canvases `ids` [batch, seq] at `positions` [batch, n]: start 0, no past rows."""
    return {GRAPH_INPUTS["ids"]: ids, GRAPH_INPUTS["start"]: np.zeros(1, np.int64), GRAPH_INPUTS["pastKv"]: empty_past(sess),
            GRAPH_INPUTS["positions"]: positions.astype(np.int64)}


def full_forward(sess: ort.InferenceSession, ids: np.ndarray, positions: np.ndarray):
    """top_ids, top_probs, entropy of one canvas [seq] at `positions` [n], batch 1."""
    return sess.run(WANTED, full_feeds(sess, ids[None], positions[None]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--lengths", default="128,256,512")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--wanted", type=int, default=24)
    args = ap.parse_args()
    out = {}
    for model in args.model:
        for threads in map(int, args.threads.split(",")):
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
            sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
            for seq in map(int, args.lengths.split(",")):
                ids = (4 + (np.arange(seq) * 7919) % 8000).astype(np.int64)[None]
                n = min(args.wanted, seq)
                pos = (np.arange(n) + seq // 2 - n // 2).astype(np.int64)[None]
                feeds = full_feeds(sess, ids, pos)
                for _ in range(5):
                    sess.run(WANTED, feeds)
                times = []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    sess.run(WANTED, feeds)
                    times.append((time.perf_counter() - t) * 1000)
                out[f"{model}|{threads}|{seq}"] = {"medianMs": round(float(np.median(times)), 2),
                                                   "p90Ms": round(float(np.percentile(times, 90)), 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
