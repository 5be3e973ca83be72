#!/usr/bin/env node
// The @vscode/test-electron runner, for machines that can download VS Code: it starts a real desktop VS Code
// with this folder as the extension under development and runs test/integration/suite in its extension host.
// Where VS Code cannot be downloaded (no internet, as on CI here), it says so and exits 0: the same in-editor
// behaviour is covered by `npm run test:editor` (code-server, which needs no download).
const path = require('node:path');
const { downloadAndUnzipVSCode, runTests } = require('@vscode/test-electron');

async function main() {
  const root = path.resolve(__dirname, '../..');
  let vscodeExecutablePath;
  try {
    vscodeExecutablePath = await downloadAndUnzipVSCode({ version: 'stable', timeout: 20_000 });
  } catch (error) {
    console.log(`test:integration skipped: VS Code cannot be downloaded here (${error.message.split('\n')[0]}).`);
    console.log('The same in-editor behaviour is tested by `npm run test:editor` against code-server.');
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
