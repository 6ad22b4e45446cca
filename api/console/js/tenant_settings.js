// One tenant's settings, each panel through its own API route: profile, ITSM connection,
// webhook URLs and signing secrets, LLM chain, budget, triage, API keys, and its history
// over time. Operators see these for any tenant, a tenant user for its own; what a
// credential may not change is shown read-only, and the API decides either way.

import { del, enc, get, patch, post, put, token } from "./api.js";
import {
  action, badge, failed, field, flash, h, newSecret, replace, submitting, table, when,
} from "./dom.js";
import { dailyCharts } from "./history.js";
import { itsmBody, itsmFields } from "./itsm_form.js";
import { llmPanel } from "./llm_form.js";

const TRIAGE_FIELDS = ["category", "priority", "type"];

export function shownOnce(title, secret, id = "secret-once") {
  return h("div", { class: "secret", id },
    h("strong", {}, title), h("p", {}, "Copy it now: the API never shows it again."),
    h("pre", { class: "mono" }, secret));
}

function card(id, title, ...children) {
  return h("section", { class: "card", id }, h("h2", {}, title), ...children);
}

function profilePanel(tenant, { canChange, reload }) {
  const form = h("form", { class: "inline", id: "edit-tenant", onsubmit: submitting(async (v) => {
    const updated = await patch(`/tenants/${enc(tenant.tenant_id)}`, {
      display_name: v.display_name, mask_personal_data: v.mask_personal_data,
    });
    flash(`Saved ${updated.tenant_id}.`);
    await reload(updated);
  }) },
  field("Name", h("input", { name: "display_name", value: tenant.display_name, required: true, disabled: !canChange })),
  h("label", { class: "check" }, h("input", { type: "checkbox", name: "mask_personal_data", checked: tenant.mask_personal_data, disabled: !canChange }),
    "mask personal data before the LLM"),
  canChange ? h("button", { type: "submit" }, "Save") : null);
  return card("tenant-profile", "Profile", form, h("p", { class: "muted" }, `Registered ${when(tenant.created_at)}.`));
}

function itsmState(tenant, plugin) {
  const title = plugin ? plugin.title : tenant.itsm_source;
  if (!tenant.itsm_base_url) return `${title}: no address, so notes are stored, not posted.`;
  return `${title} at ${tenant.itsm_base_url}${tenant.has_itsm_credentials ? ", credentials stored" : ", no credentials"}.`;
}

async function itsmPanel(tenant, { canChange, reload }) {
  const plugins = await get("/itsm-plugins");
  const plugin = plugins.find((p) => p.name === tenant.itsm_source);
  const state = h("p", { id: "itsm-state" }, itsmState(tenant, plugin));
  if (!canChange || !plugin) return card("itsm-settings", "ITSM connection", state);
  const result = h("div", { id: "itsm-check" });
  const fields = itsmFields(plugin, tenant);
  const form = h("form", { id: "itsm-form", onsubmit: submitting(async (v) => {
    const body = { ...itsmBody(fields), check_itsm_credentials: v.check };
    replace(result, h("p", { class: "muted" }, v.check ? `Trying the credentials against ${plugin.title}…` : "Saving…"));
    let updated;
    try {
      updated = await patch(`/tenants/${enc(tenant.tenant_id)}`, body);
    } catch (error) {
      replace(result, h("p", { class: "result bad" }, `Not saved: ${error.message}`));
      throw error;
    }
    replace(result, h("p", { class: "result ok" }, v.check
      ? `${plugin.title} accepted the credentials; the connection is saved.`
      : "Saved without trying the credentials."));
    state.textContent = itsmState(updated, plugin);
    await reload(updated);
  }) },
  h("p", { class: "muted" }, "Saving replaces the whole connection: give every secret again."),
  fields,
  h("p", { class: "inline" },
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "check", checked: true }), "try the credentials before saving"),
    h("button", { type: "submit" }, "Save the connection")));
  return card("itsm-settings", "ITSM connection", state, form, result);
}

