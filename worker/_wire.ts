/**
 * The wire formats of the worker endpoints the worker's store reads: events
 * and effects as the server sends them, and which conflicts are about a
 * run's version.
 *
 * @module
 */

import {
  decodeEvent,
  type EffectRecord,
  type OrisError,
  type StoredEvent,
  type ThreadId,
} from "../kernel/mod.ts";

/** Whether a conflict is about the run's version. */
export function isVersion(error: OrisError): boolean {
  return typeof error.details.expected_version === "number";
}

/** An event as stored, checked. */
export function decodeStored(stored: StoredEvent): StoredEvent {
  return { seq: stored.seq, event: decodeEvent(stored.event) };
}

/** An effect as the worker endpoints send it. */
export interface WireEffect {
  thread_id: string;
  step: number;
  node: string;
  index: number;
  name: string;
  result: EffectRecord["result"];
  started_at?: number;
  recorded_at: number;
}

/** An effect as the store keeps it. */
export function effectOf(wire: WireEffect): EffectRecord {
  return {
    threadId: wire.thread_id as ThreadId,
    step: wire.step,
    node: wire.node,
    index: wire.index,
    name: wire.name,
    result: wire.result,
    ...(wire.started_at === undefined ? {} : { startedAt: wire.started_at }),
    recordedAt: wire.recorded_at,
  };
}
