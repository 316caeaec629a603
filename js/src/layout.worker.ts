/**
 * The Web Worker that lays out the lineage (see layoutWorker.ts): one message in, one reply
 * out. Groups whose steps and edges did not change keep their layout between messages.
 */
import type { LayoutCache } from './layout';
import { ILayoutMessage, ILayoutReply, layoutFromMessage } from './layoutWorker';

const cache: LayoutCache = new Map();
const scope = self as unknown as {
  onmessage: ((ev: { data: ILayoutMessage }) => void) | null;
  postMessage: (reply: ILayoutReply) => void;
};

scope.onmessage = ev => {
  const m = ev.data;
  try {
    scope.postMessage({ id: m.id, layout: layoutFromMessage(m, cache) });
  } catch (err) {
    scope.postMessage({ id: m.id, error: String(err) });
  }
};
