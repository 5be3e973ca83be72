// The catalog's facts and the checks that refuse what cannot fit before a byte is downloaded.
import * as assert from 'node:assert/strict';
import { CATALOG, findEntry, needsOf } from '../../../src/hub/catalog';
import { checkRoom } from '../../../src/hub/preflight';

const GB = 1e9;

describe('model catalog and preflight', () => {
  it('lists Open-dCoder 0.5B first, for CPUs, and finds entries by name or repository', () => {
    assert.equal(CATALOG[0].name, 'open-dcoder-0.5b');
    assert.equal(CATALOG[0].device, 'cpu');
    assert.deepEqual(
      CATALOG.map((e) => e.repo),
      ['fredzzp/open-dcoder-0.5B', 'Dream-org/Dream-Coder-v0-Instruct-7B', 'apple/DiffuCoder-7B-cpGRPO', 'GSAI-ML/LLaDA-8B-Instruct'],
    );
    assert.equal(findEntry('GSAI-ML/llada-8b-instruct')?.name, 'llada-8b');
    assert.equal(findEntry('someone/else'), undefined);
  });

  it('estimates a typed repository from its weights and says it is an estimate', () => {
    const n = needsOf(2 * GB, 2.01 * GB, 'int8');
    assert.equal(n.estimated, true);
    assert.ok(Math.abs(n.convertedBytes - 1.0 * GB) < 1e6, `${n.convertedBytes}`);
    assert.ok(needsOf(2 * GB, 2 * GB, 'int4').convertedBytes < n.convertedBytes);
    assert.equal(needsOf(1, 1, 'int8', CATALOG[1]).memoryBytes, CATALOG[1].memoryGB * GB);
  });

  it('refuses for disk space counting what an interrupted download left, and for memory, saying why', async () => {
    const needs = { downloadBytes: 10 * GB, convertedBytes: 5 * GB, memoryBytes: 12 * GB, estimated: true };
    const machine = (free: number, memory: number) => ({ freeBytes: async () => free, totalMemory: () => memory });
    assert.match(
      (await checkRoom('/models', needs, 0, machine(14 * GB, 64 * GB)))!,
      /not enough disk space in \/models: it needs about 15 GB \(the download 10 GB, the converted model 5.0 GB\) and 14 GB is free/,
    );
    assert.equal(await checkRoom('/models', needs, 2 * GB, machine(14 * GB, 64 * GB)), undefined);
    assert.match((await checkRoom('/models', needs, 0, machine(100 * GB, 8 * GB)))!, /not enough memory: the model needs about 12 GB .* has 8\.0 GB/);
  });
});
