/**
 * The worker endpoints' wire shapes, read back as the kernel's records.
 *
 * @module
 */

import { decodeEvent, type EffectRecord, type StoredEvent, type ThreadId } from "../kernel/mod.ts";

/** A stored event as the worker endpoints send it, decoded. */
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

/** The effect record a wire effect is. */
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
