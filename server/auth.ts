/**
 * Authentication and role-based access control of the v1 API.
 *
 * When any credential is configured (a bearer token, a static API key, or
 * keys stored in `runtime_api_keys`), every `/v1` route needs one:
 * `Authorization: Bearer <token>` (admin), `x-api-key` (admin, when no key
 * id is configured), or `x-api-key-id` + `x-api-key` checked against the
 * stored keys (their role). Secrets are compared in constant time and stored
 * hashed. A role header sent by the client grants nothing.
 *
 * @module
 */

import { type ActorType, type ControlStore, type Role, sha256Hex } from "../kernel/mod.ts";

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
 * Authenticates a request.
 *
 * @param headers The request headers.
 * @param config The configured credentials.
 * @param store Where keyed API keys are stored.
 * @returns The principal, or `null` when no credential matched.
 */
export async function authenticate(
  headers: Headers,
  config: AuthConfig,
  store: ControlStore,
): Promise<Principal | null> {
  const authorization = headers.get("authorization");
  if (authorization !== null && config.bearerToken !== undefined) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (match !== null && secretsEqual(match[1]!, config.bearerToken)) {
      return { actorType: "bearer", actorId: null, role: "admin" };
    }
  }
  const key = headers.get("x-api-key");
  const keyId = headers.get("x-api-key-id");
  if (
    key !== null && keyId === null && config.apiKey !== undefined && config.apiKeyId === undefined
  ) {
    if (secretsEqual(key, config.apiKey)) {
      return { actorType: "api_key", actorId: null, role: "admin" };
    }
  }
  if (key !== null && keyId !== null) {
    const stored = await store.getApiKey(keyId);
    // Hash even when the key is unknown, so timing does not tell which ids exist.
    const hash = sha256Hex(key);
    const expected = stored?.secretHash ?? "0".repeat(64);
    if (stored !== null && stored.status === "active" && hashesEqual(hash, expected)) {
      return { actorType: "api_key", actorId: stored.keyId, role: stored.role };
    }
  }
  return null;
}

/**
 * Whether a role may call a method on a path.
 *
 * admin: everything. operator: `/v1/jobs*`, `/v1/interrupts*`, `/v1/dlq*`,
 * `GET /v1/audit/logs`, `GET /v1/attempts*`. worker: `/v1/workers*`.
 *
 * @param role The caller's role.
 * @param method The HTTP method.
 * @param path The request path.
 * @returns Whether it is allowed.
 */
export function authorize(role: Role, method: string, path: string): boolean {
  const under = (prefix: string) => path === prefix || path.startsWith(`${prefix}/`);
  switch (role) {
    case "admin":
      return true;
    case "operator":
      return under("/v1/jobs") || under("/v1/interrupts") || under("/v1/dlq") ||
        (method === "GET" && (path === "/v1/audit/logs" || under("/v1/attempts")));
    case "worker":
      return under("/v1/workers");
  }
}
