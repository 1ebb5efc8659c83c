/**
 * A user's own Hono app with the Oris API mounted under `/v1` beside its own
 * routes: the app's `/orders/:id` reads a run through the runtime, and the
 * Oris routes answer with their auth (a bearer token) and envelope.
 *
 * Run: `ORIS_TOKEN=secret deno run -A examples/embedded_service.ts` (port 8080)
 *
 * @module
 */

import { Hono } from "hono";
import { createRuntime, type Runtime } from "../mod.ts";
import { createServer } from "../server/mod.ts";
import { approvalGraph } from "./approval.ts";

/** The app and what it holds. */
export interface EmbeddedService {
  /** The app's fetch handler. */
  fetch(request: Request): Response | Promise<Response>;
  /** The runtime. */
  runtime: Runtime;
  /** Stops the server's background work and the runtime. */
  close(): Promise<void>;
}

/**
 * Builds the app: its own routes, and the Oris API under `/v1`.
 *
 * @param token The bearer token the Oris API requires.
 * @returns The app.
 */
export async function embeddedService(token: string): Promise<EmbeddedService> {
  const runtime = createRuntime();
  approvalGraph({ runtime });
  const oris = await createServer({
    runtime,
    auth: { bearerToken: token },
    defaultGraph: "approval",
  });
  const app = new Hono();
  app.get("/", (c) => c.text("my shop"));
  app.get("/orders/:id", async (c) => {
    const run = await runtime.get(c.req.param("id"));
    return run === null ? c.json({ error: "no such order" }, 404) : c.json({
      order: run.threadId,
      status: run.status,
    });
  });
  // Everything under /v1 is the Oris API, with its auth, errors and audit.
  app.all("/v1/*", (c) => oris.app.fetch(c.req.raw));
  return {
    fetch: app.fetch,
    runtime,
    async close() {
      await oris.close();
      await runtime.close();
    },
  };
}

if (import.meta.main) {
  const service = await embeddedService(Deno.env.get("ORIS_TOKEN") ?? "change-me");
  Deno.serve({ hostname: "127.0.0.1", port: 8080 }, service.fetch);
}
