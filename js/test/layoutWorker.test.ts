// Unit tests of the layout off the main thread: newest request wins, outdated results are
// dropped, and the main-thread fallback when no worker can be made or the worker fails
// (node:test; built with tsconfig.test.json).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Lineage } from '../src/api';
import { ILayout, LayoutCache, layoutLineage, NODE_W } from '../src/layout';
import {
  ILayoutMessage,
  ILayoutReply,
  IWorkerLike,
  layoutFromMessage,
  LayoutEngine
} from '../src/layoutWorker';
import { ILayoutEngine, Placement } from '../src/placement';
import { lineageOf } from './lineages';

function lineage(n: number, groups = 1): Lineage {
  return lineageOf(n, i => (i >= groups ? i - groups : null));
}

const positions = (l: ILayout) =>
  l.nodes.map(p => `${p.node.fingerprint}@${p.x},${p.y}`).join(' ');

/** A worker stand-in: keeps what it was sent, answers when the test says so (in its thread). */
class FakeWorker implements IWorkerLike {
  sent: ILayoutMessage[] = [];
  terminated = false;
  onmessage: ((ev: { data: ILayoutReply }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  private _cache: LayoutCache = new Map();
  postMessage(m: ILayoutMessage): void {
    this.sent.push(structuredClone(m));
  }
  terminate(): void {
    this.terminated = true;
  }
  /** Lay out the message sent ``i``-th and answer it (structured-cloned, as postMessage). */
  answer(i: number): void {
    const layout = layoutFromMessage(this.sent[i], this._cache);
    this.onmessage!({ data: structuredClone({ id: this.sent[i].id, layout }) });
  }
}

const tick = () => new Promise(r => setTimeout(r, 0));
const now = (fn: () => void) => fn();

test('the newest request wins: older ones resolve null, only the newest result is used', async () => {
  const worker = new FakeWorker();
  const engine = new LayoutEngine(() => worker, now);
  const got: (ILayout | null)[] = [];
  const a = engine.layout(lineage(10), new Set(), NODE_W).then(l => (got[0] = l));
  const b = engine.layout(lineage(11), new Set(), NODE_W).then(l => (got[1] = l));
  const c = engine.layout(lineage(12), new Set(), NODE_W).then(l => (got[2] = l));
  assert.equal(worker.sent.length, 1, 'one layout at a time in the worker');
  await b; // replaced in the waiting slot by c before it was sent
  assert.equal(got[1], null);
  worker.answer(0); // a is done, but c waits: a's result is for an outdated graph
  await a;
  assert.equal(got[0], null);
  assert.equal(worker.sent.length, 2);
  assert.equal(worker.sent[1].fps.length, 12, 'the newest request is sent next, b never is');
  worker.answer(1);
  await c;
  const want = layoutLineage(lineage(12), new Set(), NODE_W);
  assert.equal(positions(got[2]!), positions(want));
  // The nodes are the request's records again (the worker sent fingerprints only).
  assert.equal(got[2]!.nodes[3].node.name, 'step 3');
  assert.equal(engine.kind, 'worker');
  // A late duplicate answer for an old id is ignored.
  worker.answer(0);
  assert.equal(worker.sent.length, 2);
});

test('no worker (the factory throws, e.g. a CSP): layouts run on the main thread', async () => {
  const warn = console.warn;
  console.warn = () => {};
  try {
    const engine = new LayoutEngine(() => {
      throw new Error('Refused to create a worker: Content Security Policy');
    }, now);
    const l = lineage(20);
    const layout = await engine.layout(l, new Set(), NODE_W);
    assert.equal(engine.kind, 'main');
    assert.match(engine.fallbackReason, /Content Security Policy/);
    assert.equal(positions(layout!), positions(layoutLineage(l, new Set(), NODE_W)));
    assert.equal(layout!.nodes[0].node, l.nodes[0]);
  } finally {
    console.warn = warn;
  }
});

test('on the main thread too, a request replaced before its turn resolves null', async () => {
  const queue: (() => void)[] = [];
  const engine = new LayoutEngine(null, fn => queue.push(fn));
  const first = engine.layout(lineage(5), new Set(), NODE_W);
  const second = engine.layout(lineage(6), new Set(), NODE_W);
  assert.equal(queue.length, 1, 'one layout at a time');
  while (queue.length) {
    queue.shift()!();
  }
  assert.equal(await first, null);
  assert.equal((await second)!.nodes.length, 6);
});

test('a worker that fails (script blocked, error reply) hands its request to the main thread', async () => {
  const warn = console.warn;
  const warnings: string[] = [];
  console.warn = (m: string) => warnings.push(m);
  try {
    const worker = new FakeWorker();
    const engine = new LayoutEngine(() => worker, now);
    const pending = engine.layout(lineage(8), new Set(), NODE_W);
    assert.equal(worker.sent.length, 1);
    worker.onerror!({ message: 'worker script blocked' });
    const layout = await pending;
    assert.equal(layout!.nodes.length, 8);
    assert.ok(worker.terminated);
    assert.equal(engine.kind, 'main');
    assert.match(warnings[0], /worker script blocked/);
    // Later layouts do not try the worker again.
    assert.equal((await engine.layout(lineage(9), new Set(), NODE_W))!.nodes.length, 9);
    assert.equal(worker.sent.length, 1);

    const failing = new FakeWorker();
    const other = new LayoutEngine(() => failing, now);
    const p = other.layout(lineage(4), new Set(), NODE_W);
    failing.onmessage!({ data: { id: failing.sent[0].id, error: 'TypeError: boom' } });
    assert.equal((await p)!.nodes.length, 4);
    assert.equal(other.kind, 'main');
  } finally {
    console.warn = warn;
  }
});

/** An engine whose answers the test releases one by one. */
function manualEngine(): ILayoutEngine & { release: (i: number) => void; count: () => number } {
  const calls: { l: Lineage; c: Set<string>; w: number; resolve: (x: ILayout) => void }[] = [];
  return {
    layout: (l, c, w) => new Promise(resolve => calls.push({ l, c, w, resolve })),
    release: i => calls[i].resolve(layoutLineage(calls[i].l, calls[i].c, calls[i].w)),
    count: () => calls.length
  };
}

test('while a layout is pending the previous graph stays, updated in place', async () => {
  const engine = manualEngine();
  let ready = 0;
  const placement = new Placement(layoutLineage, { engine, ready: () => ready++ });
  const first = placement.update(lineage(10), new Set(), NODE_W);
  assert.equal(first.pending, 10);
  assert.equal(first.layout.nodes.length, 0, 'nothing to show before the first layout');
  engine.release(0);
  await tick();
  assert.equal(ready, 1);
  const drawn = placement.update(lineage(10), new Set(), NODE_W);
  assert.ok(drawn.relaid);
  assert.equal(drawn.pending, null);
  assert.equal(drawn.layout.nodes.length, 10);
  const before = positions(drawn.layout);

  // A new step arrives and step 4 fails: the old graph stays, step 4 is updated in place.
  const grown = lineage(11);
  grown.nodes[4] = { ...grown.nodes[4], status: 'failed' };
  const waiting = placement.update(grown, new Set(), NODE_W);
  assert.equal(waiting.pending, 11);
  assert.ok(!waiting.relaid);
  assert.equal(positions(waiting.layout), before);
  assert.deepEqual(waiting.changed, [grown.nodes[4].fingerprint]);
  assert.equal(waiting.layout.nodes[4].node.status, 'failed');
  // The same payload polled again does not ask for a second layout.
  placement.update(grown, new Set(), NODE_W);
  assert.equal(engine.count(), 2);

  // A newer payload (two new steps) arrives before the first answer.
  const newer = lineage(12);
  placement.update(newer, new Set(), NODE_W);
  assert.equal(engine.count(), 3);
  engine.release(1); // the 11-step layout: outdated, dropped, never drawn
  await tick();
  assert.equal(ready, 1);
  assert.equal(placement.update(newer, new Set(), NODE_W).layout.nodes.length, 10);
  engine.release(2);
  await tick();
  assert.equal(ready, 2);
  const done = placement.update(newer, new Set(), NODE_W);
  assert.ok(done.relaid);
  assert.equal(done.pending, null);
  assert.equal(done.layout.nodes.length, 12);
  assert.ok(done.layoutMs !== null && done.layoutMs >= 0);
});

test('back to the drawn graph while pending: the pending result is dropped', async () => {
  const engine = manualEngine();
  let ready = 0;
  const placement = new Placement(layoutLineage, { engine, ready: () => ready++ });
  placement.update(lineage(6), new Set(), NODE_W);
  engine.release(0);
  await tick();
  placement.update(lineage(6), new Set(), NODE_W);
  const collapsed = new Set([lineage(6).nodes[2].fingerprint]);
  assert.equal(placement.update(lineage(6), collapsed, NODE_W).pending, 3);
  const back = placement.update(lineage(6), new Set(), NODE_W); // expanded again
  assert.equal(back.pending, null);
  engine.release(1);
  await tick();
  assert.equal(ready, 1, 'the collapsed layout is not drawn');
  assert.equal(placement.update(lineage(6), new Set(), NODE_W).layout.nodes.length, 6);
});

test('a new step re-lays only its own group; the others keep their cached layout', () => {
  const cache: LayoutCache = new Map();
  const three = lineage(30, 3); // three chains of 10
  const first = layoutLineage(three, new Set(), NODE_W, cache);
  assert.equal(positions(first), positions(layoutLineage(three, new Set(), NODE_W)));
  assert.equal(cache.size, 3);
  const kept = new Set(cache.values());
  // Step 30 joins the first chain (its parent is step 27, in chain 0).
  const grown = lineage(31, 3);
  const second = layoutLineage(grown, new Set(), NODE_W, cache);
  assert.equal(positions(second), positions(layoutLineage(grown, new Set(), NODE_W)));
  assert.equal(cache.size, 3, 'the outdated group is dropped from the cache');
  const reused = [...cache.values()].filter(g => kept.has(g));
  assert.equal(reused.length, 2, 'two unchanged groups reused, one laid out anew');
});
