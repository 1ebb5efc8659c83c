/**
 * The graph benchmark's `messages_conversation` section: the bytes per step
 * of one long conversation, in Oris and in LangGraph.js, on Deno KV and in
 * memory, and on Postgres.
 *
 * @module
 */

import { emit, round } from "./_common.ts";
import type { RunSnapshot, Store } from "../mod.ts";
import { KvStore } from "../storage/kv/mod.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";
import { EARLY_TURN, nextThread, TURNS, WINDOW } from "./_graph_workload.ts";
import { orisConversation } from "./_oris_graphs.ts";
import { lgConfig, lgConversation, loadLangGraph, postgresSaver } from "./_langgraph.ts";
import { diskBytes, openPostgres } from "./_graph_postgres.ts";

/** Bytes of a thread after each commit, by the number of messages in its state. */
class Growth {
  /** Cumulative measures (by name) at the last commit with this many messages. */
  readonly at = new Map<number, Record<string, number>>();

  record(messages: number, measures: Record<string, number>): void {
    this.at.set(messages, measures);
  }

  /** Bytes per step of `measure` over the `WINDOW` turns ending at `turn` (2 steps per turn). */
  perStep(measure: string, turn: number): number {
    const end = this.at.get(2 * turn)?.[measure];
    const start = this.at.get(2 * (turn - WINDOW))?.[measure];
    if (end === undefined || start === undefined) return NaN;
    return Math.round((end - start) / (2 * WINDOW));
  }

  /**
   * `measure` per step over long spans, from turn `EARLY_TURN + 1` to the
   * middle and from the middle to `TURNS`: snapshot rewrites amortized.
   */
  amortized(measure: string): Record<string, number> {
    const middle = Math.floor(TURNS / 2);
    const per = (from: number, to: number) => {
      const end = this.at.get(2 * to)?.[measure];
      const start = this.at.get(2 * from)?.[measure];
      if (end === undefined || start === undefined || to <= from) return NaN;
      return Math.round((end - start) / (2 * (to - from)));
    };
    const first = per(EARLY_TURN, middle);
    const second = per(middle, TURNS);
    return {
      [`turns_${EARLY_TURN + 1}_${middle}`]: first,
      [`turns_${middle + 1}_${TURNS}`]: second,
      ratio: round(second / first, 2),
    };
  }

  /** `{ turn_10, turn_200, ratio }` of `measure`. */
  figures(measure: string): Record<string, number> {
    const early = this.perStep(measure, EARLY_TURN);
    const late = this.perStep(measure, TURNS);
    return {
      [`turn_${EARLY_TURN}`]: early,
      [`turn_${TURNS}`]: late,
      [`ratio_turn_${TURNS}_over_${EARLY_TURN}`]: round(late / early, 2),
    };
  }
}

