/**
 * The OpenAPI 3.1 document of the v1 API, generated from the route table:
 * the same zod schemas that validate requests describe their bodies and
 * queries, and the response schemas of `responses.ts` describe the success
 * envelope around each route's data and the error envelope. Each registered
 * graph's input schema is a component (`GraphInput.<graph>`), and the run
 * body says which applies (`oneOf` by `graph`).
 *
 * @module
 */

import { z } from "zod";
import denoJson from "../deno.json" with { type: "json" };
import { ID_PATTERN } from "../kernel/mod.ts";
import { graphInputComponent, graphInputSchema, type GraphInputSource } from "./graph_inputs.ts";
import { ErrorEnvelope, responseComponents, successEnvelope } from "./responses.ts";
import type { RouteDef } from "./route.ts";
import { RunJobBody } from "./schemas.ts";

type JsonSchema = Record<string, unknown>;

/**
 * The JSON Schema of a request or response schema as the OpenAPI document
 * embeds it: `z.toJSONSchema` of the zod schema, with its local definitions
 * (`$defs`: the recursive JSON value, and the shared response shapes named in
 * `responseComponents`) moved to `components.schemas` and their `$ref`s
 * pointed there, so that the document resolves.
 *
 * @param schema A zod schema of server/schemas.ts or server/responses.ts.
 * @param io `input` for what the server reads (requests), `output` for what it writes.
 * @returns The schema and the definitions it refers to.
 */
export function openApiSchema(
  schema: z.ZodType,
  io: "input" | "output" = "input",
): { schema: JsonSchema; components: Record<string, JsonSchema> } {
  const json = z.toJSONSchema(schema, {
    io,
    unrepresentable: "any",
    metadata: responseComponents,
  }) as JsonSchema;
  delete json.$schema;
  const defs = (json.$defs ?? {}) as Record<string, JsonSchema>;
  delete json.$defs;
  const names = new Map(
    Object.keys(defs).map((name) => [name, name.startsWith("__schema") ? "JsonValue" : name]),
  );
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (value === null || typeof value !== "object") return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => {
        if (key === "$ref" && typeof item === "string" && item.startsWith("#/$defs/")) {
          const name = item.slice("#/$defs/".length);
          return [key, `#/components/schemas/${names.get(name) ?? name}`];
        }
        return [key, rewrite(item)];
      }),
    );
  };
  const components = Object.fromEntries(
    Object.entries(defs).map(([name, def]) => [names.get(name)!, rewrite(def) as JsonSchema]),
  );
  return { schema: rewrite(json) as JsonSchema, components };
}

/** The success response of a route: its data in the envelope, or its own body. */
function success(
  item: RouteDef,
  schemaOf: (zod: z.ZodType, io: "input" | "output") => JsonSchema,
): Record<string, unknown> {
  if (item.mediaType !== undefined) {
    return {
      description: item.summary,
      content: { [item.mediaType]: { schema: schemaOf(item.response, "output") } },
    };
  }
  return {
    description: "Success envelope",
    content: {
      "application/json": { schema: schemaOf(successEnvelope(item.response), "output") },
    },
  };
}

/** Options of {@linkcode openApiDocument}. */
export interface OpenApiOptions {
  /** The registered graphs, whose input schemas the document shows. */
  graphs?: readonly GraphInputSource[];
  /** The graph a job runs when it names none. */
  defaultGraph?: string;
}

/** An error response that only some routes can give. */
function errorResponse(description: string, error: Record<string, unknown>) {
  return { ...error, description };
}

/**
 * The `oneOf` of the run body: for each registered graph, the input schema
 * that applies when `graph` names it (or is absent, for the default graph).
 */
function graphVariants(options: OpenApiOptions): JsonSchema[] {
  const variants: JsonSchema[] = [];
  for (const { name } of options.graphs ?? []) {
    const input = { $ref: `#/components/schemas/${graphInputComponent(name)}` };
    variants.push({
      title: `graph "${name}"`,
      properties: { graph: { const: name }, input },
      required: ["graph"],
    });
    if (name === options.defaultGraph) {
      variants.push({
        title: `graph "${name}" (the default: no graph given)`,
        not: { required: ["graph"] },
        properties: { input },
      });
    }
  }
  return variants;
}

