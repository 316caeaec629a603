// Test lineages shared by the unit tests (no tests here).
import type { Lineage, LineageEdge, LineageNode } from '../src/api';

/** ``n`` steps; step ``i`` follows step ``parent(i)`` (none when null). */
export function lineageOf(n: number, parent: (i: number) => number | null): Lineage {
  const nodes: LineageNode[] = [];
  const edges: LineageEdge[] = [];
  for (let i = 0; i < n; i++) {
    const fp = i.toString(16).padStart(16, '0');
    nodes.push({
      fingerprint: fp, name: `step ${i}`, kind: 'map', status: 'fresh', stale_reason: null,
      rows: i, seconds: 0.1, created: i, area: 'steps', cell_id: null, notebook: null
    });
    const p = parent(i);
    if (p !== null) {
      edges.push({ source: nodes[p].fingerprint, target: fp });
    }
  }
  return { workspace: 'ws', nodes, edges, running: 0, index_warning: null };
}
