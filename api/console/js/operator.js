// Operator pages (the admin token): system health, tenants, dead letters.

import { enc, get, post } from "./api.js";
import {
  action, badge, failed, field, flash, h, newSecret, replace, submitting, table, when,
} from "./dom.js";
import { lineChart } from "./charts.js";
import { itsmBody, itsmFields } from "./itsm_form.js";
import { shownOnce, tenantSettings } from "./tenant_settings.js";

// Queue depth is sampled while the health page is open: the API answers with "now",
// the chart shows the last few minutes of answers.
const SAMPLES = 60;
const samples = [];
let timer = null;

export function stopPolling() {
  if (timer) clearInterval(timer);
  timer = null;
}

function depthChart() {
  const streams = [...new Set(samples.flatMap((s) => Object.keys(s.depth)))].sort();
  const labels = samples.map((s) => s.at.toISOString().slice(11, 19));
  const total = { name: "all streams", values: samples.map((s) => (s.ok ? Object.values(s.depth).reduce((a, b) => a + b, 0) : null)) };
  const each = streams.slice(0, 3).map((name) => ({ name, values: samples.map((s) => (s.ok ? s.depth[name] ?? 0 : null)) }));
  return lineChart("Queue depth (events not finished yet)", labels, [total, ...each]);
}

function healthBody(health) {
  const q = health.queue_depth;
  return [
    h("h1", {}, "System health ", h("span", { id: "system-status" }, badge(health.status))),
    h("div", { class: "grid" },
      h("section", { class: "card" }, h("h2", {}, "Services"),
        table([["service", (c) => c[0]], ["state", (c) => badge(c[1])]], Object.entries(health.checks), { id: "checks" })),
      h("section", { class: "card" }, h("h2", {}, "Dead letters"),
        h("p", { id: "dead-letter-count" }, health.dead_letters === null ? "unknown (Redis is down)" : `${health.dead_letters} waiting`),
        h("a", { href: "#/dead-letters" }, "Open the dead-letter stream"))),
    h("section", { class: "card" }, h("h2", {}, "Processes"),
      health.supervised
        ? table([
          ["process", (c) => c.name],
          ["state", (c) => badge(c.state)],
          ["restarts", (c) => c.restarts],
          ["last exit", (c) => c.last_exit || "", "wrap"],
        ], health.components, { id: "components" })
        : h("p", { class: "muted", id: "components" },
          "No 'aiops up' supervisor runs beside this API; the orchestrator watches the processes.")),
    h("section", { class: "card", id: "queue-depth" },
      q.error ? h("p", { class: "warn" }, `Queue depth unknown: ${q.error}`) : null,
      depthChart(),
      health.stream_entries
        ? h("details", {}, h("summary", {}, "Entries kept per stream (finished ones included)"),
          table([["stream", (e) => e[0]], ["entries", (e) => e[1]]], Object.entries(health.stream_entries)))
        : null),
    h("section", { class: "card" }, h("h2", {}, "Recent failures"),
      health.recent_failures === null
        ? h("p", { class: "bad" }, "unknown (PostgreSQL is down)")
        : table([
          ["when", (f) => when(f.created_at)],
          ["tenant", (f) => f.tenant_id],
          ["ticket", (f) => f.ticket_id],
          ["kind", (f) => f.error_kind || ""],
          ["error", (f) => f.error || "", "wrap"],
        ], health.recent_failures, { id: "recent-failures", empty: "No failed enhancements." })),
  ];
}

export async function healthView(root) {
  stopPolling();
  async function refresh() {
    const health = await get("/system/health");
    samples.push({ at: new Date(), depth: health.queue_depth.depth, ok: !health.queue_depth.error });
    while (samples.length > SAMPLES) samples.shift();
    replace(root, ...healthBody(health));
  }
  await refresh();
  timer = setInterval(() => refresh().catch(failed), 5000);
}

