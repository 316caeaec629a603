/**
 * Pure text helpers of the sidebar (no DOM): labels that stay distinguishable when
 * clipped, status names as CSS classes, the card as Markdown, and the readable fit.
 */

const ELLIPSIS = '…';

/**
 * ``text`` in at most ``max`` characters, clipped in the middle so both ends show.
 * ``tail`` is how many characters of the end to keep (default: the last " / " part, or
 * a third of ``max``): "synthetic reviews / train" and "... / test" stay different.
 */
export function middleEllipsis(text: string, max: number, tail?: number): string {
  if (text.length <= max) {
    return text;
  }
  if (max < 3) {
    return text.slice(0, max);
  }
  let keep = tail;
  if (keep === undefined) {
    const cut = text.lastIndexOf(' / ');
    const part = cut >= 0 ? text.length - cut : 0;
    keep = part > 0 && part <= max - 4 ? part : Math.floor(max / 3);
  }
  keep = Math.max(1, Math.min(keep, max - 2));
  const head = max - 1 - keep;
  return text.slice(0, head).trimEnd() + ELLIPSIS + text.slice(text.length - keep);
}

/**
 * One label per name, at most ``max`` characters each, such that different names get
 * different labels whenever ``max`` allows it (the clipped end grows until they differ).
 */
export function distinctLabels(names: string[], max: number): Map<string, string> {
  const out = new Map<string, string>();
  const unique = [...new Set(names)];
  for (const n of unique) {
    out.set(n, middleEllipsis(n, max));
  }
  const groups = new Map<string, string[]>();
  for (const n of unique) {
    const label = out.get(n)!;
    groups.set(label, [...(groups.get(label) ?? []), n]);
  }
  for (const group of groups.values()) {
    if (group.length < 2) {
      continue;
    }
    // Keep more of the end (where runs of one name usually differ) until all differ.
    for (let tail = 2; tail <= max - 2; tail++) {
      const labels = group.map(n => middleEllipsis(n, max, tail));
      if (new Set(labels).size === group.length) {
        group.forEach((n, i) => out.set(n, labels[i]));
        break;
      }
    }
  }
  return out;
}

/**
 * The status word a node shows: its ``state`` (computed, loaded from cache, running,
 * interrupted, failed, stale: the words of the step and trainer views), or its coarser
 * ``status`` from a server that sends no ``state``.
 */
export function stateOf(node: { status: string; state?: string | null }): string {
  return node.state ?? node.status;
}

/** The CSS class of a status word from the server ("loaded from cache" -> dl-status-loaded-from-cache). */
export function statusClass(status: string): string {
  const slug = status
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  return `dl-status-${slug || 'unknown'}`;
}

/**
 * Text that Markdown shows as itself: its punctuation is backslash-escaped (``:`` and
 * ``@`` too, so no URL or address becomes an autolink that keeps the backslashes).
 */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>&~:@]/g, c => `\\${c}`);
}

/** A fenced code block that no backtick run in ``text`` can close. */
function fence(text: string): string {
  const runs = text.match(/`+/g) ?? [];
  const longest = Math.max(2, ...runs.map(r => r.length));
  const bar = '`'.repeat(longest + 1);
  return `${bar}text\n${text}\n${bar}`;
}

function fragmentText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

/**
 * A step's card fragments as Markdown: one section per fragment key, one bullet per
 * value, multi-line values (citations, JSON) in code blocks. Every value is escaped:
 * the Markdown renderer shows it as text.
 */
export function cardMarkdown(name: string | null, fragments: Record<string, unknown>): string {
  const parts: string[] = [];
  if (name) {
    parts.push(`### ${escapeMarkdown(name)}`);
  }
  for (const [key, raw] of Object.entries(fragments)) {
    const values = Array.isArray(raw) ? raw : [raw];
    if (!values.length) {
      continue;
    }
    parts.push(`**${escapeMarkdown(key)}**`);
    const lines: string[] = [];
    for (const v of values) {
      const text = fragmentText(v);
      if (text.includes('\n')) {
        parts.push(lines.splice(0).join('\n'), fence(text));
      } else {
        lines.push(`- ${escapeMarkdown(text)}`);
      }
    }
    parts.push(lines.join('\n'));
  }
  return parts.filter(p => p).join('\n\n');
}

export interface IView {
  k: number;
  x: number;
  y: number;
}

/**
 * The view that shows a ``gw`` x ``gh`` graph in a ``w`` x ``h`` panel: as large as fits
 * within ``margin`` (never over 1:1) but never below ``minK`` (readable text). What fits
 * is centred; what does not starts at the top left margin, where the oldest steps are
 * (pan or zoom out to see the rest).
 */
export function fitView(
  gw: number,
  gh: number,
  w: number,
  h: number,
  margin: number,
  minK: number
): IView {
  if (!(gw > 0 && gh > 0 && w > 0 && h > 0) || !Number.isFinite(gw + gh)) {
    return { k: 1, x: margin, y: margin };
  }
  const k = Math.max(minK, Math.min(1, (w - 2 * margin) / gw, (h - 2 * margin) / gh));
  const x = gw * k <= w - 2 * margin ? (w - gw * k) / 2 : margin;
  const y = gh * k <= h - 2 * margin ? (h - gh * k) / 2 : margin;
  return { k, x, y };
}
