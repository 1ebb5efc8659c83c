/**
 * docs/api.md is the API's reference: every route of the server's route
 * table (the same table that registers the Hono routes and generates the
 * OpenAPI document) is named there as `` `METHOD /path` ``.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createRuntime } from "../mod.ts";
import { createServer } from "../server/mod.ts";
import { registerExamples } from "../examples/mod.ts";

Deno.test("docs/api.md names every route of the route table", async () => {
  const runtime = createRuntime();
  registerExamples(runtime);
  const server = await createServer({ runtime });
  try {
    const docs = await Deno.readTextFile(new URL("../docs/api.md", import.meta.url));
    const routes = server.routes.map((route) => `${route.method} ${route.path}`);
    assert.ok(routes.length >= 20, `${routes.length} routes`);
    const missing = routes.filter((route) => {
      const escaped = route.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      // The route, then the end of the code span, a query string or a space.
      return !new RegExp("`" + escaped + "(`|\\?| )").test(docs);
    });
    assert.deepEqual(missing, [], "routes missing from docs/api.md");
  } finally {
    await server.close();
    await runtime.close();
  }
});
