// dreamer_lab step view (anywidget ESM). All data is untrusted: only textContent is used,
// never HTML parsing of data, and no links are created from data.
const SVG = "http://www.w3.org/2000/svg";

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

function bars(title, items) {
  // items: [[label, value]]
  const box = el("div", "dl-plot");
  box.appendChild(el("div", "dl-plot-title", title));
  const w = 240, h = 70, max = Math.max(1, ...items.map((i) => i[1]));
  const svg = svgEl("svg", { width: w, height: h + 4, viewBox: `0 0 ${w} ${h + 4}`, role: "img" });
  const bw = w / Math.max(1, items.length);
  items.forEach(([label, v], i) => {
    const bh = (v / max) * h;
    const r = svgEl("rect", { x: i * bw + 1, y: h - bh, width: Math.max(1, bw - 2), height: bh, class: "dl-bar" });
    const t = svgEl("title");
    t.textContent = `${label}: ${v}`;
    r.appendChild(t);
    svg.appendChild(r);
  });
  box.appendChild(svg);
  return box;
}

function line(title, points) {
  const box = el("div", "dl-plot");
  box.appendChild(el("div", "dl-plot-title", title));
  const w = 240, h = 70;
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = (x) => ((x - x0) / (x1 - x0 || 1)) * (w - 4) + 2;
  const sy = (y) => h - ((y - y0) / (y1 - y0 || 1)) * (h - 4) - 2;
  const svg = svgEl("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img" });
  svg.appendChild(svgEl("polyline", { points: points.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" "), class: "dl-line" }));
  box.appendChild(svg);
  return box;
}

function draw(model, root) {
  const s = model.get("summary") || {};
  const progress = model.get("progress");
  root.replaceChildren();
  const head = el("div", "dl-head");
  head.appendChild(el("span", "dl-name", s.name));
  head.appendChild(el("span", "dl-kind", s.kind));
  head.appendChild(el("span", `dl-badge dl-${String(s.status || "").replace(/[^a-z]/g, "")}`, s.status));
  if (s.rows !== null && s.rows !== undefined) head.appendChild(el("span", "dl-meta", `${s.rows} rows`));
  if (s.seconds !== null && s.seconds !== undefined) head.appendChild(el("span", "dl-meta", `${Number(s.seconds).toFixed(2)} s`));
  if (s.rows_per_s && s.status === "computed") head.appendChild(el("span", "dl-meta", `${s.rows_per_s} rows/s`));
  const u = s.usage || {};
  if (u.tokens !== undefined) head.appendChild(el("span", "dl-meta", `${u.tokens} tokens`));
  if (u.cost !== undefined) head.appendChild(el("span", "dl-meta", `$${Number(u.cost).toFixed(4)}`));
  root.appendChild(head);
  if (s.status === "running") {
    const bar = el("div", "dl-progress");
    const fill = el("div", "dl-progress-fill");
    fill.style.width = `${Math.round((progress || 0) * 100)}%`;
    bar.appendChild(fill);
    root.appendChild(bar);
    root.appendChild(el("div", "dl-meta", `${Math.round((progress || 0) * 100)}% · ${Number(model.get("elapsed") || 0).toFixed(1)} s`));
  }
  const info = el("div", "dl-info");
  if (s.fingerprint) info.appendChild(el("div", "dl-fp", `fingerprint ${s.fingerprint}`));
  if (s.parents && s.parents.length) info.appendChild(el("div", "", `parents: ${s.parents.map((p) => p.name).join(", ")}`));
  if (s.why) info.appendChild(el("pre", "dl-why", s.why));
  if (s.error) info.appendChild(el("pre", "dl-error", s.error));
  root.appendChild(info);
  if (s.sample && s.sample.length) {
    const cols = (s.columns && s.columns.length) ? s.columns : Object.keys(s.sample[0]);
    const table = el("table", "dl-table");
    const tr = el("tr");
    cols.forEach((c) => tr.appendChild(el("th", "", c)));
    table.appendChild(tr);
    s.sample.forEach((row) => {
      const r = el("tr");
      cols.forEach((c) => r.appendChild(el("td", "", row[c] ?? "")));
      table.appendChild(r);
    });
    root.appendChild(table);
  }
  const p = s.plots || {};
  const plots = el("div", "dl-plots");
  if (p.lengths) plots.appendChild(bars(`length of ${p.lengths.column}`, p.lengths.bins.map((b) => [`${b[0]}–${b[1]}`, b[2]])));
  if (p.labels) plots.appendChild(bars(`label balance: ${p.labels.column}`, p.labels.counts));
  if (p.loss && p.loss.length > 1) plots.appendChild(line("loss", p.loss));
  if (plots.childElementCount) root.appendChild(plots);
}

function render({ model, el: host }) {
  const root = document.createElement("div");
  root.className = "dreamer-lab-view";
  host.appendChild(root);
  const redraw = () => draw(model, root);
  model.on("change:summary", redraw);
  model.on("change:progress", redraw);
  model.on("change:elapsed", redraw);
  redraw();
}

export default { render };
