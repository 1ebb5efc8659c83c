/**
 * Which routes of the route table a path matches. A `:param` segment matches
 * one segment, except the words that other routes have as literal segments
 * in the same place: `run` in `POST /v1/jobs/run` is a route word, not a
 * thread id, so `GET /v1/jobs/run` matches only `POST /v1/jobs/run` (a 405
 * allowing exactly `POST`) and never looks up a thread named "run". Thread
 * ids that are route words are refused at creation (see `schemas.ts`).
 *
 * `matchRoute()` is the first middleware of every route: it answers a
 * request whose parameter is a route word as an unmatched request, and
 * names the matched route for the metrics and the access log.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import type { ServerEnv } from "./env.ts";
import type { RouteDef } from "./route.ts";

/** The routes a path matches. */
export interface RouteMatcher {
  /**
   * The routes whose path matches, whatever their method.
   *
   * @param path The request path.
   * @returns The routes.
   */
  matching(path: string): RouteDef[];
  /**
   * The route word among a request's parameters, as bound for a route.
   *
   * @param def The route Hono matched.
   * @param params Its parameters.
   * @returns The first parameter that is a route word, or `null`.
   */
  routeWord(def: RouteDef, params: Record<string, string>): { param: string; word: string } | null;
  /**
   * The route words of a parameter: literal segments other routes have where
   * a route has this parameter.
   *
   * @param param The parameter, e.g. `thread_id`.
   * @returns The words, sorted.
   */
  wordsOf(param: string): string[];
}

function segmentsOf(path: string): string[] {
  return path.split("/").slice(1);
}

function isParam(segment: string): boolean {
  return segment.startsWith(":");
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * Creates the matcher of a route table.
 *
 * @param routes The route table.
 * @returns The matcher.
 */
export function createRouteMatcher(routes: readonly RouteDef[]): RouteMatcher {
  const table = routes.map((def) => {
    const segments = segmentsOf(def.path);
    // For each parameter position, the literal words of the routes that share the prefix.
    const words = segments.map((segment, i) => {
      if (!isParam(segment)) return new Set<string>();
      const found = new Set<string>();
      for (const other of routes) {
        const theirs = segmentsOf(other.path);
        const word = theirs[i];
        if (word === undefined || isParam(word)) continue;
        const samePrefix = segments.slice(0, i).every((mine, j) =>
          mine === theirs[j] || isParam(mine) || isParam(theirs[j]!)
        );
        if (samePrefix) found.add(word);
      }
      return found;
    });
    return { def, segments, words };
  });
  const byDef = new Map(table.map((entry) => [entry.def, entry]));
  return {
    matching(path) {
      const given = segmentsOf(path).map(decoded);
      return table.filter(({ segments, words }) =>
        segments.length === given.length &&
        segments.every((segment, i) =>
          isParam(segment) ? given[i] !== "" && !words[i]!.has(given[i]!) : segment === given[i]
        )
      ).map((entry) => entry.def);
    },
    routeWord(def, params) {
      const entry = byDef.get(def);
      if (entry === undefined) return null;
      for (const [i, segment] of entry.segments.entries()) {
        if (!isParam(segment)) continue;
        const param = segment.slice(1);
        const value = params[param];
        if (value !== undefined && entry.words[i]!.has(value)) return { param, word: value };
      }
      return null;
    },
    wordsOf(param) {
      const words = new Set<string>();
      for (const { segments, words: at } of table) {
        segments.forEach((segment, i) => {
          if (segment === `:${param}`) { for (const word of at[i]!) words.add(word); }
        });
      }
      return [...words].sort();
    },
  };
}

/**
 * Creates the first middleware of a route: a request whose parameter is a
 * route word is answered as unmatched (`unmatched`, the not-found handler);
 * any other names its route (`route`) and goes on.
 *
 * @param def The route.
 * @param matcher The route table's matcher.
 * @param unmatched The answer to a request no route matches.
 * @returns The middleware.
 */
export function matchRoute(
  def: RouteDef,
  matcher: RouteMatcher,
  unmatched: (c: Context<ServerEnv>) => Response | Promise<Response>,
): MiddlewareHandler<ServerEnv> {
  return async function matchRoute(c, next) {
    if (matcher.routeWord(def, c.req.param() as Record<string, string>) !== null) {
      return await unmatched(c);
    }
    c.set("route", { method: def.method, path: def.path });
    await next();
    return undefined;
  };
}
