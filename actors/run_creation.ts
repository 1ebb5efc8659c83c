/**
 * The runtime's idempotent creation of a run and of its actor: the store
 * decides whether the run is new (the same thread id, graph and input is the
 * same run), the lease comes with the creation when the store can grant it,
 * and the actor is made once per runtime (concurrent calls share it).
 *
 * A caller that must not run a cancelled thread again (the server's
 * `POST /v1/jobs/run`) asks for it with `refuseCancelled`: the creation's own
 * answer (the run as it is now) or the actor already here says whether the
 * run is cancelled, so the refusal costs no read of its own. Only a creation
 * that fails (another payload, an input the graph refuses) reads the run, to
 * refuse a cancelled thread first, as a read before the creation would have.
 *
 * @module
 */

import {
  ConflictError,
  currentSnapshot,
  type Json,
  parseThreadId,
  payloadHash,
  type RunSnapshot,
  type ThreadId,
} from "../kernel/mod.ts";
import type { ActorRegistry } from "./actor_registry.ts";
import type { Durability } from "./committer.ts";
import type { HeldLease } from "./leases.ts";
import { OwnedElsewhere } from "./remote.ts";
import type { RunActor } from "./run_actor.ts";
import { createRunIn } from "./run_options.ts";
import type { RunOwner } from "./run_owner.ts";
import type { GraphDefinition, InternalRunOptions } from "./runtime_api.ts";

/**
 * The error of a request to run a thread that is cancelled: a cancelled run
 * never runs again.
 *
 * @internal Used by the runtime and the server.
 * @param threadId The thread.
 * @returns The conflict (`thread '<id>' is cancelled`, details `{ thread_id }`).
 */
export function threadCancelled(threadId: string): ConflictError {
  return new ConflictError(`thread '${threadId}' is cancelled`, {
    details: { thread_id: threadId },
  });
}

/** What {@linkcode runCreator} works with: the runtime's parts. */
export interface RunCreationDeps {
  store: Parameters<typeof createRunIn>[0];
  registry: ActorRegistry;
  owner: RunOwner;
  createEnv: Parameters<typeof createRunIn>[5];
  defaultDurability: Durability;
  graphOf(name: string): GraphDefinition;
  /** Throws when the runtime is closed. */
  checkOpen(): void;
  /** Checks a caller's value: JSON, within the nesting limit. */
  accept(value: unknown, what: string): Json;
  newThreadId(): ThreadId;
  /** The run as it is now, from its actor here or the store. */
  current(threadId: ThreadId): Promise<RunSnapshot | null>;
  makeActor(run: RunSnapshot, durability: Durability, lease: HeldLease, nested?: boolean): RunActor;
}

/**
 * The runtime's `create`: creates a run (idempotently) and returns its
 * actor, pinned.
 *
 * @internal Used by the runtime.
 * @param deps The runtime's parts.
 * @returns `create(graph, input, options)`; it throws `OwnedElsewhere` when
 * another runtime holds the run, and `threadCancelled` for a cancelled run
 * when `options.refuseCancelled` is set.
 */
export function runCreator(
  deps: RunCreationDeps,
): (graphName: string, input: unknown, options: InternalRunOptions) => Promise<RunActor> {
  const { store, registry, owner, createEnv } = deps;
  const hashOf = (graphName: string, input: unknown): string =>
    payloadHash({ graph: graphName, input: (input ?? null) as Json });

  /** Refuses a cancelled run when the caller asked to. */
  function check(run: RunSnapshot, options: InternalRunOptions): void {
    if (options.refuseCancelled === true && run.status === "cancelled") {
      throw threadCancelled(run.threadId);
    }
  }

  /** A creation that failed: a cancelled thread is refused first, as it was asked. */
  async function failed(
    threadId: ThreadId,
    options: InternalRunOptions,
    error: unknown,
  ): Promise<never> {
    if (options.refuseCancelled !== true || error instanceof OwnedElsewhere) throw error;
    const run = await deps.current(threadId).catch(() => null);
    if (run !== null) check(run, options);
    throw error;
  }

  return async function create(graphName, input, options) {
    deps.checkOpen();
    const graph = deps.graphOf(graphName);
    // Before anything recursive (hashing, reducers, schemas) touches it.
    if (input !== undefined) deps.accept(input, "the input");
    const threadId = parseThreadId(options.threadId ?? deps.newThreadId());
    registry.pin(threadId);
    try {
      const existing = registry.peek(threadId);
      if (existing !== undefined) {
        const actor = await existing;
        check(actor.run, options);
        if (actor.run.graph !== graphName || actor.run.payloadHash !== hashOf(graphName, input)) {
          // Let the store decide: the same payload is the same run.
          await createRunIn(store, graph, threadId, input, options, createEnv).catch((error) =>
            failed(threadId, options, error)
          );
        }
        return actor;
      }
      const nested = options.nested === true;
      // The lease (and the start) come with the creation when the store can grant them.
      const { result: { run, created, started }, lease: early } = await owner.create(
        threadId,
        nested,
        (request) => createRunIn(store, graph, threadId, input, options, createEnv, request),
      ).catch((error) => failed(threadId, options, error));
      // The run as it is now: a cancelled one is refused before any lease is taken for it.
      if (!created) check(run, options);
      const current = registry.peek(threadId);
      if (current !== undefined) return await current;
      const lease = early !== undefined ? early : await owner.leaseFor(threadId, nested);
      if (lease === null) throw new OwnedElsewhere(threadId);
      const again = registry.peek(threadId);
      if (again !== undefined) return await again;
      // Nobody else can have touched a run this runtime created and leased first.
      const fresh = created && lease.tokenValue === 1;
      let snapshot = run;
      if (!fresh) {
        const loaded = await store.load(threadId).catch((error) => {
          void owner.keeper.release(threadId);
          throw error;
        });
        const raced = registry.peek(threadId); // Another call made the actor meanwhile.
        if (raced !== undefined) return await raced;
        snapshot = currentSnapshot(loaded!);
      }
      const durability = options.durability ?? deps.defaultDurability;
      const actor = deps.makeActor(snapshot, durability, lease, options.nested);
      if (fresh) actor.markCreated(started);
      registry.add(actor);
      return actor;
    } catch (error) {
      registry.unpin(threadId);
      throw error;
    }
  };
}
