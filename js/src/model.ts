/** The sidebar's model: which workspace, its lineage, and when to fetch it again. */
import { ISignal, Signal } from '@lumino/signaling';

import { getLineage, getWorkspaces, type Lineage, type Workspaces } from './api';

const RUNNING_MIN_MS = 1000;
const RUNNING_MAX_MS = 10000;
const IDLE_MS = 30000;
/** Quick polls after the kernel goes idle: a background step may be starting. */
const SETTLE_POLLS = 3;

export class LineageModel {
  workspace: string | null = null;
  workspaces: string[] = [];
  lineage: Lineage | null = null;
  error: string | null = null;
  /** The folder of the notebook the sidebar follows ('' for the server root). */
  private _near: string | null = null;
  /** The server's default workspace name (``default_name`` of the workspaces route). */
  private _defaultName: string | null = null;
  private _pinned = false;
  private _timer: number | null = null;
  private _delay = RUNNING_MIN_MS;
  private _inflight: Promise<void> | null = null;
  private _changed = new Signal<this, void>(this);
  private _disposed = false;
  private _busy = false;
  private _settle = 0;

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

  /**
   * The workspace a notebook in the followed folder gets by default:
   * ``<dir>/<default_name>``, the name the server sends (null before it answered).
   */
  get ownWorkspace(): string | null {
    if (this._defaultName === null) {
      return null;
    }
    return this._near ? `${this._near}/${this._defaultName}` : this._defaultName;
  }

  /** Ask the server for the workspaces (near the followed notebook first). */
  private async _list(): Promise<Workspaces> {
    const found = await getWorkspaces(this._near ?? '');
    this.workspaces = found.workspaces;
    this._defaultName = found.default_name;
    return found;
  }

  /** List workspaces and choose the notebook's own (its folder's default workspace first). */
  async discover(): Promise<void> {
    try {
      const found = await this._list();
      if (!this._pinned || !this.workspace || !found.workspaces.includes(this.workspace)) {
        const own = this.ownWorkspace;
        this.workspace = own !== null && found.near.includes(own)
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

  /**
   * The followed kernel's status. While it is busy a step may be running: poll as if one
   * were. When it goes idle, refresh, then poll a few times quickly (a step started with
   * ``background=True`` may not have written its progress yet).
   */
  kernelStatus(status: string): void {
    const busy = status === 'busy';
    if (busy) {
      if (!this._busy) {
        this._busy = true;
        this._delay = RUNNING_MIN_MS;
        this._schedule(RUNNING_MIN_MS);
      }
      return;
    }
    this._busy = false;
    if (status === 'idle') {
      this._settle = SETTLE_POLLS;
      void this.refresh();
    }
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
    const own = this.ownWorkspace;
    if (this._near !== null && this.workspace && this.workspace !== own && !this._pinned) {
      // Showing another workspace until the notebook's own exists: switch once it appears.
      try {
        const found = await this._list();
        const mine = this.ownWorkspace;
        if (mine !== null && (found.near.includes(mine) || found.workspaces.includes(mine))) {
          this.workspace = mine;
        }
      } catch {
        // keep the current workspace
      }
    }
    if (!this.workspace) {
      if (!this.workspaces.length) {
        try {
          const found = await this._list();
          this.workspace = found.near[0] ?? found.workspaces[0] ?? null;
        } catch {
          // reported below as "no workspace"
        }
      }
      if (!this.workspace) {
        this.lineage = null;
        this._changed.emit();
        this._next(false);
        return;
      }
    }
    try {
      this.lineage = await getLineage(this.workspace);
      this.error = null;
    } catch (e) {
      this.error = `Could not load the lineage: ${(e as Error).message}`;
    }
    this._changed.emit();
    this._next(!!this.lineage && this.lineage.running > 0);
  }

  /** Schedule the next poll: soon while steps (may) run, backing off; rarely otherwise. */
  private _next(running: boolean): void {
    if (running || this._busy) {
      this._schedule(this._delay);
      this._delay = Math.min(RUNNING_MAX_MS, this._delay * 1.5);
    } else if (this._settle > 0) {
      this._settle--;
      this._delay = RUNNING_MIN_MS;
      this._schedule(RUNNING_MIN_MS);
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
