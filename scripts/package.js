#!/usr/bin/env node
// Packages the extension as a per-platform VSIX: dist/unmask-<target>.vsix.
//   node scripts/package.js [--target linux-x64|linux-arm64|win32-x64|win32-arm64|darwin-arm64]   (default: this machine)
// onnxruntime-node ships native binaries for every platform (≈290 MB); each VSIX keeps only its target's.
// `vsce package` runs the `vscode:prepublish` script first: type-check, then the production build.
const { parseArgs } = require('node:util');
const fs = require('node:fs');
const { createRequire } = require('node:module');
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

// vsce lists every file of the repository (code-server's ~12,000 under .tools/ among them) and matches each against
// every .vscodeignore pattern with minimatch(), which compiles the pattern anew on every call: ~15 s of a ~20 s
// package. vsce's command line runs in this process instead of a child (the same arguments, the same files), with
// its minimatch() compiling each pattern once. (vsce's own minimatch, as vsce resolves it: a dependency of vsce's.)
const minimatch = createRequire(require.resolve('@vscode/vsce/package.json'))('minimatch');
const compiled = new Map();
const matchOnce = minimatch.minimatch;
minimatch.minimatch = Object.assign((file, pattern, options = {}) => {
  // a '#' pattern is a comment, which matches nothing (as minimatch() says), unless nocomment
  if (!options.nocomment && pattern.charAt(0) === '#') return matchOnce(file, pattern, options);
  const key = `${JSON.stringify(options)}\0${pattern}`;
  let matcher = compiled.get(key);
  if (!matcher) compiled.set(key, (matcher = new minimatch.Minimatch(pattern, options)));
  return matcher.match(file);
}, matchOnce);

const args = [
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
];
// vsce's command line exits 1 on an error, and returns before it is done: the end is this process's exit
process.on('exit', (code) => {
  fs.rmSync(ignoreFile, { force: true });
  if (code === 0) console.log(`package: wrote ${out}`);
});
process.chdir(root); // vsce packages the folder it runs in
require('@vscode/vsce/out/main')([process.execPath, 'vsce', ...args]);