function webhookPanel(tenant, { canChange }) {
  const urls = Object.entries(tenant.webhook_urls || {});
  const rotation = h("div", {});
  const once = h("div", {});
  async function show() {
    const hook = await get(`/tenants/${enc(tenant.tenant_id)}/webhook`);
    const line = h("p", { id: "signing-secrets" }, `${hook.signing_secrets} signing secret(s) current; scheme ${hook.webhook_scheme}; `,
      `${hook.effective_rate_per_minute} webhooks/min; changes apply within ${hook.takes_effect_within_seconds}s.`);
    if (!canChange) {
      replace(rotation, line);
      return;
    }
    const options = h("form", { class: "inline", id: "webhook-options", onsubmit: submitting(async (v) => {
      await patch(`/tenants/${enc(tenant.tenant_id)}/webhook`, {
        webhook_scheme: v.webhook_scheme,
        webhook_rate_per_minute: v.rate ? Number(v.rate) : null,
      });
      flash("Webhook settings saved.");
      await show();
    }) },
    field("Signature scheme", h("select", { name: "webhook_scheme" },
      [["native", "the ITSM's own header"], ["standard", "Standard Webhooks"]].map(([value, text]) =>
        h("option", { value, selected: value === hook.webhook_scheme }, text)))),
    field("Webhooks per minute", h("input", { name: "rate", type: "number", min: "1", value: hook.webhook_rate_per_minute ?? "",
      placeholder: `platform default (${hook.effective_rate_per_minute})` })),
    h("button", { type: "submit", class: "secondary" }, "Save"));
    replace(rotation, line,
      h("p", {},
        action("Rotate: add a new secret", async () => {
          const secret = newSecret();
          await post(`/tenants/${enc(tenant.tenant_id)}/webhook-secrets`, { secret });
          replace(once, shownOnce("New signing secret (the old one still verifies until you finish)", secret, "rotated-secret"));
          await show();
        }, { id: "rotate-secret" }),
        " ",
        action("Finish rotation: drop the previous secret", async () => {
          await del(`/tenants/${enc(tenant.tenant_id)}/webhook-secrets/previous`);
          replace(once);
          flash("Only the newest secret verifies now.");
          await show();
        }, { class: "secondary", id: "finish-rotation", disabled: hook.signing_secrets < 2 })),
      options);
  }
  show().catch(failed);
  return card("webhook-settings", "Webhook URLs and signing",
    table([["event", (u) => u[0]], ["URL", (u) => h("code", {}, u[1]), "wrap"]], urls, { id: "webhook-urls" }),
    once, rotation);
}

async function budgetPanel(tenant, { operator }) {
  const path = `/tenants/${enc(tenant.tenant_id)}/llm/budget`;
  const box = card("budget-settings", "Monthly LLM budget");
  async function show(budget) {
    const limit = budget.effective_monthly_usd;
    const share = limit ? Math.min(1, budget.spent_this_month_usd / limit) : 0;
    const parts = [
      h("p", { id: "budget-state" }, badge(budget.state), ` $${budget.spent_this_month_usd.toFixed(2)} spent this month (UTC) of `,
        limit === null ? "no limit" : `$${limit.toFixed(2)}`,
        budget.monthly_usd === null ? " (the platform default)" : " (this tenant's own limit)", "."),
      limit ? h("div", { class: `meter ${budget.state}`, role: "img", "aria-label": `${Math.round(share * 100)}% of the budget spent` },
        h("span")) : null,
    ];
    if (operator) {
      parts.push(h("form", { class: "inline", id: "budget-form", onsubmit: submitting(async (v) => {
        const saved = await put(path, { monthly_usd: v.monthly_usd === undefined ? null : Number(v.monthly_usd) });
        flash(saved.monthly_usd === null ? "Budget: back to the platform default." : `Budget set to $${saved.monthly_usd.toFixed(2)} a month.`);
        await show(saved);
      }) },
      field("Limit in USD a month", h("input", { name: "monthly_usd", type: "number", min: "0", step: "0.01",
        value: budget.monthly_usd ?? "", placeholder: "empty: the platform default" })),
      h("button", { type: "submit" }, "Save the budget")));
    } else {
      parts.push(h("p", { class: "muted" }, "Only the platform operator sets the limit. When it is spent, notes are composed offline."));
    }
    replace(box, h("h2", {}, "Monthly LLM budget"), ...parts);
    const bar = box.querySelector(".meter > span");
    // Set as a property: the console's style policy refuses inline style attributes.
    if (bar) bar.style.width = `${Math.round(share * 100)}%`;
  }
  await show(await get(path));
  return box;
}

async function triagePanel(tenant, { canChange }) {
  const path = `/tenants/${enc(tenant.tenant_id)}/triage`;
  const box = card("triage-settings", "Triage");
  async function show(policy) {
    const form = h("form", { class: "inline", id: "triage-form", onsubmit: submitting(async (v) => {
      const saved = await put(path, {
        write_fields: v.write_fields,
        threshold: Number(v.threshold),
        fields: TRIAGE_FIELDS.filter((f) => v[`field_${f}`]),
      });
      flash(saved.write_fields ? `Suggestions from ${saved.threshold} confidence are written to ${saved.fields.join(", ") || "no field"}.`
        : "Suggestions are shown in the note only.");
      await show(saved);
    }) },
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "write_fields", checked: policy.write_fields, disabled: !canChange }),
      "write suggestions to the ticket's own fields"),
    field("From confidence", h("input", { name: "threshold", type: "number", min: "0.05", max: "1", step: "0.05",
      value: policy.threshold, disabled: !canChange })),
    TRIAGE_FIELDS.map((f) => h("label", { class: "check" },
      h("input", { type: "checkbox", name: `field_${f}`, checked: policy.fields.includes(f), disabled: !canChange }), f)),
    canChange ? h("button", { type: "submit" }, "Save triage") : null);
    replace(box, h("h2", {}, "Triage"),
      h("p", { class: "muted" }, "Category, priority and type suggestions are always in the note and the history."), form);
  }
  await show(await get(path));
  return box;
}

