import * as assert from 'node:assert/strict';
import { CompletionCache } from '../../../src/completionCache';

describe('CompletionCache', () => {
  it('returns a suggestion for the same text around the cursor', () => {
    const cache = new CompletionCache();
    cache.set('def f(x):\n    return ', '\n', 'x * x');
    assert.equal(cache.get('def f(x):\n    return ', '\n'), 'x * x');
  });

  it('returns the rest of the suggestion while the user types through it', () => {
    const cache = new CompletionCache();
    cache.set('return ', '\n', 'x * x');
    assert.equal(cache.get('return x', '\n'), ' * x');
    assert.equal(cache.get('return x *', '\n'), ' x');
  });

  it('misses when the typed text departs from the suggestion or the text after the cursor changed', () => {
    const cache = new CompletionCache();
    cache.set('return ', '\n', 'x * x');
    assert.equal(cache.get('return y', '\n'), undefined);
    assert.equal(cache.get('return x', ')\n'), undefined);
    assert.equal(cache.get('return x * x', '\n'), undefined); // typed all of it: nothing left to offer
  });

  it('works on long documents, whose prefixes are cut to their tails', () => {
    const cache = new CompletionCache();
    const long = 'y'.repeat(5000) + 'return ';
    cache.set(long, '', 'a + b');
    assert.equal(cache.get(long + 'a +', ''), ' b');
  });

  it('forgets everything on clear()', () => {
    const cache = new CompletionCache();
    cache.set('a', 'b', 'c');
    cache.clear();
    assert.equal(cache.get('a', 'b'), undefined);
  });
});
