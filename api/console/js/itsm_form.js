// An ITSM connection form built from what the plugin declares (GET /itsm-plugins), so a
// new ticketing system needs no console change. Secrets are write-only: never filled in,
// and the API never sends them.

import { h } from "./dom.js";

// The fields a tenant's current connection fills in; secrets are never among them.
function currentValue(spec, tenant) {
  if (!tenant) return spec.default || "";
  if (spec.api_field === "itsm_base_url") return tenant.itsm_base_url || "";
  if (spec.api_field === "itsm_flavor") return tenant.itsm_flavor || spec.default || "";
  if (spec.api_field.startsWith("itsm_options.")) return tenant.itsm_options?.[spec.name] ?? spec.default ?? "";
  return "";
}

function input(spec, tenant) {
  const attrs = { "data-api": spec.api_field, "data-required": spec.required ? "yes" : undefined };
  if (spec.choices.length) {
    const chosen = currentValue(spec, tenant);
    return h("select", attrs,
      spec.required ? null : h("option", { value: "" }, "(default)"),
      spec.choices.map((c) => h("option", { value: c, selected: c === chosen }, c)));
  }
  if (spec.secret) {
    return h("input", { ...attrs, type: "password", autocomplete: "new-password",
      placeholder: tenant?.has_itsm_credentials ? "stored: type it again to save a change" : spec.example || "" });
  }
  return h("input", { ...attrs, value: currentValue(spec, tenant), placeholder: spec.example || "" });
}

// The plugin's fields; those asked for only with some flavors follow the flavor chosen.
export function itsmFields(plugin, tenant) {
  const rows = plugin.fields.map((spec) => {
    const label = h("label", { "data-flavors": spec.flavors.join(" ") },
      `${spec.label.charAt(0).toUpperCase()}${spec.label.slice(1)}${spec.required ? "" : " (optional)"}${spec.secret ? " — write-only" : ""}`,
      input(spec, tenant),
      spec.help ? h("span", { class: "hint" }, spec.help) : null);
    return label;
  });
  const box = h("div", { class: "inline itsm-fields", "data-plugin": plugin.name }, rows);
  const flavorInput = box.querySelector("[data-api=itsm_flavor]");
  function follow() {
    const flavor = flavorInput ? flavorInput.value : "";
    for (const label of rows) {
      const wanted = label.dataset.flavors ? label.dataset.flavors.split(" ") : [];
      label.hidden = wanted.length > 0 && !wanted.includes(flavor);
    }
  }
  if (flavorInput) flavorInput.addEventListener("change", follow);
  follow();
  return box;
}

// The request's itsm_* members from the shown fields; empty ones are left out.
export function itsmBody(box) {
  const body = {};
  for (const element of box.querySelectorAll("[data-api]")) {
    if (element.closest("label").hidden) continue;
    const value = element.value.trim();
    if (!value) continue;
    const [member, name] = element.dataset.api.split(".");
    if (name) {
      body[member] = body[member] || {};
      body[member][name] = value;
    } else {
      body[member] = value;
    }
  }
  return body;
}
