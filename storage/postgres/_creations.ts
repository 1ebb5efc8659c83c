/**
 * The run creations of a {@linkcode PostgresStore}, group committed: the
 * creations of different runs that arrive while one is in flight go out
 * together as one statement (with many runs started at once, one statement
 * per creation was as many transactions as the runs). A creation alone uses
 * the statements made for one run (`createRun`, `createRunLeased`). Each
 * creation keeps its own outcome: created (with its lease, when asked for),
 * or not (the run exists: the caller reads it).
 *
 * @module
 */

import { GroupCommitter, type Settled } from "../_group_commit.ts";
import type { Created, Parameter, PostgresContext, PreparedCreate } from "./_context.ts";
import { isConnectionError, isRaceLost, RACE_RETRIES, toStorageError } from "./_errors.ts";
import { type ClaimRow, toClaim } from "./ownership.ts";

/** Creations that may go out together as one batch. */
const MAX_BATCH_ITEMS = 500;
/** The bytes of JSON one batch carries at most (a larger single creation goes alone). */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/**
 * The group committer of a store's run creations.
 *
 * @param context The store's shared state.
 * @returns The committer.
 */
export function createCommitter(context: PostgresContext): GroupCommitter<PreparedCreate, Created> {
  return new GroupCommitter<PreparedCreate, Created>({
    execute: (items) => createBatch(context, items),
    key: (item) => item.encoded.threadId,
    size: ({ encoded }) => (encoded.snapshotJson?.length ?? 0) + encoded.eventBytes,
    maxInFlight: 2,
    minSplit: 32,
    maxItems: MAX_BATCH_ITEMS,
    maxBytes: MAX_BATCH_BYTES,
  });
}

async function createBatch(
  context: PostgresContext,
  batch: PreparedCreate[],
): Promise<Settled<Created>[]> {
  if (batch.length === 1) return [{ ok: true, value: await createOne(context, batch[0]!) }];
  // In the order of the runs, so that two batches inserting the same runs do not deadlock.
  const sorted = [...batch].sort((a, b) => a.encoded.threadId < b.encoded.threadId ? -1 : 1);
  let rows: ClaimRow[];
  for (let attempt = 1;; attempt++) {
    try {
      rows = await context.query<ClaimRow>(context.statements.createRuns, batchParameters(sorted));
      break;
    } catch (error) {
      if (isRaceLost(error) && attempt < RACE_RETRIES) continue;
      if (isConnectionError(error)) throw error;
      // Nothing of the batch was written; let each creation succeed or fail alone.
      return await Promise.all(batch.map(async (item): Promise<Settled<Created>> => {
        try {
          return { ok: true, value: await createOne(context, item) };
        } catch (error) {
          return {
            ok: false,
            error: toStorageError(`create run "${item.encoded.threadId}"`, error),
          };
        }
      }));
    }
  }
  const created = new Map(rows.map((row) => [row.thread_id, row]));
  return batch.map((item): Settled<Created> => {
    const row = created.get(item.encoded.threadId);
    return {
      ok: true,
      value: {
        created: row !== undefined,
        lease: item.lease === null || row === undefined ? null : toClaim(row),
      },
    };
  });
}

/** One creation, with the statements of one run. */
async function createOne(context: PostgresContext, item: PreparedCreate): Promise<Created> {
  const { encoded } = item;
  const parameters = (events: Parameter[]): Parameter[] => [
    encoded.threadId,
    encoded.summary.status,
    encoded.summary.graph,
    item.payloadHash,
    encoded.summary.version,
    encoded.summary.createdAt,
    encoded.summary.updatedAt,
    ...events,
    encoded.snapshotJson!,
    item.priority,
    item.tenantId,
    item.wakeAt,
  ];
  if (item.lease === null) {
    const first = encoded.events[0]!;
    const [row] = await context.query<{ created: number }>(
      context.statements.createRun,
      parameters([first.type, first.at, first.json]),
    );
    return { created: row?.created === 1, lease: null };
  }
  const events = encoded.events;
  const [row] = await context.query<ClaimRow>(context.statements.createRunLeased, [
    ...parameters([
      events.map((event) => event.type),
      events.map((event) => event.at),
      events.map((event) => event.json),
    ]),
    item.lease.owner,
    item.lease.ttlMs,
  ]);
  return { created: row !== undefined, lease: row === undefined ? null : toClaim(row) };
}

/** The parameters `$1..$18` of `createRuns`. */
function batchParameters(batch: PreparedCreate[]): Parameter[] {
  const runs: [
    string[],
    string[],
    string[],
    string[],
    number[],
    number[],
    number[],
    string[],
    number[],
    (string | null)[],
    (number | null)[],
    (string | null)[],
    (number | null)[],
  ] = [[], [], [], [], [], [], [], [], [], [], [], [], []];
  const events: [string[], number[], string[], number[], string[]] = [[], [], [], [], []];
  for (const item of batch) {
    const { encoded } = item;
    runs[0].push(encoded.threadId);
    runs[1].push(encoded.summary.status);
    runs[2].push(encoded.summary.graph);
    runs[3].push(item.payloadHash);
    runs[4].push(encoded.summary.version);
    runs[5].push(encoded.summary.createdAt);
    runs[6].push(encoded.summary.updatedAt);
    runs[7].push(encoded.snapshotJson!);
    runs[8].push(item.priority);
    runs[9].push(item.tenantId);
    runs[10].push(item.wakeAt);
    runs[11].push(item.lease?.owner ?? null);
    runs[12].push(item.lease?.ttlMs ?? null);
    for (const event of encoded.events) {
      events[0].push(encoded.threadId);
      events[1].push(event.seq);
      events[2].push(event.type);
      events[3].push(event.at);
      events[4].push(event.json);
    }
  }
  return [...runs, ...events];
}
