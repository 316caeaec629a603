/** The sidebar's model: which workspace, its lineage, and when to fetch it again. */
import { ISignal, Signal } from '@lumino/signaling';

import { ILineage, IWorkspaces, requestAPI } from './api';

const RUNNING_MIN_MS = 1000;
const RUNNING_MAX_MS = 10000;
const IDLE_MS = 30000;

export class LineageModel {
  workspace: string | null = null;
  workspaces: string[] = [];
  lineage: ILineage | null = null;
  error: string | null = null;
  /** The folder of the notebook the sidebar follows ('' for the server root). */
  private _near: string | null = null;
  private _pinned = false;
  private _timer: number | null = null;
  private _delay = RUNNING_MIN_MS;
  private _inflight: Promise<void> | null = null;
  private _changed = new Signal<this, void>(this);
  private _disposed = false;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Follow the notebook at ``path`` (its folder's workspace), unless the user picked one. */
  async follow(notebookPath: string | null): Promise<void> {
    const dir = notebookPath ? notebookPath.split('/').slice(0, -1).join('/') : '';
    if (dir === this._near && this.workspace !== null) {
      return;
    }
    this._near = dir;
    await this.discover();
  }

  /** List workspaces and choose the notebook's own (``<dir>/dreamer_workspace`` first). */
  async discover(): Promise<void> {
    try {
      const found = await requestAPI<IWorkspaces>('workspaces', { near: this._near ?? '' });
      this.workspaces = found.workspaces;
      if (!this._pinned || !this.workspace || !found.workspaces.includes(this.workspace)) {
        const own = this._near ? `${this._near}/dreamer_workspace` : 'dreamer_workspace';
        this.workspace = found.near.includes(own)
          ? own
          : (found.near[0] ?? found.workspaces[0] ?? null);
      }
      this.error = null;
    } catch (e) {
      this.error = `Could not list workspaces: ${(e as Error).message}`;
    }
    await this.refresh();
  }

  /** The user picked a workspace: stop following notebooks until they pick another. */
  async choose(workspace: string): Promise<void> {
    this.workspace = workspace;
    this._pinned = true;
    await this.refresh();
  }

  /** Fetch the lineage now (coalesces concurrent calls) and schedule the next poll. */
  refresh(): Promise<void> {
    if (!this._inflight) {
      this._inflight = this._fetch().finally(() => {
        this._inflight = null;
      });
    }
    return this._inflight;
  }

  private async _fetch(): Promise<void> {
    if (this._disposed) {
      return;
    }
    if (!this.workspace) {
      if (!this.workspaces.length) {
        try {
          const found = await requestAPI<IWorkspaces>('workspaces', { near: this._near ?? '' });
          this.workspaces = found.workspaces;
          this.workspace = found.near[0] ?? found.workspaces[0] ?? null;
        } catch {
          // reported below as "no workspace"
        }
      }
      if (!this.workspace) {
        this.lineage = null;
        this._changed.emit();
        this._schedule(IDLE_MS);
        return;
      }
    }
    try {
      this.lineage = await requestAPI<ILineage>('lineage', { workspace: this.workspace });
      this.error = null;
    } catch (e) {
      this.error = `Could not load the lineage: ${(e as Error).message}`;
    }
    this._changed.emit();
    if (this.lineage && this.lineage.running > 0) {
      // Steps are running: poll soon, backing off while they keep running.
      this._schedule(this._delay);
      this._delay = Math.min(RUNNING_MAX_MS, this._delay * 1.5);
    } else {
      this._delay = RUNNING_MIN_MS;
      this._schedule(IDLE_MS);
    }
  }

  private _schedule(ms: number): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
    }
    if (!this._disposed) {
      this._timer = window.setTimeout(() => void this.refresh(), ms);
    }
  }

  dispose(): void {
    this._disposed = true;
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
    }
    Signal.clearData(this);
  }
}
