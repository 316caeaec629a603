/**
 * The lineage sidebar: a toolbar, the DAG in SVG (zoom, pan, collapse, keyboard) and a
 * details pane (sample rows, card). All text is set with textContent: names, rows and
 * cards can be model output and are never parsed as HTML.
 */
import { Widget } from '@lumino/widgets';

import { getCard, getStep, type LineageNode, type StepDetail, type StepStatus } from './api';
import { ILayout, layoutLineage, NODE_H, NODE_W } from './layout';
import { LineageModel } from './model';

const SVG = 'http://www.w3.org/2000/svg';

/** The legend, one entry per status of the lineage schema (the compiler checks it is all). */
const LEGEND: Record<StepStatus, true> = { fresh: true, stale: true, running: true, failed: true };

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) {
    node.className = cls;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function svg(tag: string, attrs: Record<string, string | number> = {}): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  return node;
}

function clip(text: string, n: number): string {
  return text.length > n ? text.slice(0, n - 1) + '…' : text;
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export interface ISidebarOptions {
  model: LineageModel;
  /** Scroll to and select the cell that produced ``node``; false if none was found. */
  goToCell: (node: LineageNode) => Promise<boolean>;
}

export class LineageSidebar extends Widget {
  readonly model: LineageModel;
  private _goToCell: ISidebarOptions['goToCell'];
  private _select = el('select', 'dl-workspace-select');
  private _message = el('div', 'dl-message');
  private _graph = el('div', 'dl-graph');
  private _details = el('div', 'dl-details');
  private _svg = svg('svg', { class: 'dl-svg', role: 'group' }) as SVGSVGElement;
  private _root = svg('g') as SVGGElement;
  private _placed: ILayout | null = null;
  private _placedKey = '';
  private _collapsed = new Set<string>();
  private _selected: string | null = null;
  private _view = { k: 1, x: 0, y: 0 };
  private _drag: { x: number; y: number; vx: number; vy: number } | null = null;
  private _fitted = false;

  constructor(options: ISidebarOptions) {
    super();
    this.model = options.model;
    this._goToCell = options.goToCell;
    this.id = 'dreamer-lab-lineage';
    this.addClass('dl-sidebar');
    this.title.caption = 'dreamer_lab lineage';

    const bar = el('div', 'dl-toolbar');
    this._select.setAttribute('aria-label', 'Workspace');
    this._select.addEventListener('change', () => void this.model.choose(this._select.value));
    bar.append(this._select);
    const buttons: [string, string, () => void][] = [
      ['⟳', 'Refresh the lineage', () => void this.model.discover()],
      ['+', 'Zoom in', () => this.zoom(1.25)],
      ['−', 'Zoom out', () => this.zoom(0.8)],
      ['⤢', 'Fit the graph', () => this.fit()]
    ];
    for (const [label, title, action] of buttons) {
      const b = el('button', 'dl-button jp-Button', label);
      b.title = title;
      b.setAttribute('aria-label', title);
      b.addEventListener('click', action);
      bar.append(b);
    }
    const legend = el('div', 'dl-legend');
    for (const s of Object.keys(LEGEND) as StepStatus[]) {
      const item = el('span', `dl-legend-item dl-status-${s}`, s);
      legend.append(item);
    }
    this._svg.setAttribute('aria-label', 'Lineage graph');
    const defs = svg('defs');
    const marker = svg('marker', {
      id: 'dl-arrow',
      viewBox: '0 0 10 10',
      refX: 9,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: 'auto-start-reverse'
    });
    marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'dl-arrow' }));
    defs.append(marker);
    this._svg.append(defs, this._root);
    this._graph.append(this._svg);
    this._graph.tabIndex = -1;
    this._bindPanZoom();
    this._details.setAttribute('aria-live', 'polite');
    this.node.append(bar, legend, this._message, this._graph, this._details);
    this.model.changed.connect(() => this.render());
    this.render();
  }

  /** Draw the model (layout is recomputed only when nodes, statuses or edges change). */
  render(): void {
    const t0 = performance.now();
    const m = this.model;
    this._select.replaceChildren(
      ...m.workspaces.map(w => {
        const o = el('option', undefined, w || '(server root)');
        o.value = w;
        o.selected = w === m.workspace;
        return o;
      })
    );
    const lineage = m.lineage;
    this._message.textContent =
      m.error ??
      (!m.workspace
        ? 'No dreamer_lab workspace under the server root yet: run a step in a notebook.'
        : lineage && !lineage.nodes.length
          ? 'This workspace has no steps yet.'
          : '');
    this._message.hidden = !this._message.textContent;
    if (!lineage) {
      this._root.replaceChildren();
      this._placed = null;
      return;
    }
    const key = JSON.stringify([
      lineage.nodes.map(n => [n.fingerprint, n.status, n.rows, n.progress ?? null]),
      lineage.edges,
      [...this._collapsed]
    ]);
    if (key !== this._placedKey) {
      this._placedKey = key;
      this._placed = layoutLineage(lineage, this._collapsed);
      this._draw(this._placed);
      if (!this._fitted && this._placed.nodes.length) {
        this._fitted = true;
        this.fit();
      }
    }
    if (this._selected && !lineage.nodes.some(n => n.fingerprint === this._selected)) {
      this._selected = null;
      this._details.replaceChildren();
    }
    this.node.dataset.renderMs = (performance.now() - t0).toFixed(1);
    this.node.dataset.nodes = String(this._placed?.nodes.length ?? 0);
  }

  private _draw(layout: ILayout): void {
    const edges = svg('g', { class: 'dl-edges' });
    for (const e of layout.edges) {
      const d = e.points.map((p, i) => `${i ? 'L' : 'M'} ${p.x} ${p.y}`).join(' ');
      const path = svg('path', { d, class: 'dl-edge', 'marker-end': 'url(#dl-arrow)' });
      path.dataset.source = e.source;
      path.dataset.target = e.target;
      edges.append(path);
    }
    const nodes = svg('g', { class: 'dl-nodes' });
    const ordered = [...layout.nodes].sort((a, b) => a.y - b.y || a.x - b.x);
    for (const p of ordered) {
      const n = p.node;
      const g = svg('g', {
        class: `dl-node dl-status-${n.status}`,
        transform: `translate(${p.x - NODE_W / 2}, ${p.y - NODE_H / 2})`,
        tabindex: 0,
        role: 'button'
      });
      g.dataset.fingerprint = n.fingerprint;
      g.setAttribute(
        'aria-label',
        `${n.name}, ${n.kind}, ${n.status}${n.rows !== null ? `, ${n.rows} rows` : ''}`
      );
      if (n.fingerprint === this._selected) {
        g.classList.add('dl-selected');
      }
      const title = svg('title');
      title.textContent = `${n.name}\n${n.kind} · ${n.status}\n${n.fingerprint}${
        n.stale_reason ? `\n${n.stale_reason}` : ''
      }`;
      const rect = svg('rect', { width: NODE_W, height: NODE_H, rx: 6, class: 'dl-node-box' });
      const name = svg('text', { x: 10, y: 18, class: 'dl-node-name' });
      name.textContent = clip(n.name, 22);
      const meta = svg('text', { x: 10, y: 35, class: 'dl-node-meta' });
      const rows = n.rows !== null ? `${n.rows} rows` : n.status;
      meta.textContent = clip(`${n.kind} · ${rows}${p.hidden ? ` · +${p.hidden} hidden` : ''}`, 28);
      g.append(title, rect, name, meta);
      if (n.status === 'running') {
        const frac = Math.max(0, Math.min(1, n.progress ?? 0));
        g.append(svg('rect', { x: 0, y: NODE_H - 4, width: NODE_W, height: 4, class: 'dl-progress-bg' }));
        g.append(
          svg('rect', { x: 0, y: NODE_H - 4, width: NODE_W * frac, height: 4, class: 'dl-progress' })
        );
      }
      g.addEventListener('click', () => void this.select(n.fingerprint, true));
      g.addEventListener('keydown', ev => this._onNodeKey(ev as KeyboardEvent, n.fingerprint));
      nodes.append(g);
    }
    this._root.replaceChildren(edges, nodes);
  }

  private _nodeEls(): SVGGElement[] {
    return Array.from(this._root.querySelectorAll<SVGGElement>('g.dl-node'));
  }

  private _onNodeKey(ev: KeyboardEvent, fp: string): void {
    const els = this._nodeEls();
    const i = els.findIndex(e => e.dataset.fingerprint === fp);
    const focus = (j: number) => {
      const target = els[Math.max(0, Math.min(els.length - 1, j))];
      target?.focus();
    };
    switch (ev.key) {
      case 'Enter':
      case ' ':
        void this.select(fp, true);
        break;
      case 'ArrowDown':
      case 'ArrowRight':
        focus(i + 1);
        break;
      case 'ArrowUp':
      case 'ArrowLeft':
        focus(i - 1);
        break;
      case '+':
      case '=':
        this.zoom(1.25);
        break;
      case '-':
        this.zoom(0.8);
        break;
      case 'c':
        this.toggleCollapse(fp);
        break;
      default:
        return;
    }
    ev.preventDefault();
    ev.stopPropagation();
  }

  /** Collapse (or expand) everything downstream of ``fp``. */
  toggleCollapse(fp: string): void {
    if (this._collapsed.has(fp)) {
      this._collapsed.delete(fp);
    } else {
      this._collapsed.add(fp);
    }
    this.render();
    if (this._selected) {
      void this.select(this._selected, false);
    }
  }

  /** Select a node: highlight it, show its details, and go to its cell if asked. */
  async select(fp: string, goToCell: boolean): Promise<void> {
    const node = this.model.lineage?.nodes.find(n => n.fingerprint === fp);
    if (!node) {
      return;
    }
    this._selected = fp;
    for (const e of this._nodeEls()) {
      e.classList.toggle('dl-selected', e.dataset.fingerprint === fp);
    }
    const d = this._details;
    d.replaceChildren();
    d.dataset.fingerprint = fp;
    d.append(el('h3', 'dl-details-name', node.name));
    d.append(el('div', `dl-details-status dl-status-${node.status}`, `${node.kind} · ${node.status}`));
    if (node.stale_reason) {
      d.append(el('p', 'dl-stale-reason', `Stale: ${node.stale_reason}`));
    }
    if (node.error) {
      d.append(el('pre', 'dl-error', node.error));
    }
    const facts = el('dl', 'dl-facts');
    const add = (k: string, v: string) => facts.append(el('dt', undefined, k), el('dd', undefined, v));
    add('fingerprint', node.fingerprint);
    if (node.rows !== null) {
      add('rows', String(node.rows));
    }
    if (node.seconds !== null) {
      add('time', `${node.seconds.toFixed(2)} s`);
    }
    if (node.status === 'running') {
      add('progress', `${Math.round((node.progress ?? 0) * 100)} %`);
    }
    d.append(facts);
    const actions = el('div', 'dl-actions');
    const cellButton = el('button', 'jp-Button dl-button', 'Go to cell');
    cellButton.addEventListener('click', () => void this._goTo(node));
    const collapse = el(
      'button',
      'jp-Button dl-button',
      this._collapsed.has(fp) ? 'Expand downstream' : 'Collapse downstream'
    );
    collapse.addEventListener('click', () => this.toggleCollapse(fp));
    actions.append(cellButton, collapse);
    const cellNote = el('div', 'dl-cell-note');
    d.append(actions, cellNote);
    if (goToCell) {
      void this._goTo(node);
    }
    if (node.status === 'failed' || node.status === 'running') {
      return;
    }
    const ws = this.model.workspace ?? '';
    const sample = el('div', 'dl-sample', 'Loading sample rows…');
    const card = el('div', 'dl-card');
    d.append(el('h4', undefined, 'Sample rows'), sample, el('h4', undefined, 'Card'), card);
    try {
      const [detail, cardData] = await Promise.all([
        getStep(ws, fp, 5),
        getCard(ws, fp)
      ]);
      if (this._selected !== fp) {
        return;
      }
      sample.replaceChildren(this._table(detail));
      const text = cardData.markdown ?? JSON.stringify(cardData.fragments, null, 2);
      card.replaceChildren(el('pre', 'dl-card-text', text));
    } catch (e) {
      sample.textContent = `Could not load the step: ${(e as Error).message}`;
    }
  }

  private async _goTo(node: LineageNode): Promise<void> {
    const note = this._details.querySelector('.dl-cell-note');
    const found = await this._goToCell(node);
    if (note) {
      note.textContent = found ? '' : 'The cell that produced this step is not in an open notebook.';
    }
  }

  private _table(detail: StepDetail): HTMLElement {
    if (detail.sample.error) {
      return el('div', 'dl-error', detail.sample.error);
    }
    const rows = detail.sample.rows;
    const cols = detail.columns ?? Object.keys(rows[0] ?? {});
    const table = el('table', 'dl-table');
    const head = el('tr');
    head.append(...cols.map(c => el('th', undefined, c)));
    table.append(head);
    for (const r of rows) {
      const tr = el('tr');
      tr.append(...cols.map(c => el('td', undefined, clip(show(r[c]), 300))));
      table.append(tr);
    }
    return table;
  }

  // -- zoom and pan ---------------------------------------------------------------------
  private _apply(): void {
    const { k, x, y } = this._view;
    this._root.setAttribute('transform', `translate(${x}, ${y}) scale(${k})`);
  }

  zoom(factor: number, cx?: number, cy?: number): void {
    const r = this._graph.getBoundingClientRect();
    const px = cx ?? r.width / 2;
    const py = cy ?? r.height / 2;
    const k = Math.max(0.05, Math.min(4, this._view.k * factor));
    const f = k / this._view.k;
    this._view = { k, x: px - (px - this._view.x) * f, y: py - (py - this._view.y) * f };
    this._apply();
  }

  /** Scale and center the whole graph in the panel (never larger than 1:1). */
  fit(): void {
    const layout = this._placed;
    const r = this._graph.getBoundingClientRect();
    if (!layout || !r.width || !r.height) {
      this._view = { k: 1, x: 0, y: 0 };
      this._apply();
      return;
    }
    const k = Math.max(0.05, Math.min(1, r.width / layout.width, r.height / layout.height));
    this._view = { k, x: (r.width - layout.width * k) / 2, y: Math.max(0, (r.height - layout.height * k) / 2) };
    this._apply();
  }

  private _bindPanZoom(): void {
    this._graph.addEventListener(
      'wheel',
      ev => {
        ev.preventDefault();
        const r = this._graph.getBoundingClientRect();
        this.zoom(ev.deltaY < 0 ? 1.1 : 1 / 1.1, ev.clientX - r.left, ev.clientY - r.top);
      },
      { passive: false }
    );
    this._graph.addEventListener('pointerdown', ev => {
      if ((ev.target as Element).closest('g.dl-node')) {
        return;
      }
      this._drag = { x: ev.clientX, y: ev.clientY, vx: this._view.x, vy: this._view.y };
      this._graph.setPointerCapture(ev.pointerId);
    });
    this._graph.addEventListener('pointermove', ev => {
      if (this._drag) {
        this._view.x = this._drag.vx + ev.clientX - this._drag.x;
        this._view.y = this._drag.vy + ev.clientY - this._drag.y;
        this._apply();
      }
    });
    const end = () => {
      this._drag = null;
    };
    this._graph.addEventListener('pointerup', end);
    this._graph.addEventListener('pointercancel', end);
  }

  protected onAfterShow(): void {
    void this.model.refresh();
    if (!this._fitted || this._placed) {
      requestAnimationFrame(() => this.fit());
    }
  }

  dispose(): void {
    this.model.dispose();
    super.dispose();
  }
}
