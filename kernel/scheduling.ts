/**
 * How a run is scheduled (its priority and tenant), read from the metadata
 * of its `run.created` event: one place for the ownership index, the run's
 * snapshot and its listing line.
 *
 * @module
 */

import type { JsonObject } from "./json.ts";

/** How a run is scheduled, from its `run.created` metadata. */
export interface Scheduling {
  /** Higher runs first (`metadata.priority`, default 0). */
  priority: number;
  /** Its tenant (`metadata.tenant_id`), or `null`. */
  tenantId: string | null;
}

/**
 * How a run is scheduled, from the `metadata` of its `run.created` event:
 * `priority` (a whole number, default 0) and `tenant_id` (a string, default
 * none). Anything else there is ignored.
 *
 * @param metadata The run's metadata.
 * @returns Its priority and tenant.
 *
 * @example
 * ```ts
 * import { schedulingOf } from "./scheduling.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(schedulingOf({ priority: 5, tenant_id: "acme" }), { priority: 5, tenantId: "acme" });
 * assert.deepEqual(schedulingOf(undefined), { priority: 0, tenantId: null });
 * ```
 */
export function schedulingOf(metadata: JsonObject | undefined): Scheduling {
  const priority = metadata?.priority;
  const tenant = metadata?.tenant_id;
  return {
    priority: typeof priority === "number" && Number.isSafeInteger(priority) ? priority : 0,
    tenantId: typeof tenant === "string" && tenant.length > 0 ? tenant : null,
  };
}
