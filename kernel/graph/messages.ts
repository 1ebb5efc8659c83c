/**
 * Chat messages, their helpers, and `MessagesState`: a state with a
 * `messages` channel whose reducer appends, replaces by id and removes.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { sha256Hex } from "../hash.ts";
import { canonicalJson, type JsonObject } from "../json.ts";
import { defineState, type StateSchema } from "./state.ts";

/** Who wrote a message. */
export type MessageType = "human" | "ai" | "system" | "tool";

/** A tool call requested by a model. */
export interface ToolCall {
  /** The call's id, echoed by the tool's answer. */
  id: string;
  /** The tool. */
  name: string;
  /** Its arguments. */
  args: JsonObject;
}

/** A chat message. Plain JSON, so it is stored and replayed as is. */
export interface Message {
  /** A stable id; the reducer assigns a deterministic one if missing. */
  id?: string;
  /** Who wrote it. */
  type: MessageType;
  /** The text. */
  content: string;
  /** The author's or tool's name. */
  name?: string;
  /** Tool calls requested by an `ai` message. */
  tool_calls?: ToolCall[];
  /** The call a `tool` message answers. */
  tool_call_id?: string;
}

/** An update that removes the message with `id` (or all, with {@linkcode REMOVE_ALL_MESSAGES}). */
export interface RemoveMessage {
  /** Discriminator. */
  type: "remove";
  /** The message to remove. */
  id: string;
}

/** The id of a {@linkcode RemoveMessage} that clears the whole list. */
export const REMOVE_ALL_MESSAGES = "__remove_all__";

/** Optional fields of the message helpers. */
export type MessageFields = Omit<Message, "type" | "content">;

function message(type: MessageType, content: string, fields: MessageFields): Message {
  if (typeof content !== "string") {
    throw new InvalidArgumentError(`Cannot make a ${type} message: content must be a string`);
  }
  return { ...fields, type, content };
}

/**
 * A message from the person.
 *
 * @param content The text.
 * @param fields `id`, `name`.
 * @returns The message.
 *
 * @example
 * ```ts
 * import { humanMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(humanMessage("hi"), { type: "human", content: "hi" });
 * ```
 */
export function humanMessage(content: string, fields: MessageFields = {}): Message {
  return message("human", content, fields);
}

/**
 * A message from the model.
 *
 * @param content The text.
 * @param fields `id`, `name`, `tool_calls`.
 * @returns The message.
 *
 * @example
 * ```ts
 * import { aiMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(aiMessage("hello world").type, "ai");
 * ```
 */
export function aiMessage(content: string, fields: MessageFields = {}): Message {
  return message("ai", content, fields);
}

/**
 * A system prompt.
 *
 * @param content The text.
 * @param fields `id`, `name`.
 * @returns The message.
 *
 * @example
 * ```ts
 * import { systemMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(systemMessage("be brief").type, "system");
 * ```
 */
export function systemMessage(content: string, fields: MessageFields = {}): Message {
  return message("system", content, fields);
}

/**
 * A tool's answer to a tool call.
 *
 * @param content The tool's output.
 * @param toolCallId The call it answers.
 * @param fields `id`, `name`.
 * @returns The message.
 *
 * @example
 * ```ts
 * import { toolMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(toolMessage("42", "call_1").tool_call_id, "call_1");
 * ```
 */
export function toolMessage(
  content: string,
  toolCallId: string,
  fields: MessageFields = {},
): Message {
  return message("tool", content, { ...fields, tool_call_id: toolCallId });
}

/**
 * An update that removes a message by id.
 *
 * @param id The message's id, or {@linkcode REMOVE_ALL_MESSAGES}.
 * @returns The removal.
 *
 * @example
 * ```ts
 * import { messagesReducer, removeMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 *
 * const list = messagesReducer([], [{ id: "a", type: "human", content: "x" }]);
 * assert.deepEqual(messagesReducer(list, removeMessage("a")), []);
 * ```
 */
export function removeMessage(id: string): RemoveMessage {
  return { type: "remove", id };
}

/**
 * The `messages` reducer: appends new messages, replaces a message whose id
 * is already in the list, and applies removals. Messages without an id get a
 * deterministic one (a hash of the message and its position), so replays
 * produce the same ids.
 *
 * @param current The list.
 * @param update A message, a removal, or a list of them.
 * @returns The new list (`current` is not modified).
 * @throws {InvalidArgumentError} for a removal of an unknown id or a malformed message.
 *
 * @example Append, then replace by id
 * ```ts
 * import { aiMessage, humanMessage, messagesReducer } from "./messages.ts";
 * import assert from "node:assert/strict";
 *
 * let list = messagesReducer([], humanMessage("hi", { id: "1" }));
 * list = messagesReducer(list, [aiMessage("draft", { id: "2" })]);
 * list = messagesReducer(list, aiMessage("final", { id: "2" }));
 * assert.deepEqual(list.map((m) => m.content), ["hi", "final"]);
 * ```
 */
export function messagesReducer(
  current: readonly Message[],
  update: Message | RemoveMessage | readonly (Message | RemoveMessage)[],
): Message[] {
  const items = Array.isArray(update) ? update : [update as Message | RemoveMessage];
  let list = [...(current ?? [])];
  for (const item of items) {
    if (typeof item !== "object" || item === null || typeof item.type !== "string") {
      throw new InvalidArgumentError("Cannot merge messages: each must be an object with a type");
    }
    if (item.type === "remove") {
      if (item.id === REMOVE_ALL_MESSAGES) {
        list = [];
        continue;
      }
      const at = list.findIndex((existing) => existing.id === item.id);
      if (at < 0) {
        throw new InvalidArgumentError(`Cannot remove message "${item.id}": it is not in the list`);
      }
      list.splice(at, 1);
      continue;
    }
    if (item.id === undefined) {
      // A message without an id is always new: its derived id must not take
      // the place of a message already in the list (after a removal, the same
      // content at the same length would hash to an id already used).
      const base = `msg_${
        sha256Hex(`${canonicalJson(item as unknown as JsonObject)}:${list.length}`).slice(0, 16)
      }`;
      let id = base;
      for (let n = 1; list.some((existing) => existing.id === id); n++) id = `${base}_${n}`;
      list.push({ ...item, id });
      continue;
    }
    const at = list.findIndex((existing) => existing.id === item.id);
    if (at >= 0) list[at] = item;
    else list.push(item);
  }
  return list;
}

/** The channels of {@linkcode MessagesState}. */
export type MessagesStateSpec = {
  messages: {
    default(): Message[];
    reducer(
      current: Message[],
      update: Message | RemoveMessage | (Message | RemoveMessage)[],
    ): Message[];
  };
};

/**
 * A state with one `messages` channel reduced by {@linkcode messagesReducer}.
 *
 * @example
 * ```ts
 * import { MessagesState, humanMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 *
 * const state = MessagesState.initial({ messages: [humanMessage("hi!", { id: "h1" })] });
 * assert.equal(state.messages.length, 1);
 * ```
 */
export const MessagesState: StateSchema<MessagesStateSpec> = defineState<MessagesStateSpec>({
  messages: { default: () => [], reducer: messagesReducer },
});