/** A store that calls `after` with the run once each append has committed. */
function observed(store: Store, after: (run: RunSnapshot) => Promise<void>): Store {
  return new Proxy(store, {
    get(target, property) {
      if (property === "append") {
        return async (...args: Parameters<Store["append"]>) => {
          const result = await target.append(...args);
          await after(args[3]);
          return result;
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function messageCount(run: RunSnapshot): number {
  const messages = (run.state as { messages?: unknown[] }).messages;
  return Array.isArray(messages) ? messages.length : 0;
}

/** Oris runs the conversation past the last window so its at-rest snapshot falls outside it. */
const CONVERSATION_TURNS = TURNS + 2;

async function runOrisConversation(store: Store): Promise<void> {
  const app = orisConversation(store, CONVERSATION_TURNS);
  try {
    const result = await app.invoke({ messages: [] }, { threadId: nextThread("chat") });
    if (result.status !== "completed" || result.state.messages.length !== 2 * CONVERSATION_TURNS) {
      throw new Error(`Oris conversation ended ${result.status}`);
    }
  } finally {
    await app.close();
  }
}

async function runLgConversation(checkpointer: unknown): Promise<void> {
  const app = await lgConversation(checkpointer, CONVERSATION_TURNS);
  const state = await app.invoke(
    { messages: [] },
    lgConfig(nextThread("chat"), { recursionLimit: 2 * CONVERSATION_TURNS + 10 }),
  );
  if ((state.messages as unknown[]).length !== 2 * CONVERSATION_TURNS) {
    throw new Error("LangGraph.js conversation did not finish");
  }
}

function textBytes(value: unknown): number {
  if (value instanceof Uint8Array) return value.byteLength;
  if (typeof value === "string") return new TextEncoder().encode(value).byteLength;
  if (value instanceof Deno.KvU64) return 8;
  return new TextEncoder().encode(JSON.stringify(value) ?? "").byteLength;
}

/** Counts the bytes of every value set in any Deno KV while `counter.on`. */
function countKvWrites(): { on: boolean; bytes: number; restore(): void } {
  const counter = { on: false, bytes: 0, restore: () => {} };
  const atomicSet = Deno.AtomicOperation.prototype.set;
  const atomicMutate = Deno.AtomicOperation.prototype.mutate;
  const kvSet = Deno.Kv.prototype.set;
  Deno.AtomicOperation.prototype.set = function (key, value, options) {
    if (counter.on) counter.bytes += textBytes(value);
    return atomicSet.call(this, key, value, options);
  };
  // The KV store's group commit writes through `mutate`.
  Deno.AtomicOperation.prototype.mutate = function (...mutations) {
    if (counter.on) {
      for (const mutation of mutations) {
        if (mutation.type === "set") counter.bytes += textBytes(mutation.value);
      }
    }
    return atomicMutate.apply(this, mutations);
  };
  Deno.Kv.prototype.set = function (key, value, options) {
    if (counter.on) counter.bytes += textBytes(value);
    return kvSet.call(this, key, value, options);
  };
  counter.restore = () => {
    Deno.AtomicOperation.prototype.set = atomicSet;
    Deno.AtomicOperation.prototype.mutate = atomicMutate;
    Deno.Kv.prototype.set = kvSet;
  };
  return counter;
}

/** `messages_conversation` of Oris on Deno KV and of LangGraph.js on a `MemorySaver`. */
export async function conversationKvAndMemory(): Promise<void> {
  const lg = await loadLangGraph();
  // Oris on Deno KV: bytes written.
  const dir = await Deno.makeTempDir({ prefix: "oris-graph-bench-" });
  const counter = countKvWrites();
  const oris = new Growth();
  try {
    const kv = await KvStore.open({ path: `${dir}/chat.kv` });
    try {
      counter.on = true;
      await runOrisConversation(observed(kv, (run) => {
        oris.record(messageCount(run), { written: counter.bytes });
        return Promise.resolve();
      }));
    } finally {
      counter.on = false;
      await kv.close();
    }
  } finally {
    counter.restore();
    await Deno.remove(dir, { recursive: true });
  }

  // LangGraph.js MemorySaver: bytes of its serialized checkpoints and writes.
  const growth = new Growth();
  class MeasuredMemorySaver extends lg.MemorySaver {
    override async put(...args: Parameters<InstanceType<typeof lg.MemorySaver>["put"]>) {
      const next = await super.put(...args);
      const [config, checkpoint] = args;
      const thread = String(config.configurable?.thread_id);
      let bytes = 0;
      for (const namespace of Object.values(this.storage[thread] ?? {})) {
        for (const [serialized, metadata] of Object.values(namespace)) {
          bytes += serialized.byteLength + metadata.byteLength;
        }
      }
      for (const [key, writes] of Object.entries(this.writes)) {
        if (!key.includes(thread)) continue;
        for (const [, , value] of Object.values(writes)) bytes += value.byteLength;
      }
      const messages = (checkpoint.channel_values.messages as unknown[] | undefined) ?? [];
      growth.record(messages.length, { written: bytes });
      return next;
    }
  }
  await runLgConversation(new MeasuredMemorySaver());

  emit({
    bench: "messages_conversation",
    backend: "kv / in-memory",
    turns: TURNS,
    steps_per_turn: 2,
    window_turns: WINDOW,
    oris:
      "KvStore: bytes of the values written per step (log batches, snapshot rewrites, listing key)",
    oris_written_bytes_per_step: oris.figures("written"),
    oris_written_bytes_per_step_amortized: oris.amortized("written"),
    langgraph: "MemorySaver: bytes of serialized checkpoints and writes per step",
    langgraph_bytes_per_step: growth.figures("written"),
    target: "flat for Oris",
  });
}

/** `messages_conversation` of both systems on Postgres (a `skip` line when it is unreachable). */
export async function conversationPostgres(): Promise<void> {
  const pg = await openPostgres("messages_conversation");
  if (pg === null) return;
  const sql = pg.admin;
  const lg = new Growth();
  const store = await PostgresStore.connect({ url: pg.url, schema: pg.orisSchema });
  const saver = await postgresSaver(pg.url, pg.lgSchema, async (config, checkpoint) => {
    const thread = String(config.configurable?.thread_id);
    const s = pg.lgSchema;
    const [row] = await sql.unsafe<{ logical: string }[]>(
      `select
        (select coalesce(sum(octet_length(checkpoint::text) + octet_length(metadata::text)
            + octet_length(checkpoint_id) + coalesce(octet_length(parent_checkpoint_id), 0)), 0)
          from ${s}.checkpoints where thread_id = $1)
        + (select coalesce(sum(coalesce(octet_length(blob), 0)), 0) from ${s}.checkpoint_blobs
          where thread_id = $1)
        + (select coalesce(sum(octet_length(blob)), 0) from ${s}.checkpoint_writes
          where thread_id = $1) as logical`,
      [thread],
    );
    const messages = (checkpoint.channel_values.messages as unknown[] | undefined) ?? [];
    lg.record(messages.length, {
      logical: Number(row!.logical),
      disk: await diskBytes(sql, s, thread),
    });
  });
  try {
    const oris = new Growth();
    let written = 0;
    let snapshotVersion = -1;
    await runOrisConversation(observed(store, async (run) => {
      const [row] = await sql.unsafe<{ logical: string; snapshot: string; version: string }[]>(
        `select
          (select coalesce(sum(octet_length(event)), 0) from ${pg.orisSchema}.runtime_events
            where thread_id = $1)
          + (select coalesce(sum(octet_length(record)), 0) from ${pg.orisSchema}.runtime_effects
            where thread_id = $1)
          + (select coalesce(sum(octet_length(checkpoint_id)
              + coalesce(octet_length(parent_checkpoint_id), 0)), 0)
            from ${pg.orisSchema}.runtime_checkpoints where thread_id = $1) as logical,
          (select coalesce(sum(octet_length(snapshot)), 0) from ${pg.orisSchema}.runtime_snapshots
            where thread_id = $1) as snapshot,
          (select coalesce(max(version), -1) from ${pg.orisSchema}.runtime_snapshots
            where thread_id = $1) as version`,
        [run.threadId],
      );
      const logical = Number(row!.logical);
      const snapshot = Number(row!.snapshot);
      if (Number(row!.version) !== snapshotVersion) {
        written += snapshot;
        snapshotVersion = Number(row!.version);
      }
      oris.record(messageCount(run), {
        logical: logical + snapshot,
        written: logical + written,
        disk: await diskBytes(sql, pg.orisSchema, run.threadId),
      });
    }));

    await runLgConversation(saver);

    emit({
      bench: "messages_conversation",
      backend: "postgres",
      turns: TURNS,
      steps_per_turn: 2,
      window_turns: WINDOW,
      measure: "bytes stored per step: logical = payload bytes of the thread's rows; " +
        "disk = sum(pg_column_size(row.*)) over the schema's tables (after TOAST compression); " +
        "oris written = logical plus every snapshot replacement in full",
      oris_logical_bytes_per_step: oris.figures("logical"),
      oris_disk_bytes_per_step: oris.figures("disk"),
      oris_written_bytes_per_step: oris.figures("written"),
      oris_written_bytes_per_step_amortized: oris.amortized("written"),
      langgraph_logical_bytes_per_step: lg.figures("logical"),
      langgraph_disk_bytes_per_step: lg.figures("disk"),
      target: "flat for Oris",
    });
  } finally {
    await saver.end();
    await store.close();
    await pg.close();
  }
}
