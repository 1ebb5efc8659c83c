// The console's only way to the server: the v1 API, with the credentials
// kept in session storage (never local storage: they go when the tab does).

const KEY = "oris.credentials";

/** An error answered by the API: its HTTP status and the envelope's code and message. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details ?? null;
  }
}

/** The stored credentials: `{ kind: "bearer", token }` or `{ kind: "key", keyId, secret }`, or null. */
export function credentials() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? "null");
  } catch {
    return null;
  }
}

/** Keeps credentials for this tab's session. */
export function setCredentials(value) {
  sessionStorage.setItem(KEY, JSON.stringify(value));
}

/** Forgets the credentials. */
export function clearCredentials() {
  sessionStorage.removeItem(KEY);
}

function authHeaders() {
  const stored = credentials();
  if (stored === null) return {};
  if (stored.kind === "bearer") return { authorization: `Bearer ${stored.token}` };
  const headers = { "x-api-key": stored.secret };
  if (stored.keyId) headers["x-api-key-id"] = stored.keyId;
  return headers;
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not the error envelope
  }
  const error = body?.error;
  const failed = new ApiError(
    response.status,
    error?.code ?? "internal",
    error?.message ?? `HTTP ${response.status}`,
    error?.details,
  );
  if (response.status === 401) {
    globalThis.dispatchEvent(new CustomEvent("oris:unauthorized", { detail: failed }));
  }
  return failed;
}

/**
 * Calls the API: `api("GET", "/v1/jobs")`, `api("POST", path, body)`.
 * Resolves with the envelope's `data`; rejects with an ApiError.
 */
export async function api(method, path, body) {
  const init = { method, headers: { ...authHeaders() } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return (await response.json()).data;
}

/** A path with a query string from the defined values of `query`. */
export function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text === "" ? path : `${path}?${text}`;
}

/** A path segment. */
export function seg(value) {
  return encodeURIComponent(value);
}

/**
 * Follows a run's event stream (`GET /v1/jobs/:id/stream?follow=true`) with
 * fetch (EventSource cannot send credentials headers). Calls `onEvent(seq,
 * type)` per stored event and `onEnd(data)` at the end; reconnects after the
 * last seq it saw when the connection drops. Stops when `signal` aborts.
 */
export async function followRun(threadId, { fromSeq = 1, signal, onEvent, onEnd, onError }) {
  let next = fromSeq;
  while (!signal.aborted) {
    let response;
    try {
      response = await fetch(
        withQuery(`/v1/jobs/${seg(threadId)}/stream`, { follow: "true", from_seq: next }),
        { headers: { ...authHeaders(), accept: "text/event-stream" }, signal },
      );
    } catch (error) {
      if (signal.aborted) return;
      onError?.(error);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    if (!response.ok) {
      onError?.(await failure(response));
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const fields = { event: "message", data: "", id: null };
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            const name = colon < 0 ? line : line.slice(0, colon);
            const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (name === "data") fields.data += (fields.data === "" ? "" : "\n") + text;
            else if (name === "event" || name === "id") fields[name] = text;
          }
          if (fields.event === "end") {
            onEnd?.(JSON.parse(fields.data));
            return;
          }
          if (fields.event === "error") {
            onError?.(new Error(fields.data));
            continue;
          }
          if (fields.id !== null) {
            next = Number(fields.id) + 1;
            onEvent?.(Number(fields.id), fields.event);
          }
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      onError?.(error);
    }
  }
}

/** Who the console is signed in as (`GET /v1/whoami`), filled in by the app. */
export const session = { authEnabled: false, role: null, actorId: null, routes: new Set() };

/**
 * Whether the caller's role may call a route (`can("POST",
 * "/v1/jobs/:thread_id/cancel")`): the console hides what it may not do, and
 * the server refuses it anyway.
 */
export function can(method, path) {
  return session.routes.has(`${method} ${path}`);
}
