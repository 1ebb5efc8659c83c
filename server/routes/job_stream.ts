/**
 * `GET /v1/jobs/:thread_id/stream`: a run's events as server-sent events,
 * resumable with `Last-Event-ID`.
 *
 * @module
 */

import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { internalsOf } from "../../actors/mod.ts";
import { parseThreadId, type StoredEvent } from "../../kernel/mod.ts";
import { type ApiDeps, requireRun } from "../api.ts";
import type { ServerEnv } from "../env.ts";

/**
 * Streams a run's events as server-sent events: `id` is the event's seq,
 * `event` its type, `data` the stored event. Starts after `Last-Event-ID`
 * (or at `from_seq`), sends what is stored, then live events until the run
 * comes to rest, then an `end` event. While the run executes in this
 * process, the chunks its nodes pass to `ctx.emitMessage` (a model's tokens)
 * are sent as `messages` events, `[chunk, { node, step, task_id }]`, without
 * an id: they are not stored, so a resumed stream does not repeat them.
 *
 * @param c The Hono context.
 * @param deps The runtime and store.
 * @param threadId The run.
 * @param fromSeq The first seq to send (when no `Last-Event-ID` is sent).
 * @returns The event-stream response.
 * @throws {NotFoundError} when there is no such run.
 */
export async function streamJob(
  c: Context<ServerEnv>,
  deps: ApiDeps,
  threadId: string,
  fromSeq?: number,
): Promise<Response> {
  const id = parseThreadId(threadId);
  await requireRun(deps.runtime, id);
  const lastEventId = c.req.header("last-event-id");
  const start = lastEventId !== undefined && /^\d+$/.test(lastEventId)
    ? Number(lastEventId) + 1
    : fromSeq ?? 1;
  return streamSSE(c, async (stream) => {
    let sent = start - 1;
    const pending: (StoredEvent | { message: unknown })[] = [];
    let wake: (() => void) | null = null;
    let rest = false;
    const stop = await internalsOf(deps.runtime).listen(id, (event) => {
      if (event.kind === "committed") {
        const first = event.run.version - event.events.length + 1;
        event.events.forEach((item, i) => pending.push({ seq: first + i, event: item }));
      } else if (event.kind === "execution" && event.event.kind === "messages") {
        const { data, step, task } = event.event;
        pending.push({ message: [data, { node: task.node, step, task_id: task.id }] });
      } else if (event.kind === "rest") {
        rest = true;
      }
      wake?.();
    });
    const send = async (item: StoredEvent | { message: unknown }) => {
      if ("message" in item) {
        await stream.writeSSE({ event: "messages", data: JSON.stringify(item.message) });
        return;
      }
      if (item.seq <= sent) return;
      await stream.writeSSE({
        id: String(item.seq),
        event: item.event.type,
        data: JSON.stringify(item),
      });
      sent = item.seq;
    };
    try {
      for (const item of await deps.store.readEvents(id, start)) await send(item);
      const now = await deps.runtime.get(id);
      rest = rest || (now !== null && now.status !== "running" && now.status !== "queued");
      while (!stream.aborted) {
        while (pending.length > 0) await send(pending.shift()!);
        if (rest) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
      const final = await deps.runtime.get(id);
      await stream.writeSSE({
        event: "end",
        data: JSON.stringify({ thread_id: id, status: final?.status, seq: sent }),
      });
    } finally {
      stop();
    }
  });
}
