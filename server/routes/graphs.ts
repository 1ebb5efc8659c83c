/**
 * `GET /v1/graphs`: the graphs this server serves, with their structure
 * (nodes, edges, conditional edges), so a client can draw a run's graph; and
 * `GET /v1/whoami`: the caller's identity and the routes its role may call,
 * so a client shows only the actions it may take (the server checks them
 * anyway).
 *
 * @module
 */

import { graphFingerprint, graphShape } from "../../kernel/mod.ts";
import type { ApiDeps } from "../api.ts";
import { authorize } from "../auth.ts";
import { GraphList, Whoami } from "../responses.ts";
import { route, type RouteDef } from "../route.ts";
import { NoQuery } from "../schemas.ts";

/**
 * The graph and caller routes.
 *
 * @param deps The runtime (its graphs) and the default graph.
 * @param server Whether auth is on, and the whole route table (for `whoami`).
 * @returns The routes.
 */
export function graphRoutes(
  deps: ApiDeps,
  server: { authEnabled: boolean; routes: () => readonly RouteDef[] },
): RouteDef[] {
  return [
    route({
      method: "GET",
      path: "/v1/graphs",
      summary: "The graphs this server serves, with their nodes and edges",
      query: NoQuery,
      response: GraphList,
      handler() {
        const { runtime } = deps;
        const graphs = runtime.graphNames().map((name) => {
          const spec = runtime.graph(name).spec;
          const shape = graphShape(spec);
          return {
            name,
            default: name === deps.defaultGraph,
            fingerprint: graphFingerprint(spec),
            nodes: shape.nodes,
            edges: shape.edges.map(([from, to]) => ({ from, to })),
            branches: shape.branches,
            ends: shape.ends,
          };
        });
        return Promise.resolve({ graphs });
      },
    }),
    route({
      method: "GET",
      path: "/v1/whoami",
      summary: "The caller: how it authenticated, its role, and the routes it may call",
      query: NoQuery,
      response: Whoami,
      handler(c) {
        const principal = c.get("principal");
        const role = server.authEnabled ? principal?.role ?? null : null;
        const routes = server.routes().filter((def) =>
          def.path.startsWith("/v1/") &&
          (!server.authEnabled || (role !== null && authorize(role, def.method, def.path)))
        ).map((def) => `${def.method} ${def.path}`);
        return Promise.resolve({
          auth_enabled: server.authEnabled,
          actor_type: server.authEnabled ? principal?.actorType ?? "anonymous" : "anonymous",
          actor_id: principal?.actorId ?? null,
          role,
          routes,
        });
      },
    }),
  ];
}
