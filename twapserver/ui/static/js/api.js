// REST access with the session's tokens: kept in sessionStorage (gone with the tab),
// refreshed once on a 401 "token expired" and before they run out.

const STORE = "twap.tokens";

/** An HTTP answer that was not 2xx: `status` and the JSON body (`detail`, `message`). */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export function tokens() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE) || "null");
  } catch {
    return null;
  }
}

function keep(pair) {
  if (pair) sessionStorage.setItem(STORE, JSON.stringify(pair));
  else sessionStorage.removeItem(STORE);
}

async function parse(response) {
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { message: text }; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** Log in with the OAuth2 password form; keeps the token pair. */
export async function login(username, password) {
  const form = new URLSearchParams({ username, password });
  keep({ ...(await parse(await fetch("/auth/token", { method: "POST", body: form }))), username });
}

export function logout() {
  keep(null);
}

let refreshing = null;

/** Trade the refresh token for a new pair (one request at a time). */
export function refresh() {
  const current = tokens();
  if (!current) return Promise.reject(new ApiError(401, { message: "not logged in" }));
  refreshing ??= fetch("/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: current.refresh_token }),
  })
    .then(parse)
    .then((pair) => keep({ ...pair, username: current.username }))
    .finally(() => { refreshing = null; });
  return refreshing;
}

/** A JSON request; authenticated ones retry once after refreshing an expired token. */
export async function api(path, { method = "GET", body, auth = false } = {}) {
  const send = () => {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth) headers.Authorization = `Bearer ${tokens()?.access_token}`;
    return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  let response = await send();
  if (auth && response.status === 401 && tokens()) {
    await refresh();
    response = await send();
  }
  return parse(response);
}
