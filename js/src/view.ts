/**
 * The lineage sidebar: a JupyterLab toolbar, the DAG in SVG (zoom, pan, collapse,
 * keyboard) and a details pane (details.ts). All text is set with textContent: names,
 * rows and cards can be model output and are never parsed as HTML.
 */
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Panel, Widget } from '@lumino/widgets';

import type { LineageNode } from './api';
import { el, emptyDetails, stepContent, stepHeader } from './details';
import { COMPACT_W, ILayout, IPlacedNode, NODE_H, NODE_W, layoutLineage } from './layout';
import { LayoutEngine, WorkerFactory } from './layoutWorker';
import { createLayoutWorker } from './layoutWorkerFactory';
import { LineageModel } from './model';
import { IPlacement, Placement } from './placement';
import { fitView, stateOf, statusClass } from './text';
import { lineageToolbar } from './toolbar';

const SVG = 'http://www.w3.org/2000/svg';
/** The order of the legend; a status the server sends that is not listed comes last. */
const STATUS_ORDER = [
  'computed',
  'loaded from cache',
  'running',
  'interrupted',
  'failed',
  'stale'
];
/** The smallest on-screen size of the smallest graph text (px): Fit never goes below. */
const MIN_FONT_PX = 10;
const META_FONT_PX = 11;
const MIN_READABLE_K = MIN_FONT_PX / META_FONT_PX;
const FIT_MARGIN = 12;
/** The graph area's least height (px), and its largest share of the panel below the legend. */
const GRAPH_MIN_H = 96;
const GRAPH_MAX_SHARE = 0.6;
/** Below this graph width (px) nodes are compact: two siblings fit at 250 px. */
const COMPACT_BELOW = 360;
/** Characters of the meta line that fit on a node, per node width (11 px). */
const metaChars = (w: number) => Math.floor((w - 18) / 6.7);

function svg(tag: string, attrs: Record<string, string | number> = {}): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  return node;
}

export interface ISidebarOptions {
  model: LineageModel;
  /** Scroll to and select the cell that produced ``node``; false if none was found. */
  goToCell: (node: LineageNode) => Promise<boolean>;
  /** JupyterLab's renderers: the card is shown as sanitized Markdown (text when null). */
  rendermime?: IRenderMimeRegistry | null;
  /** Makes the layout worker (null: lay out on the main thread); a Web Worker by default. */
  layoutWorker?: WorkerFactory | null;
}

export class LineageSidebar extends Panel {
  readonly model: LineageModel;
  private _goToCell: ISidebarOptions['goToCell'];
  private _rendermime: IRenderMimeRegistry | null;
  private _legend = el('div', 'dl-legend');
  private _message = el('div', 'dl-message');
  /** "laying out N steps…" while a new layout is computed (the previous graph stays). */
  private _pendingNote = el('div', 'dl-layout-pending');
  private _graph = el('div', 'dl-graph');
  private _details = el('div', 'dl-details');
  private _body = new Widget();
  private _svg = svg('svg', { class: 'dl-svg', role: 'group' }) as SVGSVGElement;
  private _root = svg('g') as SVGGElement;
  private _placed: ILayout | null = null;
  /** The workspace whose graph is drawn. */
  private _shown: string | null = null;
  /** Runs dagre in a Web Worker (the main thread when none can be made). */
  private _engine: LayoutEngine;
  /** Lays out again only when ids, edges, collapse or node width change. */
  private _placement: Placement;
  /** Fingerprint -> the node's element, to update a node in place. */
  private _nodeEl = new Map<string, SVGGElement>();
  private _collapsed = new Set<string>();
  private _selected: string | null = null;
  private _view = { k: 1, x: 0, y: 0 };
  private _drag: { x: number; y: number; vx: number; vy: number } | null = null;
  /** Whether the view still is the automatic fit (then a resize fits again). */
  private _autoFit = true;
  private _resize: ResizeObserver;
  private _size = { w: 0, h: 0 };
  private _compact = false;

