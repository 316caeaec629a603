/** dreamer_lab's JupyterLab plugin: the lineage sidebar, its commands and its restore. */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, ISessionContextDialogs } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';

import type { LineageNode } from './api';
import { listenForInsertCell } from './insertCell';
import { LineageModel } from './model';
import { LineageSidebar } from './view';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161"><circle cx="5" cy="5" r="3"/><circle cx="19" cy="5" r="3"/>
<circle cx="12" cy="19" r="3"/><path d="M6 7l5 9.5 1.7-.9L7.8 6zM18 7l-5 9.5-1.7-.9L16.2 6z"/></g></svg>`;

export const lineageIcon = new LabIcon({ name: 'dreamer-lab:lineage', svgstr: ICON_SVG });

const CMD_OPEN = 'dreamer-lab:open-lineage';
const CMD_REFRESH = 'dreamer-lab:refresh-lineage';

interface IStamp {
  fingerprint?: string;
  step?: string;
}

/**
 * The part of a code cell's model that findCell reads (ICodeCellModel's outputs; its
 * package, @jupyterlab/cells, is not a direct dependency of this extension).
 */
interface ICellOutputs {
  outputs?: { length: number; get(index: number): { metadata?: Record<string, unknown> } };
}

/** The cell whose outputs carry the step's stamp, else the cell id from its record. */
function findCell(panel: NotebookPanel, node: LineageNode): number {
  const cells = panel.content.widgets;
  for (let i = 0; i < cells.length; i++) {
    const model = cells[i].model;
    if (model.type !== 'code') {
      continue;
    }
    const outputs = (model as unknown as ICellOutputs).outputs;
    for (let j = 0; j < (outputs?.length ?? 0); j++) {
      const stamp = (outputs?.get(j).metadata?.dreamer_lab ?? {}) as IStamp;
      if (stamp.fingerprint === node.fingerprint) {
        return i;
      }
    }
  }
  return node.cell_id ? cells.findIndex(c => c.model.id === node.cell_id) : -1;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'dreamer-lab:lineage',
  description: 'The dreamer_lab lineage sidebar: the DAG of cached steps of a workspace.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer, ICommandPalette, ISessionContextDialogs, IRenderMimeRegistry],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    dialogs: ISessionContextDialogs | null,
    rendermime: IRenderMimeRegistry | null
  ) => {
    // The notebook wizards' "Insert cell" buttons: their code becomes a new cell.
    listenForInsertCell(tracker, dialogs);
    const model = new LineageModel();

    const goToCell = async (node: LineageNode): Promise<boolean> => {
      const panels: NotebookPanel[] = [];
      if (tracker.currentWidget) {
        panels.push(tracker.currentWidget);
      }
      tracker.forEach(p => {
        if (p !== tracker.currentWidget) {
          panels.push(p);
        }
      });
      for (const panel of panels) {
        const index = findCell(panel, node);
        if (index < 0) {
          continue;
        }
        app.shell.activateById(panel.id);
        const notebook = panel.content;
        notebook.deselectAll();
        notebook.activeCellIndex = index;
        notebook.mode = 'command';
        await notebook.scrollToCell(notebook.widgets[index]);
        return true;
      }
      return false;
    };

    const sidebar = new LineageSidebar({ model, goToCell, rendermime });
    sidebar.title.icon = lineageIcon;
    app.shell.add(sidebar, 'left', { rank: 650 });
    if (restorer) {
      restorer.add(sidebar, 'dreamer-lab-lineage');
    }

    // Follow the active notebook; poll while its kernel is busy, refresh when it goes idle.
    let watched: NotebookPanel | null = null;
    const onStatus = (_: unknown, status: string) => model.kernelStatus(status);
    tracker.currentChanged.connect((_, panel) => {
      watched?.sessionContext.statusChanged.disconnect(onStatus);
      watched = panel;
      if (!panel) {
        return;
      }
      panel.sessionContext.statusChanged.connect(onStatus);
      void panel.context.ready.then(() => model.follow(panel.context.path));
    });
    void app.restored.then(() => {
      if (!tracker.currentWidget) {
        void model.follow(null);
      }
    });

    app.commands.addCommand(CMD_OPEN, {
      label: 'Show dreamer_lab Lineage',
      caption: 'Open the lineage sidebar of the current workspace',
      execute: () => app.shell.activateById(sidebar.id)
    });
    app.commands.addCommand(CMD_REFRESH, {
      label: 'Refresh dreamer_lab Lineage',
      execute: () => model.discover()
    });
    if (palette) {
      palette.addItem({ command: CMD_OPEN, category: 'dreamer_lab' });
      palette.addItem({ command: CMD_REFRESH, category: 'dreamer_lab' });
    }
  }
};

export default plugin;
