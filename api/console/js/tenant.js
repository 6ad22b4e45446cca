// Tenant pages (a tenant API key): agents and versions, the sandbox with its trace, test
// cases, deploy and rollback, per-version charts. Routes: #/agents, #/agents/<id>,
// #/agents/<id>/v/<version>. A read key sees everything but the controls that change
// (the API refuses those to it either way).

import { ApiError, del, enc, get, post } from "./api.js";
import {
  action, badge, failed, field, flash, h, replace, submitting, table, when,
} from "./dom.js";
import { barChart, dollars, groupedBarChart, percent, seconds } from "./charts.js";
import { traceView } from "./trace.js";

const KINDS = ["mentions", "cites", "avoids", "shorter_than", "category", "succeeds"];

function base(tenantId) {
  return `/tenants/${enc(tenantId)}/agents`;
}

// The sandbox worker runs sandbox runs, test cases and activations; one it has not finished
// within the API's wait comes back 202 as a job. This polls it and gives what the API would
// have answered: the run, the test outcome, or the deployment.
async function settled(answer, agentPath) {
  if (!answer || !answer.job_id || !answer.poll) return answer;
  let job = answer;
  while (job.status === "queued" || job.status === "running") {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    job = await get(job.poll);
  }
  if (job.status === "refused") throw new ApiError(409, job.error);
  if (job.status !== "done") throw new ApiError(500, `the sandbox worker could not run it: ${job.error}`);
  if (job.kind === "activate") return job.outcome.deployment;
  const runs = await Promise.all(job.run_ids.map((id) => get(`${agentPath}/runs/${enc(id)}`)));
  if (job.kind === "sandbox") return runs[0];
  const failedCount = runs.filter((r) => !r.passed).length;
  return { agent_id: job.agent_id, version: job.version, passed: failedCount === 0, total: runs.length, failed: failedCount, results: runs };
}

const READ_ONLY = "This is a read key: an admin-scope key makes versions, runs the sandbox and test cases, and deploys.";

