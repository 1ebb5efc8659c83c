/**
 * The interrupt index's one rule: which changes a run's events make to it
 * ({@linkcode interruptChanges}) and what each change does to the rows
 * ({@linkcode applyInterruptChanges}). Adapters derive the index inside the
 * same atomic commit as the events themselves, so it never disagrees with the
 * log.
 *
 * @module
 */

import type { InterruptRow } from "./control.ts";
import type { RunEvent } from "./events.ts";
import type { RunSnapshot } from "./snapshot.ts";
import type { Json } from "./json.ts";
import { unusedAnswers } from "./_answers.ts";

/** A change to the interrupt index made by an append. */
export type InterruptChange =
  | { kind: "raise"; row: InterruptRow }
  | { kind: "resolve"; interruptId: string; status: "resumed"; resumeValue: Json; at: number }
  | {
    kind: "close";
    threadId: string;
    status: "rejected" | "cancelled";
    rejectedId: string | null;
    /** Answered interrupts whose answer the run never used: they are closed too. */
    dropped: string[];
    at: number;
  };

/**
 * The interrupt index changes that events make: raised interrupts become
 * `pending` (again, if re-raised: an interrupt raised again keeps the
 * `createdAt` of its first raise), answered ones `resumed`. When a run ends
 * `cancelled` or `failed`, its pending interrupts become `cancelled` (the one
 * a reject names: `rejected`), and so do those it answered but never used
 * (the run ended before the node ran again with the answer), so the index
 * agrees with the run. When a state update moves the run on, it drops the
 * current step's pending interrupts and the answers it names
 * (`droppedInterruptIds`: answered, never used): they become `cancelled` too.
 *
 * @param threadId The run.
 * @param events The events of one append.
 * @param after The run after them (its answered, unused interrupts are known from it).
 * @returns The changes, in order.
 *
 * @example
 * ```ts
 * import { interruptChanges } from "./interrupt_index.ts";
 * import assert from "node:assert/strict";
 *
 * const changes = interruptChanges("t", [{ type: "run.resumed", v: 1, at: 5, values: { in_1: true } }]);
 * assert.deepEqual(changes, [{ kind: "resolve", interruptId: "in_1", status: "resumed", resumeValue: true, at: 5 }]);
 * ```
 */
export function interruptChanges(
  threadId: string,
  events: readonly RunEvent[],
  after?: RunSnapshot,
): InterruptChange[] {
  const changes: InterruptChange[] = [];
  for (const event of events) {
    if (event.type === "interrupt.raised") {
      for (const record of event.interrupts) {
        changes.push({
          kind: "raise",
          row: {
            interruptId: record.id,
            threadId,
            node: record.node,
            step: record.step,
            value: record.value,
            status: "pending",
            resumeValue: null,
            createdAt: event.at,
            resolvedAt: null,
          },
        });
      }
    } else if (event.type === "run.resumed") {
      for (const [interruptId, resumeValue] of Object.entries(event.values)) {
        changes.push({
          kind: "resolve",
          interruptId,
          status: "resumed",
          resumeValue,
          at: event.at,
        });
      }
    } else if (event.type === "run.cancelled" || event.type === "run.failed") {
      // A terminal event is the last of its append: `after` is the run it ended.
      changes.push({
        kind: "close",
        threadId,
        status: "cancelled",
        rejectedId: event.type === "run.cancelled" ? event.rejectedInterruptId ?? null : null,
        dropped: after === undefined ? [] : unusedAnswers(after),
        at: event.at,
      });
    } else if (event.type === "state.updated" && event.next !== null) {
      changes.push({
        kind: "close",
        threadId,
        status: "cancelled",
        rejectedId: null,
        dropped: event.droppedInterruptIds ?? [],
        at: event.at,
      });
    }
  }
  return changes;
}

/**
 * An interrupt row whose value and answer are held as `V`: JSON in memory,
 * or an adapter's own encoding of it (the KV store keeps bytes or chunks).
 */
export type IndexRow<V> = Omit<InterruptRow, "value" | "resumeValue"> & {
  /** What the interrupt asked, as `V`. */
  value: V;
  /** The answer, as `V`, once resumed. */
  resumeValue: V | null;
};

/**
 * Applies interrupt index changes to rows held in memory: the one definition
 * of what each change does, used by every adapter.
 *
 * @internal Shared by the storage adapters.
 * @typeParam V How the rows hold values (default: JSON).
 * @param rows The index by interrupt id; changed in place (changed rows are replaced, never mutated).
 * @param changes The changes of one append.
 * @param wrap Turns a JSON value of a change into the rows' representation.
 *
 * @example
 * ```ts
 * import { applyInterruptChanges, interruptChanges } from "./interrupt_index.ts";
 * import type { InterruptRow } from "./control.ts";
 * import assert from "node:assert/strict";
 *
 * const rows = new Map<string, InterruptRow>();
 * applyInterruptChanges(rows, interruptChanges("t", [{
 *   type: "interrupt.raised", v: 1, at: 1, step: 1, writes: [],
 *   interrupts: [{ id: "in_1" as never, step: 1, taskId: "1:a", node: "a", index: 0, value: "ok?" }],
 * }]));
 * assert.equal(rows.get("in_1")?.status, "pending");
 * ```
 */
export function applyInterruptChanges<V = Json>(
  rows: Map<string, IndexRow<V>>,
  changes: readonly InterruptChange[],
  wrap: (value: Json) => V = (value) => value as V,
): void {
  for (const change of changes) {
    if (change.kind === "raise") {
      const row = change.row;
      // Raised again, an interrupt keeps when it was first raised: its place in listings.
      const createdAt = rows.get(row.interruptId)?.createdAt ?? row.createdAt;
      rows.set(row.interruptId, {
        ...row,
        createdAt,
        value: wrap(row.value),
        resumeValue: row.resumeValue === null ? null : wrap(row.resumeValue),
      });
    } else if (change.kind === "resolve") {
      const row = rows.get(change.interruptId);
      if (row !== undefined) {
        rows.set(change.interruptId, {
          ...row,
          status: "resumed",
          resumeValue: wrap(change.resumeValue),
          resolvedAt: change.at,
        });
      }
    } else {
      for (const [id, row] of rows) {
        if (row.threadId !== change.threadId) continue;
        const closes = row.status === "pending" ||
          (row.status === "resumed" && change.dropped.includes(id));
        if (!closes) continue;
        rows.set(id, {
          ...row,
          status: id === change.rejectedId ? "rejected" : change.status,
          resolvedAt: change.at,
        });
      }
    }
  }
}
