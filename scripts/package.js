#!/usr/bin/env node
// Packages the extension as a per-platform VSIX: dist/unmask-<target>.vsix.
//   node scripts/package.js [--target linux-x64|linux-arm64|win32-x64|win32-arm64|darwin-arm64]   (default: this machine)
// onnxruntime-node ships native binaries for every platform (≈290 MB); each VSIX keeps only its target's.
// `vsce package` runs the `vscode:prepublish` script first: type-check, then the production build.
const { parseArgs } = require('node:util');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const targets = ['linux-x64', 'linux-arm64', 'win32-x64', 'win32-arm64', 'darwin-arm64'];
const { values } = parseArgs({ options: { target: { type: 'string', default: `${process.platform}-${process.arch}` } } });
const target = values.target;
if (!targets.includes(target)) {
  console.error(`package: --target must be one of ${targets.join(', ')}; got ${target}`);
  process.exit(2);
}

const root = path.resolve(__dirname, '..');
const [platform, arch] = target.split('-');
const binaries = 'node_modules/onnxruntime-node/bin/napi-v6';
const ignoreFile = path.join(os.tmpdir(), `unmask-vscodeignore-${process.pid}`);
fs.writeFileSync(ignoreFile, `${fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8')}\n!${binaries}/${platform}/${arch}/**\n`);
if (!fs.existsSync(path.join(root, binaries, platform, arch))) {
  console.error(`package: ${binaries}/${platform}/${arch} is missing; onnxruntime-node has no binaries for ${target}`);
  process.exit(1);
}

const out = path.join('dist', `unmask-${target}.vsix`);
const vsce = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'vsce.cmd' : 'vsce');
const result = spawnSync(
  vsce,
  [
    'package',
    '--target',
    target,
    '--ignoreFile',
    ignoreFile,
    // the user's README (what it does, Get Model, settings, privacy, troubleshooting); README.md is the developer's.
    // Its images are relative paths to files the VSIX holds (.vscodeignore), so they show from inside the package
    '--readme-path',
    'README.vsix.md',
    '--allow-missing-repository',
    '--skip-license',
    '--no-rewrite-relative-links',
    '-o',
    out,
  ],
  { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' },
);
fs.rmSync(ignoreFile, { force: true });
if (result.status !== 0) process.exit(result.status ?? 1);
console.log(`package: wrote ${out}`);