// who: {operator, admin}, as for the settings page.
export async function agentsView(root, tenantId, who) {
  const canChange = who.operator || who.admin;
  const parts = window.location.hash.replace(/^#\/agents\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length >= 3 && parts[1] === "v") return versionView(root, tenantId, canChange, parts[0], Number(parts[2]));
  if (parts.length >= 1) return agentView(root, tenantId, canChange, parts[0]);
  return agentListView(root, tenantId, canChange);
}

async function agentListView(root, tenantId, canChange) {
  const agents = await get(base(tenantId));
  if (!canChange) {
    replace(root, h("h1", {}, "Agents"), agentsTable(agents), h("p", { class: "muted", id: "read-only" }, READ_ONLY));
    return;
  }
  const form = h("form", { class: "inline", id: "create-agent", onsubmit: submitting(async (v) => {
    const spec = await get(`${base(tenantId)}/default-spec`);
    if (v.instructions) spec.instructions = v.instructions;
    const agent = await post(base(tenantId), {
      agent_id: v.agent_id, name: v.name, description: v.description || "",
      priority: Number(v.priority || 100), spec,
    });
    flash(`Agent ${agent.agent_id} created with version 1 (inactive until you deploy it).`);
    window.location.hash = `#/agents/${enc(agent.agent_id)}`;
  }) },
  field("Agent id", h("input", { name: "agent_id", required: true, placeholder: "email" })),
  field("Name", h("input", { name: "name", required: true, placeholder: "E-mail tickets" })),
  field("Priority", h("input", { name: "priority", type: "number", value: "100", min: "0", max: "10000" })),
  field("Description", h("input", { name: "description" })),
  field("Instructions to the model", h("textarea", { name: "instructions", rows: "3", placeholder: "Answer in short bullet points…" })),
  h("button", { type: "submit" }, "Create"));
  replace(root, h("h1", {}, "Agents"), agentsTable(agents), h("section", { class: "card" }, h("h2", {}, "New agent"), form));
}

function agentsTable(agents) {
  return table([
    ["agent", (a) => h("a", { href: `#/agents/${enc(a.agent_id)}` }, a.agent_id)],
    ["name", (a) => a.name],
    ["priority", (a) => a.priority],
    ["active", (a) => (a.active_version === null ? h("span", { class: "muted" }, "none") : `v${a.active_version}`)],
    ["previous", (a) => (a.previous_version === null ? "" : `v${a.previous_version}`)],
    ["shadow", (a) => a.shadow_versions.map((s) => `v${s}`).join(", ")],
    ["latest", (a) => (a.latest_version === null ? "" : `v${a.latest_version}`)],
  ], agents, { id: "agents-table", empty: "No agent yet: every ticket gets the default agent (today's behaviour)." });
}

function metricsCharts(metrics) {
  const rows = metrics.versions;
  if (!rows.some((m) => m.volume || m.helpful || m.not_helpful)) return h("p", { class: "muted", id: "version-charts" }, "No live or shadow events for this agent yet.");
  const labels = rows.map((m) => `v${m.version} (${m.state})`);
  const secondsOf = (ms) => (ms === null ? null : ms / 1000);
  return h("div", { class: "charts", id: "version-charts" },
    barChart("Volume (events)", labels, rows.map((m) => m.volume)),
    barChart("Success rate", labels, rows.map((m) => m.success_rate), { format: percent, max: 1, empty: "No finished event yet." }),
    groupedBarChart("Time per event", labels, [
      { name: "p50", values: rows.map((m) => secondsOf(m.p50_ms)) },
      { name: "p95", values: rows.map((m) => secondsOf(m.p95_ms)) },
    ], { format: seconds }),
    barChart("Cost", labels, rows.map((m) => m.cost_usd), { format: dollars, empty: "Nothing spent (offline or cached notes)." }),
    groupedBarChart("Tokens", labels, [
      { name: "prompt", values: rows.map((m) => m.prompt_tokens) },
      { name: "completion", values: rows.map((m) => m.completion_tokens) },
    ]),
    groupedBarChart("Technician ratings", labels, [
      { name: "helpful", values: rows.map((m) => m.helpful) },
      { name: "not helpful", values: rows.map((m) => m.not_helpful) },
    ], { empty: "No technician has rated a note of this agent yet." }));
}

async function agentView(root, tenantId, canChange, agentId) {
  const path = `${base(tenantId)}/${enc(agentId)}`;
  const [agent, versions, deployments] = await Promise.all([
    get(path), get(`${path}/versions`), get(`${path}/deployments`, { limit: 20 }),
  ]);
  const charts = h("div", {}, h("p", { class: "muted" }, "Loading figures…"));
  get(`${path}/metrics`, { days: 30 }).then((m) => replace(charts, metricsCharts(m))).catch(failed);
  const comparison = h("div", { id: "shadow-comparison" });
  if (agent.shadow_versions.length) {
    get(`${path}/shadow-comparison`, { limit: 20 }).then((rows) => replace(comparison,
      h("h2", {}, "Shadow versions beside the active one, on the same live tickets"),
      table([
        ["ticket", (r) => r.ticket_id],
        ["active", (r) => h("div", {}, `v${r.active_version ?? "?"} `, badge(r.active_status), h("pre", {}, r.active_note || ""))],
        ["shadow", (r) => r.shadows.map((x) => h("div", {}, `v${x.version} `, badge(x.status), h("pre", {}, x.note || "")))],
      ], rows, { empty: "No live ticket has reached a shadow version yet." }))).catch(failed);
  }
  const latest = versions[0];
  const newVersion = canChange ? await newVersionForm(tenantId, agentId, latest) : null;
  const reload = () => agentView(root, tenantId, canChange, agentId);
  replace(root,
    h("p", {}, h("a", { href: "#/agents" }, "← Agents")),
    h("h1", {}, `${agent.name} `, h("span", { class: "muted" }, `(${agent.agent_id}, priority ${agent.priority})`)),
    h("section", { class: "card", id: "deployment-state" },
      h("p", {}, "Active: ", agent.active_version === null ? h("strong", { id: "active-version" }, "none")
        : h("strong", { id: "active-version" }, `v${agent.active_version}`),
      " · previous: ", h("span", { id: "previous-version" }, agent.previous_version === null ? "none" : `v${agent.previous_version}`),
      agent.shadow_versions.length ? ` · shadow: ${agent.shadow_versions.map((s) => `v${s}`).join(", ")}` : ""),
      canChange ? deploymentControls(path, agent, reload) : h("p", { class: "muted", id: "read-only" }, READ_ONLY)),
    h("section", { class: "card" }, h("h2", {}, "Per version, last 30 days"), charts, comparison),
    h("section", { class: "card" }, h("h2", {}, "Versions"),
      table([
        ["version", (v) => h("a", { href: `#/agents/${enc(agentId)}/v/${v.version}` }, `v${v.version}`)],
        ["state", (v) => badge(v.state)],
        ["test cases", (v) => v.test_cases],
        ["comment", (v) => v.comment, "wrap"],
        ["by", (v) => v.created_by],
        ["created", (v) => when(v.created_at)],
      ], versions, { id: "versions-table", empty: "No version yet." })),
    newVersion ? h("section", { class: "card" }, h("h2", {}, "New version"), newVersion) : null,
    h("section", { class: "card" }, h("h2", {}, "Deployments"),
      table([
        ["when", (d) => when(d.created_at)],
        ["action", (d) => d.action],
        ["version", (d) => (d.version === null ? "" : `v${d.version}`)],
        ["from", (d) => (d.previous_version === null ? "" : `v${d.previous_version}`)],
        ["who", (d) => d.actor],
        ["tests", (d) => (d.tests_total === null ? "" : `${d.tests_passed}/${d.tests_total}`)],
        ["override", (d) => (d.overridden ? `yes: ${d.reason}` : "")],
      ], deployments, { id: "deployments-table", empty: "Never deployed." })));
}

function deploymentControls(path, agent, reload) {
  return [
    action("Roll back to the previous version", async () => {
      const d = await post(`${path}/rollback`, { reason: "rolled back from the console" });
      flash(`Rolled back: v${d.version} is active again.`);
      await reload();
    }, { id: "rollback", class: "danger", disabled: agent.previous_version === null }),
    " ",
    action("Deactivate", async () => {
      await post(`${path}/deactivate`, { reason: "deactivated from the console" });
      flash("Deactivated: its tickets get the next agent that applies, or the default.");
      await reload();
    }, { class: "secondary", id: "deactivate", disabled: agent.active_version === null }),
  ];
}

async function newVersionForm(tenantId, agentId, latest) {
  const path = `${base(tenantId)}/${enc(agentId)}`;
  return h("form", { id: "new-version", onsubmit: submitting(async (v) => {
    let spec;
    try {
      spec = JSON.parse(v.spec);
    } catch (error) {
      throw new Error(`The spec is not valid JSON: ${error.message}`);
    }
    const body = { spec, comment: v.comment || "" };
    if (v.copy && latest) body.copy_test_cases_from = latest.version;
    const made = await post(`${path}/versions`, body);
    flash(`Version ${made.version} stored.`);
    window.location.hash = `#/agents/${enc(agentId)}/v/${made.version}`;
  }) },
  field("Spec (JSON; see docs/agents-api.md)", h("textarea", { name: "spec", rows: "14", class: "mono" },
    JSON.stringify(latest ? latest.spec : await get(`${base(tenantId)}/default-spec`), null, 2))),
  h("div", { class: "inline" },
    field("What changed, and why", h("input", { name: "comment", size: "50" })),
    latest ? h("label", { class: "check" }, h("input", { type: "checkbox", name: "copy", checked: true }), `copy test cases of v${latest.version}`) : null,
    h("button", { type: "submit" }, "Store as a new version")));
}

function ticketFields(prefix) {
  return [
    field("Ticket id", h("input", { name: `${prefix}id`, value: "sandbox-1", required: true })),
    field("Subject", h("input", { name: `${prefix}subject`, size: "40", required: true })),
    field("Category", h("input", { name: `${prefix}category` })),
    field("Priority", h("input", { name: `${prefix}priority` })),
    h("label", { class: "wide" }, "Description", h("textarea", { name: `${prefix}description`, rows: "4" })),
  ];
}

function ticketFrom(v, prefix) {
  const ticket = { id: v[`${prefix}id`], subject: v[`${prefix}subject`] || "", description: v[`${prefix}description`] || "" };
  for (const key of ["category", "priority"]) if (v[`${prefix}${key}`]) ticket[key] = v[`${prefix}${key}`];
  return ticket;
}

function expectationRow() {
  return h("div", { class: "inline expectation" },
    h("select", { name: "kind" }, KINDS.map((k) => h("option", { value: k }, k))),
    h("input", { name: "value", size: "32", placeholder: "value (e.g. SQL01, KB-101, 1200)" }));
}

function expectationsOf(form) {
  return [...form.querySelectorAll(".expectation")].map((row) => {
    const kind = row.querySelector("[name=kind]").value;
    const value = row.querySelector("[name=value]").value.trim();
    if (kind === "succeeds") return { kind };
    if (!value) throw new Error(`Give a value for the "${kind}" expectation, or remove it.`);
    return { kind, value: kind === "shorter_than" ? Number(value) : value };
  });
}

function sandboxForm(vpath, path, show) {
  const sandbox = h("form", { id: "sandbox", onsubmit: submitting(async (v) => {
    const body = v.history_ticket ? { ticket_id: v.history_ticket } : { ticket: ticketFrom(v, "t_") };
    const run = await settled(await post(`${vpath}/sandbox`, body), path);
    show(run);
  }) },
  h("p", { class: "muted" }, "Runs this version on a ticket with no side effect: nothing is posted, no history row, no production metric."),
  h("div", { class: "inline" }, ...ticketFields("t_")),
  h("div", { class: "inline" },
    field("…or a ticket id from your history", h("input", { name: "history_ticket" })),
    h("button", { type: "submit" }, "Run in the sandbox")));
  // Filled with a pasted ticket, the history field stays empty, so required fields apply
  // only to the pasted one.
  sandbox.querySelector("[name=history_ticket]").addEventListener("input", (e) => {
    for (const name of ["t_id", "t_subject"]) sandbox.querySelector(`[name=${name}]`).required = !e.target.value;
  });
  return sandbox;
}

function addCaseForm(vpath, reload) {
  const expectations = h("div", {}, expectationRow());
  return h("form", { id: "add-test-case", onsubmit: submitting(async (v, f) => {
    const made = await post(`${vpath}/test-cases`, { name: v.name, ticket: ticketFrom(v, "c_"), expectations: expectationsOf(f) });
    flash(`Test case ${made.name} added.`);
    await reload();
  }) },
  h("div", { class: "inline" }, field("Name", h("input", { name: "name", required: true, placeholder: "SQL01 outage" })), ...ticketFields("c_")),
  h("h2", {}, "Expectations"), expectations,
  h("p", {}, h("button", { type: "button", class: "secondary", onclick: () => expectations.append(expectationRow()) }, "+ expectation"),
    " ", h("button", { type: "submit" }, "Add test case")));
}

function versionControls(vpath, path, one, reload) {
  const override = h("input", { name: "override_reason", id: "override-reason", size: "40", placeholder: "only to deploy despite failing cases" });
  return h("div", { class: "inline" },
    action(one.state === "active" ? "Active" : "Deploy this version", async () => {
      const reason = override.value.trim();
      let d;
      try {
        d = await settled(await post(`${vpath}/activate`, reason ? { override_reason: reason } : {}), path);
      } catch (error) {
        // Refused because cases failed: show their fresh verdicts beside the reason.
        if (error.status === 409) await reload();
        throw error;
      }
      flash(`v${d.version} is active${d.overridden ? " (override recorded)" : ""}; the flow follows within its cache time.`);
      await reload();
    }, { id: "deploy", disabled: one.state === "active" }),
    field("Override reason (operator or tenant admin)", override),
    one.state === "shadow"
      ? action("Stop shadowing", async () => { await del(`${vpath}/shadow`); await reload(); }, { class: "secondary" })
      : action("Shadow beside the active version", async () => {
        await post(`${vpath}/shadow`);
        flash(`v${one.version} now runs beside the active version on live tickets, never posted.`);
        await reload();
      }, { class: "secondary", id: "shadow", disabled: one.state === "active" }));
}

function runTestsButton(vpath, path, cases, results, show) {
  return h("p", {}, action("Run all test cases", async () => {
    const outcome = await settled(await post(`${vpath}/test-runs`), path);
    replace(results,
      h("p", { id: "test-summary", class: outcome.passed ? "ok" : "bad" }, `${outcome.total - outcome.failed} of ${outcome.total} passed`),
      table([
        ["case", (r) => cases.find((c) => c.case_id === r.case_id)?.name ?? r.case_id],
        ["result", (r) => badge(r.passed ? "passed" : "failed")],
        ["why", (r) => r.failures.join("; ") || r.error || "", "wrap"],
      ], outcome.results, { onRow: show }));
  }, { id: "run-tests" }));
}

async function versionView(root, tenantId, canChange, agentId, version) {
  const path = `${base(tenantId)}/${enc(agentId)}`;
  const vpath = `${path}/versions/${version}`;
  const [agent, one, cases, runs] = await Promise.all([
    get(path), get(vpath), get(`${vpath}/test-cases`), get(`${path}/runs`, { version, limit: 20 }),
  ]);
  const reload = () => versionView(root, tenantId, canChange, agentId, version);
  const trace = h("section", { class: "card", id: "trace", hidden: true });
  const results = h("div", { id: "test-results" });
  function show(run) {
    trace.hidden = false;
    replace(trace, h("h2", {}, "Trace"), traceView(run));
    trace.scrollIntoView();
  }
  async function showRun(summary) {
    show(await get(`${path}/runs/${enc(summary.run_id)}`));
  }

  replace(root,
    h("p", {}, h("a", { href: `#/agents/${enc(agentId)}` }, `← ${agent.name}`)),
    h("h1", {}, `${agent.agent_id} v${one.version} `, h("span", { id: "version-state" }, badge(one.state))),
    h("section", { class: "card" },
      h("p", {}, one.comment || h("span", { class: "muted" }, "no comment"), ` — by ${one.created_by}, ${when(one.created_at)}`),
      h("details", {}, h("summary", {}, "Spec"), h("pre", { id: "spec" }, JSON.stringify(one.spec, null, 2))),
      canChange ? versionControls(vpath, path, one, reload) : h("p", { class: "muted", id: "read-only" }, READ_ONLY)),
    canChange ? h("section", { class: "card" }, h("h2", {}, "Sandbox"), sandboxForm(vpath, path, show)) : null,
    trace,
    h("section", { class: "card" }, h("h2", {}, "Test cases"),
      table([
        ["case", (c) => c.name],
        ["ticket", (c) => `${c.ticket.id}: ${c.ticket.subject}`, "wrap"],
        ["expects", (c) => c.expectations.map((e) => (e.value === undefined ? e.kind : `${e.kind} ${e.value}`)).join("; "), "wrap"],
        ["last run", (c) => (c.last_passed === null ? h("span", { class: "muted" }, "never run") : badge(c.last_passed ? "passed" : "failed"))],
      ], cases, { id: "test-cases", empty: "No test case yet: a version with none can be deployed as it is." }),
      canChange ? [runTestsButton(vpath, path, cases, results, show), results, h("h2", {}, "Add a test case"), addCaseForm(vpath, reload)] : null),
    h("section", { class: "card" }, h("h2", {}, "Recent runs of this version"),
      table([
        ["when", (r) => when(r.created_at)],
        ["kind", (r) => r.kind],
        ["ticket", (r) => r.ticket_id],
        ["status", (r) => badge(r.status)],
        ["passed", (r) => (r.passed === null ? "" : badge(r.passed ? "passed" : "failed"))],
        ["time", (r) => `${Math.round(r.ms)} ms`],
      ], runs, { id: "runs-table", empty: "No run yet.", onRow: (r) => showRun(r).catch(failed) })));
}
