// The model contract (src/contract/): one JSON file that the TypeScript side reads and the Python side reads too, so the
// facts below are stated once. These checks hold the typed constants to what the file says.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import contract from '../../../src/contract/contract.json';
import { GRAPH } from '../../../src/contract/graph';
import { MANIFEST_FILE, MANIFEST_FORMAT } from '../../../src/contract/manifest';
import { DEFAULT_PRECISION, PRECISIONS } from '../../../src/contract/precision';
import { PRECISION_NOTE } from '../../../src/convert/graph';

const ROOT = path.join(__dirname, '..', '..', '..');

describe('the model contract', () => {
  it('types what contract.json states', () => {
    assert.equal(MANIFEST_FORMAT, 2);
    assert.equal(MANIFEST_FILE, contract.manifest.file);
    assert.equal(GRAPH.weightsFile(GRAPH.file), `${contract.graph.file}${contract.graph.weightsSuffix}`);
    // every precision the contract lists is one the graph builder writes, and no other
    assert.deepEqual([...PRECISIONS].sort(), Object.keys(PRECISION_NOTE).sort());
    assert.ok(PRECISIONS.includes(DEFAULT_PRECISION));
  });

  it('is what the Python side reads (training/rules.py)', function () {
    let out: string;
    try {
      out = execFileSync('python3', ['-c', 'import json, rules; print(json.dumps([rules.GRAPH_INPUTS, rules.GRAPH_OUTPUTS, rules.PREDICTIONS]))'], {
        cwd: path.join(ROOT, 'training'),
        encoding: 'utf8',
      });
    } catch (e) {
      throw new Error(`python3 could not import training/rules.py: ${(e as Error).message}`, { cause: e });
    }
    const [inputs, outputs, predictions] = JSON.parse(out) as [unknown, unknown, unknown];
    assert.deepEqual(inputs, GRAPH.inputs);
    assert.deepEqual(outputs, GRAPH.outputs);
    assert.deepEqual(predictions, [GRAPH.outputs.topIds, GRAPH.outputs.topProbs, GRAPH.outputs.entropy]);
  });
});
