"""`npm run serve:triton -- --model DIR --out REPO [--batching auto|on|off]`: a Triton model repository for a folder.

Triton batches along the first axis of every input, but the Unmask graph's `past_kv` has its batch on axis 2 and
`start` has none. For a stateless server only the full forward is needed, so the repository gets a wrapper of the
graph with inputs `input_ids` [batch, L] and `positions` [batch, n] alone: `start` is the constant 0 and `past_kv` an
empty past built from the batch size inside the graph. Outputs: top_ids, top_probs, entropy (kv is dropped).

Dynamic batching is written only where it keeps every answer: Triton batches requests of the same shape (equal canvas
lengths, as serve/ groups them), but a graph that quantizes activations per tensor (DynamicQuantizeLinear, the
bundled int8 model) quantizes a batch as one, which changes answers. `--batching auto` (the default) runs the probe of
serve/graph.py and writes dynamic_batching only when batched rows are exact.

    REPO/NAME/config.pbtxt
    REPO/NAME/1/model.onnx (+ model.onnx.data)
    REPO/NAME/unmask.json, tokenizer.json   (clients point --model/unmask.modelFolder's copy at these)

Launch (a GPU machine with Docker; not run here): see serve/README.md, "Triton".
"""
import argparse
import json
import os
import shutil
import sys

import onnx
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "training"))
from rules import GRAPH_INPUTS as IN, PREDICTIONS as OUTPUTS  # noqa: E402  (the graph's names: src/contract/contract.json)


def wrap(model: onnx.ModelProto) -> onnx.ModelProto:
    g = model.graph
    kv = next(i for i in g.input if i.name == IN["pastKv"])
    dims = [d.dim_value for d in kv.type.tensor_type.shape.dim]  # [layers, 2, batch, kvHeads, p, headDim]
    keep_inputs = [i for i in g.input if i.name in (IN["ids"], IN["positions"])]
    nodes = [
        helper.make_node("Constant", [], [IN["start"]], value=helper.make_tensor("start_value", TensorProto.INT64, [1], [0])),
        helper.make_node("Shape", [IN["ids"]], ["unmask_ids_shape"]),
        helper.make_node("Slice", ["unmask_ids_shape", "unmask_zero", "unmask_one"], ["unmask_batch"]),
        helper.make_node("Concat", ["unmask_kv_head", "unmask_batch", "unmask_kv_tail"], ["unmask_kv_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["unmask_kv_shape"], [IN["pastKv"]], value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])),
    ]
    inits = [
        helper.make_tensor("unmask_zero", TensorProto.INT64, [1], [0]),
        helper.make_tensor("unmask_one", TensorProto.INT64, [1], [1]),
        helper.make_tensor("unmask_kv_head", TensorProto.INT64, [2], dims[:2]),
        helper.make_tensor("unmask_kv_tail", TensorProto.INT64, [3], [dims[3], 0, dims[5]]),
    ]
    outputs = [o for o in g.output if o.name in OUTPUTS]
    del g.input[:]
    g.input.extend(keep_inputs)
    del g.output[:]
    g.output.extend(outputs)
    for n in reversed(nodes):
        g.node.insert(0, n)
    g.initializer.extend(inits)
    return model


def config(name: str, top_k: int, batching: bool, max_batch: int) -> str:
    lines = [
        f'name: "{name}"',
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {max_batch if batching else 0}",
    ]
    b = [] if batching else [-1]  # with max_batch_size > 0 Triton adds the batch axis itself
    def io(kind, n, dtype, dims):
        return f'{kind} [{{ name: "{n}" data_type: {dtype} dims: [ {", ".join(str(d) for d in b + dims)} ] }}]'
    lines += [
        io("input", IN["ids"], "TYPE_INT64", [-1]),
        io("input", IN["positions"], "TYPE_INT64", [-1]),
        io("output", OUTPUTS[0], "TYPE_INT64", [-1, top_k]),
        io("output", OUTPUTS[1], "TYPE_FP32", [-1, top_k]),
        io("output", OUTPUTS[2], "TYPE_FP32", [-1]),
        "instance_group [{ kind: KIND_GPU count: 1 }]",
    ]
    if batching:
        lines.append("dynamic_batching { max_queue_delay_microseconds: 2000 }")
    return "\n".join(lines) + "\n"


def main(argv):
    p = argparse.ArgumentParser(prog="npm run serve:triton --")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--batching", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--max-batch-size", type=int, default=16)
    a = p.parse_args(argv)
    folder = os.path.abspath(a.model)
    manifest = json.load(open(os.path.join(folder, "unmask.json"), encoding="utf-8"))
    name = manifest["name"]
    if a.batching == "auto":
        from graph import Graph

        batching = Graph(folder, 1).exact
    else:
        batching = a.batching == "on"
    dest = os.path.join(os.path.abspath(a.out), name)
    os.makedirs(os.path.join(dest, "1"), exist_ok=True)
    model = wrap(onnx.load(os.path.join(folder, manifest["files"]["model"])))
    onnx.save_model(model, os.path.join(dest, "1", "model.onnx"), save_as_external_data=True, location="model.onnx.data")
    with open(os.path.join(dest, "config.pbtxt"), "w", encoding="utf-8") as f:
        f.write(config(name, int(manifest["topK"]), batching, a.max_batch_size))
    for extra in ("unmask.json", manifest["files"]["tokenizer"]):
        shutil.copy(os.path.join(folder, extra), os.path.join(dest, extra))
    why = "batched rows are exact" if batching else "off: batched rows of this graph are not exact alone (per-tensor activation quantization)" if a.batching == "auto" else a.batching
    print(f"wrote {dest} (dynamic batching {why})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
