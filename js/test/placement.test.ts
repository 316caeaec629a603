// Unit tests of when the sidebar lays out again (node:test; built with tsconfig.test.json).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Lineage, LineageNode } from '../src/api';
import { ILayout, layoutLineage, NODE_W } from '../src/layout';
import { Placement } from '../src/placement';
import { lineageOf } from './lineages';

function lineage(n: number): Lineage {
  return lineageOf(n, i => (i > 0 ? Math.floor((i - 1) / 2) : null));
}

/** A poll's fresh records (the model replaces the lineage object on every poll). */
function poll(l: Lineage, edit: (nodes: LineageNode[]) => void): Lineage {
  const nodes = l.nodes.map(n => ({ ...n }));
  edit(nodes);
  return { ...l, nodes, edges: l.edges.map(e => ({ ...e })) };
}

function counted(): { fn: typeof layoutLineage; calls: () => number } {
  let calls = 0;
  return {
    fn: (l, c, w) => {
      calls++;
      return layoutLineage(l, c, w);
    },
    calls: () => calls
  };
}

const positions = (l: ILayout) =>
  new Map(l.nodes.map(p => [p.node.fingerprint, `${p.x},${p.y}`]));

test('a progress-only poll keeps the layout and reports just the running node', () => {
  const layout = counted();
  const placement = new Placement(layout.fn);
  const start = poll(lineage(30), nodes => {
    nodes[29] = { ...nodes[29], status: 'running', rows: null, progress: 0.1 };
  });
  const first = placement.update(start, new Set(), NODE_W);
  assert.equal(layout.calls(), 1);
  assert.ok(first.relaid);
  const before = positions(first.layout);

  const running = start.nodes[29].fingerprint;
  const next = placement.update(
    poll(start, nodes => {
      nodes[29].progress = 0.6;
    }),
    new Set(),
    NODE_W
  );
  assert.equal(layout.calls(), 1, 'no new dagre layout for a progress change');
  assert.ok(!next.relaid);
  assert.deepEqual(next.changed, [running]);
  assert.deepEqual(positions(next.layout), before);
  const placed = next.layout.nodes.find(p => p.node.fingerprint === running)!;
  assert.equal(placed.node.progress, 0.6, 'the placed node carries the new progress');

  // The step finishes: status and rows change, positions still do not.
  const done = placement.update(
    poll(start, nodes => {
      nodes[29] = { ...nodes[29], status: 'fresh', rows: 12, progress: null };
    }),
    new Set(),
    NODE_W
  );
  assert.equal(layout.calls(), 1);
  assert.deepEqual(done.changed, [running]);
  assert.deepEqual(positions(done.layout), before);

  // Nothing changed: nothing to redraw.
  const same = placement.update(
    poll(start, nodes => {
      nodes[29] = { ...nodes[29], status: 'fresh', rows: 12, progress: null };
    }),
    new Set(),
    NODE_W
  );
  assert.equal(layout.calls(), 1);
  assert.deepEqual(same.changed, []);
});

test('a new node, a new edge, a collapse or a new width lays out again', () => {
  const layout = counted();
  const placement = new Placement(layout.fn);
  const base = lineage(10);
  placement.update(base, new Set(), NODE_W);
  assert.equal(layout.calls(), 1);

  const grown = lineage(11);
  const next = placement.update(grown, new Set(), NODE_W);
  assert.equal(layout.calls(), 2);
  assert.ok(next.relaid);
  assert.equal(next.layout.nodes.length, 11);

  const rewired: Lineage = {
    ...grown,
    edges: [...grown.edges, { source: grown.nodes[3].fingerprint, target: grown.nodes[10].fingerprint }]
  };
  assert.ok(placement.update(rewired, new Set(), NODE_W).relaid);
  assert.equal(layout.calls(), 3);

  const collapsed = placement.update(rewired, new Set([rewired.nodes[1].fingerprint]), NODE_W);
  assert.ok(collapsed.relaid);
  assert.ok(collapsed.layout.nodes.length < 11);
  assert.ok(placement.update(rewired, new Set([rewired.nodes[1].fingerprint]), 116).relaid);
  assert.equal(layout.calls(), 5);

  placement.reset();
  assert.ok(placement.update(rewired, new Set(), NODE_W).relaid);
  assert.equal(layout.calls(), 6);
});

test('a renamed step is redrawn in place with its new label', () => {
  const layout = counted();
  const placement = new Placement(layout.fn);
  const base = lineage(5);
  placement.update(base, new Set(), NODE_W);
  const next = placement.update(
    poll(base, nodes => {
      nodes[2].name = 'renamed';
    }),
    new Set(),
    NODE_W
  );
  assert.equal(layout.calls(), 1);
  assert.deepEqual(next.changed, [base.nodes[2].fingerprint]);
  assert.equal(next.labels.get('renamed'), 'renamed');
});