  constructor(options: ISidebarOptions) {
    super();
    this.model = options.model;
    this._goToCell = options.goToCell;
    this._rendermime = options.rendermime ?? null;
    this._engine = new LayoutEngine(
      options.layoutWorker === undefined ? createLayoutWorker : options.layoutWorker
    );
    this._placement = new Placement(layoutLineage, {
      engine: this._engine,
      ready: () => this.render(),
      failed: err => {
        this._message.textContent = `The lineage could not be laid out: ${err}`;
        this._message.hidden = false;
        this._showPending(null);
      }
    });
    this.id = 'dreamer-lab-lineage';
    this.addClass('dl-sidebar');
    this.title.caption = 'dreamer_lab lineage';

    this.addWidget(
      lineageToolbar(this.model, {
        refresh: () => void this.model.discover(),
        zoom: f => this.zoom(f),
        fit: () => this.fit()
      })
    );
    this._legend.setAttribute('aria-label', 'Status legend');
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
    // Over the graph's corner: the previous graph stays in place while the new one is laid out.
    this._graph.append(this._svg, this._pendingNote);
    this._graph.tabIndex = -1;
    this._bindPanZoom();
    this._details.setAttribute('aria-live', 'polite');
    this._details.setAttribute('aria-label', 'Step details');
    this._details.setAttribute('role', 'region');
    this._pendingNote.setAttribute('role', 'status');
    this._pendingNote.hidden = true;
    const body = this._body;
    body.addClass('dl-body');
    body.node.append(this._legend, this._message, this._graph, this._details);
    this.addWidget(body);
    // Re-fit when the panel is resized (sidebar dragged, window resized), unless the
    // user zoomed or panned since the last fit. The graph area's height follows the
    // graph (see _sizeGraph), so the panel's own size is what is watched.
    this._resize = new ResizeObserver(() => {
      const r = body.node.getBoundingClientRect();
      if (!r.width || (r.width === this._size.w && r.height === this._size.h)) {
        return;
      }
      this._size = { w: r.width, h: r.height };
      const compact = this._graph.clientWidth < COMPACT_BELOW;
      if (compact !== this._compact) {
        this._compact = compact;
        this.render();
      }
      if (this._autoFit) {
        this.fit();
      } else {
        this._sizeGraph();
      }
    });
    this._resize.observe(body.node);
    this.model.changed.connect(() => this.render());
    this.render();
  }

  /**
   * Draw the model. The layout is recomputed only when nodes, edges, the collapsed set or
   * the node width change, in a Web Worker: until it arrives the previous graph stays, its
   * nodes updated in place, and "laying out N steps…" shows. A poll that changes a step's
   * progress, status or rows updates that node's SVG in place.
   */
  render(): void {
    const t0 = performance.now();
    const m = this.model;
    const lineage = m.lineage;
    this._message.textContent =
      m.error ??
      (!m.workspace
        ? 'No dreamer_lab workspace under the server root yet: run a step in a notebook ' +
          '(a %%dream cell, or steps inside DataDreamer(...)) and it appears here.'
        : lineage && !lineage.nodes.length
          ? 'This workspace has no steps yet: run a step in a notebook.'
          : '');
    this._message.hidden = !this._message.textContent;
    this._renderLegend();
    if (!lineage || lineage.workspace !== this._shown) {
      // No graph, or another workspace's: never keep one workspace's graph over another's.
      this._root.replaceChildren();
      this._nodeEl.clear();
      this._placed = null;
      this._placement.reset();
      this._showPending(null);
      this._shown = lineage?.workspace ?? null;
    }
    if (!lineage) {
      emptyDetails(this._details, false);
      return;
    }
    const first = !this._placed?.nodes.length;
    const before = this._placed;
    const placed = this._placement.update(
      lineage,
      this._collapsed,
      this._compact ? COMPACT_W : NODE_W
    );
    this._placed = placed.layout;
    this._showPending(placed);
    if (!placed.relaid) {
      this._update(placed.layout, placed.labels, placed.changed);
    } else {
      const focused = (document.activeElement as Element | null)?.closest?.('g.dl-node');
      const anchor =
        (focused && this._root.contains(focused) ? (focused as SVGGElement).dataset.fingerprint : null) ??
        this._selected;
      this._draw(placed.layout, placed.labels);
      if (this._autoFit || first) {
        this._autoFit = true;
        this.fit();
      } else {
        this._keepInPlace(before, placed.layout, anchor ?? null);
        this._sizeGraph();
      }
      if (focused && anchor) {
        this._nodeEl.get(anchor)?.focus({ preventScroll: true });
      }
    }
    if (this._selected && !lineage.nodes.some(n => n.fingerprint === this._selected)) {
      this._selected = null;
    }
    if (!this._selected) {
      emptyDetails(this._details, lineage.nodes.length > 0);
    }
    this.node.dataset.renderMs = (performance.now() - t0).toFixed(1);
    this.node.dataset.nodes = String(this._placed?.nodes.length ?? 0);
    this.node.dataset.layoutEngine = this._engine.kind;
  }

