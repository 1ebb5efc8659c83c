/**
 * Stored API keys are explicit, on memory, Deno KV and PostgreSQL: an admin
 * lists them (never a secret), creates one (its secret is shown once) and
 * revokes one (it authenticates nothing from then on) through `/v1/keys`,
 * every change audited; other roles get a 403. Keys outlive the
 * configuration that made them, so a restart without auth settings keeps
 * auth on: the server's start log says so, names the active credentials
 * (kinds, counts, key ids, never a secret), and warns when no admin
 * credential is left.
 */

import assert from "node:assert/strict";
import type { LogFields, Logger, LogLevel } from "../mod.ts";
import { createServer } from "../server/mod.ts";
import { assertError, assertOk, type Body, type Harness, serverTest } from "./_server.ts";

const BEARER = "keys-admin-token";
const STATIC_KEY = "keys-static-secret";
const ADMIN = { authorization: `Bearer ${BEARER}` };
const auth = { bearerToken: BEARER, apiKey: STATIC_KEY, apiKeyId: "ops-1" };

const KEY_FIELDS = ["created_at", "key_id", "revoked_at", "role", "status", "updated_at"];

function keyHeaders(keyId: string, secret: string): Record<string, string> {
  return { "x-api-key-id": keyId, "x-api-key": secret };
}

function createKey(
  h: Harness,
  body: Record<string, unknown>,
  headers: Record<string, string> = ADMIN,
) {
  return h.request("POST", "/v1/keys", { body, headers });
}

