// dreamer_lab wizards and card widget (anywidget ESM): a form whose result is a notebook cell.
// Untrusted text (previews, model output, cards) is only ever set through textContent.

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function field(model, spec) {
  const values = model.get("values") || {};
  const id = `dl-${spec.name}-${Math.random().toString(36).slice(2, 8)}`;
  const label = el("label", "", spec.label);
  label.htmlFor = id;
  let input;
  if (spec.type === "select") {
    input = el("select");
    for (const opt of spec.options || []) {
      const o = el("option", "", opt || "(none)");
      o.value = opt;
      input.appendChild(o);
    }
    input.value = values[spec.name] ?? "";
  } else if (spec.type === "textarea") {
    input = el("textarea");
    input.value = values[spec.name] ?? "";
  } else if (spec.type === "checkbox") {
    input = el("input");
    input.type = "checkbox";
    input.checked = Boolean(values[spec.name]);
  } else {
    input = el("input");
    input.type = spec.type === "number" ? "number" : "text";
    input.value = values[spec.name] ?? "";
  }
  input.id = id;
  input.name = spec.name;
  const commit = () => {
    let v = spec.type === "checkbox" ? input.checked : input.value;
    if (spec.type === "number") v = Number(v);
    model.set("values", { ...(model.get("values") || {}), [spec.name]: v });
    model.save_changes();
  };
  input.addEventListener(spec.type === "textarea" || spec.type === "text" ? "input" : "change", commit);
  const row = el("div", "dlw-field");
  row.append(label, input);
  return row;
}

// The card widget's "Publish to Hub": Python publishes (repository and privacy come from the
// form's fields) and reports the URL or the error, shown as text only.
function publishPart(model, root, buttons) {
  const pub = el("button", "dl-publish", "Publish to Hub");
  pub.type = "button";
  const status = el("div", "dl-publish-status");
  status.setAttribute("aria-live", "polite");
  pub.addEventListener("click", () => model.send({ event: "publish" }));
  buttons.append(pub);
  root.append(status);
  const draw = () => {
    const repo = String((model.get("values") || {}).repo_id || "").trim();
    const busy = Boolean(model.get("publishing"));
    pub.disabled = busy || !repo;
    pub.title = repo ? "" : "Enter a Hub repository first";
    status.replaceChildren();
    status.style.color = "";
    const error = model.get("publish_error");
    const url = model.get("published");
    if (busy) {
      status.textContent = `Publishing to ${repo}…`;
    } else if (error) {
      status.style.color = "var(--jp-error-color1)";
      status.textContent = error;
    } else if (url) {
      status.append(el("span", "", "Published: "));
      if (/^https?:\/\//.test(url)) {
        const a = el("a", "", url);
        a.href = url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        status.append(a);
      } else {
        status.append(el("span", "", url));
      }
    }
  };
  for (const name of ["values", "publishing", "published", "publish_error"]) model.on(`change:${name}`, draw);
  draw();
}

// A card (or any Markdown) as the element tree Python built with markdown-it: a fixed set
// of tags, text only through textContent, no attribute taken from the data.
const TREE_TAGS = new Set("h1 h2 h3 h4 h5 h6 p ul ol li blockquote pre code em strong table thead tbody tr th td hr br del span div details summary".split(" "));

function tree(nodes) {
  const out = [];
  for (const n of nodes || []) {
    if (typeof n === "string") {
      out.push(document.createTextNode(n));
    } else if (n && TREE_TAGS.has(n.tag)) {
      const e = document.createElement(n.tag);
      e.append(...tree(n.children));
      out.push(e);
    }
  }
  return out;
}

function section(title, ...children) {
  const box = el("section", "dlw-section");
  const id = `dl-sec-${Math.random().toString(36).slice(2, 8)}`;
  const head = el("div", "dlw-section-title", title);
  head.id = id;
  box.setAttribute("aria-labelledby", id);
  box.append(head, ...children);
  return box;
}

function render({ model, el: host }) {
  const root = el("div", "dreamer-lab-wizard");
  root.setAttribute("role", "form");
  host.appendChild(root);
  const title = el("div", "dlw-title", model.get("title"));
  title.id = `dl-title-${Math.random().toString(36).slice(2, 8)}`;
  root.setAttribute("aria-labelledby", title.id);
  const form = el("div", "dlw-form");
  const preview = el("div", "dlw-preview");
  preview.setAttribute("aria-live", "polite");
  const info = el("div", "dlw-info");
  info.setAttribute("aria-live", "polite");
  const code = el("pre", "dlw-code");
  const isCard = () => model.get("preview_kind") === "card";
  const previewSec = section(isCard() ? "Card preview" : "Preview", preview);
  const infoSec = section(isCard() ? "Status" : "Estimate", info);
  const codeSec = section("Code (inserted as a cell)", code);
  const result = el("div", "dlw-result");
  result.setAttribute("role", "status");
  const insert = (run) => {
    const text = model.get("code");
    if (!text) return;
    model.send({ event: "insert", run });
    host.dispatchEvent(new CustomEvent("dreamer-lab:insert-cell", { bubbles: true, composed: true, detail: { code: text, run } }));
  };
  const buttons = el("div", "dlw-buttons");
  const ins = el("button", "", "Insert cell");
  const insRun = el("button", "dlw-primary", "Insert and run");
  ins.type = insRun.type = "button";
  ins.addEventListener("click", () => insert(false));
  insRun.addEventListener("click", () => insert(true));
  buttons.append(ins, insRun);
  let exp = null;
  if (isCard()) {
    exp = el("button", "", "Export");
    exp.type = "button";
    exp.addEventListener("click", () => model.send({ event: "export" }));
    buttons.append(exp);
  }
  root.append(title, form, previewSec, infoSec, codeSec, buttons, result);
  if (model.get("can_publish")) publishPart(model, root, buttons);

  const drawForm = () => {
    form.replaceChildren(...(model.get("fields") || []).map((f) => field(model, f)));
  };
  const drawDerived = () => {
    if (isCard()) {
      // A scrollable region: focusable and named, so keyboard users can scroll it (axe
      // scrollable-region-focusable); it opens at the top, where the card starts.
      const card = el("div", "dlw-card");
      card.tabIndex = 0;
      card.setAttribute("role", "region");
      card.setAttribute("aria-label", "Card preview (scrollable)");
      card.append(...tree(model.get("preview_tree")));
      preview.replaceChildren(card);
      card.scrollTop = 0;
    } else {
      preview.replaceChildren(...(model.get("preview") || []).map((p) => el("pre", "dlw-preview-item", p)));
    }
    previewSec.hidden = !preview.textContent;
    const hasCode = Boolean(model.get("code"));
    info.textContent = model.get("info") || "";
    info.classList.toggle("dlw-problem", !hasCode && Boolean(model.get("info")));
    code.textContent = model.get("code") || "";
    codeSec.hidden = !hasCode;
    ins.disabled = insRun.disabled = !hasCode;
    if (exp) exp.disabled = !hasCode;
    result.textContent = model.get("result") || "";
  };
  for (const name of ["fields"]) model.on(`change:${name}`, drawForm);
  for (const name of ["preview", "preview_tree", "info", "code", "result"]) model.on(`change:${name}`, drawDerived);
  root.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      insert(e.shiftKey);
    }
  });
  drawForm();
  drawDerived();
}

export default { render };
