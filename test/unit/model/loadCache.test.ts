// The load cache (src/model/loadCache.ts): a folder's slow probes and cost measurement run once; a later load reads
// their verdict, and a changed file runs them again. Against the code before it: every load ran every probe (13–24 s
// for a 0.5B model), and `probes` was never 'cached'.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../../src/model';
import { LOAD_CACHE_FILE } from '../../../src/model/loadCache';
import { measuredBusy, REMEASURE } from '../../../src/model/costModel';
import { editManifest, hostileCopy } from '../fault/helpers';

describe('load cache: slow probes once per folder', function () {
  this.timeout(60_000);

  it('a second load of the same folder reads the verdict and the cost; a changed manifest probes again', async () => {
    const copy = hostileCopy(() => undefined);
    try {
      const first = await loadModel(copy.dir, { executionProvider: 'cpu', threads: 1 });
      await first.dispose();
      assert.equal(first.info.probes, 'run');
      assert.ok(fs.existsSync(path.join(copy.dir, LOAD_CACHE_FILE)), 'the verdict is kept beside the model');
      const second = await loadModel(copy.dir, { executionProvider: 'cpu', threads: 1 });
      await second.dispose();
      assert.equal(second.info.probes, 'cached');
      assert.deepEqual(second.cost, first.cost, 'the cost comes from the cache');
      // a changed file: logitsShift 1 on a model trained with 0 is only noticed by a slow probe (modelWarnings)
      editManifest((m) => (m.logitsShift = 1))(copy.dir);
      const third = await loadModel(copy.dir, { executionProvider: 'cpu', threads: 1 });
      await third.dispose();
      assert.equal(third.info.probes, 'run');
      assert.ok(
        third.warnings.some((w) => /field "logitsShift" is 1/.test(w)),
        `the probes ran again and warned: ${JSON.stringify(third.warnings)}`,
      );
      const fourth = await loadModel(copy.dir, { executionProvider: 'cpu', threads: 1 });
      await fourth.dispose();
      assert.deepEqual([fourth.info.probes, fourth.warnings], ['cached', third.warnings], 'the warnings are kept with the verdict');
    } finally {
      copy.remove();
    }
  });

  it('a folder that cannot be written loads as before, probing every time', async () => {
    const copy = hostileCopy(() => undefined);
    try {
      fs.chmodSync(copy.dir, 0o555);
      const canWrite = (() => {
        try {
          fs.writeFileSync(path.join(copy.dir, 'x'), '');
          fs.rmSync(path.join(copy.dir, 'x'));
          return true;
        } catch {
          return false;
        }
      })();
      for (let i = 0; i < 2; i++) {
        const m = await loadModel(copy.dir, { executionProvider: 'cpu', threads: 1 });
        await m.dispose();
        assert.equal(m.info.probes, canWrite && i === 1 ? 'cached' : 'run'); // root writes anyway
      }
    } finally {
      fs.chmodSync(copy.dir, 0o755);
      copy.remove();
    }
  });

  it('a cost measured while the machine was busy is measured again once it is quiet (not while it is still busy)', () => {
    assert.equal(measuredBusy({ load: 1.2 }, 0.1), true);
    assert.equal(measuredBusy({ load: 1.2 }, 0.9), false, 'still busy: a new measurement would be no better');
    assert.equal(measuredBusy({ load: 0.2 }, 0.1), false, 'measured quiet');
    assert.equal(measuredBusy({}, 0.1), false, 'no record of the load: kept');
    assert.ok(REMEASURE.quietBelow < REMEASURE.busyAt);
  });
});
