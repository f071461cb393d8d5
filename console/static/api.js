// The admin API client: every request of the console goes through api().
// The token lives in this tab's sessionStorage only: never in a URL, in
// storage that outlives the tab, or in the browser's developer console.

const KEY = 'hookwall.token';

// APIError is a failed request: the problem's status, code and detail.
export class APIError extends Error {
  constructor(status, code, detail, title) {
    super(detail || title || `HTTP ${status}`);
    this.name = 'APIError';
    this.status = status;
    this.code = code;
    this.detail = detail || title || `HTTP ${status}`;
    this.title = title || '';
  }
}

export function hasToken() {
  return !!sessionStorage.getItem(KEY);
}

export function setToken(token) {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

let unauthorized = () => {};

// onUnauthorized installs what a 401 from any request does: back to sign-in.
export function onUnauthorized(f) {
  unauthorized = f;
}

// api calls the admin API and returns the decoded answer (null for 204). A
// failure throws an APIError carrying the problem's status, code and detail.
export async function api(method, path, body) {
  const headers = { Accept: 'application/json, application/problem+json' };
  const token = sessionStorage.getItem(KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, credentials: 'omit', cache: 'no-store', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new APIError(0, 'network', `hookwall did not answer (${e.message}).`);
  }
  let data = null;
  if (res.status !== 204 && /json/.test(res.headers.get('Content-Type') || '')) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const p = data && typeof data === 'object' ? data : {};
    const err = new APIError(res.status, p.code || `http_${res.status}`, p.detail, p.title || res.statusText);
    if (res.status === 401) unauthorized(err);
    throw err;
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

// path builds an API path, percent-encoding every interpolated value as one
// path segment: path`/admin/v1/channels/${ch}/contacts/${contact}`.
export function path(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => {
    out += encodeURIComponent(String(v)) + strings[i + 1];
  });
  return out;
}

// withQuery appends the non-empty params to path.
export function withQuery(p, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${p}?${s}` : p;
}

export const ROLES = ['agent', 'supervisor', 'admin'];

// can reports whether role may do what needs at least min.
export function can(role, min) {
  return ROLES.indexOf(role) >= ROLES.indexOf(min) && ROLES.includes(role);
}

let channelsCache = null;

// channels returns the configured channels, fetched once per sign-in.
export function channels() {
  if (!channelsCache) {
    channelsCache = get('/admin/v1/channels').then(
      (r) => (r && r.items) || [],
      (e) => {
        channelsCache = null;
        throw e;
      },
    );
  }
  return channelsCache;
}

// forgetCaches drops what was fetched for the previous token.
export function forgetCaches() {
  channelsCache = null;
}

// destination is where a released ticket's messages go on the channel: the
// bot when it is active, else the helpdesk's unassigned queue.
export function destination(channel) {
  return channel && channel.bot ? 'BOT' : 'Unassigned';
}
