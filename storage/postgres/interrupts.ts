/**
 * The interrupt index of a {@linkcode PostgresStore}: reading it, and the
 * writes an append makes to it.
 *
 * An append's changes to the index are folded into their net effect by
 * `_interrupts.ts` and written by the append's own statement
 * (`appendWithInterrupts`, see `runs.ts`), so the index never disagrees with
 * the log. This file turns the plans of a batch into that statement's
 * parameters.
 *
 * @module
 */

import {
  decodeTimeIdCursor,
  type InterruptRow,
  type InterruptStatus,
  type Json,
  type ListInterruptsOptions,
  type Page,
  pageLimit,
  pageOf,
  timeIdPosition,
} from "../../kernel/mod.ts";
import type { Parameter, PostgresContext, PreparedAppend } from "./_context.ts";
import type { InterruptPlan } from "./_interrupts.ts";

interface InterruptDbRow {
  interrupt_id: string;
  thread_id: string;
  node: string;
  step: number;
  value: string;
  status: InterruptStatus;
  resume_value: string | null;
  created_at: number;
  resolved_at: number | null;
}

/**
 * Gets an interrupt of the index; see {@linkcode PostgresStore.getInterrupt}.
 *
 * @param context The store's shared state.
 * @param interruptId The interrupt.
 * @returns The row, or `null`.
 */
export function getInterrupt(
  context: PostgresContext,
  interruptId: string,
): Promise<InterruptRow | null> {
  return context.read(`get interrupt "${interruptId}"`, async () => {
    if (typeof interruptId !== "string") return null;
    const [row] = await context.query<InterruptDbRow>(context.statements.getInterrupt, [
      interruptId,
    ]);
    return row === undefined ? null : toInterrupt(row);
  });
}

/**
 * Lists interrupts, newest first (then by id, descending), paged by key; see
 * {@linkcode PostgresStore.listInterrupts}.
 *
 * @param context The store's shared state.
 * @param options Status and run filters, limit and cursor.
 * @returns One page.
 */
export function listInterrupts(
  context: PostgresContext,
  options: ListInterruptsOptions = {},
): Promise<Page<InterruptRow>> {
  return context.read("list interrupts", async () => {
    const limit = pageLimit(options.limit);
    const after = decodeTimeIdCursor(options.cursor, "interrupts");
    const parameters: Parameter[] = [limit + 1];
    if (options.status !== undefined) parameters.push(options.status);
    if (options.threadId !== undefined) parameters.push(options.threadId);
    if (after !== null) parameters.push(after.time, after.id);
    const text = context.statements.listInterrupts({
      status: options.status !== undefined,
      threadId: options.threadId !== undefined,
      after: after !== null,
    });
    const rows = await context.query<InterruptDbRow>(text, parameters);
    return pageOf(
      rows,
      limit,
      (last) => timeIdPosition("interrupts", last.createdAt, last.interruptId),
      toInterrupt,
    );
  });
}

/**
 * The bytes of JSON an append's interrupt changes write, to bound a batch.
 *
 * @param plan The append's changes, or `null`.
 * @returns The size of the values of the rows it raises.
 */
export function interruptBytes(plan: InterruptPlan | null): number {
  return plan?.upserts.reduce((total, row) => total + row.valueJson.length, 0) ?? 0;
}

/**
 * Whether two appends of a batch write the same interrupt row (raise or
 * answer the same id), which one statement cannot do.
 *
 * @param batch The appends.
 * @returns `true` when they must go one after another.
 */
export function sharesInterrupts(batch: PreparedAppend[]): boolean {
  const seen = new Set<string>();
  for (const { interrupts } of batch) {
    for (const id of interrupts?.ids ?? []) {
      if (seen.has(id)) return true;
      seen.add(id);
    }
  }
  return false;
}

/**
 * The parameters `$18..$36` of `appendWithInterrupts`: the batch's final
 * rows of raised interrupts, answers and closes, and the answered interrupts
 * the closes drop, as arrays.
 *
 * @param batch The appends.
 * @returns The parameters.
 */
export function interruptParameters(batch: PreparedAppend[]): Parameter[] {
  const raised: [
    string[],
    string[],
    string[],
    number[],
    string[],
    string[],
    (string | null)[],
    number[],
    (number | null)[],
  ] = [[], [], [], [], [], [], [], [], []];
  const answered: [string[], string[], (string | null)[], number[], string[]] = [
    [],
    [],
    [],
    [],
    [],
  ];
  const closed: [string[], string[], (string | null)[], number[]] = [[], [], [], []];
  const dropped: string[] = [];
  for (const { encoded, interrupts } of batch) {
    if (interrupts === null) continue;
    for (const { row, valueJson, resumeValueJson } of interrupts.upserts) {
      raised[0].push(row.interruptId);
      raised[1].push(row.threadId);
      raised[2].push(row.node);
      raised[3].push(row.step);
      raised[4].push(valueJson);
      raised[5].push(row.status);
      raised[6].push(resumeValueJson);
      raised[7].push(row.createdAt);
      raised[8].push(row.resolvedAt);
    }
    for (const answer of interrupts.resolves) {
      answered[0].push(encoded.threadId);
      answered[1].push(answer.interruptId);
      answered[2].push(answer.resumeValueJson);
      answered[3].push(answer.at);
      answered[4].push(answer.status);
    }
    if (interrupts.close !== null) {
      closed[0].push(encoded.threadId);
      closed[1].push(interrupts.close.status);
      closed[2].push(interrupts.close.rejectedId);
      closed[3].push(interrupts.close.at);
      dropped.push(...interrupts.close.dropped);
    }
  }
  return [...raised, ...answered, ...closed, dropped];
}

function toInterrupt(row: InterruptDbRow): InterruptRow {
  return {
    interruptId: row.interrupt_id,
    threadId: row.thread_id,
    node: row.node,
    step: row.step,
    value: JSON.parse(row.value) as Json,
    status: row.status,
    resumeValue: row.resume_value === null ? null : JSON.parse(row.resume_value) as Json,
    createdAt: row.created_at,
    resolvedAt: row.resolved_at,
  };
}
