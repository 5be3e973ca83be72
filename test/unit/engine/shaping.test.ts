import * as assert from 'node:assert/strict';
import { shapeCompletion } from '../../../src/engine';

const shape = (text: string, prefix: string, suffix: string, singleLine = false) => shapeCompletion({ text, prefix, suffix, singleLine });

describe('result shaping: what the editor is shown', () => {
  it('single-line mode stops at the first newline', () => {
    assert.equal(shape('a + b\n    return c', 'x = ', '', true), 'a + b');
    assert.equal(shape('a + b\r\nc', 'x = ', '', true), 'a + b');
    assert.equal(shape('\nfoo()', 'x = ', ' # note', true), '');
    assert.equal(shape('a, b)  ', 'f(', ')\n', true), 'a, b');
  });

  it('multi-line mode keeps the lines', () => {
    assert.equal(shape('    a = 1\n    b = 2', 'def f():\n', '\n'), '    a = 1\n    b = 2');
  });

  it('drops a tail that repeats the start of the suffix', () => {
    assert.equal(shape('a + b)', 'f(', ')\n'), 'a + b');
    assert.equal(shape('return x\n\ndef g', 'def f(x):\n    ', '\n\ndef g():\n'), 'return x');
  });

  it('a closing bracket the completion needs is not mistaken for an echo', () => {
    assert.equal(shape('foo(a)', 'x = bar(', ')\n'), 'foo(a)');
  });

  it('never unbalances brackets that were balanced', () => {
    assert.equal(shape('foo(a, b', 'x = ', '\n'), 'foo');
    assert.equal(shape('[1, 2', 'xs = ', '\n'), '');
    assert.equal(shape('}', 'if (a) { b(); ', '}\n'), '');
  });

  it('may close a bracket the document left open', () => {
    assert.equal(shape('b)', 'print(a, ', '\n'), 'b)');
  });

  it('an empty completion stays empty', () => {
    assert.equal(shape('', 'x = ', '\n', true), '');
  });
});
