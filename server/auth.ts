/**
 * Authentication and role-based access control of the v1 API.
 *
 * When any credential is configured (a bearer token, a static API key, or
 * keys stored in `runtime_api_keys`), every `/v1` route needs one:
 * `Authorization: Bearer <token>` (admin), `x-api-key` (admin, when no key
 * id is configured), or `x-api-key-id` + `x-api-key` checked against the
 * stored keys (their role). Secrets are compared in constant time and stored
 * hashed. Every credential a request carries must be valid (a wrong one is a
 * 401 even beside a valid one). A role header sent by the client grants
 * nothing.
 *
 * @module
 */

import {
  type ActorType,
  type ControlStore,
  OrisError,
  type Role,
  sha256Hex,
} from "../kernel/mod.ts";

/** Configured credentials. */
export interface AuthConfig {
  /** `Authorization: Bearer <token>` grants admin. */
  bearerToken?: string;
  /** A static API key: admin by `x-api-key` alone, or, with `apiKeyId`, a stored operator key. */
  apiKey?: string;
  /** Stores `apiKey` under this id as an operator key (`x-api-key-id` + `x-api-key`). */
  apiKeyId?: string;
}

/** Who is calling. */
export interface Principal {
  /** How they authenticated. */
  actorType: ActorType;
  /** Their key id, if any. */
  actorId: string | null;
  /** Their role (`null`: anonymous, auth is off). */
  role: Role | null;
}

/** The authentication methods, for 401 details. */
export const SUPPORTED_AUTH: readonly string[] = ["bearer", "x-api-key", "x-api-key-id+x-api-key"];

/**
 * Compares two secrets in time that does not depend on where they differ
 * (both are hashed first, so their lengths do not leak either).
 *
 * @param a A secret.
 * @param b Another.
 * @returns Whether they are equal.
 */
export function secretsEqual(a: string, b: string): boolean {
  return hashesEqual(sha256Hex(a), sha256Hex(b));
}

function hashesEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/**
 * Authenticates a request. Every credential it carries must be valid: a
 * wrong bearer token is refused even with a valid API key, and the other way
 * round (a bad credential is never silently ignored). With a valid bearer
 * token and a valid API key, the caller is the bearer.
 *
 * @param headers The request headers.
 * @param config The configured credentials.
 * @param store Where keyed API keys are stored.
 * @returns The principal, or `null` when no credential was sent or one did not match.
 */
export async function authenticate(
  headers: Headers,
  config: AuthConfig,
  store: ControlStore,
): Promise<Principal | null> {
  const authorization = headers.get("authorization");
  const key = headers.get("x-api-key");
  const keyId = headers.get("x-api-key-id");
  let bearer: Principal | null = null;
  if (authorization !== null) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (
      match === null || config.bearerToken === undefined ||
      !secretsEqual(match[1]!, config.bearerToken)
    ) {
      return null;
    }
    bearer = { actorType: "bearer", actorId: null, role: "admin" };
  }
  if (key === null && keyId === null) return bearer;
  const keyed = await apiKeyPrincipal(key, keyId, config, store);
  return keyed === null ? null : bearer ?? keyed;
}

/** The principal of an API key (`x-api-key`, with or without `x-api-key-id`), or `null`. */
async function apiKeyPrincipal(
  key: string | null,
  keyId: string | null,
  config: AuthConfig,
  store: ControlStore,
): Promise<Principal | null> {
  if (key === null) return null;
  if (keyId === null) {
    const valid = config.apiKey !== undefined && config.apiKeyId === undefined &&
      secretsEqual(key, config.apiKey);
    return valid ? { actorType: "api_key", actorId: null, role: "admin" } : null;
  }
  const stored = await store.getApiKey(keyId);
  // Hash even when the key is unknown, so timing does not tell which ids exist.
  const hash = sha256Hex(key);
  const expected = stored?.secretHash ?? "0".repeat(64);
  if (stored !== null && stored.status === "active" && hashesEqual(hash, expected)) {
    return { actorType: "api_key", actorId: stored.keyId, role: stored.role };
  }
  return null;
}

/**
 * Whether a role may call a method on a path.
 *
 * admin: everything. operator: `/v1/jobs*`, `/v1/interrupts*`, `/v1/dlq*`,
 * `GET /v1/attempts*`, `GET /v1/graphs*`, `GET /v1/workers` and
 * `GET /v1/audit/logs`. viewer: `GET` of jobs, interrupts, graphs, workers
 * (the listing of leases) and the audit log. worker:
 * `/v1/workers*` only (so a worker's key cannot touch jobs or
 * interrupts; what it reads there is limited to the runs it holds). Every role may ask `GET /v1/whoami`.
 *
 * @param role The caller's role.
 * @param method The HTTP method.
 * @param path The request path.
 * @returns Whether it is allowed.
 *
 * @example
 * ```ts
 * import { authorize } from "./auth.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(authorize("operator", "POST", "/v1/jobs/run"));
 * assert.ok(!authorize("operator", "POST", "/v1/audit/logs"));
 * assert.ok(authorize("viewer", "GET", "/v1/jobs/t-1/timeline"));
 * assert.ok(authorize("viewer", "GET", "/v1/workers"));
 * assert.ok(!authorize("viewer", "POST", "/v1/jobs/t-1/cancel"));
 * assert.ok(!authorize("worker", "GET", "/v1/jobs"));
 * assert.ok(authorize("worker", "POST", "/v1/workers/poll"));
 * ```
 */
export function authorize(role: Role, method: string, path: string): boolean {
  const under = (prefix: string) => path === prefix || path.startsWith(`${prefix}/`);
  if (method === "GET" && path === "/v1/whoami") return true;
  const reads = method === "GET" &&
    (under("/v1/jobs") || under("/v1/interrupts") || under("/v1/graphs") ||
      path === "/v1/audit/logs" || path === "/v1/workers");
  switch (role) {
    case "admin":
      return true;
    case "operator":
      return reads || under("/v1/jobs") || under("/v1/interrupts") || under("/v1/dlq") ||
        (method === "GET" && under("/v1/attempts"));
    case "viewer":
      return reads;
    case "worker":
      // Its own endpoints under `/v1/workers/`; not the listing of every worker's leases.
      return (method === "POST" || method === "GET") && path.startsWith("/v1/workers/");
  }
}

/**
 * Authenticates a request or refuses it.
 *
 * @param headers The request headers.
 * @param config The configured credentials.
 * @param store Where keyed API keys are stored.
 * @returns The principal.
 * @throws {OrisError} `unauthorized` (401) when no credential matched, listing the supported methods.
 */
export async function requirePrincipal(
  headers: Headers,
  config: AuthConfig,
  store: ControlStore,
): Promise<Principal> {
  const principal = await authenticate(headers, config, store);
  if (principal === null) {
    throw new OrisError("unauthorized", "Authentication required", {
      details: { supported_auth: [...SUPPORTED_AUTH] },
    });
  }
  return principal;
}

/**
 * Checks that a principal's role may call a method on a path, or refuses.
 *
 * @param principal The caller.
 * @param method The HTTP method.
 * @param path The request path.
 * @throws {OrisError} `forbidden` (403) naming the role, method and path.
 */
export function requireRole(principal: Principal, method: string, path: string): void {
  if (principal.role !== null && authorize(principal.role, method, path)) return;
  throw new OrisError("forbidden", `Role "${principal.role}" may not ${method} ${path}`, {
    details: { role: principal.role, method, path },
  });
}
