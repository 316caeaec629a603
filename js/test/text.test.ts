// Unit tests of the sidebar's pure text helpers (node:test; built with tsconfig.test.json).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  cardMarkdown,
  distinctLabels,
  escapeMarkdown,
  fitView,
  middleEllipsis,
  stateOf,
  statusClass
} from '../src/text';

test('middle ellipsis keeps the distinguishing " / " suffix', () => {
  const train = middleEllipsis('synthetic reviews / train', 16);
  const test_ = middleEllipsis('synthetic reviews / test', 16);
  assert.ok(train.length <= 16 && test_.length <= 16);
  assert.ok(train.endsWith(' / train'), train);
  assert.ok(test_.endsWith(' / test'), test_);
  assert.notEqual(train, test_);
  assert.equal(middleEllipsis('short', 16), 'short');
});

test('distinct labels differ whenever the names differ', () => {
  const names = [
    'generated reviews batch 0001',
    'generated reviews batch 0002',
    'generated reviews batch 0002',
    'other'
  ];
  const labels = distinctLabels(names, 14);
  assert.equal(labels.size, 3);
  const shown = [...labels.values()];
  assert.equal(new Set(shown).size, 3, shown.join(' | '));
  for (const l of shown) {
    assert.ok(l.length <= 14, l);
  }
});

test('status words become CSS classes', () => {
  assert.equal(statusClass('loaded from cache'), 'dl-status-loaded-from-cache');
  assert.equal(statusClass('Failed'), 'dl-status-failed');
  assert.equal(statusClass('<b>'), 'dl-status-b');
  assert.equal(statusClass('!!'), 'dl-status-unknown');
});

test('card markdown escapes values and fences multi-line ones', () => {
  const md = cardMarkdown('cards <b>', {
    'Model Name': ['<img src=x onerror=alert(1)>'],
    Citation: ['@article{x,\n  title={```}\n}'],
    Empty: []
  });
  assert.ok(md.includes('### cards \\<b\\>'), md);
  assert.ok(md.includes('- \\<img src=x onerror=alert\\(1\\)\\>'), md);
  assert.ok(md.includes('````text\n@article{x,'), md);
  assert.ok(!md.includes('Empty'), md);
  assert.equal(escapeMarkdown('a_b*c'), 'a\\_b\\*c');
});

test('fit centres what fits and never goes below the readable scale', () => {
  const small = fitView(100, 50, 300, 200, 10, 0.9);
  assert.equal(small.k, 1);
  assert.equal(small.x, 100);
  assert.equal(small.y, 75);
  const wide = fitView(600, 400, 250, 300, 10, 0.9);
  assert.equal(wide.k, 0.9);
  assert.equal(wide.x, 10); // starts at the top left, where the oldest steps are
  assert.equal(wide.y, 10);
  const empty = fitView(-Infinity, -Infinity, 250, 300, 10, 0.9);
  assert.ok(Number.isFinite(empty.x) && Number.isFinite(empty.y));
});

test('a node shows its state word, or its status from a server that sends none', () => {
  assert.equal(stateOf({ status: 'fresh', state: 'loaded from cache' }), 'loaded from cache');
  assert.equal(stateOf({ status: 'failed', state: 'interrupted' }), 'interrupted');
  assert.equal(stateOf({ status: 'stale' }), 'stale');
});
