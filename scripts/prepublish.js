#!/usr/bin/env node
// vscode:prepublish (vsce package runs it): the type-check (npm run typecheck), then the production build. npm test
// sets UNMASK_TYPECHECKED=1 for its editor tests, whose packaging comes right after `npm run lint` type-checked the
// same tree: the type-check is then not run a third time. Anywhere else (a release, npm run package) it runs.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const run = (command, args) => {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.status !== 0) process.exit(result.status ?? 1);
};
if (process.env.UNMASK_TYPECHECKED === '1') console.log('prepublish: type-checked by npm run lint before (UNMASK_TYPECHECKED=1)');
else run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'typecheck']);
run(process.execPath, [path.join(root, 'esbuild.js'), '--production']);
