/**
 * The hello-world graph of the original Oris README, with no API key: a mock
 * model node appends an AI reply to the input messages.
 *
 * Run: `deno run -A examples/hello.ts`
 *
 * @module
 */

import { aiMessage, END, humanMessage, MessagesState, START, StateGraph } from "../mod.ts";
import type { CompiledGraph, CompileOptions, MessagesStateSpec } from "../mod.ts";

/**
 * Builds and compiles the hello graph.
 *
 * @param options Where to compile it (runtime or store) and its name (default `hello`).
 * @returns The compiled graph.
 */
export function helloGraph(options: CompileOptions = {}): CompiledGraph<MessagesStateSpec> {
  return new StateGraph(MessagesState)
    .addNode("mock_llm", () => ({ messages: [aiMessage("hello world")] }))
    .addEdge(START, "mock_llm")
    .addEdge("mock_llm", END)
    .compile({ name: "hello", ...options });
}

if (import.meta.main) {
  const app = helloGraph();
  const result = await app.invoke({ messages: [humanMessage("hi!")] }, { threadId: "hello-1" });
  for (const message of result.state.messages) console.log(`${message.type}: ${message.content}`);
  await app.close();
}
