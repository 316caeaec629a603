/** The one helper that calls the server extension's REST routes. */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export type Status = 'fresh' | 'stale' | 'running' | 'failed';

export interface ILineageNode {
  fingerprint: string;
  name: string;
  kind: string;
  status: Status;
  stale_reason: string | null;
  rows: number | null;
  seconds: number | null;
  created: number | null;
  progress?: number | null;
  error?: string | null;
  cell_id: string | null;
  notebook: string | null;
}

export interface ILineage {
  workspace: string;
  nodes: ILineageNode[];
  edges: { source: string; target: string }[];
  running: number;
}

export interface IWorkspaces {
  workspaces: string[];
  near: string[];
}

export interface IStepDetail {
  fingerprint: string;
  name: string;
  kind: string;
  args: Record<string, unknown>;
  columns: string[] | null;
  rows: number | null;
  cell_id: string | null;
  notebook: string | null;
  sample: { rows: Record<string, unknown>[]; error: string | null };
}

export interface ICard {
  format: string;
  markdown?: string;
  fragments: Record<string, unknown>;
}

/** GET ``/dreamer-lab/api/<endpoint>`` with the server's auth; throws on errors. */
export async function requestAPI<T>(
  endpoint: string,
  query: Record<string, string> = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const search = new URLSearchParams(query).toString();
  const url =
    URLExt.join(settings.baseUrl, 'dreamer-lab', 'api', endpoint) + (search ? `?${search}` : '');
  const response = await ServerConnection.makeRequest(url, {}, settings);
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!response.ok) {
    throw new ServerConnection.ResponseError(response, data?.message ?? response.statusText);
  }
  return data as T;
}
