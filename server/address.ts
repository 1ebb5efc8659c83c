/**
 * Network addresses as the server logs them: `host:port`, with an IPv6
 * host in brackets (`[::1]:8080`), so the port cannot be read as part of
 * the address.
 *
 * @module
 */

import type { Context } from "hono";
import type { ServerEnv } from "./env.ts";

/**
 * Formats a host and port: `127.0.0.1:8080`, `[::1]:8080`.
 *
 * @param hostname The host (an IPv6 address without brackets, or with them).
 * @param port The port.
 * @returns `host:port`, an IPv6 host in brackets.
 */
export function hostPort(hostname: string, port: number): string {
  return hostname.includes(":") && !hostname.startsWith("[")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}

/**
 * The client's address of a request served by `Deno.serve` (which passes its
 * connection info to the app as Hono's `env`).
 *
 * @param c The Hono context.
 * @returns `host:port` (IPv6 in brackets), a Unix socket's path, or `null`
 * when the app was called without a connection (`app.request()` in tests).
 */
export function clientAddress(c: Context<ServerEnv>): string | null {
  const addr = (c.env as { remoteAddr?: Deno.Addr } | undefined)?.remoteAddr;
  if (addr === undefined) return null;
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return hostPort(addr.hostname, addr.port);
  }
  if (addr.transport === "unix" || addr.transport === "unixpacket") return addr.path;
  return null;
}
