/**
 * The sidebar's layout off the main thread: a Web Worker (layout.worker.ts) runs dagre, so
 * JupyterLab stays responsive while a large graph is laid out. No DOM here; the worker is
 * made by a factory (layoutWorkerFactory.ts in the browser, a stand-in in the unit tests).
 *
 * The newest request wins: while the worker computes one layout, a newer request waits in a
 * single slot (replacing any older one there); when the computing one is done, its result
 * is dropped (resolved as null) if a newer one waits. A worker that cannot be made (a
 * Content-Security-Policy without worker-src, no Worker at all) or that fails (its script
 * does not load, it throws) is given up for good, and the layouts run on the main thread,
 * one task after the panel showed that a layout is pending.
 */
import type { Lineage, LineageNode } from './api';
import { ILayout, LayoutCache, layoutLineage } from './layout';

/** What the worker needs: fingerprints, edges, what is collapsed, the node width. */
export interface ILayoutMessage {
  id: number;
  fps: string[];
  edges: [string, string][];
  collapsed: string[];
  nodeW: number;
}

/** The worker's answer: the layout (its nodes carry only their fingerprint) or an error. */
export interface ILayoutReply {
  id: number;
  layout?: ILayout;
  error?: string;
}

/** The part of a Web Worker used here. */
export interface IWorkerLike {
  postMessage(message: ILayoutMessage): void;
  terminate(): void;
  onmessage: ((ev: { data: ILayoutReply }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WorkerFactory = () => IWorkerLike;

/** Runs a function after the browser had a chance to paint (a task in tests). */
export type Defer = (fn: () => void) => void;

export const deferPaint: Defer = fn => {
  if (typeof requestAnimationFrame === 'function') {
    requestAnimationFrame(() => setTimeout(fn, 0));
  } else {
    setTimeout(fn, 0);
  }
};

export function layoutMessage(
  id: number,
  lineage: Lineage,
  collapsed: Set<string>,
  nodeW: number
): ILayoutMessage {
  return {
    id,
    fps: lineage.nodes.map(n => n.fingerprint),
    edges: lineage.edges.map(e => [e.source, e.target]),
    collapsed: [...collapsed],
    nodeW
  };
}

/** The worker's side: lay out a message (``cache`` keeps unchanged groups' layouts). */
export function layoutFromMessage(m: ILayoutMessage, cache: LayoutCache | null): ILayout {
  const lineage = {
    nodes: m.fps.map(fingerprint => ({ fingerprint }) as LineageNode),
    edges: m.edges.map(([source, target]) => ({ source, target }))
  } as Lineage;
  const layout = layoutLineage(lineage, new Set(m.collapsed), m.nodeW, cache);
  // Only the fingerprint travels back: the main thread has the records.
  for (const p of layout.nodes) {
    p.node = { fingerprint: p.node.fingerprint } as LineageNode;
  }
  return layout;
}

/** Point a layout's nodes at ``lineage``'s records (the worker sent fingerprints only). */
function withRecords(layout: ILayout, lineage: Lineage): ILayout {
  const byFp = new Map(lineage.nodes.map(n => [n.fingerprint, n]));
  for (const p of layout.nodes) {
    p.node = byFp.get(p.node.fingerprint) ?? p.node;
  }
  return layout;
}

interface IRequest {
  message: ILayoutMessage;
  lineage: Lineage;
  resolve: (layout: ILayout | null) => void;
  reject: (err: unknown) => void;
}

export class LayoutEngine {
  private _factory: WorkerFactory | null;
  private _defer: Defer;
  private _worker: IWorkerLike | null = null;
  private _seq = 0;
  private _busy: IRequest | null = null;
  private _waiting: IRequest | null = null;
  private _mainCache: LayoutCache = new Map();
  private _kind: 'worker' | 'main';
  private _why = '';

  /** ``factory`` null: lay out on the main thread only. */
  constructor(factory: WorkerFactory | null, defer: Defer = deferPaint) {
    this._factory = factory;
    this._defer = defer;
    this._kind = factory ? 'worker' : 'main';
    this._why = factory ? '' : 'no worker factory';
  }

  /** Where layouts run now: in a worker, or on the main thread (the fallback). */
  get kind(): 'worker' | 'main' {
    return this._kind;
  }

  /** Why the engine fell back to the main thread ('' while it uses a worker). */
  get fallbackReason(): string {
    return this._why;
  }

  /** The layout of ``lineage``; null when a newer request replaced this one first. */
  layout(lineage: Lineage, collapsed: Set<string>, nodeW: number): Promise<ILayout | null> {
    return new Promise((resolve, reject) => {
      const req = { message: layoutMessage(++this._seq, lineage, collapsed, nodeW), lineage, resolve, reject };
      this._waiting?.resolve(null);
      this._waiting = req;
      if (!this._busy) {
        this._next();
      }
    });
  }

  dispose(): void {
    this._worker?.terminate();
    this._worker = null;
    this._waiting?.resolve(null);
    this._busy?.resolve(null);
    this._waiting = this._busy = null;
  }

  /** Start the waiting request, in the worker or (fallback) on the main thread. */
  private _next(): void {
    const req = this._waiting;
    this._waiting = null;
    this._busy = req;
    if (!req) {
      return;
    }
    const worker = this._kind === 'worker' ? this._ensureWorker() : null;
    if (worker) {
      worker.postMessage(req.message);
      return;
    }
    this._defer(() => {
      if (this._waiting) {
        // A newer request came in meanwhile: this one is outdated.
        req.resolve(null);
        this._next();
        return;
      }
      try {
        const m = req.message;
        req.resolve(layoutLineage(req.lineage, new Set(m.collapsed), m.nodeW, this._mainCache));
      } catch (err) {
        req.reject(err);
      }
      this._busy = null;
      this._next();
    });
  }

  private _ensureWorker(): IWorkerLike | null {
    if (this._worker) {
      return this._worker;
    }
    try {
      const worker = this._factory!();
      worker.onmessage = ev => this._onReply(ev.data);
      worker.onerror = ev => this._fail(`the layout worker failed: ${describe(ev)}`);
      this._worker = worker;
      return worker;
    } catch (err) {
      this._giveUp(`no layout worker could be made: ${describe(err)}`);
      return null;
    }
  }

  private _onReply(reply: ILayoutReply): void {
    const req = this._busy;
    if (!req || reply.id !== req.message.id) {
      return;
    }
    if (reply.error !== undefined || !reply.layout) {
      this._fail(`the layout worker failed: ${reply.error ?? 'no layout in its reply'}`);
      return;
    }
    this._busy = null;
    // A newer request waits: this result is for an outdated graph, drop it.
    req.resolve(this._waiting ? null : withRecords(reply.layout, req.lineage));
    this._next();
  }

  /** The worker failed: the request it had is laid out again on the main thread. */
  private _fail(why: string): void {
    const req = this._busy;
    this._busy = null;
    this._giveUp(why);
    if (req && !this._waiting) {
      this._waiting = req;
    } else {
      req?.resolve(null);
    }
    if (this._waiting) {
      this._next();
    }
  }

  private _giveUp(why: string): void {
    this._worker?.terminate();
    this._worker = null;
    this._kind = 'main';
    this._why = why;
    console.warn(`dreamer_lab: ${why}; the lineage is laid out on the main thread.`);
  }
}

function describe(err: unknown): string {
  if (err && typeof err === 'object' && 'message' in err && (err as { message: unknown }).message) {
    return String((err as { message: unknown }).message);
  }
  return String(err);
}
