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

/** The weakly connected groups of ``fps`` (by ``edges``), each in input order, oldest first. */
export function components(fps: string[], edges: { source: string; target: string }[]): string[][] {
  const parent = new Map(fps.map(fp => [fp, fp]));
  const find = (fp: string): string => {
    let root = fp;
    while (parent.get(root) !== root) {
      root = parent.get(root)!;
    }
    parent.set(fp, root);
    return root;
  };
  for (const e of edges) {
    parent.set(find(e.source), find(e.target));
  }
  const groups = new Map<string, string[]>();
  for (const fp of fps) {
    const root = find(fp);
    groups.set(root, [...(groups.get(root) ?? []), fp]);
  }
  return [...groups.values()];
}

/** Gap between stacked groups (px). */
const GROUP_GAP = 36;

/** One connected group laid out on its own, at the origin. */
export interface IGroupLayout {
  /** Fingerprint -> centre of its node. */
  pos: Map<string, { x: number; y: number }>;
  edges: IPlacedEdge[];
  width: number;
  height: number;
}

/**
 * Group layouts kept between calls, keyed by what decides them (the group's fingerprints
 * in order, its edges, the node width): dagre lays out each group on its own, so a group
 * that did not change gets the same positions. A call keeps only the groups it used.
 */
export type LayoutCache = Map<string, IGroupLayout>;

function layoutGroup(
  fps: string[],
  edges: { source: string; target: string }[],
  nodeW: number
): IGroupLayout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: nodeW < NODE_W ? 12 : 24, ranksep: 36, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const fp of fps) {
    g.setNode(fp, { width: nodeW, height: NODE_H });
  }
  for (const e of edges) {
    g.setEdge(e.source, e.target);
  }
  dagre.layout(g);
  const pos = new Map(fps.map(fp => [fp, { x: g.node(fp).x, y: g.node(fp).y }]));
  const placed = g.edges().map(e => ({
    source: e.v,
    target: e.w,
    points: (g.edge(e).points ?? []).map(p => ({ x: p.x, y: p.y }))
  }));
  return { pos, edges: placed, width: g.graph().width ?? 0, height: g.graph().height ?? 0 };
}

/**
 * Positions for the visible nodes (collapsed subtrees left out), top to bottom. Unconnected
 * groups are laid out one below the other, each centred, so that many small workflows stay
 * as narrow as the widest of them (a 250 px sidebar, hundreds of steps). With ``cache``,
 * a group whose steps and edges did not change since the last call is not laid out again.
 */
export function layoutLineage(
  lineage: Lineage,
  collapsed: Set<string> = new Set(),
  nodeW: number = NODE_W,
  cache: LayoutCache | null = null
): ILayout {
  const hidden = hiddenBelow(lineage, collapsed);
  const visible = lineage.nodes.filter(n => (hidden.get(n.fingerprint) ?? 0) >= 0);
  const byFp = new Map(visible.map(n => [n.fingerprint, n]));
  const edges = lineage.edges.filter(e => byFp.has(e.source) && byFp.has(e.target));
  const used = new Set<string>();
  const found = components(
    visible.map(n => n.fingerprint),
    edges
  );
  const groupOf = new Map<string, number>();
  found.forEach((fps, i) => fps.forEach(fp => groupOf.set(fp, i)));
  const owned: { source: string; target: string }[][] = found.map(() => []);
  for (const e of edges) {
    owned[groupOf.get(e.source)!].push(e);
  }
  const groups = found.map((fps, i) => {
    const own = owned[i];
    const key = JSON.stringify([nodeW, fps, own.map(e => [e.source, e.target])]);
    used.add(key);
    let group = cache?.get(key);
    if (!group) {
      group = layoutGroup(fps, own, nodeW);
      cache?.set(key, group);
    }
    return { fps, group };
  });
  for (const key of cache?.keys() ?? []) {
    if (!used.has(key)) {
      cache!.delete(key);
    }
  }
  const width = Math.max(0, ...groups.map(c => c.group.width));
  const nodes: IPlacedNode[] = [];
  const placedEdges: IPlacedEdge[] = [];
  let top = 0;
  for (const { fps, group } of groups) {
    const dx = (width - group.width) / 2;
    for (const fp of fps) {
      const p = group.pos.get(fp)!;
      const h = Math.max(0, hidden.get(fp) ?? 0);
      nodes.push({ node: byFp.get(fp)!, x: p.x + dx, y: p.y + top, hidden: h });
    }
    for (const e of group.edges) {
      const points = e.points.map(p => ({ x: p.x + dx, y: p.y + top }));
      placedEdges.push({ source: e.source, target: e.target, points });
    }
    top += group.height + GROUP_GAP;
  }
  return {
    nodes,
    edges: placedEdges,
    width,
    height: groups.length ? top - GROUP_GAP : 0,
    nodeW
  };
}