serverTest(
  "an admin lists, creates (its secret once) and revokes stored API keys; every change is audited",
  async (h) => {
    const listed = assertOk(await h.request("GET", "/v1/keys", { headers: ADMIN }));
    assert.deepEqual(listed.keys.map((key: Body) => [key.key_id, key.role, key.status]), [
      ["ops-1", "operator", "active"],
    ]);
    assert.deepEqual(Object.keys(listed.keys[0]).sort(), KEY_FIELDS);
    assert.equal(listed.next_cursor, null);

    const created = assertOk(await createKey(h, { key_id: "ci-deployer", role: "admin" }));
    assert.deepEqual(Object.keys(created).sort(), [...KEY_FIELDS, "secret"].sort());
    assert.deepEqual([created.key_id, created.role, created.status], [
      "ci-deployer",
      "admin",
      "active",
    ]);
    assert.equal(created.revoked_at, null);
    assert.match(created.secret, /^osk_[A-Za-z0-9_-]{43}$/);
    const stored = await h.store.getApiKey("ci-deployer");
    assert.notEqual(stored?.secretHash, created.secret, "only a hash is stored");

    // The new key works, with its role; its secret is never shown again.
    const asNew = keyHeaders("ci-deployer", created.secret);
    const again = assertOk(await h.request("GET", "/v1/keys", { headers: asNew }));
    assert.deepEqual(again.keys.map((key: Body) => key.key_id), ["ci-deployer", "ops-1"]);
    assert.ok(!JSON.stringify(again).includes(created.secret));
    assert.ok(again.keys.every((key: Body) => !("secret" in key) && !("secret_hash" in key)));
    const operator = assertOk(await createKey(h, { key_id: "ops-2" }));
    assert.equal(operator.role, "operator", "the default role");

    // The same id again is a 409 and changes nothing.
    const conflict = assertError(await createKey(h, { key_id: "ci-deployer" }), 409, "conflict");
    assert.deepEqual(conflict.details, { key_id: "ci-deployer" });
    assertOk(await h.request("GET", "/v1/jobs", { headers: asNew }));
    assertError(await createKey(h, { key_id: "bad id" }), 400, "invalid_argument");
    assertError(await createKey(h, { key_id: "k", role: "root" }), 400, "invalid_argument");
    assertError(await createKey(h, {}), 400, "invalid_argument");

    // Revoke: at once, idempotently; the key authenticates nothing after.
    const revoked = assertOk(
      await h.request("DELETE", "/v1/keys/ci-deployer", {
        headers: { ...ADMIN, "x-request-id": "revoke-1" },
      }),
    );
    assert.deepEqual([revoked.key_id, revoked.status], ["ci-deployer", "disabled"]);
    assert.equal(typeof revoked.revoked_at, "string");
    assertError(await h.request("GET", "/v1/jobs", { headers: asNew }), 401, "unauthorized");
    const twice = assertOk(await h.request("DELETE", "/v1/keys/ci-deployer", { headers: ADMIN }));
    assert.deepEqual(twice, revoked);
    assertError(await h.request("DELETE", "/v1/keys/nobody", { headers: ADMIN }), 404, "not_found");
    const all = assertOk(await h.request("GET", "/v1/keys", { headers: ADMIN }));
    assert.deepEqual(all.keys.map((key: Body) => [key.key_id, key.status]), [
      ["ci-deployer", "disabled"],
      ["ops-1", "active"],
      ["ops-2", "active"],
    ]);

    // Audited: who, what, which key, the outcome.
    const audit = assertOk(await h.request("GET", "/v1/audit/logs?limit=500", { headers: ADMIN }));
    const changes = audit.logs
      .filter((entry: Body) => entry.action.startsWith("key."))
      .map((entry: Body) => [entry.action, entry.resource_id, entry.result, entry.actor_type])
      .reverse();
    assert.deepEqual(changes, [
      ["key.create", "ci-deployer", "success", "bearer"],
      ["key.create", "ops-2", "success", "bearer"],
      ["key.create", "ci-deployer", "error", "bearer"],
      // A body that is not valid names no key.
      ["key.create", null, "error", "bearer"],
      ["key.create", null, "error", "bearer"],
      ["key.create", null, "error", "bearer"],
      ["key.revoke", "ci-deployer", "success", "bearer"],
      ["key.revoke", "ci-deployer", "success", "bearer"],
      ["key.revoke", "nobody", "error", "bearer"],
    ]);
    const revokes = assertOk(
      await h.request("GET", "/v1/audit/logs?action=key.revoke&request_id=revoke-1", {
        headers: ADMIN,
      }),
    );
    assert.equal(revokes.logs.length, 1);
    assert.equal(revokes.logs[0].resource_type, "api_key");
    assert.deepEqual(revokes.logs[0].details, {
      method: "DELETE",
      path: "/v1/keys/ci-deployer",
      status_code: 200,
    });
  },
  { auth },
);

serverTest(
  "/v1/keys is for admins only: operator and worker keys get a 403, no credential a 401",
  async (h) => {
    const worker = assertOk(await createKey(h, { key_id: "w-1", role: "worker" }));
    const callers: [Record<string, string>, number][] = [
      [keyHeaders("ops-1", STATIC_KEY), 403],
      [keyHeaders("w-1", worker.secret), 403],
      [{}, 401],
      [{ authorization: "Bearer wrong" }, 401],
    ];
    for (const [headers, status] of callers) {
      for (
        const [method, path, body] of [
          ["GET", "/v1/keys", undefined],
          ["POST", "/v1/keys", { key_id: "sneaky", role: "admin" }],
          ["DELETE", "/v1/keys/ops-1", undefined],
        ] as const
      ) {
        const response = await h.request(method, path, { headers, body });
        assertError(response, status, status === 403 ? "forbidden" : "unauthorized");
      }
    }
    assert.equal(await h.store.getApiKey("sneaky"), null);
    assert.equal((await h.store.getApiKey("ops-1"))?.status, "active");
  },
  { auth: { bearerToken: BEARER, apiKey: STATIC_KEY, apiKeyId: "ops-1" } },
);