// The key this console signed in with (aiok_<tenant>.<key id>.<secret>), so revoking it
// is not a surprise.
function ownKeyId() {
  const parts = (token() || "").split(".");
  return parts.length === 3 ? parts[1] : null;
}

async function keysPanel(tenant, { canChange }) {
  const path = `/tenants/${enc(tenant.tenant_id)}/api-keys`;
  const box = card("api-keys", "API keys");
  if (!canChange) {
    box.append(h("p", { class: "muted" }, "An admin-scope key lists, makes and revokes keys."));
    return box;
  }
  const once = h("div", {});
  const list = h("div", {});
  async function reloadKeys() {
    const keys = await get(path);
    replace(list, table([
      ["key", (k) => h("code", {}, k.key_id)],
      ["name", (k) => k.name, "wrap"],
      ["scope", (k) => k.scope],
      ["created", (k) => when(k.created_at)],
      ["last used", (k) => when(k.last_used_at) || h("span", { class: "muted" }, "never")],
      ["", (k) => (k.revoked_at ? h("span", { class: "bad" }, `revoked ${when(k.revoked_at)}`)
        : action(k.key_id === ownKeyId() ? "Revoke (signs this console out)" : "Revoke", async () => {
          await del(`${path}/${enc(k.key_id)}`);
          replace(once);
          flash(`Key ${k.key_id} is revoked: it is refused from now on.`);
          await reloadKeys();
        }, { class: "danger revoke", "data-key": k.key_id }))],
    ], keys, { id: "api-keys-table", empty: "No API key yet." }));
  }
  const form = h("form", { class: "inline", id: "create-key", onsubmit: submitting(async (v, f) => {
    const made = await post(path, { name: v.name, scope: v.scope });
    f.reset();
    replace(once, shownOnce(`API key ${made.key_id} (${made.scope})`, made.token, "new-key"));
    await reloadKeys();
  }) },
  field("What it is for", h("input", { name: "name", required: true, placeholder: "dashboard" })),
  field("Scope", h("select", { name: "scope" }, h("option", { value: "read" }, "read: look only"), h("option", { value: "admin" }, "admin: also change"))),
  h("button", { type: "submit" }, "Make a key"));
  box.append(form, once, list);
  await reloadKeys();
  return box;
}

function historyPanel(tenant) {
  const box = h("div", {}, h("p", { class: "muted" }, "Loading figures…"));
  dailyCharts(tenant.tenant_id).then((charts) => replace(box, charts)).catch(failed);
  return card("tenant-history", "History over time", box);
}

// Panels load side by side; one that fails (a route a key may not use) says so in place
// instead of hiding the others.
async function settled(promise, id, title) {
  try {
    return await promise;
  } catch (error) {
    return card(id, title, h("p", { class: "bad" }, error.message));
  }
}

// who: {operator, admin}; reload(tenant) tells the page around it that the tenant changed.
export async function tenantSettings(tenant, who, reload = async () => {}) {
  const title = h("h1", { id: "tenant-title" });
  const named = (t) => replace(title, `${t.display_name} `, h("span", { class: "muted" }, `(${t.tenant_id})`));
  named(tenant);
  const context = {
    canChange: who.operator || who.admin,
    operator: who.operator,
    reload: async (changed) => { named(changed); await reload(changed); },
  };
  const panels = await Promise.all([
    settled(itsmPanel(tenant, context), "itsm-settings", "ITSM connection"),
    settled(llmPanel(tenant.tenant_id, context), "llm-settings", "LLM"),
    settled(budgetPanel(tenant, context), "budget-settings", "Monthly LLM budget"),
    settled(triagePanel(tenant, context), "triage-settings", "Triage"),
    settled(keysPanel(tenant, context), "api-keys", "API keys"),
  ]);
  return [
    title,
    h("div", { class: "settings" }, profilePanel(tenant, context), webhookPanel(tenant, context), ...panels),
    historyPanel(tenant),
  ];
}
