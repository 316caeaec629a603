/** The sidebar's model: which workspace, its lineage, and when to fetch it again. */
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { getLineage, getWorkspaces, type Lineage, type Workspaces } from './api';

const RUNNING_MIN_MS = 1000;
const RUNNING_MAX_MS = 10000;
const IDLE_MS = 30000;
/** The longest wait between tries while the server does not answer. */
const ERROR_MAX_MS = 300000;
/** Quick polls after the kernel goes idle: a background step may be starting. */
const SETTLE_POLLS = 5;

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
  /** Polls the lineage: fast while steps run, rarely when idle, backing off on errors. */
  private _poll = new Poll({
    auto: false,
    factory: () => this._fetch(),
    frequency: { interval: IDLE_MS, backoff: true, max: ERROR_MAX_MS },
    name: 'dreamer-lab:lineage',
    standby: 'when-hidden'
  });
  private _delay = RUNNING_MIN_MS;
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
        this._setInterval(RUNNING_MIN_MS);
        void this._poll.schedule({ interval: RUNNING_MIN_MS, phase: 'refreshed' });
      }
      return;
    }
    this._busy = false;
    if (status === 'idle') {
      this._settle = SETTLE_POLLS;
      this._delay = RUNNING_MIN_MS;
      void this.refresh();
    }
  }

  /** Fetch the lineage now (concurrent calls share one fetch); resolves once it is done. */
  async refresh(): Promise<void> {
    if (this._disposed) {
      return;
    }
    await this._poll.refresh();
    try {
      await this._poll.tick;
    } catch {
      // disposed meanwhile
    }
  }

  /** One tick of the poll: rejects when the server cannot answer (the poll backs off). */
  private async _fetch(): Promise<void> {
    if (this._disposed) {
      return;
    }
    await this._followOwn();
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
      this._changed.emit();
      throw e;
    }
    this._changed.emit();
    this._next(!!this.lineage && this.lineage.running > 0);
  }

  /** Showing another workspace until the notebook's own exists: switch once it appears. */
  private async _followOwn(): Promise<void> {
    const own = this.ownWorkspace;
    if (this._near === null || !this.workspace || this.workspace === own || this._pinned) {
      return;
    }
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

  /** The next poll: soon while steps (may) run, backing off; rarely otherwise. */
  private _next(running: boolean): void {
    if (running || this._busy) {
      this._setInterval(this._delay);
      this._delay = Math.min(RUNNING_MAX_MS, this._delay * 1.5);
    } else if (this._settle > 0) {
      // A background step's process may take seconds to start: look again, backing off.
      this._settle--;
      this._setInterval(this._delay);
      this._delay = Math.min(RUNNING_MAX_MS, this._delay * 1.5);
    } else {
      this._delay = RUNNING_MIN_MS;
      this._setInterval(IDLE_MS);
    }
  }

  /** The interval of the next ticks (errors back off from it, up to ERROR_MAX_MS). */
  private _setInterval(ms: number): void {
    this._poll.frequency = { interval: Math.round(ms), backoff: true, max: ERROR_MAX_MS };
  }

  dispose(): void {
    this._disposed = true;
    this._poll.dispose();
    Signal.clearData(this);
  }
}
