/**
 * Reading `text/event-stream` bodies in tests: whole (`parseSse`) or as they
 * arrive (`sseReader`), events and comments (keep-alives) both.
 *
 * @module
 */

/** One server-sent event. */
export interface SseEvent {
  /** The `id` field. */
  id?: string;
  /** The `event` field. */
  event?: string;
  /** The `data` lines, joined. */
  data: string;
}

/** One block of a stream: an event, or a comment (`: ...`) alone. */
export type SseBlock = { kind: "event"; event: SseEvent } | { kind: "comment"; text: string };

/**
 * Parses a `text/event-stream` body into its blocks.
 *
 * @param text The body (complete blocks).
 * @returns Its events and comments, in order.
 */
export function parseSseBlocks(text: string): SseBlock[] {
  const blocks: SseBlock[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (block.trim() === "") continue;
    const event: SseEvent = { data: "" };
    const data: string[] = [];
    const comments: string[] = [];
    let fields = 0;
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(":")) {
        comments.push(line.slice(1).trim());
        continue;
      }
      fields++;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "id") event.id = value;
      else if (field === "event") event.event = value;
    }
    if (fields === 0) {
      blocks.push({ kind: "comment", text: comments.join("\n") });
      continue;
    }
    event.data = data.join("\n");
    blocks.push({ kind: "event", event });
  }
  return blocks;
}

/**
 * Parses a `text/event-stream` body into its events (comments left out).
 *
 * @param text The body.
 * @returns The events.
 */
export function parseSse(text: string): SseEvent[] {
  return parseSseBlocks(text).flatMap((block) => block.kind === "event" ? [block.event] : []);
}

/** Reads an event stream as it arrives. */
export interface SseReader {
  /** Resolves once `count` complete events arrived (or the stream ended). */
  until(count: number): Promise<SseEvent[]>;
  /** Resolves once a block matching `test` arrived after the first `after` blocks. */
  untilBlock(test: (block: SseBlock) => boolean, after?: number): Promise<SseBlock[]>;
  /** Reads to the end; resolves with every event. */
  rest(): Promise<SseEvent[]>;
  /** Every complete block so far. */
  blocks(): SseBlock[];
  /** Stops reading (the client goes away). */
  cancel(): Promise<void>;
}

/**
 * Reads an SSE body incrementally.
 *
 * @param response The event-stream response.
 * @returns The reader.
 */
export function sseReader(response: Response): SseReader {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let finished = false;
  const complete = () => {
    const cut = text.lastIndexOf("\n\n");
    return cut < 0 ? [] : parseSseBlocks(text.slice(0, cut + 2));
  };
  const events = () => complete().flatMap((b) => b.kind === "event" ? [b.event] : []);
  const more = async () => {
    const { done, value } = await reader.read();
    if (done) finished = true;
    else text += decoder.decode(value, { stream: true });
  };
  return {
    async until(count) {
      while (events().length < count && !finished) await more();
      return events();
    },
    async untilBlock(test, after = 0) {
      while (!complete().slice(after).some(test) && !finished) await more();
      return complete();
    },
    async rest() {
      while (!finished) await more();
      return parseSse(text);
    },
    blocks: complete,
    cancel: () => reader.cancel(),
  };
}
