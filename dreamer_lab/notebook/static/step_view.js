// dreamer_lab step view (anywidget ESM). All data is untrusted: only textContent is used,
// never HTML parsing of data, and no links are created from data. Colours come from
// JupyterLab theme variables in dreamer.css (classes only here), so dark themes work.
const SVG = "http://www.w3.org/2000/svg";
const W = 300, H = 120, PAD_L = 40, PAD_B = 30, PAD_T = 8, PAD_R = 8;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function fmt(v) {
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : Number(n.toPrecision(3)).toString();
}

function duration(s) {
  const n = Math.max(0, Math.round(Number(s) || 0));
  if (n < 60) return `${n} s`;
  if (n < 3600) return `${Math.floor(n / 60)} min ${n % 60} s`;
  return `${Math.floor(n / 3600)} h ${Math.floor((n % 3600) / 60)} min`;
}

function frame(title, xLabel, yLabel) {
  const box = el("figure", "dlv-plot");
  box.appendChild(el("figcaption", "dlv-plot-title", title));
  const svg = svgEl("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  svg.appendChild(svgEl("title", {}, title));
  svg.appendChild(svgEl("line", { x1: PAD_L, y1: H - PAD_B, x2: W - PAD_R, y2: H - PAD_B, class: "dlv-axis" }));
  svg.appendChild(svgEl("line", { x1: PAD_L, y1: PAD_T, x2: PAD_L, y2: H - PAD_B, class: "dlv-axis" }));
  svg.appendChild(svgEl("text", { x: (PAD_L + W - PAD_R) / 2, y: H - 2, class: "dlv-axis-label", "text-anchor": "middle" }, xLabel));
  svg.appendChild(svgEl("text", { x: 10, y: (PAD_T + H - PAD_B) / 2, class: "dlv-axis-label", "text-anchor": "middle", transform: `rotate(-90 10 ${(PAD_T + H - PAD_B) / 2})` }, yLabel));
  box.appendChild(svg);
  return { box, svg };
}

function yTicks(svg, lo, hi, sy) {
  for (const v of [lo, hi]) {
    svg.appendChild(svgEl("text", { x: PAD_L - 3, y: sy(v) + 3, class: "dlv-tick", "text-anchor": "end" }, fmt(v)));
  }
}

// Labelled bars: items [[label, count]]; labels under the bars, counts on top.
function bars(title, items, xLabel, yLabel) {
  const { box, svg } = frame(title, xLabel, yLabel);
  const max = Math.max(1, ...items.map((i) => i[1]));
  const plotW = W - PAD_L - PAD_R, plotH = H - PAD_B - PAD_T;
  const bw = plotW / Math.max(1, items.length);
  const sy = (v) => H - PAD_B - (v / max) * plotH;
  yTicks(svg, 0, max, sy);
  const step = Math.ceil(items.length / 8); // at most 8 category labels
  items.forEach(([label, v], i) => {
    const x = PAD_L + i * bw;
    const r = svgEl("rect", { x: x + 1, y: sy(v), width: Math.max(1, bw - 2), height: H - PAD_B - sy(v), class: "dlv-bar" });
    r.appendChild(svgEl("title", {}, `${label}: ${v}`));
    svg.appendChild(r);
    if (i % step === 0) {
      const text = String(label).length > 10 ? `${String(label).slice(0, 9)}…` : String(label);
      svg.appendChild(svgEl("text", { x: x + bw / 2, y: H - PAD_B + 11, class: "dlv-tick", "text-anchor": "middle" }, text));
    }
  });
  return box;
}

// Line chart of one or more series: [{name, points: [[x, y]], cls}].
function lines(title, series, xLabel, yLabel) {
  const { box, svg } = frame(title, xLabel, yLabel);
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = (x) => PAD_L + ((x - x0) / (x1 - x0 || 1)) * (W - PAD_L - PAD_R);
  const sy = (y) => H - PAD_B - ((y - y0) / (y1 - y0 || 1)) * (H - PAD_B - PAD_T);
  yTicks(svg, y0, y1, sy);
  for (const v of [x0, x1]) {
    svg.appendChild(svgEl("text", { x: sx(v), y: H - PAD_B + 11, class: "dlv-tick", "text-anchor": "middle" }, fmt(v)));
  }
  for (const s of series) {
    if (s.points.length === 1) {
      svg.appendChild(svgEl("circle", { cx: sx(s.points[0][0]), cy: sy(s.points[0][1]), r: 2.5, class: `dlv-dot ${s.cls}` }));
    } else {
      svg.appendChild(svgEl("polyline", { points: s.points.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" "), class: `dlv-line ${s.cls}` }));
    }
  }
  if (series.length > 1) {
    const legend = el("div", "dlv-legend");
    series.forEach((s) => legend.appendChild(el("span", `dlv-key ${s.cls}`, s.name)));
    box.appendChild(legend);
  }
  return box;
}

function badge(status) {
  const token = String(status || "").replace(/[^a-z]+/g, "-");
  return el("span", `dlv-badge dlv-status-${token}`, status);
}

function header(s) {
  const head = el("div", "dlv-head");
  head.appendChild(el("span", "dlv-name", s.name));
  head.appendChild(el("span", "dlv-kind", s.kind));
  head.appendChild(badge(s.status));
  if (s.rows !== null && s.rows !== undefined) head.appendChild(el("span", "dlv-meta", `${s.rows} rows`));
  if (s.seconds !== null && s.seconds !== undefined) head.appendChild(el("span", "dlv-meta", duration(s.seconds)));
  if (s.rows_per_s && s.status === "computed") head.appendChild(el("span", "dlv-meta", `${s.rows_per_s} rows/s`));
  const u = s.usage || {};
  if (u.tokens !== undefined) head.appendChild(el("span", "dlv-meta", `${u.tokens} tokens`));
  if (u.cost !== undefined) head.appendChild(el("span", "dlv-meta", `$${Number(u.cost).toFixed(4)}`));
  return head;
}

