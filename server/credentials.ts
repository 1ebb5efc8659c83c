/**
 * How the server decides, when it starts, whether requests need credentials,
 * and what it says about it. Auth is on when a credential is configured (a
 * bearer token or an API key) or when any API key is stored in the store,
 * active or revoked: stored keys outlive the configuration that made them,
 * so a restart without auth settings keeps auth on. The start log line
 * (`api credentials`) names what is active (kinds, counts and key ids, never
 * a secret); a warning follows when auth is on but no admin credential is
 * left to manage keys with.
 *
 * @module
 */

import { type ControlStore, type LogFields, sha256Hex } from "../kernel/mod.ts";
import type { AuthConfig } from "./auth.ts";

/** How many active key ids the start line names at most (the counts cover all). */
const NAMED_KEYS_MAX = 20;

/** What the server decided at start. */
export interface StartCredentials {
  /** Whether every `/v1` route needs credentials. */
  enabled: boolean;
  /** Whether some admin credential is active (a bearer token, a static key, an active admin key). */
  admin: boolean;
  /** The fields of the `api credentials` log line. */
  fields: LogFields;
}

/**
 * Stores the configured keyed API key (`apiKeyId`, an operator key), then
 * decides whether auth is on and describes the active credentials.
 *
 * @param config The configured credentials (validated by the caller).
 * @param store Where API keys are stored.
 * @param now The clock (ms).
 * @returns The decision and its description.
 */
export async function startCredentials(
  config: AuthConfig,
  store: ControlStore,
  now: () => number,
): Promise<StartCredentials> {
  if (config.apiKeyId !== undefined && config.apiKey !== undefined) {
    // Configured, so active at every start (a revoke lasts until the next one).
    const existing = await store.getApiKey(config.apiKeyId);
    await store.putApiKey({
      keyId: config.apiKeyId,
      secretHash: sha256Hex(config.apiKey),
      role: "operator",
      status: "active",
      createdAt: existing?.createdAt ?? now(),
      updatedAt: now(),
    });
  }
  const active: { key_id: string; role: string }[] = [];
  let disabled = 0;
  let cursor: string | null = null;
  do {
    const page = await store.listApiKeys({ limit: 1000, cursor });
    for (const key of page.items) {
      if (key.status === "active") active.push({ key_id: key.keyId, role: key.role });
      else disabled++;
    }
    cursor = page.nextCursor;
  } while (cursor !== null);
  const bearer = config.bearerToken !== undefined;
  const staticAdminKey = config.apiKey !== undefined && config.apiKeyId === undefined;
  const stored = active.length + disabled;
  const enabled = bearer || config.apiKey !== undefined || stored > 0;
  const admin = bearer || staticAdminKey || active.some((key) => key.role === "admin");
  return {
    enabled,
    admin,
    fields: {
      auth: enabled,
      why: enabled
        ? bearer || config.apiKey !== undefined ? "configured credentials" : "stored API keys"
        : "no credential configured and no API key stored",
      bearer_token: bearer,
      static_api_key: staticAdminKey,
      configured_key_id: config.apiKeyId ?? null,
      stored_keys: { active: active.length, revoked: disabled },
      active_keys: active.slice(0, NAMED_KEYS_MAX),
      admin_credential: admin,
    },
  };
}
