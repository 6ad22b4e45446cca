// Building the page from data: text always goes in as text (never as HTML), so nothing a
// ticket or a tenant wrote can run as script in the console.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.className = value;
    } else if (value === true) {
      node.setAttribute(key, "");
    } else {
      node.setAttribute(key, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function main() {
  return document.getElementById("main");
}

export function flash(text, kind = "info") {
  const box = document.getElementById("flash");
  const message = h("div", { class: `message ${kind}`, "data-kind": kind }, text);
  box.replaceChildren(message);
  if (kind === "info") setTimeout(() => message.remove(), 8000);
}

// An error shown stays until the next attempt starts, so it is never mistaken for the
// outcome of a later action.
export function clearErrors() {
  for (const message of document.querySelectorAll("#flash .error")) message.remove();
}

export function failed(error) {
  flash(error.message || String(error), "error");
}

// A table of rows; columns are [heading, row => cell content]; `onRow` makes rows clickable.
export function table(columns, rows, { onRow, empty = "Nothing to show.", id } = {}) {
  if (!rows.length) return h("p", { class: "muted", id }, empty);
  return h(
    "table",
    { id },
    h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", {}, title)))),
    h(
      "tbody",
      {},
      rows.map((row) =>
        h(
          "tr",
          { class: onRow ? "clickable" : undefined, onclick: onRow ? () => onRow(row) : undefined },
          columns.map(([, cell, cls]) => h("td", { class: cls }, cell(row))),
        ),
      ),
    ),
  );
}

export function badge(text) {
  return h("span", { class: `badge ${text}` }, text);
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toISOString().replace("T", " ").slice(0, 19);
}

export function field(label, input) {
  return h("label", {}, label, input);
}

// Form values by name; checkboxes as booleans, empty strings as undefined.
export function values(form) {
  const out = {};
  for (const element of form.elements) {
    if (!element.name) continue;
    if (element.type === "checkbox") out[element.name] = element.checked;
    else if (element.value !== "") out[element.name] = element.value;
  }
  return out;
}

// A submit handler that disables the form while the call runs and reports errors.
export function submitting(handler) {
  return async (event) => {
    event.preventDefault();
    const form = event.target;
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((b) => (b.disabled = true));
    clearErrors();
    try {
      await handler(values(form), form);
    } catch (error) {
      failed(error);
    } finally {
      // Secrets are write-only: once sent, accepted or not, the page keeps none of them.
      for (const secret of form.querySelectorAll("input[type=password]")) secret.value = "";
      buttons.forEach((b) => (b.disabled = false));
    }
  };
}

export function action(label, handler, attrs = {}) {
  const button = h("button", { type: "button", ...attrs }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    clearErrors();
    try {
      await handler();
    } catch (error) {
      failed(error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

// A random secret of `bytes` bytes, Standard Webhooks form (whsec_ + base64).
export function newSecret(bytes = 32) {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return "whsec_" + btoa(String.fromCharCode(...raw));
}
