// Unit tests of the pure layout code (node:test; built with tsconfig.test.json).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Lineage } from '../src/api';
import { components, hiddenBelow, layoutLineage } from '../src/layout';
import { lineageOf } from './lineages';

function lineage(n: number, fanout: number): Lineage {
  return lineageOf(n, i => (i > 0 ? Math.floor((i - 1) / fanout) : null));
}

test('parents are placed above their children', () => {
  const l = layoutLineage(lineage(40, 3));
  const y = new Map(l.nodes.map(p => [p.node.fingerprint, p.y]));
  assert.equal(l.nodes.length, 40);
  assert.equal(l.edges.length, 39);
  for (const e of l.edges) {
    assert.ok(y.get(e.source)! < y.get(e.target)!);
    assert.ok(e.points.length >= 2);
  }
});

test('collapsing a node hides its descendants and counts them', () => {
  const g = lineage(13, 3); // 0 -> 1,2,3; 1 -> 4,5,6; ...
  const root1 = g.nodes[1].fingerprint;
  const hidden = hiddenBelow(g, new Set([root1]));
  assert.equal(hidden.get(root1), 3);
  const l = layoutLineage(g, new Set([root1]));
  assert.equal(l.nodes.length, 10);
  assert.equal(l.nodes.find(p => p.node.fingerprint === root1)!.hidden, 3);
  assert.ok(l.edges.every(e => l.nodes.some(p => p.node.fingerprint === e.target)));
});

test('a 500-step lineage lays out without overlaps', () => {
  const l = layoutLineage(lineage(500, 4));
  const seen = new Set(l.nodes.map(p => `${Math.round(p.x)},${Math.round(p.y)}`));
  assert.equal(seen.size, 500);
  assert.ok(l.width > 0 && l.height > 0);
});

test('unconnected workflows are stacked, not spread sideways', () => {
  const one = lineage(3, 2); // 0 -> 1, 2: two nodes wide
  const many: Lineage = { ...one, nodes: [], edges: [] };
  for (let k = 0; k < 50; k++) {
    const rename = (fp: string) => `${k.toString(16).padStart(4, '0')}${fp.slice(4)}`;
    many.nodes.push(...one.nodes.map(n => ({ ...n, fingerprint: rename(n.fingerprint) })));
    many.edges.push(
      ...one.edges.map(e => ({ source: rename(e.source), target: rename(e.target) }))
    );
  }
  assert.equal(components(many.nodes.map(n => n.fingerprint), many.edges).length, 50);
  const l = layoutLineage(many, new Set(), 116);
  assert.equal(l.nodes.length, 150);
  assert.ok(l.width <= 2 * 116 + 24, `width ${l.width}`); // as wide as one workflow
  const seen = new Set(l.nodes.map(p => `${Math.round(p.x)},${Math.round(p.y)}`));
  assert.equal(seen.size, 150);
  assert.ok(l.nodes.every(p => p.y >= 0 && p.y <= l.height));
});
