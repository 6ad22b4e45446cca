// Enhancement history of one tenant, with filters, and its daily charts from the
// analytics warehouse. Shared by operators (any tenant) and tenant users (their own).

import { enc, get } from "./api.js";
import { badge, failed, field, h, replace, submitting, table, when } from "./dom.js";
import { barChart, lineChart, percent, seconds } from "./charts.js";

const STATUSES = ["", "succeeded", "stored", "failed", "processing"];

function isoOrUndefined(local) {
  return local ? new Date(local).toISOString() : undefined;
}

export async function dailyCharts(tenantId) {
  const rollups = await get(`/tenants/${enc(tenantId)}/analytics/rollups`);
  const days = rollups.daily;
  if (!days.length) {
    return h("p", { class: "muted", id: "daily-charts" },
      "No analytics yet: the warehouse fills daily (Dagster asset enhancement_daily_rollup).");
  }
  const labels = days.map((d) => String(d.day).slice(5));
  return h(
    "div",
    { class: "charts", id: "daily-charts" },
    barChart("Enhancements per day", labels, days.map((d) => d.enhancements)),
    lineChart("Success rate", labels, [{ name: "success rate", values: days.map((d) => d.success_rate) }],
      { format: percent, max: 1 }),
    lineChart("Processing time", labels, [
      { name: "p50", values: days.map((d) => d.p50_seconds) },
      { name: "p95", values: days.map((d) => d.p95_seconds) },
    ], { format: seconds }),
  );
}

function detail(tenantId, row, box) {
  replace(box, h("p", { class: "muted" }, "Loading…"));
  const ratings = h("div", { id: "event-ratings" });
  get(`/tenants/${enc(tenantId)}/enhancements/${enc(row.event_id)}/feedback`)
    .then((given) => replace(ratings, table([
      ["when", (f) => when(f.created_at)],
      ["rating", (f) => badge(f.helpful ? "helpful" : "not helpful")],
      ["by", (f) => f.technician || ""],
      ["comment", (f) => f.comment, "wrap"],
    ], given, { empty: "Not rated yet." })))
    .catch(failed);
  get(`/tenants/${enc(tenantId)}/enhancements/${enc(row.event_id)}`)
    .then((one) =>
      replace(
        box,
        h("h2", {}, `Event ${one.event_id} (ticket ${one.ticket_id})`),
        h("p", {}, badge(one.status), " ", one.synthesizer || "", " ", one.model || "",
          one.error ? ` — ${one.error_kind}: ${one.error}` : ""),
        h("h2", {}, "Note"), h("pre", { id: "event-note" }, one.output || "(none)"),
        h("h2", {}, "Technician ratings"), ratings,
        h("h2", {}, "Prompt"), h("pre", {}, one.prompt || "(none)"),
        h("h2", {}, "Context"), h("pre", {}, JSON.stringify(one.context, null, 2)),
      ),
    )
    .catch(failed);
}

export async function historyView(root, { tenants, fixedTenant }) {
  const results = h("div", { id: "history-results" });
  const one = h("section", { class: "card", id: "history-detail", hidden: true });
  const charts = h("div", {});
  const tenantInput = fixedTenant
    ? h("input", { name: "tenant", type: "hidden", value: fixedTenant })
    : h("select", { name: "tenant", id: "history-tenant" },
      tenants.map((t) => h("option", { value: t.tenant_id }, `${t.tenant_id} — ${t.display_name}`)));

  // A newer load (another tenant, other filters) wins: an answer of an older one that
  // arrives late must not overwrite the table or the charts it no longer matches.
  let latest = 0;

  async function load(filters) {
    const mine = ++latest;
    const tenantId = filters.tenant;
    if (!tenantId) {
      replace(results, h("p", { class: "muted" }, "Register a tenant first."));
      return;
    }
    const rows = await get(`/tenants/${enc(tenantId)}/enhancements`, {
      status: filters.status,
      ticket_id: filters.ticket_id,
      since: isoOrUndefined(filters.since),
      until: isoOrUndefined(filters.until),
      limit: filters.limit || 100,
    });
    if (mine !== latest) return;
    replace(results, table([
      ["when", (r) => when(r.created_at)],
      ["ticket", (r) => r.ticket_id],
      ["event", (r) => h("code", {}, r.event_id)],
      ["status", (r) => badge(r.status)],
      ["agent", (r) => (r.agent_id ? `${r.agent_id} v${r.agent_version}` : "")],
      ["synthesizer", (r) => r.synthesizer || ""],
      ["time", (r) => (r.timings && r.timings.total ? `${(r.timings.total / 1000).toFixed(2)}s` : "")],
      ["cost", (r) => (r.cost_usd === null ? "" : `$${r.cost_usd.toFixed(4)}`)],
      ["error", (r) => (r.error ? `${r.error_kind || ""}: ${r.error}` : ""), "wrap"],
    ], rows, {
      id: "history-table",
      empty: "No enhancement matches these filters.",
      onRow: (row) => { one.hidden = false; detail(tenantId, row, one); },
    }));
    dailyCharts(tenantId).then((c) => { if (mine === latest) replace(charts, c); }).catch(failed);
  }

  const form = h(
    "form",
    { class: "inline", id: "history-filters", onsubmit: submitting(load) },
    fixedTenant ? tenantInput : field("Tenant", tenantInput),
    field("Status", h("select", { name: "status" }, STATUSES.map((s) => h("option", { value: s }, s || "any")))),
    field("Since", h("input", { name: "since", type: "datetime-local" })),
    field("Until", h("input", { name: "until", type: "datetime-local" })),
    field("Ticket", h("input", { name: "ticket_id", placeholder: "ticket id" })),
    h("button", { type: "submit" }, "Show"),
  );
  replace(root,
    h("h1", {}, "Enhancement history"),
    h("section", { class: "card" }, form),
    h("section", { class: "card" }, charts),
    results, one);
  await load({ tenant: fixedTenant || (tenants[0] && tenants[0].tenant_id) });
}
