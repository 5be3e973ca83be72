import * as assert from 'node:assert/strict';
import { buildRequest, isSingleLine, maxSuggestionLines, shapeSuggestion } from '../../../src/infill';

const options = { singleLineSlots: 24, multiLineSlots: 64, policy: { name: 'threshold' as const }, endOfTextPrediction: true, maxSequence: 1024 };

describe('infill: what to ask for at a cursor', () => {
  it('is single-line when code follows the cursor on its line, multi-line at the line end or on an empty line', () => {
    assert.equal(isSingleLine('b)\nnext'), true);
    assert.equal(isSingleLine('   \nnext'), false);
    assert.equal(isSingleLine(''), false);
    assert.equal(isSingleLine('\n    return x'), false);
  });

  it('takes the slot budget from the single/multi-line choice', () => {
    assert.deepEqual([buildRequest({ before: 'f(', after: ')' }, options).slots, buildRequest({ before: 'x = ', after: '\n' }, options).slots], [24, 64]);
    assert.equal(buildRequest({ before: 'f(', after: ')' }, options).singleLine, true);
  });

  it('keeps the text nearest the cursor when the document exceeds the context window', () => {
    const small = { ...options, maxSequence: 24 + 100 }; // single-line: 24 slots, room for 100 tokens ≈ 400 characters
    const request = buildRequest({ before: 'a'.repeat(1000) + 'NEAR', after: 'AFTER' + 'b'.repeat(1000) }, small);
    assert.ok(request.prefix.endsWith('NEAR'));
    assert.ok(request.suffix.startsWith('AFTER'));
    assert.equal(request.prefix.length + request.suffix.length, 400);
    assert.equal(request.suffix.length, 100); // a quarter after the cursor
  });

  it('gives unused room after the cursor to the text before it', () => {
    const request = buildRequest({ before: 'x'.repeat(5000), after: 'end' }, { ...options, maxSequence: 24 + 100 });
    assert.equal(request.suffix, 'end');
    assert.equal(request.prefix.length, 397);
  });
});

describe('infill: shaping the model\'s answer into a suggestion', () => {
  it('drops trailing whitespace and keeps CRLF out of the suggestion', () => {
    assert.equal(shapeSuggestion('a + b  \t'), 'a + b');
    assert.equal(shapeSuggestion('if x:\r\n    y\r\n'), 'if x:\n    y');
  });

  it('bounds a multi-line completion', () => {
    const text = Array.from({ length: 20 }, (_, i) => `line${i}`).join('\n');
    assert.equal(shapeSuggestion(text).split('\n').length, maxSuggestionLines);
  });

  it('offers nothing for an all-whitespace completion', () => {
    assert.equal(shapeSuggestion(' \n\t'), '');
  });
});
