/**
 * The interrupt index changes of an append, reduced to writes that one SQL
 * statement can make together with the append.
 *
 * The kernel describes an append's changes as an ordered list
 * ({@linkcode InterruptChange}), applied one after another
 * ({@linkcode applyInterruptChanges}). Sub-statements of one PostgreSQL
 * statement do not see each other's writes and must not write a row twice,
 * so the list is folded here into its net effect, which touches each row once:
 *
 * - every interrupt the append raises gets its final row (an upsert), which
 *   is the kernel's {@linkcode applyInterruptChanges} applied to the rows the
 *   append raises;
 * - every interrupt it resumes without raising it gets its last answer (an
 *   update by id, a no-op for an unknown id);
 * - the other pending interrupts of the run are closed by the append's first
 *   close (later closes find them no longer pending), leaving out the rows
 *   above, whose final state does not depend on it.
 *
 * @module
 */

import {
  applyInterruptChanges,
  encodeJson,
  type InterruptChange,
  type InterruptRow,
  type Json,
} from "../../kernel/mod.ts";

/** An interrupt row with its JSON encoded, as written. */
export interface EncodedInterruptRow {
  /** The row. */
  row: InterruptRow;
  /** `row.value` as JSON text. */
  valueJson: string;
  /** `row.resumeValue` as JSON text, `null` when there is none. */
  resumeValueJson: string | null;
}

/** The net effect of one append's interrupt changes. */
export interface InterruptPlan {
  /** Final rows of the interrupts the append raises. */
  upserts: EncodedInterruptRow[];
  /**
   * Interrupts the append resumes without raising them: the last answer of
   * each, and its status (`cancelled` when a close of the append drops it).
   */
  resolves: {
    interruptId: string;
    resumeValueJson: string | null;
    status: "resumed" | "cancelled";
    at: number;
  }[];
  /**
   * The first close of the append's run, if any, with the answered
   * interrupts of earlier appends it drops.
   */
  close: {
    status: "rejected" | "cancelled";
    rejectedId: string | null;
    dropped: string[];
    at: number;
  } | null;
  /** The ids of `upserts` and `resolves`: rows the close leaves alone. */
  ids: string[];
}

/**
 * Folds an append's interrupt changes into their net effect; see the module doc.
 *
 * @param threadId The run of the append.
 * @param changes The append's changes, in order.
 * @returns The plan, or `null` when there are no changes.
 * @throws {InvalidArgumentError} when a value is not JSON.
 *
 * @example
 * ```ts
 * import { planInterruptChanges } from "./_interrupts.ts";
 * import { interruptChanges, type InterruptId } from "../../kernel/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const plan = planInterruptChanges("t", interruptChanges("t", [
 *   { type: "run.resumed", v: 1, at: 1, values: { in_old: "yes" } },
 *   {
 *     type: "interrupt.raised", v: 1, at: 2, step: 1, writes: [],
 *     interrupts: [{ id: "in_new" as InterruptId, step: 1, taskId: "1:a", node: "a", index: 0, value: "ok?" }],
 *   },
 *   { type: "run.cancelled", v: 1, at: 3, reason: null },
 * ]));
 * assert.equal(plan?.upserts[0]?.row.status, "cancelled");
 * assert.deepEqual(plan?.resolves, [{ interruptId: "in_old", resumeValueJson: '"yes"', status: "resumed", at: 1 }]);
 * assert.deepEqual(plan?.close, { status: "cancelled", rejectedId: null, dropped: [], at: 3 });
 * ```
 */
export function planInterruptChanges(
  threadId: string,
  changes: readonly InterruptChange[],
): InterruptPlan | null {
  if (changes.length === 0) return null;
  // Final rows of the interrupts this append raises: the kernel's rule,
  // applied to them alone (answers and closes of other rows do not touch them).
  const raised = new Map<string, InterruptRow>();
  applyInterruptChanges(raised, changes);
  // Answers to interrupts raised before this append: the last one of each
  // overwrites whatever a close did to the row before.
  const resolved = new Map<string, InterruptPlan["resolves"][number] & { resumeValue: Json }>();
  let close: InterruptPlan["close"] = null;
  for (const change of changes) {
    if (change.kind === "resolve" && !raised.has(change.interruptId)) {
      resolved.set(change.interruptId, {
        interruptId: change.interruptId,
        resumeValue: change.resumeValue,
        resumeValueJson: null,
        status: "resumed",
        at: change.at,
      });
    } else if (change.kind === "close" && change.threadId === threadId) {
      // An answer of this append that the close drops is written as closed.
      for (const id of change.dropped) {
        const answer = resolved.get(id);
        if (answer?.status === "resumed") {
          resolved.set(id, { ...answer, status: "cancelled", at: change.at });
        }
      }
      close ??= {
        status: change.status,
        rejectedId: change.rejectedId,
        dropped: change.dropped.filter((id) => !raised.has(id) && !resolved.has(id)),
        at: change.at,
      };
    }
  }
  const upserts = [...raised.values()].map((row): EncodedInterruptRow => ({
    row,
    valueJson: encodeJson(row.value, `value of interrupt "${row.interruptId}"`),
    resumeValueJson: encodeAnswer(row.interruptId, row.resumeValue),
  }));
  const resolves = [...resolved.values()].map(({ resumeValue, ...answer }) => ({
    ...answer,
    resumeValueJson: encodeAnswer(answer.interruptId, resumeValue),
  }));
  return {
    upserts,
    resolves,
    close,
    ids: [...raised.keys(), ...resolved.keys()],
  };
}

/** An answer as stored: JSON text, or `NULL` for none (and for `null`, which reads back the same). */
function encodeAnswer(interruptId: string, value: Json | null): string | null {
  return value === null ? null : encodeJson(value, `answer to interrupt "${interruptId}"`);
}
