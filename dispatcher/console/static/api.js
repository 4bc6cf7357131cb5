// The JSON API, called with the signed-in token as a bearer header. The token lives in this tab's
// sessionStorage only: it is never put in a URL or a cookie, and it is gone when the tab closes.
import { h } from "./dom.js";

const TOKEN_KEY = "dispatcher.console.token";

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** An answer other than 2xx: its status and the API's error body (`error`, `message`, ...). */
export class ApiError extends Error {
  constructor(status, body) {
    const message = body && typeof body === "object" && body.message
      ? body.message
      : `HTTP ${status}`;
    super(message);
    this.status = status;
    this.body = body && typeof body === "object" ? body : {};
  }
}

let onUnauthorized = () => {};

/** What to do when the API stops accepting the token (401). */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/**
 * Call the API: `api("POST", "/campaigns/x/pause", {json: {reason}})`.
 * Resolves to {data, headers}; rejects with ApiError (or a TypeError when the network fails).
 */
export async function api(method, path, options = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(options.query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  let body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form) {
    body = options.form; // multipart: the browser sets the boundary
  }
  const response = await fetch(url, {
    method, headers, body, credentials: "omit", cache: "no-store", redirect: "error",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) {
    if (response.status === 401 && !options.signingIn) onUnauthorized();
    throw new ApiError(response.status, data);
  }
  return { data, headers: response.headers };
}

/** An error as the page shows it: the message, the fields it names, the request id. */
export function errorBox(error, lineOf) {
  if (!(error instanceof ApiError)) {
    return h("div", { class: "error", role: "alert" }, `Could not reach the API: ${error.message}`);
  }
  const body = error.body;
  const fields = (body.errors || []).map((e) => {
    const where = lineOf ? lineOf(e.field) : e.field;
    return h("li", { dataset: { field: e.field } }, h("code", {}, where), ": ", e.message);
  });
  return h(
    "div",
    { class: "error", role: "alert", dataset: { code: body.error || "", status: error.status } },
    h("strong", {}, `${error.status} ${body.error || ""}`.trim()), " ", error.message,
    fields.length ? h("ul", {}, fields) : null,
    body.request_id ? h("div", { class: "muted" }, `request id ${body.request_id}`) : null,
  );
}
