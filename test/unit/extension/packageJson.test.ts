// package.json's contributed settings are written for VS Code's settings editor; they must say what the one
// policy table (src/engine/policyTable.ts) and the settings' own table (src/settings.ts) say.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_POLICY, POLICY_NAMES, POLICY_TABLE } from '../../../src/engine/policyTable';
import { defaultSettings, numericSettings, type Settings } from '../../../src/settings';

interface Property { type?: unknown; enum?: unknown[]; default?: unknown; minimum?: number; maximum?: number; description?: string }
const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'package.json'), 'utf8'));
const properties: Record<string, Property> = Object.assign({}, ...pkg.contributes.configuration.map((c: { properties: object }) => c.properties));

describe('package.json agrees with the policy and settings tables', () => {
  it('unmask.policy lists the table\'s policies, in its order, with the default policy', () => {
    assert.deepEqual(properties['unmask.policy'].enum, POLICY_NAMES);
    assert.equal(properties['unmask.policy'].default, DEFAULT_POLICY.name);
  });

  it('unmask.policyParameter names every parameter of the table', () => {
    const description = properties['unmask.policyParameter'].description ?? '';
    for (const name of POLICY_NAMES) {
      const p = POLICY_TABLE[name].parameter;
      if (p) assert.ok(description.includes(`${p.symbol} for ${name}`), `description lacks "${p.symbol} for ${name}": ${description}`);
    }
  });

  it('every numeric setting has the range and default of the settings table', () => {
    for (const [key, { min, max, integer }] of Object.entries(numericSettings)) {
      const p = properties[`unmask.${key}`];
      assert.ok(p, `package.json lacks unmask.${key}`);
      assert.deepEqual([p.type, p.minimum, p.maximum, p.default], [integer ? 'integer' : 'number', min, max, defaultSettings[key as keyof Settings]], `unmask.${key}`);
    }
  });

  it('every setting of package.json is one the extension reads, with the same default', () => {
    for (const [key, p] of Object.entries(properties)) {
      const name = key.replace(/^unmask\./, '');
      if (name === 'policyParameter') continue; // folded into Settings.policy
      assert.ok(name in defaultSettings, `${key} is not read by src/settings.ts`);
      const expected = name === 'policy' ? DEFAULT_POLICY.name : defaultSettings[name as keyof Settings];
      assert.deepEqual(p.default, expected, `${key} default`);
    }
  });
});
