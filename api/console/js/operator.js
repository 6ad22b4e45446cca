// Operator pages (the admin token): system health, tenants, dead letters.

import { del, enc, get, patch, post } from "./api.js";
import {
  action, badge, failed, field, flash, h, newSecret, replace, submitting, table, when,
} from "./dom.js";
import { lineChart } from "./charts.js";

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

function shownOnce(title, secret, id = "secret-once") {
  return h("div", { class: "secret", id },
    h("strong", {}, title), h("p", {}, "Copy it now: the API never shows it again."),
    h("pre", { class: "mono" }, secret));
}

function tenantDetail(tenant, box, reload) {
  const urls = Object.entries(tenant.webhook_urls || {});
  const rotation = h("div", {});
  async function showWebhook() {
    const hook = await get(`/tenants/${enc(tenant.tenant_id)}/webhook`);
    replace(rotation,
      h("p", { id: "signing-secrets" }, `${hook.signing_secrets} signing secret(s) current; scheme ${hook.webhook_scheme}; `,
        `${hook.effective_rate_per_minute} webhooks/min; changes apply within ${hook.takes_effect_within_seconds}s.`),
      action("Rotate: add a new secret", async () => {
        const secret = newSecret();
        await post(`/tenants/${enc(tenant.tenant_id)}/webhook-secrets`, { secret });
        await showWebhook();
        rotation.prepend(shownOnce("New signing secret (the old one still verifies until you finish)", secret, "rotated-secret"));
      }, { id: "rotate-secret" }),
      " ",
      action("Finish rotation: drop the previous secret", async () => {
        await del(`/tenants/${enc(tenant.tenant_id)}/webhook-secrets/previous`);
        flash("Only the newest secret verifies now.");
        await showWebhook();
      }, { class: "secondary", id: "finish-rotation", disabled: hook.signing_secrets < 2 }));
  }
  const edit = h("form", { class: "inline", id: "edit-tenant", onsubmit: submitting(async (v) => {
    const updated = await patch(`/tenants/${enc(tenant.tenant_id)}`, {
      display_name: v.display_name, mask_personal_data: v.mask_personal_data,
    });
    flash(`Saved ${updated.tenant_id}.`);
    await reload();
  }) },
  field("Name", h("input", { name: "display_name", value: tenant.display_name, required: true })),
  h("label", { class: "check" }, h("input", { type: "checkbox", name: "mask_personal_data", checked: tenant.mask_personal_data }), "mask personal data"),
  h("button", { type: "submit" }, "Save"));
  replace(box,
    h("h2", {}, `${tenant.tenant_id} — ${tenant.display_name}`),
    edit,
    h("h2", {}, "Webhook URLs"),
    table([["event", (u) => u[0]], ["URL", (u) => h("code", {}, u[1])]], urls, { id: "webhook-urls" }),
    h("h2", {}, "Signing secrets"), rotation);
  box.hidden = false;
  showWebhook().catch(failed);
}

export async function tenantsView(root) {
  const list = h("div", { id: "tenant-list" });
  const one = h("section", { class: "card", id: "tenant-detail", hidden: true });
  const created = h("div", {});
  async function reload() {
    const tenants = await get("/tenants");
    replace(list, table([
      ["tenant", (t) => h("code", {}, t.tenant_id)],
      ["name", (t) => t.display_name],
      ["ITSM", (t) => `${t.itsm_source}${t.itsm_base_url ? ` at ${t.itsm_base_url}` : " (notes stored, not posted)"}`],
      ["LLM", (t) => t.llm_model || "default"],
      ["created", (t) => when(t.created_at)],
    ], tenants, { id: "tenants-table", empty: "No tenant yet.", onRow: (t) => tenantDetail(t, one, reload) }));
    return tenants;
  }
  const form = h("form", { class: "inline", id: "create-tenant", onsubmit: submitting(async (v, f) => {
    const secret = newSecret();
    const body = { tenant_id: v.tenant_id, display_name: v.display_name, itsm_source: v.itsm_source, webhook_secret: secret };
    if (v.itsm_base_url) Object.assign(body, { itsm_base_url: v.itsm_base_url, itsm_flavor: v.itsm_flavor, itsm_api_key: v.itsm_api_key });
    const tenant = await post("/tenants", body);
    f.reset();
    replace(created, shownOnce(`Webhook signing secret of ${tenant.tenant_id}`, secret));
    await reload();
    tenantDetail(tenant, one, reload);
  }) },
  field("Tenant id", h("input", { name: "tenant_id", required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,62}", placeholder: "acme" })),
  field("Name", h("input", { name: "display_name", required: true, placeholder: "Acme Corp" })),
  field("ITSM", h("select", { name: "itsm_source" }, h("option", { value: "servicedesk" }, "ServiceDesk Plus"), h("option", { value: "jira" }, "Jira Service Management"))),
  field("ITSM URL (optional)", h("input", { name: "itsm_base_url", type: "url", placeholder: "https://sdp.acme.example" })),
  field("Edition", h("select", { name: "itsm_flavor" }, ["onprem", "cloud", "datacenter"].map((x) => h("option", { value: x }, x)))),
  field("ITSM API key", h("input", { name: "itsm_api_key", type: "password", autocomplete: "off" })),
  h("button", { type: "submit" }, "Register"));
  replace(root, h("h1", {}, "Tenants"),
    h("section", { class: "card" }, h("h2", {}, "Register a tenant"), form, created),
    list, one);
  await reload();
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
