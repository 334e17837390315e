// Calls the server with the session cookie; every state change carries the session's anti-forgery token.
let session = null;
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `The server answered ${status}.`);
    this.status = status;
    this.problem = problem ?? {};
  }

  get errors() { return Array.isArray(this.problem.errors) ? this.problem.errors : []; }
}

export function currentSession() { return session; }

export function setSession(value) {
  session = value;
  for (const listener of listeners) listener(session);
}

export function onSessionChange(listener) { listeners.add(listener); }

export async function api(path, { method = 'GET', body, headers = {} } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && session) init.headers['X-CSRF-Token'] = session.csrf_token;
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { detail: 'The server could not be reached. Check your connection and try again.' });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text.slice(0, 200) }; }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && session && !path.startsWith('/console/api/session')) setSession(null);
    throw error;
  }
  return data;
}

export const approvals = {
  list: (query) => api(`/api/v1/approvals?${new URLSearchParams(query)}`),
  get: (id) => api(`/api/v1/approvals/${encodeURIComponent(id)}`),
  decide: (id, action, body) => api(`/api/v1/approvals/${encodeURIComponent(id)}/${action}`, { method: 'POST', body }),
  bulk: (body) => api('/api/v1/approvals/bulk-decisions', { method: 'POST', body }),
  reassign: (id, body) => api(`/api/v1/approvals/${encodeURIComponent(id)}/reassign`, { method: 'POST', body }),
};

export const grants = {
  list: (state = 'active') => api(`/api/v1/grants?${new URLSearchParams({ state })}`),
  allowance: (approvalId) => api(`/api/v1/grants/allowance/${encodeURIComponent(approvalId)}`),
  revoke: (id) => api(`/api/v1/grants/${encodeURIComponent(id)}/revoke`, { method: 'POST' }),
};

export const delegation = {
  get: () => api('/api/v1/me/delegation'),
  set: (body) => api('/api/v1/me/delegation', { method: 'PUT', body }),
  end: () => api('/api/v1/me/delegation', { method: 'DELETE' }),
  toMe: () => api('/api/v1/me/delegation/to-me'),
};
