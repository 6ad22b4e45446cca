// The console's shell: sign in, the sections a credential may use, and hash routing.

import { enc, forgetToken, get, keepToken, token, whoAmI } from "./api.js";
import { failed, h, main, replace, submitting } from "./dom.js";
import { historyView } from "./history.js";
import { deadLettersView, healthView, stopPolling, tenantsView } from "./operator.js";
import { agentsView } from "./tenant.js";
import { tenantSettings } from "./tenant_settings.js";

let who = null;

const OPERATOR = [
  ["#/health", "Health", (root) => healthView(root)],
  ["#/tenants", "Tenants", (root) => tenantsView(root)],
  ["#/history", "History", (root) => historyView(root, { tenants: who.tenants })],
  ["#/dead-letters", "Dead letters", (root) => deadLettersView(root)],
];

const TENANT = [
  ["#/agents", "Agents", (root) => agentsView(root, who.tenant.tenant_id, who)],
  ["#/settings", "Settings", async (root) => {
    const tenant = await get(`/tenants/${enc(who.tenant.tenant_id)}`);
    replace(root, ...(await tenantSettings(tenant, who)));
  }],
  ["#/history", "History", (root) => historyView(root, { fixedTenant: who.tenant.tenant_id })],
];

function sections() {
  return who.operator ? OPERATOR : TENANT;
}

async function route() {
  stopPolling();
  const all = sections();
  const hash = window.location.hash.split("?")[0];
  const current = all.find(([path]) => hash === path || hash.startsWith(`${path}/`));
  if (!current) {
    // Not a section of this credential (a tenant key on an operator page): its first one.
    window.location.replace(all[0][0]);
    return;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("current", link.getAttribute("href") === current[0]);
  }
  // Each visit renders into its own container: a slow page that finishes after the
  // person moved on fills a container no longer shown, not the new page.
  const root = h("div", { "data-section": current[0] }, h("p", { class: "muted" }, "Loading…"));
  replace(main(), root);
  try {
    await current[2](root);
  } catch (error) {
    failed(error);
  }
}

async function signedIn() {
  who = await whoAmI();
  replace(document.getElementById("nav"), sections().map(([path, title]) => h("a", { href: path }, title)));
  document.getElementById("who").textContent = who.operator
    ? "operator (admin token)"
    : `tenant ${who.tenant.tenant_id} (${who.admin ? "admin" : "read"} key)`;
  document.getElementById("sign-out").hidden = false;
  await route();
}

function signInForm(message) {
  replace(document.getElementById("nav"));
  document.getElementById("who").textContent = "";
  document.getElementById("sign-out").hidden = true;
  replace(
    main(),
    h("section", { class: "card signin" },
      h("h1", {}, "Sign in"),
      h("p", { class: "muted" },
        "Operators: the admin token ('aiops up' prints where it is). Tenant users: a tenant API key (aiok_…). "
        + "It is kept for this browser tab only."),
      message ? h("p", { class: "bad", id: "signin-error" }, message) : null,
      h("form", { id: "signin", onsubmit: submitting(async (v) => {
        keepToken(v.token.trim());
        try {
          await signedIn();
        } catch (error) {
          forgetToken();
          signInForm(error.status === 401 ? "That token is not valid (unknown, revoked or mistyped)." : error.message);
        }
      }) },
      h("label", {}, "Token", h("input", { name: "token", type: "password", autocomplete: "off", required: true })),
      h("p", {}, h("button", { type: "submit" }, "Sign in")))));
}

window.addEventListener("hashchange", () => { if (who) route(); });
window.addEventListener("aiops:unauthorized", () => {
  forgetToken();
  who = null;
  stopPolling();
  signInForm("The token is no longer accepted; sign in again.");
});
document.getElementById("sign-out").addEventListener("click", () => {
  forgetToken();
  who = null;
  stopPolling();
  signInForm();
});

if (token()) {
  signedIn().catch(() => { forgetToken(); signInForm(); });
} else {
  signInForm();
}
