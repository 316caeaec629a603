/** Layered DAG layout with dagre: pure data in, positions out (no DOM). */
import * as dagre from '@dagrejs/dagre';

import type { Lineage, LineageNode } from './api';

export const NODE_W = 170;
/** The node width in a narrow panel (the sidebar's default 250 px): two siblings fit. */
export const COMPACT_W = 116;
export const NODE_H = 46;

export interface IPlacedNode {
  node: LineageNode;
  x: number;
  y: number;
  hidden: number;
}

export interface IPlacedEdge {
  source: string;
  target: string;
  points: { x: number; y: number }[];
}

export interface ILayout {
  nodes: IPlacedNode[];
  edges: IPlacedEdge[];
  width: number;
  height: number;
  /** The width every node was given. */
  nodeW: number;
}

/** Fingerprints hidden below the collapsed nodes (their descendants). */
export function hiddenBelow(lineage: Lineage, collapsed: Set<string>): Map<string, number> {
  const children = new Map<string, string[]>();
  for (const e of lineage.edges) {
    const list = children.get(e.source) ?? [];
    list.push(e.target);
    children.set(e.source, list);
  }
  const hidden = new Set<string>();
  const counts = new Map<string, number>();
  for (const root of collapsed) {
    const seen = new Set<string>();
    const stack = [...(children.get(root) ?? [])];
    while (stack.length) {
      const fp = stack.pop()!;
      if (seen.has(fp) || fp === root) {
        continue;
      }
      seen.add(fp);
      hidden.add(fp);
      stack.push(...(children.get(fp) ?? []));
    }
    counts.set(root, seen.size);
  }
  const out = new Map<string, number>();
  for (const fp of hidden) {
    out.set(fp, -1);
  }
  for (const [fp, n] of counts) {
    if (!hidden.has(fp)) {
      out.set(fp, n);
    }
  }
  return out;
}

/** Positions for the visible nodes (collapsed subtrees left out), top to bottom. */
export function layoutLineage(
  lineage: Lineage,
  collapsed: Set<string> = new Set(),
  nodeW: number = NODE_W
): ILayout {
  const hidden = hiddenBelow(lineage, collapsed);
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: nodeW < NODE_W ? 12 : 24, ranksep: 36, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  const visible = lineage.nodes.filter(n => (hidden.get(n.fingerprint) ?? 0) >= 0);
  const byFp = new Map(visible.map(n => [n.fingerprint, n]));
  for (const n of visible) {
    g.setNode(n.fingerprint, { width: nodeW, height: NODE_H });
  }
  const edges = lineage.edges.filter(e => byFp.has(e.source) && byFp.has(e.target));
  for (const e of edges) {
    g.setEdge(e.source, e.target);
  }
  dagre.layout(g);
  const graph = g.graph();
  return {
    nodes: visible.map(n => {
      const p = g.node(n.fingerprint);
      return { node: n, x: p.x, y: p.y, hidden: Math.max(0, hidden.get(n.fingerprint) ?? 0) };
    }),
    edges: edges.map(e => ({
      source: e.source,
      target: e.target,
      points: (g.edge(e.source, e.target).points ?? []).map(p => ({ x: p.x, y: p.y }))
    })),
    width: graph.width ?? 0,
    height: graph.height ?? 0,
    nodeW
  };
}
