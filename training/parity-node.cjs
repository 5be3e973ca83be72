// Runs the exported model through onnxruntime-node (as the extension does) on canvases written by
// card.py, and reports top-1 agreement and the largest top-1 probability difference against the
// PyTorch model, plus forward latency at the given lengths on 2 threads.
//   node training/parity-node.cjs CANVASES.json MODEL.onnx
const fs = require('fs');
const ort = require('onnxruntime-node');
// the graph's names: the model contract (src/contract/contract.json), as the extension reads them
const { inputs: IN, outputs: OUT } = require('../src/contract/contract.json').graph;

async function main() {
  const [canvasFile, modelPath] = process.argv.slice(2);
  const data = JSON.parse(fs.readFileSync(canvasFile, 'utf8'));
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const tensor = (rows) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);
  // the full forward of the model graph (docs/model-contract.md): start 0, no past rows (past_kv sized from the graph)
  const past = session.inputMetadata.find((m) => m.name === IN.pastKv).shape.map((d, i) => (i === 2 ? 1 : i === 4 ? 0 : d));
  const full = { [IN.start]: new ort.Tensor('int64', BigInt64Array.from([0n]), [1]), [IN.pastKv]: new ort.Tensor('float32', new Float32Array(0), past) };
  const wanted = [OUT.topIds, OUT.topProbs, OUT.entropy];

  let agree = 0,
    total = 0,
    maxDiff = 0;
  for (const c of data.canvases) {
    const out = await session.run({ [IN.ids]: tensor([c.ids]), [IN.positions]: tensor([c.positions]), ...full }, wanted);
    const k = out[OUT.topIds].dims[2];
    for (let i = 0; i < c.positions.length; i++) {
      const id = Number(out[OUT.topIds].data[i * k]);
      const p = out[OUT.topProbs].data[i * k];
      agree += id === c.torchTop1[i] ? 1 : 0;
      maxDiff = Math.max(maxDiff, Math.abs(p - c.torchP[i]));
      total++;
    }
  }

  const latency = {};
  for (const seq of data.latencyLengths) {
    const ids = [Array.from({ length: seq }, (_, i) => 4 + ((i * 7919) % 8000))];
    const positions = [Array.from({ length: Math.min(24, seq) }, (_, i) => Math.floor(seq / 2) + i - 12)];
    const feeds = { [IN.ids]: tensor(ids), [IN.positions]: tensor(positions), ...full };
    for (let i = 0; i < 5; i++) await session.run(feeds, wanted);
    const times = [];
    for (let i = 0; i < 30; i++) {
      const t = process.hrtime.bigint();
      await session.run(feeds, wanted);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    times.sort((a, b) => a - b);
    latency[seq] = { medianMs: +times[15].toFixed(2), p90Ms: +times[27].toFixed(2) };
  }
  console.log(JSON.stringify({ top1Agreement: agree / total, maxTop1ProbDiff: maxDiff, positions: total, latency }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