  /**
   * After a new layout in a zoomed or panned view: move the view so that ``fp`` (the focused
   * or selected step) stays where it was on screen, not the coordinates that now show
   * another part of the graph (or nothing).
   */
  private _keepInPlace(old: ILayout | null, now: ILayout, fp: string | null): void {
    const was = fp ? old?.nodes.find(p => p.node.fingerprint === fp) : undefined;
    const is = fp ? now.nodes.find(p => p.node.fingerprint === fp) : undefined;
    if (was && is) {
      const { k } = this._view;
      this._view.x += k * (was.x - is.x);
      this._view.y += k * (was.y - is.y);
      this._apply();
    }
  }

  /** The pending-layout note, and data attributes the tests and the bench read. */
  private _showPending(placed: IPlacement | null): void {
    const n = placed?.pending ?? null;
    this._pendingNote.hidden = n === null;
    this._pendingNote.textContent =
      n === null ? '' : `Laying out ${n.toLocaleString('en-US')} step${n === 1 ? '' : 's'}…`;
    if (n === null) {
      delete this.node.dataset.layoutPending;
    } else {
      this.node.dataset.layoutPending = String(n);
    }
    if (placed?.relaid && placed.layoutMs !== null) {
      this.node.dataset.layoutMs = placed.layoutMs.toFixed(1);
    }
  }

  /** One legend entry per status present in the graph, in the vocabulary's order. */
  private _renderLegend(): void {
    const present = [...new Set(this.model.lineage?.nodes.map(stateOf) ?? [])];
    const rank = (s: string) => {
      const i = STATUS_ORDER.indexOf(s);
      return i < 0 ? STATUS_ORDER.length : i;
    };
    present.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    this._legend.replaceChildren(
      ...present.map(s => el('span', `dl-legend-item ${statusClass(s)}`, s))
    );
    this._legend.hidden = !present.length;
  }

  private _draw(layout: ILayout, labels: Map<string, string>): void {
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
    this._nodeEl.clear();
    for (const p of ordered) {
      const g = this._drawNode(p, layout.nodeW, labels.get(p.node.name) ?? '');
      this._nodeEl.set(p.node.fingerprint, g);
      nodes.append(g);
    }
    this._root.replaceChildren(edges, nodes);
  }

  /** Same layout: refill the changed nodes' elements (position, focus, listeners stay). */
  private _update(layout: ILayout, labels: Map<string, string>, changed: string[]): void {
    if (!changed.length) {
      return;
    }
    const want = new Set(changed);
    for (const p of layout.nodes) {
      const g = want.has(p.node.fingerprint) ? this._nodeEl.get(p.node.fingerprint) : undefined;
      if (g) {
        this._fillNode(g, p, layout.nodeW, labels.get(p.node.name) ?? '');
      }
    }
  }