serverTest(
  "POST /v1/keys is refused while auth is off: a stored key would lock the API",
  async (h) => {
    assert.equal(h.server.authEnabled, false);
    const refused = assertError(
      await createKey(h, { key_id: "first", role: "admin" }, {}),
      403,
      "forbidden",
    );
    assert.match(refused.message, /auth is off/);
    assert.equal(await h.store.countApiKeys(), 0);
    assert.deepEqual(assertOk(await h.request("GET", "/v1/keys")).keys, []);
  },
);

function collectingLogger(): { logger: Logger; entries: [LogLevel, string, LogFields][] } {
  const entries: [LogLevel, string, LogFields][] = [];
  const at = (level: LogLevel) => (message: string, fields: LogFields = {}) =>
    void entries.push([level, message, fields]);
  return {
    logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
    entries,
  };
}

/** Starts another server over the harness's runtime (a restart of the API) and returns its start log. */
async function restart(
  h: Harness,
  credentials: Parameters<typeof createServer>[0]["auth"],
): Promise<{ authEnabled: boolean; entries: [LogLevel, string, LogFields][] }> {
  const { logger, entries } = collectingLogger();
  const server = await createServer({ runtime: h.runtime, logger, auth: credentials ?? {} });
  await server.close();
  return { authEnabled: server.authEnabled, entries };
}

serverTest(
  "a restart without auth settings keeps auth on with stored keys, and the start log names the active credentials, never a secret",
  async (h) => {
    // The first start (the harness's): bearer, static key, and the configured operator key.
    const first = h.logs.filter((entry) => entry.message === "api credentials");
    assert.deepEqual(first.map((entry) => entry.fields), [{
      auth: true,
      why: "configured credentials",
      bearer_token: true,
      static_api_key: false,
      configured_key_id: "ops-1",
      stored_keys: { active: 1, revoked: 0 },
      active_keys: [{ key_id: "ops-1", role: "operator" }],
      admin_credential: true,
    }]);

    // Restarted without auth settings: the stored operator key keeps auth on, and no admin is left.
    const bare = await restart(h, {});
    assert.equal(bare.authEnabled, true);
    assert.deepEqual(bare.entries, [
      ["info", "api credentials", {
        auth: true,
        why: "stored API keys",
        bearer_token: false,
        static_api_key: false,
        configured_key_id: null,
        stored_keys: { active: 1, revoked: 0 },
        active_keys: [{ key_id: "ops-1", role: "operator" }],
        admin_credential: false,
      }],
      ["warn", bare.entries[1]![1], { stored_keys: { active: 1, revoked: 0 } }],
    ]);
    assert.match(bare.entries[1]![1], /no admin credential is active: configure a bearer token/);

    // An admin key created through the API is an admin credential at the next start.
    const admin = assertOk(await createKey(h, { key_id: "root-1", role: "admin" }));
    const withAdmin = await restart(h, {});
    assert.equal(withAdmin.entries.length, 1);
    assert.deepEqual(withAdmin.entries[0]![2].active_keys, [
      { key_id: "ops-1", role: "operator" },
      { key_id: "root-1", role: "admin" },
    ]);
    assert.equal(withAdmin.entries[0]![2].admin_credential, true);

    // Revoked keys still keep auth on (only removing them turns it off), and are counted.
    for (const id of ["ops-1", "root-1"]) {
      assertOk(await h.request("DELETE", `/v1/keys/${id}`, { headers: ADMIN }));
    }
    const revoked = await restart(h, {});
    assert.equal(revoked.authEnabled, true);
    assert.deepEqual(revoked.entries[0]![2].stored_keys, { active: 0, revoked: 2 });
    assert.deepEqual(revoked.entries[0]![2].active_keys, []);
    // A configured key id is active again at each start that configures it.
    const configured = await restart(h, auth);
    assert.deepEqual(configured.entries[0]![2].stored_keys, { active: 1, revoked: 1 });

    const everything = JSON.stringify([first, bare, withAdmin, revoked, configured, h.logs]);
    for (const secret of [BEARER, STATIC_KEY, admin.secret]) {
      assert.ok(!everything.includes(secret), "no secret is ever logged");
    }
  },
  { auth },
);
