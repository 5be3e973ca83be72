"""Writes a copy of a model folder's graph whose input embedding rows FROM..TO-1 are NaN (or +Inf).

Used by test/unit/fault/nonFinite.test.ts. It poisons what the graph's embedding lookup reads: every float initializer
that a Gather node takes its rows from (the embedding itself, [vocabSize, d], or the per-block scales of a quantized
one, [vocabSize * blocks]). The Gather gets a poisoned copy of its own, so an output projection that shares the
tensor (a tied head) stays finite: the case of an untied model whose input embedding alone went bad, which is the
case the old load probes let through. It finds these by shape, not by name, so it keeps working when the bundled
model is exported again in another layout (weights inline or in external data). Prints what it changed.

usage: python3 nanWeights.py SRC_GRAPH DST_GRAPH VOCAB_SIZE FROM_ROW TO_ROW [nan|inf]
"""
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main() -> None:
    src, dst, vocab, first, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    value = np.inf if len(sys.argv) > 6 and sys.argv[6] == 'inf' else np.nan
    model = onnx.load(src, load_external_data=True)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    changed = []
    for node in graph.node:
        if node.op_type != 'Gather' or node.input[0] not in inits:
            continue
        init = inits[node.input[0]]
        count = int(np.prod(init.dims)) if init.dims else 0
        if init.data_type not in floats or count == 0 or count % vocab != 0:
            continue
        if not (init.dims[0] == vocab or len(init.dims) == 1):
            continue
        array = numpy_helper.to_array(init).copy()
        per_row = count // vocab
        flat = array.reshape(-1)
        flat[first * per_row:end * per_row] = value
        name = f'{init.name}.poisoned'
        graph.initializer.append(numpy_helper.from_array(flat.reshape(array.shape), name))
        node.input[0] = name
        changed.append(f'{init.name} {list(array.shape)} rows {first}..{end - 1} (as read by {node.name or "a Gather"})')
    if not changed:
        sys.exit(f'{src}: no Gather reads a float initializer with {vocab} rows (the embedding) to poison')
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.initializer) or os.path.exists(src + '.data')
    if external:
        onnx.save_model(model, dst, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(dst) + '.data', size_threshold=1024)
    else:
        onnx.save_model(model, dst)
    print('\n'.join(changed))


if __name__ == '__main__':
    main()
