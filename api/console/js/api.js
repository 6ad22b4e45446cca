// Every call of the console goes through here: the same routes and the same Bearer
// credential as any other API client; the console has no access of its own.

const TOKEN_KEY = "aiops.console.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function keepToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

function describe(status, body) {
  const detail = body && body.detail;
  if (Array.isArray(detail)) {
    return detail.map((e) => `${(e.loc || []).slice(1).join(".") || "request"}: ${e.msg}`).join("; ");
  }
  return detail || `the API answered ${status}`;
}

export async function api(method, path, { body, query } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json", Authorization: `Bearer ${token() || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text };
  }
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new CustomEvent("aiops:unauthorized"));
    throw new ApiError(response.status, describe(response.status, parsed));
  }
  return parsed;
}

export const get = (path, query) => api("GET", path, { query });
export const post = (path, body, query) => api("POST", path, { body, query });
export const put = (path, body) => api("PUT", path, { body });
export const patch = (path, body) => api("PATCH", path, { body });
export const del = (path) => api("DELETE", path);

// Who the credential is: the admin token may read /system/health, a tenant key may not
// (403) and lists only its own tenant; only an admin-scope tenant key may list its keys.
export async function whoAmI() {
  const tenants = await get("/tenants");
  try {
    await get("/system/health", { failures: 0 });
    return { operator: true, admin: true, tenants };
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 403)) throw error;
  }
  const tenant = tenants[0];
  try {
    await get(`/tenants/${encodeURIComponent(tenant.tenant_id)}/api-keys`);
    return { operator: false, admin: true, tenant };
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return { operator: false, admin: false, tenant };
    throw error;
  }
}

export const enc = encodeURIComponent;
