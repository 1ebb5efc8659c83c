/**
 * Serving a user's own graphs: loads the modules `ORIS_GRAPHS` (or
 * `--graphs`) names and collects their compiled graphs. A module exports a
 * compiled graph per named export (served under the export's name), or a
 * default export that is a record of compiled graphs (served under the
 * record's keys). Other exports are ignored. A module that cannot be loaded,
 * or exports no compiled graph, is an `invalid_argument` error naming it.
 *
 * @module
 */

import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import type { GraphDefinition } from "../actors/mod.ts";
import { InvalidArgumentError } from "../kernel/mod.ts";

/**
 * Splits a list of graph modules (`ORIS_GRAPHS`: separated by commas).
 *
 * @param value The list.
 * @returns The module paths or URLs, trimmed, without empty items.
 */
export function splitGraphModules(value: string | undefined): string[] {
  return (value ?? "").split(",").map((item) => item.trim()).filter((item) => item !== "");
}

/**
 * The URL a module path or URL is imported from: URLs as they are, paths
 * relative to `cwd`.
 *
 * @param specifier The path or URL.
 * @param cwd The directory paths are relative to.
 * @returns The URL.
 */
export function moduleUrl(specifier: string, cwd: string): string {
  if (/^(file|https?|data|npm|jsr):/i.test(specifier)) return specifier;
  return pathToFileURL(resolve(cwd, specifier)).href;
}

/** Whether a value is a compiled graph (`CompiledGraph`, from any copy of this package). */
function definitionOf(value: unknown): GraphDefinition | null {
  if (typeof value !== "object" || value === null || !("definition" in value)) return null;
  const definition = (value as { definition: unknown }).definition;
  if (typeof definition !== "object" || definition === null) return null;
  const { name, spec } = definition as { name?: unknown; spec?: unknown };
  if (typeof name !== "string" || typeof spec !== "object" || spec === null) return null;
  const { nodes, edges } = spec as { nodes?: unknown; edges?: unknown };
  return nodes instanceof Map && Array.isArray(edges) ? definition as GraphDefinition : null;
}

/**
 * The compiled graphs a module's exports hold, by the name they are served
 * under.
 *
 * @param exports The module's namespace.
 * @returns The graphs (empty when it exports none).
 */
export function graphsOfModule(exports: Record<string, unknown>): GraphDefinition[] {
  const found: GraphDefinition[] = [];
  for (const [key, value] of Object.entries(exports)) {
    if (key === "default") continue;
    const definition = definitionOf(value);
    if (definition !== null) found.push({ name: key, spec: definition.spec });
  }
  const fallback = exports.default;
  const single = definitionOf(fallback);
  if (single !== null) found.push(single);
  else if (typeof fallback === "object" && fallback !== null) {
    for (const [key, value] of Object.entries(fallback)) {
      const definition = definitionOf(value);
      if (definition !== null) found.push({ name: key, spec: definition.spec });
    }
  }
  return found;
}

/**
 * Loads graph modules and returns their graphs (what `ORIS_GRAPHS` and
 * `oris worker --graphs` load).
 *
 * @param specifiers Module paths (relative to `cwd`) or URLs.
 * @param cwd The directory paths are relative to.
 * @returns The graphs, in module order.
 * @throws {InvalidArgumentError} naming a module that cannot be loaded, that
 *   exports no compiled graph, or whose graph's name another module took.
 *
 * @example Load your graphs
 * ```ts ignore
 * import { loadGraphModules } from "@oris/runtime/server";
 *
 * const graphs = await loadGraphModules(["./graphs.ts"], Deno.cwd());
 * console.log(graphs.map((graph) => graph.name));
 * ```
 */
export async function loadGraphModules(
  specifiers: readonly string[],
  cwd: string,
): Promise<GraphDefinition[]> {
  const graphs: GraphDefinition[] = [];
  const origin = new Map<string, string>();
  for (const specifier of specifiers) {
    let exports: Record<string, unknown>;
    try {
      exports = await import(moduleUrl(specifier, cwd));
    } catch (error) {
      const reason = (error instanceof Error ? error.message : String(error)).split("\n")[0];
      throw new InvalidArgumentError(
        `Cannot load graph module "${specifier}": ${reason}`,
        { cause: error, details: { module: specifier } },
      );
    }
    const found = graphsOfModule(exports);
    if (found.length === 0) {
      throw new InvalidArgumentError(
        `Cannot serve graph module "${specifier}": it exports no compiled graph (export ` +
          `each graph by name, or a default record of graphs)`,
        { details: { module: specifier } },
      );
    }
    for (const graph of found) {
      const other = origin.get(graph.name);
      if (other !== undefined) {
        throw new InvalidArgumentError(
          `Cannot serve graph module "${specifier}": graph "${graph.name}" is also served by ` +
            `"${other}"`,
          { details: { module: specifier, graph: graph.name } },
        );
      }
      origin.set(graph.name, specifier);
      graphs.push(graph);
    }
  }
  return graphs;
}
