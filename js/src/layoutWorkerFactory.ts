/**
 * Makes the layout worker. The bundler (Rspack, through jupyter-builder) sees
 * ``new Worker(new URL(..., import.meta.url))`` and emits layout.worker.js with dagre as a
 * chunk of its own, loaded from the extension's static folder.
 */
import type { IWorkerLike } from './layoutWorker';

export function createLayoutWorker(): IWorkerLike {
  if (typeof Worker === 'undefined') {
    throw new Error('this browser has no Web Worker');
  }
  return new Worker(new URL('./layout.worker.js', import.meta.url)) as unknown as IWorkerLike;
}
