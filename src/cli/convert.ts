// `npm run convert -- CHECKPOINT_DIR --out MODEL_DIR [--precision int8|int4|fp16|fp32] [--mask-token TEXT]`: a Hugging Face
// checkpoint folder (config.json, *.safetensors, tokenizer.json) into a model folder, in TypeScript alone (no Python).
// Progress goes to stderr, the folder alone to stdout.
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { convert, DEFAULT_MAX_SEQUENCE } from '../convert';
import { DEFAULT_PRECISION, PRECISIONS, type Precision } from '../contract/precision';
import { familyList } from '../convert/familyList';
import { runMain } from './runMain';

const USAGE = `usage: npm run convert -- CHECKPOINT_DIR --out MODEL_DIR [options]
Converts a checkpoint folder (config.json, *.safetensors single or sharded, tokenizer.json) of the ${familyList('or')}
family into a Unmask model folder and prints the folder.
  --out DIR           the model folder to write (required)
  --precision P       ${PRECISIONS.join(', ')} (default ${DEFAULT_PRECISION})
  --mask-token TEXT   the mask token, when the checkpoint names none (added to the tokenizer when it lacks it)
  --name NAME         the model's name in unmask.json (default: the checkpoint's)
  --max-sequence N    the longest canvas, at most the checkpoint's (default ${DEFAULT_MAX_SEQUENCE})
  --force             replace --out when it is a model folder (one that holds unmask.json); a folder of
                      yours, a file, or the checkpoint itself is never replaced
  -h, --help          this text`;

function progressLine(): (done: number, total: number, message?: string) => void {
  return (done, total, message) => {
    const width = 30;
    const filled = Math.min(width, Math.round((done / total) * width));
    const line = `convert [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${message ? ` · ${message}` : ''}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line.slice(0, 119).padEnd(120)}${done >= total ? '\n' : ''}`);
    else process.stderr.write(line + '\n');
  };
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      precision: { type: 'string', default: 'int8' },
      'mask-token': { type: 'string' },
      name: { type: 'string' },
      'max-sequence': { type: 'string' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1 || !values.out) {
    const why =
      positionals.length === 0
        ? 'no checkpoint folder named: name the folder that holds config.json, *.safetensors and tokenizer.json (a Hub repository is got and converted by npm run get-model -- OWNER/NAME)'
        : positionals.length > 1
          ? `one checkpoint folder expected, got ${positionals.length}`
          : `--out is missing: the model folder to write must be named (a new or empty folder, e.g. --out ~/models/${basename(positionals[0]) || 'model'}-int8); ` +
            'the converter never writes into the checkpoint folder';
    console.error(`convert: ${why}\n${USAGE}`);
    return 1;
  }
  if (!(PRECISIONS as readonly string[]).includes(values.precision!)) {
    throw new Error(`--precision is ${JSON.stringify(values.precision)}; expected one of ${PRECISIONS.join(', ')}`);
  }
  let maxSequence: number | undefined;
  if (values['max-sequence'] !== undefined) {
    maxSequence = Number(values['max-sequence']);
    if (!Number.isInteger(maxSequence) || maxSequence < 1)
      throw new Error(`--max-sequence is ${JSON.stringify(values['max-sequence'])}; expected a positive integer`);
  }
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const result = await convert(positionals[0], values.out, {
    precision: values.precision as Precision,
    maskToken: values['mask-token'],
    name: values.name,
    maxSequence,
    replace: values.force,
    signal: controller.signal,
    onNote: (line) => process.stderr.write(`convert: ${line}\n`),
    onProgress: progressLine(),
  });
  const files = Object.entries(result.bytes)
    .map(([f, b]) => `${f} ${(b / 2 ** 20).toFixed(1)} MiB`)
    .join(', ');
  process.stderr.write(`convert: ${result.manifest.name}, ${result.checkpoint.spec.family}, ${values.precision}: ${files}\n`);
  console.log(result.folder);
  return 0;
}

if (require.main === module) runMain('convert', main);
