// A tenant's model chain: the primary model, its endpoint and key (bring your own key),
// and fallbacks tried in order. Keys are write-only: the API says whether one is stored,
// never what it is, and a key left empty keeps the stored one.

import { del, enc, get, put } from "./api.js";
import { action, field, flash, h, replace, submitting } from "./dom.js";

const KEEP = "stored: leave empty to keep it";

function fallbackRow(fallback) {
  const own = fallback !== null && typeof fallback === "object";
  const model = own ? fallback.model : fallback || "";
  const row = h("div", { class: "inline fallback", "data-own": own && fallback.has_api_key ? "yes" : undefined },
    field("Fallback model", h("input", { "data-part": "model", value: model, placeholder: "openai/gpt-4o", required: true })),
    field("Its endpoint (optional)", h("input", { "data-part": "api_base", type: "url", value: own ? fallback.api_base || "" : "",
      placeholder: "empty: the primary's, or the provider's own" })),
    field("Its key (write-only)", h("input", { "data-part": "api_key", type: "password", autocomplete: "new-password",
      placeholder: own && fallback.has_api_key ? KEEP : "empty: the primary's key" })));
  row.append(h("button", { type: "button", class: "secondary", onclick: () => row.remove() }, "Remove"));
  return row;
}

// A fallback with an endpoint or key of its own goes as {model, api_base, api_key}; one
// that had its own key and gets none keeps that key; otherwise a plain model name shares
// the primary's endpoint and key.
function fallbacksOf(list) {
  return [...list.querySelectorAll(".fallback")].map((row) => {
    const part = (name) => row.querySelector(`[data-part=${name}]`).value.trim();
    const [model, apiBase, apiKey] = [part("model"), part("api_base"), part("api_key")];
    if (!apiBase && !apiKey && !row.dataset.own) return model;
    const own = { model };
    if (apiBase) own.api_base = apiBase;
    if (apiKey) own.api_key = apiKey;
    return own;
  });
}

function describe(llm) {
  const chain = [llm.model || "the installation's model", ...llm.fallbacks.map((f) => (typeof f === "string" ? f : f.model))];
  const key = llm.has_api_key ? "its own key (stored encrypted)" : "the installation's key";
  return `${chain.join(" → ")}; ${llm.api_base ? `endpoint ${llm.api_base}, ` : ""}${key}.`;
}

export async function llmPanel(tenantId, { canChange }) {
  const path = `/tenants/${enc(tenantId)}/llm`;
  const box = h("section", { class: "card", id: "llm-settings" });
  async function show(llm) {
    const summary = h("p", { id: "llm-chain" }, describe(llm));
    if (!canChange) {
      replace(box, h("h2", {}, "LLM"), summary, h("p", { class: "muted" }, "An admin-scope key changes these."));
      return;
    }
    const list = h("div", { id: "llm-fallbacks" }, llm.fallbacks.map(fallbackRow));
    const form = h("form", { id: "llm-form", onsubmit: submitting(async (v) => {
      const body = { model: v.model, fallbacks: fallbacksOf(list) };
      if (v.api_base) body.api_base = v.api_base;
      if (v.clear_api_key) body.clear_api_key = true;
      else if (v.api_key) body.api_key = v.api_key;
      const saved = await put(path, body);
      flash(`Saved: ${describe(saved)} Every key was tried with its model first.`);
      await show(saved);
    }) },
    h("div", { class: "inline" },
      field("Model", h("input", { name: "model", value: llm.model || "", required: true, placeholder: "openai/gpt-4o-mini" })),
      field("Endpoint (optional, OpenAI-compatible)", h("input", { name: "api_base", type: "url", value: llm.api_base || "" })),
      field("API key (write-only)", h("input", { name: "api_key", type: "password", autocomplete: "new-password",
        placeholder: llm.has_api_key ? KEEP : "empty: the installation's key" })),
      llm.has_api_key ? h("label", { class: "check" }, h("input", { type: "checkbox", name: "clear_api_key" }), "delete the stored key") : null),
    h("h3", {}, "Fallbacks, tried in order"), list,
    h("p", {},
      h("button", { type: "button", class: "secondary", id: "add-fallback", onclick: () => list.append(fallbackRow(null)) }, "+ fallback"),
      " ", h("button", { type: "submit" }, "Save the model chain"), " ",
      action("Back to the installation's model", async () => {
        const reset = await del(path);
        flash("The tenant uses the installation's model, endpoint and key; its own key is deleted.");
        await show(reset);
      }, { class: "secondary", id: "reset-llm" })));
    replace(box, h("h2", {}, "LLM"), summary, form);
  }
  await show(await get(path));
  return box;
}
