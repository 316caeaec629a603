/** Turns the notebook wizards' `dreamer-lab:insert-cell` DOM events into new code cells. */
import type { ISessionContextDialogs } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

/** The event name dispatched (bubbling, composed) by dreamer_lab/notebook/static/wizard.js. */
export const INSERT_CELL_EVENT = 'dreamer-lab:insert-cell';

/** The event's `detail`: the cell's source and whether to run it. */
export interface IInsertCellDetail {
  code: string;
  run?: boolean;
}

/** The detail if it is well formed, else null. */
export function parseDetail(detail: unknown): IInsertCellDetail | null {
  if (typeof detail !== 'object' || detail === null) {
    return null;
  }
  const { code, run } = detail as { code?: unknown; run?: unknown };
  if (typeof code !== 'string' || code === '') {
    return null;
  }
  return { code, run: run === true };
}

/** Inserts `code` as a code cell below the active cell of `panel`, activates it, maybe runs it. */
export async function insertCell(
  panel: NotebookPanel,
  detail: IInsertCellDetail,
  dialogs?: ISessionContextDialogs | null
): Promise<void> {
  const notebook = panel.content;
  NotebookActions.insertBelow(notebook);
  const cell = notebook.activeCell;
  if (!cell) {
    return;
  }
  if (cell.model.type !== 'code') {
    NotebookActions.changeCellType(notebook, 'code');
  }
  // Plain text into the shared model: never parsed as HTML.
  notebook.activeCell?.model.sharedModel.setSource(detail.code);
  notebook.mode = 'command';
  if (detail.run) {
    await NotebookActions.run(notebook, panel.sessionContext, dialogs ?? undefined);
  }
}

/** Listens on `document` for insert-cell events; returns the function that stops listening. */
export function listenForInsertCell(
  tracker: INotebookTracker,
  dialogs?: ISessionContextDialogs | null
): () => void {
  const onEvent = (event: Event) => {
    const detail = parseDetail((event as CustomEvent).detail);
    if (!detail) {
      return;
    }
    const target = event.target instanceof Node ? event.target : null;
    const panel =
      (target && tracker.find(p => p.node.contains(target))) || tracker.currentWidget;
    if (!panel) {
      return;
    }
    // Insert below the cell that shows the wizard, when the event comes from one.
    const notebook = panel.content;
    const index = target ? notebook.widgets.findIndex(c => c.node.contains(target)) : -1;
    if (index >= 0) {
      notebook.activeCellIndex = index;
    }
    event.stopPropagation();
    void insertCell(panel, detail, dialogs);
  };
  document.addEventListener(INSERT_CELL_EVENT, onEvent);
  return () => document.removeEventListener(INSERT_CELL_EVENT, onEvent);
}
