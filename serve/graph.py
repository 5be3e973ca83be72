"""A converted model folder (docs/model-contract.md) in Python onnxruntime, for the team server (serve/README.md).

The server runs full forwards only (stateless: no keys and values are kept between requests; serve/README.md says why
and what it measured). Rows of several requests go through the graph as one batch only where that answers every row
bit for bit as it would alone: the graph attends to every row of a canvas (no attention mask), so canvases of other
lengths cannot be padded to a common length without changing their answers, and graphs that quantize activations per
tensor (DynamicQuantizeLinear, as the bundled int8 model does) quantize a batch as one. So requests are grouped by
canvas length, and a group is run as one batch only when the load-time probe (`batch_exact`) found batched rows
exact; otherwise its rows run one by one, side by side on the replica's threads. Either way a completion served here
is the text the editor's own model process gives.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "training"))
from ort_quiet import ort  # noqa: E402  (telemetry off before the import, training/ort_quiet.py)

from rules import CONTRACT, GRAPH_INPUTS, PREDICTIONS  # noqa: E402  (the model contract, src/contract/contract.json)

IN = GRAPH_INPUTS
INPUTS = tuple(GRAPH_INPUTS.values())
OUTPUTS = tuple(PREDICTIONS)  # kv is computed by the graph but not sent: full forwards keep no state
MANIFEST = CONTRACT["manifest"]["file"]


class RequestError(ValueError):
    """A request that does not fit the graph (answered 400, its message names the input)."""


@dataclass
class Rows:
    ids: np.ndarray  # int64 [b, L]
    positions: np.ndarray  # int64 [b, n]


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


class Graph:
    def __init__(self, folder: str, threads: int = 2):
        self.folder = os.path.abspath(folder)
        with open(os.path.join(self.folder, MANIFEST), encoding="utf-8") as f:
            self.manifest_text = f.read()
        self.manifest = json.loads(self.manifest_text)
        self.name = self.manifest["name"]
        self.max_sequence = int(self.manifest["maxSequence"])
        self.vocab = int(self.manifest["vocabSize"])
        self.top_k = int(self.manifest["topK"])
        self.tokenizer_file = os.path.join(self.folder, self.manifest["files"]["tokenizer"])
        self.tokenizer_sha256 = sha256_file(self.tokenizer_file)
        opts = ort.SessionOptions()
        # one thread per run; the replica runs `threads` rows side by side (a formed batch that cannot be one tensor)
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(os.path.join(self.folder, self.manifest["files"]["model"]), opts, providers=["CPUExecutionProvider"])
        names = [i.name for i in self.session.get_inputs()]
        missing = [n for n in INPUTS if n not in names]
        if missing:
            raise SystemExit(f"{self.folder}: the graph has no input {', '.join(missing)} (docs/model-contract.md)")
        self.kv_shape = next(i.shape for i in self.session.get_inputs() if i.name == GRAPH_INPUTS["pastKv"])
        self.threads = max(1, threads)
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="unmask-rows")
        self.exact = self._batch_exact()

    # ---- KServe v2 metadata ----
    def metadata(self) -> dict:
        def io(meta):
            dtype = {"tensor(int64)": "INT64", "tensor(float)": "FP32"}.get(meta.type, meta.type)
            return {"name": meta.name, "datatype": dtype, "shape": [d if isinstance(d, int) else -1 for d in meta.shape]}

        return {
            "name": self.name,
            "versions": ["1"],
            "platform": "onnxruntime_onnx",
            "inputs": [io(i) for i in self.session.get_inputs()],
            "outputs": [io(o) for o in self.session.get_outputs() if o.name in OUTPUTS],
            # not in the protocol's metadata schema (clients ignore unknown fields): what an Unmask client needs to
            # check that its tokenizer is the model's (serve/README.md, "Tokenizer and manifest")
            "parameters": {
                "unmask_manifest": self.manifest,
                "tokenizer_sha256": self.tokenizer_sha256,
                "stateless": True,
                "batch_exact": self.exact,
            },
        }

    # ---- running ----
    def check(self, rows: Rows) -> None:
        ids, pos = rows.ids, rows.positions
        if ids.ndim != 2 or ids.shape[0] < 1 or not 1 <= ids.shape[1] <= self.max_sequence:
            raise RequestError(f"input_ids must be [batch, 1…{self.max_sequence}], got {list(ids.shape)}")
        if pos.ndim != 2 or pos.shape[0] != ids.shape[0] or pos.shape[1] < 1:
            raise RequestError(f"positions must be [{ids.shape[0]}, n ≥ 1], got {list(pos.shape)}")
        if ids.min() < 0 or ids.max() >= self.vocab:
            raise RequestError(f"input_ids must be token ids 0…{self.vocab - 1}")
        if pos.min() < 0 or pos.max() >= ids.shape[1]:
            raise RequestError(f"positions must be canvas positions 0…{ids.shape[1] - 1}")

    def run(self, ids: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b = ids.shape[0]
        past = np.zeros((self.kv_shape[0], 2, b, self.kv_shape[3], 0, self.kv_shape[5]), np.float32)
        out = self.session.run(list(OUTPUTS), {IN["ids"]: ids, IN["start"]: np.zeros(1, np.int64), IN["pastKv"]: past, IN["positions"]: positions})
        return out[0], out[1], out[2]

    def run_many(self, items: list[Rows]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Answers for several requests (a batch formed by Ray Serve), each exactly as it would be alone."""
        if self.exact:
            by_length: dict[int, list[int]] = {}
            for i, r in enumerate(items):
                by_length.setdefault(r.ids.shape[1], []).append(i)
            groups = list(by_length.values())
            results: list = [None] * len(items)
            answers = list(self.pool.map(lambda g: self._run_group([items[i] for i in g]), groups))
            for g, answer in zip(groups, answers):
                for i, a in zip(g, answer):
                    results[i] = a
            return results
        return list(self.pool.map(lambda r: self.run(r.ids, r.positions), items))

    def _run_group(self, items: list[Rows]) -> list:
        """Equal-length canvases as one batch; positions padded to a common count by repeating each row's last one
        (the graph gathers them after the transformer, so a repeated position changes nothing) and cut off again."""
        if len(items) == 1:
            return [self.run(items[0].ids, items[0].positions)]
        n = max(r.positions.shape[1] for r in items)
        ids = np.concatenate([r.ids for r in items])
        pos = np.concatenate([np.pad(r.positions, ((0, 0), (0, n - r.positions.shape[1])), mode="edge") for r in items])
        top_ids, top_probs, entropy = self.run(ids, pos)
        out, at = [], 0
        for r in items:
            b, k = r.ids.shape[0], r.positions.shape[1]
            out.append((top_ids[at : at + b, :k], top_probs[at : at + b, :k], entropy[at : at + b, :k]))
            at += b
        return out

    def _batch_exact(self) -> bool:
        """Whether two canvases batched answer bit for bit what each answers alone (other tokens, other positions)."""
        L = min(64, self.max_sequence)
        rng = np.random.default_rng(0)
        ids = rng.integers(4, self.vocab, (2, L)).astype(np.int64)
        pos = np.array([[L - 3, L - 2, L - 1], [1, 2, L - 1]], np.int64)
        alone = [self.run(ids[i : i + 1], pos[i : i + 1]) for i in range(2)]
        both = self.run(ids, pos)
        return all(np.array_equal(alone[i][k][0], both[k][i]) for i in range(2) for k in range(3))


def side_by_side(folder: str, length: int = 512, runs: int = 10) -> None:
    """`python3 serve/graph.py DIR`: one row's forward alone against two rows at once on two threads (how much the
    replica's threads can give on this machine; docs/benchmarks.md, "Team server")."""
    import threading
    import time

    g = Graph(folder, 2)
    n = min(length, g.max_sequence)
    ids = np.random.default_rng(0).integers(4, g.vocab, (1, n)).astype(np.int64)
    pos = np.arange(n - 24, n, dtype=np.int64)[None]
    g.run(ids, pos)
    t = time.perf_counter()
    for _ in range(runs):
        g.run(ids, pos)
    alone = (time.perf_counter() - t) / runs
    threads = [threading.Thread(target=lambda: [g.run(ids, pos) for _ in range(runs)]) for _ in range(2)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    both = time.perf_counter() - t
    print(f"{g.name}, a canvas of {n}: one row alone {alone * 1000:.0f} ms; two rows at once on two threads {both * 1000 / runs:.0f} ms a pair: {2 * runs * alone / both:.2f}x the rows per second")


if __name__ == "__main__":
    side_by_side(sys.argv[1])

