// The console's only way to the server: same-origin fetches with the caller's key as a bearer header. Keys live
// in sessionStorage (this tab only, gone when it closes) and are never put in a URL.

const TENANT_KEY = 'reft.console.tenantKey';
const ADMIN_KEY = 'reft.console.adminKey';

/** A refused call, carrying the server's error object {message, type, param, code}. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || ('HTTP ' + status));
    this.status = status;
    this.type = error.type || null;
    this.param = error.param || null;
    this.code = error.code || null;
  }
}

export const keys = {
  tenant: () => sessionStorage.getItem(TENANT_KEY),
  admin: () => sessionStorage.getItem(ADMIN_KEY),
  setTenant: k => k ? sessionStorage.setItem(TENANT_KEY, k) : sessionStorage.removeItem(TENANT_KEY),
  setAdmin: k => k ? sessionStorage.setItem(ADMIN_KEY, k) : sessionStorage.removeItem(ADMIN_KEY),
  clear() {
    sessionStorage.removeItem(TENANT_KEY);
    sessionStorage.removeItem(ADMIN_KEY);
  },
};

/** The error of a non-2xx response: the API's {"error": {...}} when it sent one, else the status line. */
export async function errorOf(response) {
  let error = {message: 'HTTP ' + response.status + (response.statusText ? ' ' + response.statusText : '')};
  try {
    const body = await response.json();
    if (body && body.error) {
      error = body.error;
    }
  } catch (e) {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, error);
}

/** A raw fetch with {@code key} as bearer (none when null); the caller reads the response. */
export function send(path, {method = 'GET', key = null, json, body, signal, headers = {}} = {}) {
  const h = Object.assign({}, headers);
  if (key) {
    h['Authorization'] = 'Bearer ' + key;
  }
  if (json !== undefined) {
    h['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  return fetch(path, {method, headers: h, body, signal, cache: 'no-store', credentials: 'omit'});
}

/** A call that answers JSON (or nothing, 204); throws ApiError for anything but 2xx. */
export async function call(path, options = {}) {
  const r = await send(path, options);
  if (!r.ok) {
    throw await errorOf(r);
  }
  if (r.status === 204) {
    return null;
  }
  return r.json();
}

/** Calls of the tenant API (/v1) with the tenant key, and of the admin API with the admin key. */
export const v1 = (path, options = {}) => call('/v1' + path, Object.assign({key: keys.tenant()}, options));
export const admin = (path, options = {}) => call('/admin' + path, Object.assign({key: keys.admin()}, options));
