/**
 * The one helper that calls the server extension's REST routes, and one typed function per
 * route. The payload types are generated from the server's JSON Schemas
 * (dreamer_lab/server/schema/*.json) into ./generated/payloads.ts: never declare them here.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { ApiError, Card, Lineage, StepDetail, Workspaces } from './generated/payloads';

export type {
  ApiError,
  Card,
  Lineage,
  LineageEdge,
  LineageNode,
  StepDetail,
  StepStatus,
  Workspaces
} from './generated/payloads';

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
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!response.ok) {
    const error = data as Partial<ApiError> | null;
    throw new ServerConnection.ResponseError(response, error?.message ?? response.statusText);
  }
  // The server's answer, described by the route's schema (validated by its tests).
  return data as T;
}

/** ``workspaces``: the workspaces under the server root, those under ``near`` first. */
export function getWorkspaces(near: string): Promise<Workspaces> {
  return requestAPI<Workspaces>('workspaces', { near });
}

/** ``lineage``: the lineage graph of ``workspace``. */
export function getLineage(workspace: string): Promise<Lineage> {
  return requestAPI<Lineage>('lineage', { workspace });
}

/** ``steps/<fp>``: a step's record and its first ``limit`` rows. */
export function getStep(workspace: string, fp: string, limit: number): Promise<StepDetail> {
  return requestAPI<StepDetail>(`steps/${fp}`, { workspace, limit: String(limit) });
}

/** ``steps/<fp>/card``: a step's card. */
export function getCard(workspace: string, fp: string): Promise<Card> {
  return requestAPI<Card>(`steps/${fp}/card`, { workspace });
}
