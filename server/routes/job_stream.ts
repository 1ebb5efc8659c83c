/**
 * `GET /v1/jobs/:thread_id/stream`: a run's events as server-sent events,
 * resumable with `Last-Event-ID`, and with `?follow=true` open until the run
 * is terminal.
 *
 * @module
 */

import type { Context } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import { z } from "zod";
import { internalsOf } from "../../actors/mod.ts";
import {
  isTerminal,
  parseThreadId,
  type RunStatus,
  type StoredEvent,
  type ThreadId,
} from "../../kernel/mod.ts";
import { type ApiDeps, requireRun } from "../api.ts";
import { toApiError } from "../envelope.ts";
import type { ServerEnv } from "../env.ts";
import { validate } from "../middleware/validate.ts";
import { wireEvent } from "../response_builders.ts";
import { Seq } from "../schemas.ts";

/** How a stream is asked for. */
export interface StreamOptions {
  /** The first seq to send (`?from_seq`), when no `Last-Event-ID` is sent. */
  fromSeq?: number;
  /** Stay open across interrupts and resumes until the run is terminal (`?follow=true`). */
  follow: boolean;
  /** How often a followed stream sends a keep-alive comment (and checks the store), in ms. */
  keepAliveMs: number;
}

/** The events that end a run, and the status each leaves. */
const TERMINAL_EVENTS: Readonly<Record<string, RunStatus>> = {
  "run.completed": "completed",
  "run.failed": "failed",
  "run.cancelled": "cancelled",
};

const LastEventId = z.object({ "Last-Event-ID": Seq });

/**
 * Streams a run's events as server-sent events: `id` is the event's seq,
 * `event` its type, `data` the event in its wire form. Starts after
 * `Last-Event-ID` (or at `from_seq`; both are validated alike), sends what is
 * stored, then live events until the run comes to rest, or, when following,
 * until it is terminal (with keep-alive comments meanwhile, each also
 * catching up with events another process committed). Then an `end` event
 * with the run's status and last seq. A failure once the stream is open is
 * logged and sent as an `error` event with the error envelope's `error`.
 * While the run executes in this process, the chunks its nodes pass to
 * `ctx.emitMessage` (a model's tokens) are sent as `messages` events,
 * `[chunk, { node, step, task_id }]`, without an id: they are not stored, so
 * a resumed stream does not repeat them.
 *
 * @param c The Hono context.
 * @param deps The runtime and store.
 * @param threadId The run.
 * @param options Where to start, whether to follow, and the keep-alive interval.
 * @returns The event-stream response.
 * @throws {NotFoundError} when there is no such run.
 * @throws {InvalidArgumentError} for a `Last-Event-ID` that is not a seq.
 */
export async function streamJob(
  c: Context<ServerEnv>,
  deps: ApiDeps,
  threadId: string,
  options: StreamOptions,
): Promise<Response> {
  const id = parseThreadId(threadId);
  const header = c.req.header("last-event-id");
  const start = header === undefined
    ? options.fromSeq ?? 1
    : validate(LastEventId, { "Last-Event-ID": header }, "header")["Last-Event-ID"] + 1;
  await requireRun(deps.runtime, id);
  const live: (StoredEvent | { message: unknown })[] = [];
  const signal: { wake: (() => void) | null; rest: boolean } = { wake: null, rest: false };
  // Listen before reading the store, so that no event falls between the two.
  const stop = await internalsOf(deps.runtime).listen(id, (event) => {
    if (event.kind === "committed") {
      const first = event.run.version - event.events.length + 1;
      event.events.forEach((item, i) => live.push({ seq: first + i, event: item }));
    } else if (event.kind === "execution" && event.event.kind === "messages") {
      const { data, step, task } = event.event;
      live.push({ message: [data, { node: task.node, step, task_id: task.id }] });
    } else if (event.kind === "rest") {
      signal.rest = true;
    }
    signal.wake?.();
  });
  let stored: StoredEvent[];
  let status: RunStatus;
  try {
    // Read before the stream opens: a store that fails now is an error response, not an empty 200.
    stored = await deps.store.readEvents(id, start);
    status = (await requireRun(deps.runtime, id)).status;
  } catch (error) {
    stop();
    throw error;
  }
  return streamSSE(c, async (stream) => {
    const state = new StreamState(stream, deps, id, start);
    try {
      if (isTerminal(status)) state.terminal = status;
      signal.rest ||= status !== "running" && status !== "queued";
      stream.onAbort(() => signal.wake?.());
      for (const item of stored) await state.send(item);
      let timer: ReturnType<typeof setTimeout> | undefined;
      while (!stream.aborted) {
        while (live.length > 0 && !stream.aborted) {
          const item = live.shift()!;
          await ("message" in item ? state.message(item.message) : state.send(item));
        }
        if (options.follow ? state.terminal !== null : signal.rest) break;
        let ticked = false;
        await new Promise<void>((resolve) => {
          signal.wake = resolve;
          if (options.follow) {
            timer = setTimeout(() => {
              ticked = true;
              resolve();
            }, options.keepAliveMs);
          }
        });
        signal.wake = null;
        clearTimeout(timer);
        if (ticked && !stream.aborted) {
          await stream.write(": keep-alive\n\n");
          await state.catchUp();
        }
      }
      if (!stream.aborted) await state.end();
    } catch (error) {
      await state.fail(c, error);
    } finally {
      stop();
    }
  });
}

