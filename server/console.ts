/**
 * The operator console's files: a static page at `/console/` (plain ES
 * modules, no build step, nothing fetched from elsewhere) that calls the v1
 * API like any other client. Only the files listed here are served, and one
 * file made from the server's own lists (`audit_actions.json`, so the page
 * and the API cannot disagree); they hold no data (the page asks the API for
 * everything, with the caller's credentials), so they need none. A strict Content-Security-Policy lets the
 * page load only its own files and talk only to this server.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import type { ServerEnv } from "./env.ts";
import { AUDIT_ACTIONS } from "./route.ts";

/** The console's files, by name, with their media types. */
const FILES: Readonly<Record<string, string>> = {
  "index.html": "text/html; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "api.js": "text/javascript; charset=utf-8",
  "dom.js": "text/javascript; charset=utf-8",
  "graph.js": "text/javascript; charset=utf-8",
  "json.js": "text/javascript; charset=utf-8",
  "runs.js": "text/javascript; charset=utf-8",
  "run.js": "text/javascript; charset=utf-8",
  "actions.js": "text/javascript; charset=utf-8",
  "interrupts.js": "text/javascript; charset=utf-8",
  "audit.js": "text/javascript; charset=utf-8",
  "workers.js": "text/javascript; charset=utf-8",
};

/** The files made from the server's lists, by name, with their media types. */
const GENERATED: Readonly<Record<string, { type: string; text: string }>> = {
  "audit_actions.json": {
    type: "application/json; charset=utf-8",
    text: JSON.stringify(AUDIT_ACTIONS),
  },
};

const POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** The route label of console requests in the metrics. */
const ROUTE = { method: "GET", path: "/console/*" };

/**
 * Serves the console under `/console/` (and redirects `/console` there).
 *
 * @param app The server's Hono app.
 */
export function serveConsole(app: Hono<ServerEnv>): void {
  const cache = new Map<string, Uint8Array>();
  async function read(name: string): Promise<Uint8Array> {
    let bytes = cache.get(name);
    if (bytes === undefined) {
      // fetch reads file: URLs too, so this works from a checkout and from a package.
      const response = await fetch(new URL(`./console/${name}`, import.meta.url));
      if (!response.ok) throw new Error(`Cannot read console file ${name}: ${response.status}`);
      bytes = new Uint8Array(await response.arrayBuffer());
      cache.set(name, bytes);
    }
    return bytes;
  }
  app.get("/console", function consoleRedirect(c) {
    c.set("route", ROUTE);
    return c.redirect("/console/", 308);
  });
  async function consoleFile(c: Context<ServerEnv>): Promise<Response> {
    const name = c.req.param("file") ?? "index.html";
    const generated = GENERATED[name];
    const type = generated?.type ?? FILES[name];
    if (type === undefined) return c.notFound();
    c.set("route", ROUTE);
    const body = generated?.text ?? await read(name) as Uint8Array<ArrayBuffer>;
    return c.body(body, 200, {
      "content-type": type,
      "content-security-policy": POLICY,
      "x-content-type-options": "nosniff",
      "cache-control": "no-cache",
    });
  }
  app.get("/console/", consoleFile);
  app.get("/console/:file", consoleFile);
}
