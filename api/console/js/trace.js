// A sandbox or test-case run shown step by step: one collapsible block per stage, in the
// order the run went through them, with its input, output and time.

import { badge, h } from "./dom.js";

function json(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function stageStatus(status) {
  const word = String(status).split(":")[0];
  const cls = word === "ok" ? "ok" : word === "failed" ? "bad" : "warn";
  return h("span", { class: `badge ${cls}` }, status);
}

// What a person looks for first in each stage, above the raw input and output.
function highlight(stage) {
  const out = stage.output || {};
  if (stage.name === "similar_tickets" || stage.name === "kb_articles") {
    const kept = out.kept || [];
    const dropped = out.dropped || [];
    return h("div", {},
      h("p", {}, `query: ${(stage.input || {}).query ?? ""}`),
      h("p", {}, `${kept.length} kept, ${dropped.length} dropped`),
      dropped.length
        ? h("ul", { class: "dropped" }, dropped.map((d) => h("li", {},
          `${d.id ?? d.ticket_id ?? d.article_id ?? "?"} (score ${Number(d.score).toFixed(3)}): ${d.reason}`)))
        : null);
  }
  if (stage.name === "model") {
    return h("ol", { class: "attempts" }, (out.attempts || []).map((a) =>
      h("li", {}, `${a.model}: ${a.outcome}`, a.error ? ` — ${a.error}` : "")));
  }
  if (stage.name === "prompt" && out.messages) {
    return h("div", {}, out.messages.map((m) => h("div", {}, h("strong", {}, m.role), h("pre", {}, m.content))));
  }
  if (stage.name === "note" && out.note !== undefined) {
    return h("pre", { class: "rendered-note" }, out.note);
  }
  if (stage.name === "agent") return h("p", {}, out.why ?? json(out));
  if (stage.name === "noise") return h("p", {}, out.reason ? `${out.reason}: ${out.evidence}` : "not noise");
  if (stage.name === "triage") {
    const suggested = (out.suggestions || []).map((s) => `${s.field} ${s.value} (${Number(s.confidence).toFixed(2)})`);
    return h("div", {},
      h("p", {}, suggested.length ? `suggests ${suggested.join(", ")}` : "no suggestion"),
      out.incident ? h("p", {}, `incident: ${json(out.incident)}`) : null);
  }
  return null;
}

export function traceView(run) {
  return h("div", { class: "run", "data-run": run.run_id },
    h("p", {},
      badge(run.status), " ",
      run.passed === true ? badge("passed") : run.passed === false ? badge("failed") : null, " ",
      `${run.kind} run ${run.run_id} of version ${run.version} on ticket ${run.ticket_id}`,
      ` · ${Math.round(run.ms)} ms`,
      run.synthesizer ? ` · ${run.synthesizer}` : "",
      run.model ? ` ${run.model}` : "",
      run.prompt_tokens !== null ? ` · ${run.prompt_tokens}+${run.completion_tokens} tokens` : "",
      run.cost_usd !== null ? ` · $${run.cost_usd.toFixed(5)}` : ""),
    run.error ? h("p", { class: "bad" }, run.error) : null,
    run.failures && run.failures.length
      ? h("ul", { class: "failures bad" }, run.failures.map((f) => h("li", {}, f)))
      : null,
    h("ol", { class: "trace" }, run.stages.map((stage) => h("li", { "data-stage": stage.name },
      h("details", {},
        h("summary", {}, h("span", { class: "stage" }, stage.name), stageStatus(stage.status),
          h("span", { class: "muted" }, `${Math.round(stage.ms)} ms`)),
        h("div", { class: "body" },
          highlight(stage),
          h("h2", {}, "Input"), h("pre", {}, json(stage.input)),
          h("h2", {}, "Output"), h("pre", {}, json(stage.output))))))));
}
