// The precisions a graph's weights can be written in (src/convert/graph.ts says what each one is), and the default one
// of `npm run convert`, `npm run get-model` and the editor's Get Model; listed in contract.json.
import contract from './contract.json';

export type Precision = 'int8' | 'int8nbits' | 'int4' | 'fp16' | 'fp32';

export const PRECISIONS = contract.precisions as readonly Precision[];

export const DEFAULT_PRECISION = contract.defaultPrecision as Precision;
