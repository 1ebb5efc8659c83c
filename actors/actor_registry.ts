/**
 * The runtime's registry of run actors by thread id, with passivation: an
 * actor whose run is at rest and that nobody uses is dropped (a run at rest
 * costs storage, not memory) and loaded again from the store when a message
 * comes. Whoever uses an actor holds a pin on it, so it is not dropped (and a
 * second actor made for the same run) while someone is about to use it.
 *
 * @module
 */

import type { ThreadId } from "../kernel/mod.ts";
import type { RunActor } from "./run_actor.ts";

/** Actors by thread id, pinned while in use. @internal */
export class ActorRegistry {
  #actors = new Map<string, Promise<RunActor>>();
  #pins = new Map<string, number>();
  #load: (threadId: ThreadId) => Promise<RunActor>;
  #dropped: (actor: RunActor) => void;

  /**
   * Creates the registry.
   *
   * @param load Makes the actor of a run that has none in memory (from the store).
   * @param dropped Told of an actor it dropped (passivated, or broken).
   */
  constructor(
    load: (threadId: ThreadId) => Promise<RunActor>,
    dropped: (actor: RunActor) => void = () => {},
  ) {
    this.#load = load;
    this.#dropped = dropped;
  }

  /** How many runs have an actor in memory. */
  get size(): number {
    return this.#actors.size;
  }

  /**
   * The actor of a run, loading it if it is passivated, pinned until
   * {@linkcode ActorRegistry.release}.
   *
   * @param threadId The run.
   * @returns The actor.
   */
  acquire(threadId: ThreadId): Promise<RunActor> {
    this.pin(threadId);
    let entry = this.#actors.get(threadId);
    if (entry === undefined) {
      const loading = this.#load(threadId);
      this.#actors.set(threadId, loading);
      loading.catch(() => {
        if (this.#actors.get(threadId) === loading) this.#actors.delete(threadId);
      });
      entry = loading;
    }
    return entry.catch((error) => {
      this.unpin(threadId);
      throw error;
    });
  }

  /**
   * The actor of a run if it has one in memory (not pinned).
   *
   * @param threadId The run.
   * @returns The actor, or `undefined`.
   */
  peek(threadId: string): Promise<RunActor> | undefined {
    return this.#actors.get(threadId);
  }

  /**
   * Registers the actor of a run that had none (the caller holds a pin).
   *
   * @param actor The actor.
   */
  add(actor: RunActor): void {
    this.#actors.set(actor.threadId, Promise.resolve(actor));
  }

  /**
   * Pins a run: its actor is not dropped until {@linkcode ActorRegistry.unpin}.
   *
   * @param threadId The run.
   */
  pin(threadId: string): void {
    this.#pins.set(threadId, (this.#pins.get(threadId) ?? 0) + 1);
  }

  /**
   * Releases a pin taken without an actor.
   *
   * @param threadId The run.
   */
  unpin(threadId: string): void {
    const count = (this.#pins.get(threadId) ?? 1) - 1;
    if (count <= 0) this.#pins.delete(threadId);
    else this.#pins.set(threadId, count);
  }

  /**
   * Releases a pin on an actor, and drops the actor once it is idle (passivation)
   * or broken and nobody else holds a pin.
   *
   * @param actor The actor.
   */
  release(actor: RunActor): void {
    this.unpin(actor.threadId);
    const entry = this.#actors.get(actor.threadId);
    if (entry === undefined) return;
    const drop = () =>
      entry.then((current) => {
        if (
          current === actor && (actor.idle || actor.broken) &&
          this.#actors.get(actor.threadId) === entry && !this.#pins.has(actor.threadId)
        ) {
          this.#actors.delete(actor.threadId);
          this.#dropped(actor);
        }
      }, () => {});
    // The caller may still be inside the mailbox's last message (a rest waiter
    // resolves before its message settles): check again once the mailbox is idle.
    if (actor.idle || actor.broken) void drop();
    else void actor.whenIdle().then(drop);
  }

  /**
   * Takes every actor out of the registry (the runtime is closing).
   *
   * @returns The actors that were loaded.
   */
  async clear(): Promise<RunActor[]> {
    const all = await Promise.allSettled([...this.#actors.values()]);
    this.#actors.clear();
    return all.flatMap((entry) => entry.status === "fulfilled" ? [entry.value] : []);
  }
}
