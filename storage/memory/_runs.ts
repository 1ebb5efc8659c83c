/**
 * A run as a {@linkcode MemoryStore} keeps it (JSON texts, so that what was
 * written and what is read never alias), and the helpers that write an
 * append to it and read it back.
 *
 * @module
 */

import {
  applyInterruptChanges,
  checkFromSeq,
  type CheckpointRecord,
  decodeEvent,
  decodeSnapshot,
  type EncodedAppend,
  type InterruptRow,
  type LoadedRun,
  type RunSummary,
  type StoredEvent,
  storedSnapshotAfter,
  type StoredSnapshotInfo,
} from "../../kernel/mod.ts";

/** A run in memory. */
export interface StoredRun {
  /** Its listing line. */
  summary: RunSummary;
  /** Its creation's payload hash. */
  payloadHash: string;
  /** The latest persisted snapshot. */
  snapshotJson: string;
  /** That snapshot's version. */
  snapshotVersion: number;
  /** The size of the JSON texts of the events after the snapshot. */
  tailBytes: number;
  /** The log. */
  events: string[];
  /** The checkpoints. */
  checkpoints: CheckpointRecord[];
}

/**
 * A new run, with its creation written.
 *
 * @param encoded The creation.
 * @param payloadHash Its payload hash.
 * @param interrupts The interrupt index.
 * @returns The run.
 */
export function createdRun(
  encoded: EncodedAppend,
  payloadHash: string,
  interrupts: Map<string, InterruptRow>,
): StoredRun {
  const run: StoredRun = {
    summary: encoded.summary,
    payloadHash,
    snapshotJson: encoded.snapshotJson!,
    snapshotVersion: encoded.snapshot.version,
    tailBytes: 0,
    events: [],
    checkpoints: [],
  };
  writeAppend(run, encoded, interrupts);
  return run;
}

/**
 * What the snapshot policy needs to know of a run's stored snapshot.
 *
 * @param run The run.
 * @returns Its stored snapshot's version and sizes.
 */
export function storedInfo(run: StoredRun): StoredSnapshotInfo {
  return { version: run.snapshotVersion, bytes: run.snapshotJson.length, tailBytes: run.tailBytes };
}

/**
 * Writes an encoded append (or creation) to a run, and its changes to the interrupt index.
 *
 * @param run The run.
 * @param encoded The append.
 * @param interrupts The interrupt index.
 */
export function writeAppend(
  run: StoredRun,
  encoded: EncodedAppend,
  interrupts: Map<string, InterruptRow>,
): void {
  for (const event of encoded.events) run.events.push(event.json);
  // The encoding made these records (of strings and numbers): nothing else holds them.
  for (const record of encoded.checkpoints) run.checkpoints.push(record);
  run.summary = encoded.summary;
  applyInterruptChanges(interrupts, encoded.interruptChanges);
  const stored = storedSnapshotAfter(storedInfo(run), encoded)!;
  if (encoded.snapshotJson !== null) run.snapshotJson = encoded.snapshotJson;
  run.snapshotVersion = stored.version;
  run.tailBytes = stored.tailBytes;
}

/**
 * A run's latest snapshot and the events after it.
 *
 * @param run The run.
 * @returns The loaded run.
 */
export function loadStored(run: StoredRun): LoadedRun {
  return {
    snapshot: decodeSnapshot(JSON.parse(run.snapshotJson)),
    events: readStored(run, run.snapshotVersion + 1, Infinity),
  };
}

/**
 * A run's events from a seq.
 *
 * @param run The run.
 * @param fromSeq The first seq.
 * @param limit How many at most.
 * @returns The events.
 */
export function readStored(run: StoredRun, fromSeq: number, limit: number): StoredEvent[] {
  const from = checkFromSeq(fromSeq);
  return run.events.slice(from - 1, from - 1 + Math.min(limit, run.events.length)).map((
    json,
    i,
  ) => ({
    seq: from + i,
    event: decodeEvent(JSON.parse(json)),
  }));
}
