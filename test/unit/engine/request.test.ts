import * as assert from 'node:assert/strict';
import { buildRequest, isSingleLine } from '../../../src/engine/request';
import { shapeCompletion } from '../../../src/engine/shaping';
import { MAX_SUGGESTION_LINES, usesCrlf } from '../../../src/engine/shaping';

describe('request: what to ask the model for at a cursor', () => {
  const options = { policy: { name: 'factor' as const }, endOfTextPrediction: true };

  it('is single-line only when code follows the cursor on its line', () => {
    assert.equal(isSingleLine('b)\nnext'), true);
    assert.equal(isSingleLine('   \nnext'), false);
    assert.equal(isSingleLine(''), false);
    assert.equal(isSingleLine('\n    return x'), false);
  });

  it('leaves the slot budget to the model unless a setting names one', () => {
    assert.equal(buildRequest({ before: 'f(', after: ')' }, options).slots, undefined);
    const set = { ...options, singleLineSlots: 16, multiLineSlots: 40 };
    assert.deepEqual([buildRequest({ before: 'f(', after: ')' }, set).slots, buildRequest({ before: 'x = ', after: '\n' }, set).slots], [16, 40]);
  });

  it('passes the text on uncut: the engine cuts it, by tokens, in one place', () => {
    const request = buildRequest({ before: 'a'.repeat(10_000), after: 'b'.repeat(10_000) }, { ...options, timeBudgetMs: 500 });
    assert.deepEqual([request.prefix.length, request.suffix.length, request.timeBudgetMs], [10_000, 10_000, 500]);
  });
});

describe("shaping: the model's answer as a suggestion", () => {
  const shape = (text: string, singleLine = false, prefix = '', suffix = '') => shapeCompletion({ text, prefix, suffix, singleLine });

  it('drops trailing whitespace and keeps at most the line cap', () => {
    assert.equal(shape('a + b  \t'), 'a + b');
    const text = Array.from({ length: 20 }, (_, i) => `line${i}`).join('\n');
    assert.equal(shape(text).split('\n').length, MAX_SUGGESTION_LINES);
    assert.equal(shape(' \n\t'), '');
  });

  it('writes the line endings of the text around the cursor', () => {
    assert.equal(shape('if x:\r\n    y\r\n', false, 'a\nb'), 'if x:\n    y');
    assert.equal(shape('if x:\n    y\n', false, 'def f():\r\n    '), 'if x:\r\n    y');
    assert.equal(usesCrlf('', 'rest\r\nmore'), true);
    assert.equal(usesCrlf('a\r\nb\nc', ''), false, 'the line break nearest the cursor decides');
  });
});