/**
 * Builds the OpenAPI document.
 *
 * @param routes The route table.
 * @param options The registered graphs, and the default one.
 * @returns The document.
 */
export function openApiDocument(
  routes: readonly RouteDef[],
  options: OpenApiOptions = {},
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const schemas: Record<string, JsonSchema> = {};
  for (const graph of options.graphs ?? []) {
    schemas[graphInputComponent(graph.name)] = graphInputSchema(graph);
  }
  const variants = graphVariants(options);
  const schemaOf = (zod: z.ZodType, io: "input" | "output" = "input"): JsonSchema => {
    const { schema, components } = openApiSchema(zod, io);
    Object.assign(schemas, components);
    return schema;
  };
  const error = {
    description: "Error envelope",
    content: { "application/json": { schema: schemaOf(ErrorEnvelope, "output") } },
  };
  for (const item of routes) {
    const path = item.path.replace(/:([A-Za-z_]+)/g, "{$1}");
    const parameters: unknown[] = [...item.path.matchAll(/:([A-Za-z_]+)/g)].map((match) => ({
      name: match[1],
      in: "path",
      required: true,
      schema: { type: "string", pattern: ID_PATTERN.source },
    }));
    if (item.query !== undefined) {
      const query = schemaOf(item.query);
      const required = new Set((query.required as string[] | undefined) ?? []);
      for (
        const [name, schema] of Object.entries(
          (query.properties ?? {}) as Record<string, JsonSchema>,
        )
      ) {
        parameters.push({ name, in: "query", required: required.has(name), schema });
      }
    }
    // Every `/v1` route reads the store (credentials, runs) or the runtime; of
    // the public ones only readiness does.
    const usesStore = item.path.startsWith("/v1/") || item.path === "/readyz";
    const operation: Record<string, unknown> = {
      summary: item.summary,
      operationId: `${item.method.toLowerCase()}${
        item.path.replace(/\/:?([A-Za-z_]+)/g, (_, part: string) =>
          part[0]!.toUpperCase() + part.slice(1))
      }`,
      parameters,
      responses: {
        "200": success(item, schemaOf),
        "400": error,
        ...(item.public ? {} : { "401": error, "403": error }),
        "404": error,
        "405": errorResponse(
          "Another method on this path: not allowed (`Allow` lists the methods)",
          error,
        ),
        "409": error,
        ...(item.body === undefined ? {} : {
          "413": errorResponse("The request body is larger than 1 MiB", error),
          "415": errorResponse(
            "The body has a `Content-Encoding` the server does not decode (only `identity`)",
            error,
          ),
        }),
        "500": error,
        ...(usesStore
          ? {
            "503": errorResponse("The store is unavailable: retry later", error),
            "504": errorResponse("The store or the run did not answer in time", error),
          }
          : {}),
      },
    };
    if (item.body !== undefined) {
      const body = schemaOf(item.body);
      operation.requestBody = {
        // An empty body reads as `{}`: the body is required when `{}` is not valid.
        required: !item.body.safeParse({}).success,
        content: {
          "application/json": {
            schema: item.body === RunJobBody && variants.length > 0
              ? { ...body, oneOf: variants }
              : body,
          },
        },
      };
    }
    if (!item.public) {
      operation.security = [{ bearer: [] }, { apiKey: [] }, { apiKeyId: [], apiKey: [] }];
    }
    if (item.audit !== undefined) operation["x-oris-audit-action"] = item.audit.action;
    paths[path] = { ...paths[path], [item.method.toLowerCase()]: operation };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Oris v1 control-plane API",
      version: denoJson.version,
      description: "Durable execution of reasoning graphs: jobs, interrupts, audit.",
    },
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer" },
        apiKey: { type: "apiKey", in: "header", name: "x-api-key" },
        apiKeyId: { type: "apiKey", in: "header", name: "x-api-key-id" },
      },
    },
    paths,
  };
}