function progressBar(model, s) {
  const box = el("div", "dlv-running");
  const progress = Number(model.get("progress") || 0);
  const pct = Math.round(progress * 100);
  const bar = el("div", "dlv-progress");
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-label", `Progress of ${s.name || "the step"}`);
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.setAttribute("aria-valuenow", String(pct));
  const fill = el("div", "dlv-progress-fill");
  fill.style.width = `${pct}%`;
  bar.appendChild(fill);
  box.appendChild(bar);
  const eta = model.get("eta");
  const t = s.training || {};
  const bits = [`${pct}%`];
  if (t.max_steps) bits.push(`step ${t.step || 0}/${t.max_steps}`);
  if (t.epoch !== undefined) bits.push(`epoch ${fmt(t.epoch)}`);
  if (t.loss !== undefined) bits.push(`loss ${fmt(t.loss)}`);
  if (t.learning_rate !== undefined) bits.push(`lr ${Number(t.learning_rate).toExponential(1)}`);
  bits.push(`${duration(model.get("elapsed"))} elapsed`);
  bits.push(eta === null || eta === undefined ? "estimating time left…" : `about ${duration(eta)} left`);
  box.appendChild(el("div", "dlv-meta", bits.join(" · ")));
  return box;
}

function sampleTable(s) {
  const cols = (s.columns && s.columns.length) ? s.columns : Object.keys(s.sample[0]);
  const wrap = el("div", "dlv-table-wrap");
  const table = el("table", "dlv-table");
  const thead = el("thead");
  const tr = el("tr");
  cols.forEach((c) => tr.appendChild(el("th", "", c)));
  thead.appendChild(tr);
  const tbody = el("tbody");
  s.sample.forEach((row) => {
    const r = el("tr");
    cols.forEach((c) => r.appendChild(el("td", "", row[c] ?? "")));
    tbody.appendChild(r);
  });
  table.append(thead, tbody);
  wrap.appendChild(table);
  return wrap;
}

function plots(s) {
  const p = s.plots || {};
  const box = el("div", "dlv-plots");
  if (p.labels) box.appendChild(bars(`label balance: ${p.labels.column}`, p.labels.counts, p.labels.x || "category", p.labels.y || "rows"));
  if (p.lengths) box.appendChild(bars(`length of ${p.lengths.column}`, p.lengths.bins.map((b) => [b[0] === b[1] ? `${b[0]}` : `${b[0]}–${b[1]}`, b[2]]), p.lengths.x || "length (characters)", p.lengths.y || "rows"));
  const loss = [];
  if (p.loss && p.loss.length) loss.push({ name: "train", points: p.loss, cls: "dlv-train" });
  if (p.eval_loss && p.eval_loss.length) loss.push({ name: "validation", points: p.eval_loss, cls: "dlv-eval" });
  if (loss.length) box.appendChild(lines("loss", loss, "step", "loss"));
  if (p.lr && p.lr.length > 1) box.appendChild(lines("learning rate", [{ name: "lr", points: p.lr, cls: "dlv-lr" }], "step", "learning rate"));
  return box;
}

function draw(model, root) {
  const s = model.get("summary") || {};
  root.replaceChildren();
  root.appendChild(header(s));
  if (s.status === "running") root.appendChild(progressBar(model, s));
  const info = el("div", "dlv-info");
  if (s.parents && s.parents.length) {
    const uses = s.parents.map((p) => (p.uses ? `${p.name} (${p.uses.join(", ")})` : p.name));
    info.appendChild(el("div", "dlv-lineage", `from: ${uses.join("; ")}`));
  }
  if (s.error) info.appendChild(el("pre", "dlv-error", s.error));
  if (s.metrics && Object.keys(s.metrics).length) {
    const m = Object.entries(s.metrics).map(([k, v]) => `${k} ${fmt(v)}`).join(" · ");
    info.appendChild(el("div", "dlv-metrics", `final metrics: ${m}`));
  }
  root.appendChild(info);
  if (s.sample && s.sample.length) root.appendChild(sampleTable(s));
  const pl = plots(s);
  if (pl.childElementCount) root.appendChild(pl);
  const more = el("details", "dlv-details");
  more.appendChild(el("summary", "", "details"));
  if (s.why) more.appendChild(el("pre", "dlv-why", s.why));
  if (s.fingerprint) more.appendChild(el("div", "dlv-fp", `fingerprint ${s.fingerprint}`));
  if (s.details && s.details.length) {
    more.appendChild(el("div", "dlv-plot-title", "library output"));
    more.appendChild(el("pre", "dlv-log", s.details.join("\n")));
  }
  if (more.childElementCount > 1) root.appendChild(more);
}

function render({ model, el: host }) {
  const root = document.createElement("div");
  root.className = "dreamer-lab-view";
  host.appendChild(root);
  let open = false;
  const redraw = () => {
    const d = root.querySelector("details.dlv-details");
    if (d) open = d.open;
    draw(model, root);
    const again = root.querySelector("details.dlv-details");
    if (again) again.open = open;
  };
  for (const name of ["summary", "progress", "elapsed", "eta"]) model.on(`change:${name}`, redraw);
  redraw();
}

export default { render };
