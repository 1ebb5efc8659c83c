/**
 * The input schemas of registered graphs, for the OpenAPI document: a
 * graph's input is an object of its channels (or, for a graph with a
 * `messages` channel, a string: a human message). A channel with a schema
 * that can describe itself (Standard JSON Schema, which zod 4 implements)
 * shows that JSON Schema; any other channel accepts any JSON value.
 *
 * @module
 */

import type { ChannelSpec, StateSchema } from "../kernel/mod.ts";

type JsonSchema = Record<string, unknown>;

/** A registered graph, as the document shows it. */
export interface GraphInputSource {
  /** The graph's name. */
  name: string;
  /** Its state schema. */
  schema: StateSchema;
}

/**
 * The name of a graph's input schema in `components.schemas` (component
 * names may not contain `:`).
 *
 * @param graph The graph's name.
 * @returns The component's name.
 */
export function graphInputComponent(graph: string): string {
  return `GraphInput.${graph.replaceAll(":", "_")}`;
}

/**
 * The JSON Schema of a graph's input.
 *
 * @param source The graph.
 * @returns The schema, to be stored as `components.schemas[graphInputComponent(name)]`.
 */
export function graphInputSchema(source: GraphInputSource): JsonSchema {
  const { schema } = source;
  const base = `#/components/schemas/${graphInputComponent(source.name)}`;
  const messages = schema.keys.includes("messages");
  const objectPointer = messages ? `${base}/anyOf/0` : base;
  const properties: Record<string, JsonSchema> = {};
  for (const key of schema.keys) {
    properties[key] = channelSchema(
      schema.spec[key]!,
      `${objectPointer}/properties/${pointerToken(key)}`,
    );
  }
  const object: JsonSchema = {
    type: "object",
    description: `The channels of graph "${source.name}" to set (each through its reducer)`,
    properties,
    additionalProperties: false,
  };
  if (!messages) return { title: `Input of graph "${source.name}"`, ...object };
  return {
    title: `Input of graph "${source.name}"`,
    anyOf: [object, { type: "string", description: "A human message" }],
  };
}

/** A channel's JSON Schema, embedded at `pointer` (its local `$ref`s are rewritten to it). */
function channelSchema(channel: ChannelSpec, pointer: string): JsonSchema {
  const validator = channel.schema;
  if (validator === undefined) return { description: "Any JSON value" };
  const converter = validator["~standard"].jsonSchema;
  const vendor = validator["~standard"].vendor;
  if (converter === undefined) {
    return { description: `Any JSON value its ${vendor} schema accepts (it has no JSON Schema)` };
  }
  let json: JsonSchema;
  try {
    json = converter.input({ target: "draft-2020-12" });
  } catch (error) {
    // The document says why; the channel is still validated on every update.
    return {
      description: `Any JSON value its ${vendor} schema accepts (no JSON Schema: ${
        error instanceof Error ? error.message : String(error)
      })`,
    };
  }
  const { $schema: _dialect, ...rest } = json;
  return rebase(rest, pointer) as JsonSchema;
}

/** Rewrites local `$ref`s (`#`, `#/$defs/x`) to point below `pointer` in the document. */
function rebase(value: unknown, pointer: string): unknown {
  // Iterative: a JSON Schema made by a library is small, but this walks no deeper than it needs.
  const root = structuredClone(value);
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== "object") continue;
    if (Array.isArray(node)) {
      stack.push(...node);
      continue;
    }
    const record = node as Record<string, unknown>;
    for (const [key, item] of Object.entries(record)) {
      if (key === "$ref" && typeof item === "string" && item.startsWith("#")) {
        record[key] = `${pointer}${item.slice(1)}`;
      } else {
        stack.push(item);
      }
    }
  }
  return root;
}

/** A JSON Pointer token (RFC 6901). */
function pointerToken(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}