  private _drawNode(p: IPlacedNode, w: number, label: string): SVGGElement {
    const { node: n, x, y } = p;
    const g = svg('g', {
      transform: `translate(${x - w / 2}, ${y - NODE_H / 2})`,
      tabindex: 0,
      role: 'button'
    }) as SVGGElement;
    const fp = n.fingerprint;
    g.dataset.fingerprint = fp;
    this._fillNode(g, p, w, label);
    g.addEventListener('click', () => void this.select(fp, true));
    g.addEventListener('keydown', ev => this._onNodeKey(ev as KeyboardEvent, fp));
    return g;
  }

  /** The node's status class, accessible name and content (title, texts, progress bar). */
  private _fillNode(g: SVGGElement, p: IPlacedNode, w: number, label: string): void {
    const { node: n, hidden } = p;
    g.setAttribute('class', `dl-node ${statusClass(stateOf(n))}`);
    g.setAttribute(
      'aria-label',
      `${n.name}, ${n.kind}, ${stateOf(n)}${n.rows !== null ? `, ${n.rows} rows` : ''}`
    );
    if (n.fingerprint === this._selected) {
      g.classList.add('dl-selected');
    }
    // The full name, kind, status and fingerprint on hover: the label may be clipped.
    const title = svg('title');
    title.textContent = `${n.name}\n${n.kind} · ${stateOf(n)}\n${n.fingerprint}${
      n.stale_reason ? `\n${n.stale_reason}` : ''
    }`;
    const rect = svg('rect', { width: w, height: NODE_H, rx: 6, class: 'dl-node-box' });
    const name = svg('text', { x: 10, y: 19, class: 'dl-node-name' });
    name.textContent = label;
    // Kind on the left (clipped to what is left), rows (and what is collapsed) on the right.
    const rows = n.rows !== null ? `${n.rows} rows` : stateOf(n);
    const right = hidden ? `${rows} +${hidden}` : rows;
    const count = svg('text', { x: w - 8, y: 36, class: 'dl-node-meta', 'text-anchor': 'end' });
    count.textContent = right;
    const meta = svg('text', { x: 10, y: 36, class: 'dl-node-meta' });
    const room = metaChars(w) - right.length - 1;
    meta.textContent =
      n.kind.length <= room ? n.kind : room >= 3 ? `${n.kind.slice(0, room - 1)}…` : '';
    g.replaceChildren(title, rect, name, meta, count);
    if (n.status === 'running') {
      const frac = Math.max(0, Math.min(1, n.progress ?? 0));
      g.append(svg('rect', { x: 0, y: NODE_H - 4, width: w, height: 4, class: 'dl-progress-bg' }));
      g.append(
        svg('rect', { x: 0, y: NODE_H - 4, width: w * frac, height: 4, class: 'dl-progress' })
      );
    }
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
      if (target) {
        this._reveal(target);
      }
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

  /** Pan so that ``node`` is inside the panel (keyboard focus may move off screen). */
  private _reveal(node: SVGGElement): void {
    const r = this._graph.getBoundingClientRect();
    const b = node.getBoundingClientRect();
    let dx = 0;
    let dy = 0;
    if (b.left < r.left) {
      dx = r.left - b.left + FIT_MARGIN;
    } else if (b.right > r.right) {
      dx = r.right - b.right - FIT_MARGIN;
    }
    if (b.top < r.top) {
      dy = r.top - b.top + FIT_MARGIN;
    } else if (b.bottom > r.bottom) {
      dy = r.bottom - b.bottom - FIT_MARGIN;
    }
    if (dx || dy) {
      this._view.x += dx;
      this._view.y += dy;
      this._autoFit = false;
      this._apply();
    }
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
    d.dataset.fingerprint = fp;
    d.replaceChildren(
      ...stepHeader(node, this._collapsed.has(fp), {
        goTo: () => void this._goTo(node),
        collapse: () => this.toggleCollapse(fp)
      })
    );
    if (goToCell) {
      void this._goTo(node);
    }
    if (node.status === 'running') {
      d.append(el('p', 'dl-hint', 'Rows and card appear when the step finishes.'));
      return;
    }
    if (node.status === 'failed') {
      return;
    }
    await stepContent(d, this.model.workspace ?? '', node, this._rendermime, () => this._selected === fp);
  }

  private async _goTo(node: LineageNode): Promise<void> {
    const note = this._details.querySelector('.dl-cell-note');
    const found = await this._goToCell(node);
    if (note) {
      note.textContent = found ? '' : 'The cell that produced this step is not in an open notebook.';
    }
  }

  // -- zoom and pan ---------------------------------------------------------------------
  private _apply(): void {
    const { k, x, y } = this._view;
    this._root.setAttribute('transform', `translate(${x}, ${y}) scale(${k})`);
    this.node.dataset.scale = k.toFixed(3);
  }

  zoom(factor: number, cx?: number, cy?: number): void {
    const r = this._graph.getBoundingClientRect();
    const px = cx ?? r.width / 2;
    const py = cy ?? r.height / 2;
    const k = Math.max(0.1, Math.min(4, this._view.k * factor));
    const f = k / this._view.k;
    this._view = { k, x: px - (px - this._view.x) * f, y: py - (py - this._view.y) * f };
    this._autoFit = false;
    this._apply();
  }

  /**
   * Centre the graph in the panel at the largest scale that fits (never over 1:1), but
   * never so small that text drops under MIN_FONT_PX: a large graph opens at its top
   * left at a readable size (drag, the wheel or zoom out to see the rest).
   */
  fit(): void {
    const layout = this._placed;
    this._sizeGraph();
    const r = this._graph.getBoundingClientRect();
    this._view = layout?.nodes.length
      ? fitView(layout.width, layout.height, r.width, r.height, FIT_MARGIN, MIN_READABLE_K)
      : { k: 1, x: 0, y: 0 };
    this._autoFit = true;
    this._apply();
  }

  /**
   * Give the graph area the height of the graph at the width-fitted scale (at least
   * GRAPH_MIN_H, at most GRAPH_MAX_SHARE of the panel): a small workflow leaves no empty
   * band above the details, a large one still leaves the details room.
   */
  private _sizeGraph(): void {
    const w = this._graph.clientWidth;
    const room =
      this._body.node.clientHeight - this._legend.offsetHeight - this._message.offsetHeight;
    if (!w || room <= 0) {
      return;
    }
    const layout = this._placed;
    let want = GRAPH_MIN_H;
    if (layout?.nodes.length) {
      const k = Math.max(MIN_READABLE_K, Math.min(1, (w - 2 * FIT_MARGIN) / layout.width));
      want = layout.height * k + 2 * FIT_MARGIN;
    }
    const most = Math.max(GRAPH_MIN_H, room * GRAPH_MAX_SHARE);
    const h = `${Math.ceil(Math.min(most, Math.max(GRAPH_MIN_H, want)))}px`;
    if (this._graph.style.height !== h) {
      this._graph.style.height = h;
    }
  }

  private _bindPanZoom(): void {
    // The wheel pans (as in a document); with Ctrl or Cmd (or a pinch) it zooms.
    this._graph.addEventListener(
      'wheel',
      ev => {
        ev.preventDefault();
        if (ev.ctrlKey || ev.metaKey) {
          const r = this._graph.getBoundingClientRect();
          this.zoom(ev.deltaY < 0 ? 1.1 : 1 / 1.1, ev.clientX - r.left, ev.clientY - r.top);
          return;
        }
        this._view.x -= ev.shiftKey ? ev.deltaY : ev.deltaX;
        this._view.y -= ev.shiftKey ? 0 : ev.deltaY;
        this._autoFit = false;
        this._apply();
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
      if (this._drag && (ev.clientX !== this._drag.x || ev.clientY !== this._drag.y)) {
        this._view.x = this._drag.vx + ev.clientX - this._drag.x;
        this._view.y = this._drag.vy + ev.clientY - this._drag.y;
        this._autoFit = false;
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
    if (this._autoFit) {
      requestAnimationFrame(() => this.fit());
    }
  }

  dispose(): void {
    this._resize.disconnect();
    this._engine.dispose();
    this.model.dispose();
    super.dispose();
  }
}