function tenantIdInHash() {
  const id = window.location.hash.split("?")[0].replace(/^#\/tenants\/?/, "").split("/")[0];
  return id ? decodeURIComponent(id) : null;
}

function createForm(plugins, created, { onCreated }) {
  const fieldsBox = h("div", {});
  const source = h("select", { name: "itsm_source", id: "create-itsm-source" },
    // Preselected as the API's own default itsm_source.
    plugins.map((p) => h("option", { value: p.name, selected: p.name === "servicedesk" }, p.title)));
  function showFields() {
    const plugin = plugins.find((p) => p.name === source.value);
    replace(fieldsBox, plugin ? itsmFields(plugin, null) : null);
  }
  source.addEventListener("change", showFields);
  showFields();
  const form = h("form", { id: "create-tenant", onsubmit: submitting(async (v, f) => {
    const secret = newSecret();
    const itsm = itsmBody(fieldsBox);
    const body = { tenant_id: v.tenant_id, display_name: v.display_name, itsm_source: v.itsm_source, webhook_secret: secret, ...itsm };
    if (Object.keys(itsm).length) body.check_itsm_credentials = v.check;
    const tenant = await post("/tenants", body);
    f.reset();
    showFields();
    flash(`Registered ${tenant.tenant_id}.`);
    await onCreated(tenant, shownOnce(`Webhook signing secret of ${tenant.tenant_id}`, secret));
  }) },
  h("div", { class: "inline" },
    field("Tenant id", h("input", { name: "tenant_id", required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,62}", placeholder: "acme" })),
    field("Name", h("input", { name: "display_name", required: true, placeholder: "Acme Corp" })),
    field("Ticketing system", source)),
  h("p", { class: "muted" }, "The ITSM connection is optional: without it notes are stored, not posted."),
  fieldsBox,
  h("p", { class: "inline" },
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "check", checked: true }), "try the ITSM credentials first"),
    h("button", { type: "submit" }, "Register")));
  return h("details", { class: "card", id: "register", open: false },
    h("summary", {}, h("strong", {}, "Register a tenant")), form, created);
}

export async function tenantsView(root) {
  const list = h("section", { class: "card", id: "tenant-list" });
  const one = h("div", { id: "tenant-detail" });
  const created = h("div", {});
  async function reload() {
    const tenants = await get("/tenants");
    replace(list, table([
      ["tenant", (t) => h("a", { href: `#/tenants/${enc(t.tenant_id)}` }, t.tenant_id)],
      ["name", (t) => t.display_name, "wrap"],
      ["ITSM", (t) => `${t.itsm_source}${t.itsm_base_url ? ` at ${t.itsm_base_url}` : " (notes stored, not posted)"}`, "wrap"],
      ["LLM", (t) => t.llm_model || "default"],
      ["created", (t) => when(t.created_at)],
    ], tenants, { id: "tenants-table", empty: "No tenant yet.", onRow: (t) => openTenant(t) }));
    return tenants;
  }
  // Opening a tenant keeps the list and names the tenant in the address (pushState: no
  // hashchange, so a secret shown once stays on screen).
  async function openTenant(tenant, notice = null) {
    history.pushState(null, "", `#/tenants/${enc(tenant.tenant_id)}`);
    replace(one, h("p", { class: "muted" }, "Loading…"));
    replace(one, notice, ...(await tenantSettings(tenant, { operator: true }, reload)));
    one.scrollIntoView();
  }
  const plugins = await get("/itsm-plugins");
  const register = createForm(plugins, created, {
    onCreated: async (tenant, secret) => {
      register.open = false;
      await reload();
      await openTenant(tenant, secret);
    },
  });
  const tenants = await reload();
  register.open = !tenants.length;
  replace(root, h("h1", {}, "Tenants"), list, register, one);
  const wanted = tenantIdInHash();
  const chosen = wanted && tenants.find((t) => t.tenant_id === wanted);
  if (chosen) await openTenant(chosen);
  else if (wanted) flash(`No tenant ${wanted}.`, "error");
}

export async function deadLettersView(root) {
  const box = h("div", {});
  async function reload() {
    const page = await get("/dead-letters", { limit: 200 });
    const replayable = page.letters.filter((l) => l.replayable);
    replace(box,
      replayable.length > 1
        ? h("p", {}, action(`Replay all ${replayable.length} shown`, async () => {
          let done = 0;
          for (const letter of replayable) {
            await post(`/dead-letters/${enc(letter.entry_id)}/replay`);
            done += 1;
          }
          flash(`Replayed ${done} dead letters.`);
          await reload();
        }, { id: "replay-all" }))
        : null,
      h("p", { id: "dead-letter-total" }, `${page.total} dead letter(s); the oldest ${page.letters.length} shown. `,
        "Fix the cause first (credentials, the ITSM being down, a bug): a letter that fails again lands here again."),
      table([
        ["entry", (l) => h("code", {}, l.entry_id)],
        ["tenant", (l) => l.tenant_id || "?"],
        ["ticket", (l) => l.ticket_id || "?"],
        ["kind", (l) => l.fields.error_kind || ""],
        ["error", (l) => l.fields.error || l.fields.reason || "", "wrap"],
        ["", (l) => (l.replayable
          ? action("Replay", async () => {
            const done = await post(`/dead-letters/${enc(l.entry_id)}/replay`);
            flash(`Replayed ${done.entry_id} to ${done.stream}.`);
            await reload();
          }, { "data-entry": l.entry_id, class: "replay" })
          : h("span", { class: "muted" }, "not replayable"))],
      ], page.letters, { id: "dead-letters", empty: "The dead-letter stream is empty." }));
  }
  replace(root, h("h1", {}, "Dead letters"), box);
  await reload();
}
