/**
 * The routes about the server itself: its OpenAPI document, liveness,
 * readiness (the store answers) and Prometheus metrics. All but the
 * document are public (outside `/v1` auth).
 *
 * @module
 */

import type { ApiDeps } from "../api.ts";
import { HttpError } from "../envelope.ts";
import type { ServerMetrics } from "../metrics.ts";
import { openApiDocument } from "../openapi.ts";
import { HealthResponse, MetricsText, OpenApiDocument, ReadyResponse } from "../responses.ts";
import { route, type RouteDef } from "../route.ts";
import { NoQuery } from "../schemas.ts";

/**
 * The system routes.
 *
 * @param deps The store, the runtime (its graphs, for the document) and the default graph.
 * @param server The server's metrics, and its whole route table (for the document).
 * @returns The routes.
 */
export function systemRoutes(
  deps: ApiDeps,
  server: { metrics: ServerMetrics; routes: () => readonly RouteDef[] },
): RouteDef[] {
  return [
    route({
      method: "GET",
      path: "/v1/openapi.json",
      summary: "This API's OpenAPI 3.1 document",
      query: NoQuery,
      response: OpenApiDocument,
      mediaType: "application/json",
      handler: (c) => {
        const { runtime } = deps;
        const graphs = runtime.graphNames().map((name) => ({
          name,
          schema: runtime.graph(name).spec.schema,
        }));
        return Promise.resolve(
          c.json(openApiDocument(server.routes(), { graphs, defaultGraph: deps.defaultGraph })),
        );
      },
    }),
    route({
      method: "GET",
      path: "/healthz",
      summary: "Liveness",
      public: true,
      query: NoQuery,
      response: HealthResponse,
      handler: () => Promise.resolve({ status: "ok" as const }),
    }),
    route({
      method: "GET",
      path: "/readyz",
      summary: "Readiness: the store answers",
      public: true,
      query: NoQuery,
      response: ReadyResponse,
      async handler() {
        try {
          await deps.store.ping();
        } catch (error) {
          throw new HttpError(503, "unavailable", "The store is not reachable", {
            cause: error instanceof Error ? error.message : String(error),
          });
        }
        return { status: "ready" as const };
      },
    }),
    route({
      method: "GET",
      path: "/metrics",
      summary: "Prometheus metrics",
      public: true,
      query: NoQuery,
      response: MetricsText,
      mediaType: server.metrics.registry.contentType,
      async handler(c) {
        return c.body(await server.metrics.registry.metrics(), 200, {
          "content-type": server.metrics.registry.contentType,
        });
      },
    }),
  ];
}
