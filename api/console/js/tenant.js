// Tenant pages (a tenant API key): agents, versions, sandbox, test cases, deploy.

import { h, replace } from "./dom.js";

export async function agentsView(root, tenantId) {
  replace(root, h("h1", {}, `Agents of ${tenantId}`), h("p", { class: "muted" }, "Loading…"));
}
