"""This CPU's int8 matrix-product speed through onnxruntime (docs/benchmarks.md, "Latency"): one DynamicQuantizeLinear +
MatMulInteger graph with the 0.5B model's MLP shape (rows x 896 times 896 x 4864), 2 threads, spinning on and off;
the fastest of 5 runs per size, in T op/s (2 operations per multiply-add).

    python training/int8_kernel.py
"""
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from ort_quiet import ort

K, N = 896, 4864


def graph() -> bytes:
    w = np.random.default_rng(0).integers(-127, 128, size=(K, N)).astype(np.int8)
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "W", "xz"], ["acc"]),
             helper.make_node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["accf", "xs"], ["y"])]
    g = helper.make_graph(nodes, "int8", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, K])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, N])], [numpy_helper.from_array(w, "W")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m.SerializeToString()


def main() -> None:
    model = graph()
    for spin in ("0", "1"):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        so.add_session_config_entry("session.intra_op.allow_spinning", spin)
        s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        for rows in (16, 32, 256, 512):
            x = np.random.default_rng(1).standard_normal((rows, K)).astype(np.float32)
            s.run(None, {"x": x})
            best = min(_timed(s, x) for _ in range(5))
            print(f"spinning {spin}: {rows} rows {best * 1000:.2f} ms, {2 * rows * K * N / best / 1e12:.3f} T op/s")


def _timed(s, x) -> float:
    t = time.perf_counter()
    s.run(None, {"x": x})
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
