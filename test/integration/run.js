#!/usr/bin/env node
// The @vscode/test-electron runner, for machines that can download VS Code: it starts a real desktop VS Code
// with this folder as the extension under development and runs test/integration/suite in its extension host.
// Where VS Code cannot be downloaded (no internet, as on CI here), it fails saying so: a suite that did not run never
// passes. `npm test` runs `npm run test:editor` instead (code-server, which needs no download).
const path = require('node:path');
const { downloadAndUnzipVSCode, runTests } = require('@vscode/test-electron');

async function main() {
  const root = path.resolve(__dirname, '../..');
  let vscodeExecutablePath;
  try {
    vscodeExecutablePath = await downloadAndUnzipVSCode({ version: 'stable', timeout: 20_000 });
  } catch (error) {
    console.error(`test:integration did not run: VS Code cannot be downloaded here (${error.message.split('\n')[0]}).`);
    console.error('Run it where VS Code can be downloaded; `npm run test:editor` tests the extension in code-server without a download.');
    process.exitCode = 1;
    return;
  }
  await runTests({
    vscodeExecutablePath,
    extensionDevelopmentPath: root,
    extensionTestsPath: path.join(__dirname, 'suite', 'index.js'),
    launchArgs: [path.join(root, 'test', 'editor', 'fixtures', 'workspace'), '--disable-extensions', '--disable-workspace-trust'],
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
