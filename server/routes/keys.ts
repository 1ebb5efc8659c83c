/**
 * `/v1/keys`: the API keys stored in the store (admin only). List them
 * (never their secrets), create one (its secret is returned once, and stored
 * hashed) and revoke one (it authenticates nothing from then on, in every
 * process sharing the store). Stored keys keep auth on across restarts, so
 * creating one is refused while auth is off: the key would lock the API at
 * the next start.
 *
 * @module
 */

import {
  type ApiKeyRecord,
  ConflictError,
  NotFoundError,
  OrisError,
  sha256Hex,
} from "../../kernel/mod.ts";
import type { ApiDeps } from "../api.ts";
import { apiKeyView } from "../response_builders.ts";
import { ApiKey, ApiKeyList, CreatedApiKey } from "../responses.ts";
import { route, type RouteDef } from "../route.ts";
import { CreateKeyBody, ListKeysQuery, NoQuery } from "../schemas.ts";

/**
 * A new key's secret: `osk_` then 32 random bytes as URL-safe base64,
 * unpadded (the prefix names it in logs and scanners, and keeps it from
 * starting with a `-` that a command line would read as an option).
 */
function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return "osk_" + btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/**
 * The `/v1/keys` routes.
 *
 * @param deps The store and clock.
 * @param server Whether auth is on (decided when the server started).
 * @returns The routes.
 */
export function keyRoutes(deps: ApiDeps, server: { authEnabled: boolean }): RouteDef[] {
  const { store } = deps;
  return [
    route({
      method: "GET",
      path: "/v1/keys",
      summary: "Stored API keys by key id, active and revoked (never their secrets)",
      query: ListKeysQuery,
      response: ApiKeyList,
      async handler(_c, { query }) {
        const page = await store.listApiKeys({ limit: query.limit, cursor: query.cursor ?? null });
        return { keys: page.items.map(apiKeyView), next_cursor: page.nextCursor };
      },
    }),
    route({
      method: "POST",
      path: "/v1/keys",
      summary: "Create an API key; its secret is in this response only",
      body: CreateKeyBody,
      query: NoQuery,
      response: CreatedApiKey,
      audit: { action: "key.create", resourceType: "api_key", resourceParam: "key_id" },
      async handler(_c, { body }) {
        if (!server.authEnabled) {
          throw new OrisError(
            "forbidden",
            "Cannot create an API key while auth is off: a stored key turns auth on at the next start. Start the server with a bearer token (ORIS_API_AUTH_BEARER_TOKEN) to manage keys",
            { details: { key_id: body.key_id } },
          );
        }
        const secret = newSecret();
        const now = deps.now();
        const record: ApiKeyRecord = {
          keyId: body.key_id,
          secretHash: sha256Hex(secret),
          role: body.role ?? "operator",
          status: "active",
          createdAt: now,
          updatedAt: now,
        };
        if (!await store.createApiKey(record)) {
          throw new ConflictError(`API key "${body.key_id}" exists: choose another key_id`, {
            details: { key_id: body.key_id },
          });
        }
        return { ...apiKeyView(record), secret };
      },
    }),
    route({
      method: "DELETE",
      path: "/v1/keys/:key_id",
      summary: "Revoke an API key (idempotent): it authenticates nothing from now on",
      query: NoQuery,
      response: ApiKey,
      audit: { action: "key.revoke", resourceType: "api_key", resourceParam: "key_id" },
      async handler(_c, { params }) {
        const keyId = params.key_id!;
        const existing = await store.getApiKey(keyId);
        if (existing === null) {
          throw new NotFoundError("API key", keyId, { details: { key_id: keyId } });
        }
        if (existing.status === "disabled") return apiKeyView(existing);
        const revoked: ApiKeyRecord = { ...existing, status: "disabled", updatedAt: deps.now() };
        await store.putApiKey(revoked);
        return apiKeyView(revoked);
      },
    }),
  ];
}
