// Builds the three bundles: the extension host entry, the model-server process, the webview script.
// Type-checking is separate (`npm run typecheck`, i.e. tsc --noEmit).
const esbuild = require('esbuild');

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

// In watch mode, the lines the "npm: watch" task in .vscode/tasks.json waits for.
const watchLog = {
  name: 'watch-log',
  setup(build) {
    build.onStart(() => console.log('[watch] build started'));
    build.onEnd((result) => console.log(`[watch] build finished (${result.errors.length} errors)`));
  },
};

const common = { bundle: true, minify: production, sourcemap: !production, logLevel: 'info', plugins: watch ? [watchLog] : [] };

const builds = [
  {
    ...common,
    entryPoints: ['src/editor/extension.ts'],
    outfile: 'dist/extension.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'onnxruntime-node'],
  },
  {
    ...common,
    entryPoints: ['src/server/main.ts'],
    outfile: 'dist/server.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['onnxruntime-node'],
  },
  // Get Model's converter runs in this child of the extension host (src/hub/forkInstallWorker.ts says why)
  {
    ...common,
    entryPoints: ['src/hub/installWorker.ts'],
    outfile: 'dist/installWorker.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['onnxruntime-node'],
  },
  { ...common, entryPoints: ['media/src/main.ts'], outfile: 'dist/media/visualizer.js', platform: 'browser', format: 'iife', target: 'es2022' },
];

(async () => {
  const fs = require('fs');
  const present = builds.filter((b) => fs.existsSync(b.entryPoints[0]));
  if (watch) {
    for (const b of present) await (await esbuild.context(b)).watch();
  } else {
    await Promise.all(present.map((b) => esbuild.build(b)));
  }
})().catch(() => process.exit(1));