/** What a stream has sent, and how it sends more. */
class StreamState {
  /** The terminal status the stream has seen, if any. */
  terminal: RunStatus | null = null;
  #stream: SSEStreamingApi;
  #deps: ApiDeps;
  #id: ThreadId;
  /** The next seq to send. */
  #next: number;
  /** The last seq sent (0: none). */
  #last = 0;

  constructor(stream: SSEStreamingApi, deps: ApiDeps, id: ThreadId, start: number) {
    this.#stream = stream;
    this.#deps = deps;
    this.#id = id;
    this.#next = start;
  }

  /** Sends an event, once, in seq order (first reading from the store any it missed). */
  async send(item: StoredEvent): Promise<void> {
    if (item.seq < this.#next) return;
    if (item.seq > this.#next) {
      // Committed by another process: the store has what came before.
      const missing = await this.#deps.store.readEvents(this.#id, this.#next, {
        limit: item.seq - this.#next,
      });
      for (const earlier of missing) await this.#write(earlier);
    }
    if (item.seq >= this.#next) await this.#write(item);
  }

  /** Sends a chunk a node emitted (not stored: no id). */
  async message(chunk: unknown): Promise<void> {
    await this.#stream.writeSSE({ event: "messages", data: JSON.stringify(chunk) });
  }

  /** Sends what the store has after the last event sent. */
  async catchUp(): Promise<void> {
    for (const item of await this.#deps.store.readEvents(this.#id, this.#next)) {
      await this.send(item);
    }
  }

  /** Sends `end`: the run's status and the last seq it has (not the client's cursor). */
  async end(): Promise<void> {
    const run = await this.#deps.runtime.get(this.#id);
    await this.#stream.writeSSE({
      event: "end",
      data: JSON.stringify({
        thread_id: this.#id,
        status: this.terminal ?? run?.status,
        seq: Math.max(this.#last, run?.version ?? 0),
      }),
    });
  }

  /** Logs a failure of the open stream and sends it as an `error` event. */
  async fail(c: Context<ServerEnv>, error: unknown): Promise<void> {
    const mapped = toApiError(error);
    this.#deps.logger.error("event stream failed", {
      request_id: c.get("requestId"),
      thread_id: this.#id,
      error: mapped.error.message,
      stack: error instanceof Error ? error.stack : undefined,
    });
    await this.#stream.writeSSE({ event: "error", data: JSON.stringify(mapped.body) });
  }

  async #write(item: StoredEvent): Promise<void> {
    await this.#stream.writeSSE({
      id: String(item.seq),
      event: item.event.type,
      data: JSON.stringify(wireEvent(item)),
    });
    this.#next = item.seq + 1;
    this.#last = item.seq;
    this.terminal ??= TERMINAL_EVENTS[item.event.type] ?? null;
  }
}
