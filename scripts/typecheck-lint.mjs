// `tsc --noEmit -p .`, `tsc --noEmit -p media` and `eslint .` with one type-check: the two TypeScript programs are
// built and checked once, their errors printed as tsc prints them, and handed to ESLint (typescript-eslint's
// parserOptions.programs) for its type-aware rules (no-floating-promises, no-misused-promises), which otherwise built
// and checked the same programs a second time (its projectService). Exits 1 on a type error or an ESLint error, as
// tsc and eslint do; arguments are the paths to lint (default: the repository).
import { ESLint } from 'eslint';
import * as path from 'node:path';
import ts from 'typescript';

const root = path.resolve(import.meta.dirname, '..');
process.chdir(root);

const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => ts.sys.newLine };
let typeErrors = 0;

function checked(configFile) {
  const config = ts.getParsedCommandLineOfConfigFile(configFile, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => report([d]) });
  if (!config) throw new Error(`${configFile} could not be read`);
  const program = ts.createProgram({
    rootNames: config.fileNames,
    options: config.options,
    projectReferences: config.projectReferences,
    configFileParsingDiagnostics: config.errors,
  });
  report(ts.getPreEmitDiagnostics(program));
  return program;
}

function report(diagnostics) {
  if (diagnostics.length === 0) return;
  typeErrors += diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error).length;
  process.stderr.write(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
}

const programs = [checked('tsconfig.json'), checked(path.join('media', 'tsconfig.json'))];

const eslint = new ESLint({
  cwd: root,
  overrideConfig: { files: ['**/*.ts'], languageOptions: { parserOptions: { projectService: false, programs } } },
});
const results = await eslint.lintFiles(process.argv.length > 2 ? process.argv.slice(2) : ['.']);
const output = (await eslint.loadFormatter('stylish')).format(results);
if (output) process.stdout.write(output);
const lintErrors = results.reduce((n, r) => n + r.errorCount + r.fatalErrorCount, 0);
if (typeErrors) process.stderr.write(`\n${typeErrors} type error(s)\n`);
process.exitCode = typeErrors || lintErrors ? 1 : 0;
