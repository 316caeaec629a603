/**
 * The details pane of the sidebar: what the selected step is, its sample rows (a table
 * when wide, stacked rows when narrow) and its card rendered as sanitized Markdown.
 * Names, rows and card text are model output: set as text, or Markdown rendered untrusted.
 */
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';

import { getCard, getStep, type Card, type LineageNode, type StepDetail } from './api';
import { cardMarkdown, middleEllipsis, stateOf, statusClass } from './text';

const SAMPLE_ROWS = 5;
const CELL_CHARS = 300;

export function el<K extends keyof HTMLElementTagNameMap>(
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

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** What the pane says before anything is selected. */
export function emptyDetails(pane: HTMLElement, hasSteps: boolean): void {
  pane.replaceChildren(
    el(
      'p',
      'dl-hint',
      hasSteps
        ? 'Select a step in the graph to see its sample rows, its card and the cell that made it.'
        : 'Steps appear here as a notebook runs them.'
    ),
    el(
      'p',
      'dl-hint',
      'Keyboard: Tab to the graph, arrows move between steps, Enter opens one, ' +
        'c collapses what is downstream, + and − zoom.'
    )
  );
}

/** The heading, status badge, facts and actions of ``node``. */
export function stepHeader(
  node: LineageNode,
  collapsed: boolean,
  actions: { goTo: () => void; collapse: () => void }
): HTMLElement[] {
  const title = el('h3', 'dl-details-name', node.name);
  title.title = node.name;
  const badge = el('span', `dl-badge ${statusClass(stateOf(node))}`, stateOf(node));
  const status = el('div', 'dl-details-status');
  status.append(el('span', 'dl-kind', node.kind), badge);
  const out: HTMLElement[] = [title, status];
  if (node.stale_reason) {
    out.push(el('p', 'dl-stale-reason', `Stale: ${node.stale_reason}`));
  }
  if (node.error) {
    out.push(el('pre', 'dl-error', node.error));
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
  const bar = el('div', 'dl-actions');
  const cell = el('button', 'jp-Button dl-button', 'Go to cell');
  cell.title = 'Scroll to the notebook cell that made this step';
  cell.addEventListener('click', actions.goTo);
  const fold = el(
    'button',
    'jp-Button dl-button',
    collapsed ? 'Expand' : 'Collapse'
  );
  fold.title = collapsed
    ? 'Show the steps downstream of this one again'
    : 'Hide the steps downstream of this one';
  fold.addEventListener('click', actions.collapse);
  bar.append(cell, fold);
  out.push(facts, bar, el('div', 'dl-cell-note'));
  return out;
}

/** The sample rows: a table (wide panel) and the same rows stacked (narrow panel). */
export function sampleRows(detail: StepDetail): HTMLElement {
  if (detail.sample.error) {
    return el('div', 'dl-error', detail.sample.error);
  }
  const rows = detail.sample.rows;
  if (!rows.length) {
    return el('p', 'dl-hint', 'This step has no rows.');
  }
  const cols = detail.columns ?? Object.keys(rows[0] ?? {});
  const wrap = el('div', 'dl-table-wrap');
  const table = el('table', 'dl-table');
  const head = el('tr');
  head.append(...cols.map(c => el('th', undefined, c)));
  table.append(head);
  const stacked = el('div', 'dl-stacked');
  rows.forEach((r, i) => {
    const tr = el('tr');
    const card = el('dl', 'dl-row');
    card.setAttribute('aria-label', `Row ${i + 1}`);
    for (const c of cols) {
      const text = middleEllipsis(show(r[c]), CELL_CHARS, 40);
      tr.append(el('td', 'dl-cell', text));
      card.append(el('dt', undefined, c), el('dd', 'dl-cell', text));
    }
    table.append(tr);
    stacked.append(card);
  });
  wrap.append(table);
  const box = el('div', 'dl-rows');
  box.append(wrap, stacked);
  return box;
}

/** The card as Markdown through JupyterLab's renderer (untrusted: sanitized). */
async function renderCard(card: Card, rendermime: IRenderMimeRegistry | null): Promise<HTMLElement> {
  const fragments = (card.fragments ?? {}) as Record<string, unknown>;
  if (!card.markdown && !Object.keys(fragments).length) {
    return el('p', 'dl-hint', 'No card information was recorded for this step.');
  }
  const markdown = card.markdown ?? cardMarkdown(null, fragments);
  if (!rendermime) {
    return el('pre', 'dl-card-text', markdown);
  }
  const renderer = rendermime.createRenderer('text/markdown');
  await renderer.renderModel(
    new MimeModel({ data: { 'text/markdown': markdown }, trusted: false })
  );
  renderer.addClass('dl-card-markdown');
  return renderer.node;
}

/**
 * Fill ``pane`` with the rows and card of a finished step. ``current`` tells whether the
 * selection is still this step once the server answered.
 */
export async function stepContent(
  pane: HTMLElement,
  workspace: string,
  node: LineageNode,
  rendermime: IRenderMimeRegistry | null,
  current: () => boolean
): Promise<void> {
  const isModel = node.area === 'models';
  const sample = el('div', 'dl-sample', isModel ? '' : 'Loading sample rows…');
  const card = el('div', 'dl-card', 'Loading the card…');
  if (isModel) {
    pane.append(el('h4', undefined, 'Card'), card);
  } else {
    pane.append(el('h4', undefined, 'Sample rows'), sample, el('h4', undefined, 'Card'), card);
  }
  try {
    const [detail, cardData] = await Promise.all([
      isModel ? Promise.resolve(null) : getStep(workspace, node.fingerprint, SAMPLE_ROWS),
      getCard(workspace, node.fingerprint)
    ]);
    if (!current()) {
      return;
    }
    if (detail) {
      sample.replaceChildren(sampleRows(detail));
    }
    card.replaceChildren(await renderCard(cardData, rendermime));
  } catch (e) {
    const msg = `Could not load the step: ${(e as Error).message}`;
    (isModel ? card : sample).textContent = msg;
    if (!isModel) {
      card.textContent = '';
    }
  }
}
