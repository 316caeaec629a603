/** The sidebar's JupyterLab toolbar: the workspace picker and the graph's icon buttons. */
import {
  HTMLSelect,
  LabIcon,
  ReactWidget,
  refreshIcon,
  Toolbar,
  ToolbarButton,
  ToolbarButtonComponent
} from '@jupyterlab/ui-components';
import * as React from 'react';

import type { LineageModel } from './model';

const svg = (body: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">` +
  `<g class="jp-icon3" fill="#616161">${body}</g></svg>`;

const LENS =
  '<path d="M10 3a7 7 0 015.6 11.2l5.1 5.1-1.4 1.4-5.1-5.1A7 7 0 1110 3zm0 2a5 5 0 100 10 5 5 0 000-10z"/>';

export const zoomInIcon = new LabIcon({
  name: 'dreamer-lab:zoom-in',
  svgstr: svg(`${LENS}<path d="M9 7h2v2h2v2h-2v2H9v-2H7V9h2z"/>`)
});

export const zoomOutIcon = new LabIcon({
  name: 'dreamer-lab:zoom-out',
  svgstr: svg(`${LENS}<path d="M7 9h6v2H7z"/>`)
});

export const fitIcon = new LabIcon({
  name: 'dreamer-lab:fit',
  svgstr: svg(
    '<path d="M3 3h6v2H5v4H3zm12 0h6v6h-2V5h-4zM3 15h2v4h4v2H3zm16 0h2v6h-6v-2h4z"/>' +
      '<rect x="8" y="8" width="8" height="8" rx="1"/>'
  )
});

/** The workspace picker: JupyterLab's HTMLSelect, re-rendered when the model changes. */
export class WorkspaceSelect extends ReactWidget {
  constructor(private readonly _model: LineageModel) {
    super();
    this.addClass('dl-workspace');
    _model.changed.connect(() => this.update());
  }

  render(): React.ReactElement {
    const m = this._model;
    const options = m.workspaces.map(w => ({ label: w || '(server root)', value: w }));
    if (!options.length) {
      options.push({ label: 'No workspace yet', value: '' });
    }
    return React.createElement(HTMLSelect, {
      className: 'dl-workspace-select',
      'aria-label': 'Workspace',
      title: m.workspace ? `Workspace: ${m.workspace}` : 'No dreamer_lab workspace yet',
      options,
      value: m.workspace ?? '',
      disabled: !m.workspaces.length,
      onChange: (ev: React.ChangeEvent<HTMLSelectElement>) => void m.choose(ev.target.value)
    });
  }
}

/**
 * A ToolbarButton for an action, not a toggle: without ``aria-pressed``, which
 * ToolbarButton always sets (axe: aria-allowed-attr, critical, on its ``jp-button``).
 */
export class ActionButton extends ToolbarButton {
  constructor(private readonly _props: ToolbarButtonComponent.IProps) {
    super(_props);
  }

  render(): React.ReactElement {
    return React.createElement(ToolbarButtonComponent, { ...this._props, pressed: undefined });
  }
}

export interface IGraphActions {
  refresh: () => void;
  zoom: (factor: number) => void;
  fit: () => void;
}

/** The toolbar: workspace picker (it takes the free width), then refresh, zoom and fit. */
export function lineageToolbar(model: LineageModel, actions: IGraphActions): Toolbar {
  const toolbar = new Toolbar();
  toolbar.addClass('dl-toolbar');
  toolbar.addItem('workspace', new WorkspaceSelect(model));
  const buttons: [string, LabIcon, string, () => void][] = [
    ['refresh', refreshIcon, 'Refresh the lineage', actions.refresh],
    ['zoom-in', zoomInIcon, 'Zoom in', () => actions.zoom(1.25)],
    ['zoom-out', zoomOutIcon, 'Zoom out', () => actions.zoom(0.8)],
    ['fit', fitIcon, 'Fit the graph', actions.fit]
  ];
  for (const [name, icon, tooltip, onClick] of buttons) {
    toolbar.addItem(name, new ActionButton({ icon, tooltip, onClick }));
  }
  return toolbar;
}
