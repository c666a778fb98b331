import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NonceCountTracker } from '../../src/auth/nonce-counts.js';

test('counts must rise per nonce', () => {
  const t = new NonceCountTracker(10, 0);
  assert.equal(t.accept('a', 1, 5, 100, 10), 'accepted');
  assert.equal(t.accept('a', 1, 5, 100, 10), 'replayed');
  assert.equal(t.accept('b', 1, 5, 100, 10), 'accepted');
  assert.equal(t.accept('a', 3, 5, 100, 10), 'accepted');
  assert.equal(t.accept('a', 2, 5, 100, 10), 'replayed');
});

test('entries are dropped once their nonce expires', () => {
  const t = new NonceCountTracker(10, 0);
  t.accept('a', 1, 1, 100, 10);
  t.accept('b', 1, 2, 200, 10);
  assert.equal(t.size, 2);
  t.accept('c', 1, 150, 300, 150);
  assert.equal(t.size, 2);
  t.accept('d', 1, 250, 400, 250);
  assert.equal(t.size, 2);
});

test('size stays under the cap and forgotten nonces are refused', () => {
  const t = new NonceCountTracker(3, 0);
  for (let i = 0; i < 10; i++) assert.equal(t.accept(`n${i}`, 1, i, 1000, 20), 'accepted');
  assert.equal(t.size, 3);
  assert.equal(t.accept('n0', 2, 0, 1000, 20), 'forgotten');
  assert.equal(t.accept('n9', 2, 9, 1000, 20), 'accepted');
});

test('nonces issued before the tracker started are refused', () => {
  const t = new NonceCountTracker(3, 100);
  assert.equal(t.accept('old', 1, 99, 1000, 120), 'forgotten');
  assert.equal(t.accept('new', 1, 100, 1000, 120), 'accepted');
});
