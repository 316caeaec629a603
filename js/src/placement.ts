/**
 * When the sidebar lays the graph out again, and which nodes it redraws (pure, no DOM).
 *
 * Positions depend only on the node ids, the edges, what is collapsed and the node width
 * (every node has the same size): a poll that only changes a running step's progress,
 * status, rows or name keeps the layout and reports just the nodes whose content changed,
 * which the view then updates in place. A dagre layout of 2,000 steps takes seconds.
 *
 * With a layout engine (layoutWorker.ts), a new layout is computed off the main thread:
 * until it arrives the previous layout stays (its nodes updated in place from the newest
 * records) and ``pending`` says how many steps are being laid out. A result is used only if
 * it is for the newest request; an outdated one never replaces a newer graph.
 */
import type { Lineage, LineageNode } from './api';
import { hiddenBelow, ILayout, layoutLineage } from './layout';
import { distinctLabels, stateOf } from './text';

export type LayoutFn = (lineage: Lineage, collapsed: Set<string>, nodeW: number) => ILayout;

/** Characters of a node name that fit on a node of width ``w`` (12 px bold). */
export const nameChars = (w: number): number => Math.floor((w - 18) / 7.8);

/** What decides the node positions: ids, edges, the collapsed nodes, the node width. */
export function layoutKey(lineage: Lineage, collapsed: Set<string>, nodeW: number): string {
  return JSON.stringify([
    lineage.nodes.map(n => n.fingerprint),
    lineage.edges.map(e => [e.source, e.target]),
    [...collapsed].sort(),
    nodeW
  ]);
}

/** Everything a node shows besides its position. */
function contentKey(n: LineageNode, label: string, hidden: number): string {
  return JSON.stringify([
    label,
    n.name,
    n.kind,
    n.status,
    stateOf(n),
    n.rows,
    n.progress ?? null,
    n.stale_reason,
    hidden
  ]);
}

export interface IPlacement {
  layout: ILayout;
  /** Name -> the label drawn on the node. */
  labels: Map<string, string>;
  /** True when the layout was computed anew (draw everything). */
  relaid: boolean;
  /** Without a new layout: the fingerprints whose content changed (update in place). */
  changed: string[];
  /** Steps of the layout being computed (null when none is pending). */
  pending: number | null;
  /** ms from the request to the result of the layout drawn now (null: not measured). */
  layoutMs: number | null;
}

/** Computes layouts off the main thread; null when a newer request replaced this one. */
export interface ILayoutEngine {
  layout(lineage: Lineage, collapsed: Set<string>, nodeW: number): Promise<ILayout | null>;
}

export interface IAsyncLayout {
  engine: ILayoutEngine;
  /** Called when the pending layout arrived: update again to draw it. */
  ready: () => void;
  /** A layout failed (reported; the previous graph stays). */
  failed?: (err: unknown) => void;
}

const EMPTY: ILayout = { nodes: [], edges: [], width: 0, height: 0, nodeW: 0 };

export class Placement {
  private _layoutFn: LayoutFn;
  private _async: IAsyncLayout | null;
  private _key = '';
  private _names = '';
  private _layout: ILayout | null = null;
  private _labels = new Map<string, string>();
  private _content = new Map<string, string>();
  private _pending: { key: string; steps: number; t0: number } | null = null;
  private _ready: { key: string; layout: ILayout; ms: number } | null = null;
  private _layoutMs: number | null = null;

  /** Layouts with ``layoutFn`` in ``update`` itself, or with ``async.engine`` when given. */
  constructor(layoutFn: LayoutFn = layoutLineage, async: IAsyncLayout | null = null) {
    this._layoutFn = layoutFn;
    this._async = async;
  }

  /** Forget the layout: the next update lays out again (a pending result is dropped). */
  reset(): void {
    this._key = '';
    this._names = '';
    this._layout = null;
    this._pending = null;
    this._ready = null;
    this._content.clear();
  }

  update(lineage: Lineage, collapsed: Set<string>, nodeW: number): IPlacement {
    const key = layoutKey(lineage, collapsed, nodeW);
    let relaid = false;
    if (this._ready?.key === key) {
      this._install(key, this._ready.layout, this._ready.ms);
      relaid = true;
    } else if (this._layout && key === this._key) {
      this._pending = null; // back to the drawn graph: a pending result is outdated
    } else if (!this._async) {
      this._install(key, this._layoutFn(lineage, collapsed, nodeW), null);
      relaid = true;
    } else if (this._pending?.key !== key) {
      this._request(key, lineage, collapsed, nodeW);
    }
    this._ready = null;
    const pending = this._pending?.steps ?? null;
    const layout = this._layout ?? { ...EMPTY, nodeW };
    // Point the placed nodes at this poll's records (the same steps keep their place).
    const byFp = new Map(lineage.nodes.map(n => [n.fingerprint, n]));
    for (const p of layout.nodes) {
      p.node = byFp.get(p.node.fingerprint) ?? p.node;
    }
    const names = layout.nodes.map(p => p.node.name);
    const namesKey = JSON.stringify(names);
    if (namesKey !== this._names) {
      this._names = namesKey;
      this._labels = distinctLabels(names, nameChars(layout.nodeW));
    }
    const changed: string[] = [];
    for (const p of layout.nodes) {
      const fp = p.node.fingerprint;
      const c = contentKey(p.node, this._labels.get(p.node.name) ?? '', p.hidden);
      if (this._content.get(fp) !== c) {
        this._content.set(fp, c);
        if (!relaid) {
          changed.push(fp);
        }
      }
    }
    return { layout, labels: this._labels, relaid, changed, pending, layoutMs: this._layoutMs };
  }

  private _install(key: string, layout: ILayout, ms: number | null): void {
    this._layout = layout;
    this._key = key;
    this._names = '';
    this._content.clear();
    this._pending = null;
    this._layoutMs = ms;
  }

  private _request(key: string, lineage: Lineage, collapsed: Set<string>, nodeW: number): void {
    const hidden = hiddenBelow(lineage, collapsed);
    const steps = lineage.nodes.filter(n => (hidden.get(n.fingerprint) ?? 0) >= 0).length;
    const t0 = performance.now();
    const pending = { key, steps, t0 };
    this._pending = pending;
    const async = this._async!;
    async.engine.layout(lineage, collapsed, nodeW).then(
      layout => {
        // Only the newest request's result is drawn; an older one is dropped.
        if (layout && this._pending === pending) {
          this._ready = { key, layout, ms: performance.now() - t0 };
          async.ready();
        }
      },
      err => {
        if (this._pending === pending) {
          this._pending = null;
        }
        (async.failed ?? console.error)(err);
      }
    );
  }
}
