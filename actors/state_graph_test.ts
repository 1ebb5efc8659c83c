import assert from "node:assert/strict";
import {
  aiMessage,
  Command,
  defineState,
  END,
  humanMessage,
  InvalidArgumentError,
  type Message,
  messagesReducer,
  MessagesState,
  REMOVE_ALL_MESSAGES,
  removeMessage,
  Send,
  START,
  systemMessage,
  toolMessage,
} from "../kernel/mod.ts";
import { StateGraph } from "../preset.ts";

const State = defineState({
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
  count: { default: () => 0, reducer: (a: number, b: number) => a + b },
  last: { default: () => "" },
});

function noop() {
  return {};
}

/** Asserts that `compile()` throws an `InvalidArgumentError` listing exactly `problems`. */
function assertCompileProblems(graph: StateGraph<typeof State.spec>, problems: string[]): void {
  assert.throws(
    () => graph.compile(),
    (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError, String(error));
      assert.equal(error.code, "invalid_argument");
      assert.deepEqual(error.details.problems, problems);
      assert.equal(error.message, `Cannot compile the graph: ${problems.join("; ")}`);
      return true;
    },
  );
}

Deno.test("StateGraph.compile() rejects edges to and from unknown nodes", () => {
  const graph = new StateGraph(State)
    .addNode("a", noop)
    .addEdge(START, "a")
    .addEdge("a", "b")
    .addEdge("ghost", "a")
    .addEdge("a", END);
  assertCompileProblems(graph, [
    'edge "a" -> "b": unknown node "b"',
    'edge "ghost" -> "a": unknown node "ghost"',
  ]);
});

Deno.test("StateGraph.compile() rejects edges leaving END or entering START", () => {
  const graph = new StateGraph(State)
    .addNode("a", noop)
    .addEdge(START, "a")
    .addEdge("a", END)
    .addEdge(END, "a")
    .addEdge("a", START);
  assertCompileProblems(graph, [
    'edge "__end__" -> "a": nothing leaves END',
    'edge "a" -> "__start__": nothing enters START',
  ]);
});

Deno.test("StateGraph.compile() rejects the reserved names START and END as nodes", () => {
  const graph = new StateGraph(State)
    .addNode(START, noop)
    .addNode(END, noop)
    .addNode("a", noop)
    .addEdge(START, "a")
    .addEdge("a", END);
  assertCompileProblems(graph, ['"__start__" is a reserved name', '"__end__" is a reserved name']);
});

Deno.test("StateGraph.compile() rejects malformed node names", () => {
  const graph = new StateGraph(State)
    .addNode("a/b", noop)
    .addNode("", noop)
    .addEdge(START, "a/b")
    .addEdge("a/b", "")
    .addEdge("", END);
  assertCompileProblems(graph, [
    'node name "a/b" must be non-empty, without "/" or "#"',
    'node name "" must be non-empty, without "/" or "#"',
  ]);
});

Deno.test("StateGraph.compile() rejects a node added twice", () => {
  const graph = new StateGraph(State)
    .addNode("a", noop)
    .addNode("a", noop)
    .addEdge(START, "a")
    .addEdge("a", END);
  assertCompileProblems(graph, ['node "a" is added more than once']);
});

Deno.test("StateGraph.compile() rejects nodes unreachable from START", () => {
  const graph = new StateGraph(State)
    .addNode("a", noop)
    .addNode("island", noop)
    .addNode("island2", noop)
    .addEdge(START, "a")
    .addEdge("a", END)
    .addEdge("island", "island2")
    .addEdge("island2", END);
  assertCompileProblems(graph, [
    'node "island" is unreachable from START',
    'node "island2" is unreachable from START',
  ]);
});

Deno.test("StateGraph.compile() rejects a graph with no path to END", () => {
  const graph = new StateGraph(State)
    .addNode("a", noop)
    .addNode("b", noop)
    .addEdge(START, "a")
    .addEdge("a", "b")
    .addEdge("b", "a");
  assertCompileProblems(graph, ["no path leads from START to END"]);
});

Deno.test("StateGraph.compile() rejects a graph with no entry point", () => {
  const graph = new StateGraph(State).addNode("a", noop).addEdge("a", END);
  assertCompileProblems(graph, ["the graph has no entry point: add an edge from START"]);
});

Deno.test("StateGraph.compile() rejects conditional edges to unknown nodes in their path map", () => {
  const graph = new StateGraph(State)
    .addNode("a", noop)
    .addNode("b", noop)
    .addEdge(START, "a")
    .addConditionalEdges("a", () => "yes", { yes: "b", no: "nowhere" })
    .addConditionalEdges("b", () => END, [END, "elsewhere"])
    .addConditionalEdges("ghost", () => END);
  assertCompileProblems(graph, [
    'conditional edge from "a": unknown node "nowhere"',
    'conditional edge from "b": unknown node "elsewhere"',
    'conditional edge from unknown node "ghost"',
  ]);
});

Deno.test("StateGraph.compile() lists every problem at once", () => {
  const graph = new StateGraph(State)
    .addNode("a", noop)
    .addNode("a", noop)
    .addNode(END, noop)
    .addEdge(START, "a")
    .addEdge("a", "missing")
    .addConditionalEdges("a", () => "x", { x: "unknown" });
  assertCompileProblems(graph, [
    'node "a" is added more than once',
    '"__end__" is a reserved name',
    'edge "a" -> "missing": unknown node "missing"',
    'conditional edge from "a": unknown node "unknown"',
  ]);
});

Deno.test("StateGraph.addNode() and addConditionalEdges() reject what is not a function", () => {
  assert.throws(
    () => new StateGraph(State).addNode("a", 42 as never),
    /Cannot add node "a": it must be a function or a compiled graph/,
  );
  assert.throws(
    () => new StateGraph(State).addConditionalEdges("a", "b" as never),
    /Cannot add a conditional edge from "a": the router must be a function/,
  );
});

Deno.test("StateGraph.compile() accepts a conditional edge without a path map", async () => {
  const app = new StateGraph(State)
    .addNode("a", () => ({ count: 1 }))
    .addNode("b", () => ({ last: "b" }))
    .addEdge(START, "a")
    .addConditionalEdges("a", (state) => state.count > 1 ? END : "b")
    .addEdge("b", END)
    .compile();
  const result = await app.invoke({}, { threadId: "no-path-map" });
  assert.equal(result.status, "completed");
  assert.deepEqual(result.state, { log: [], count: 1, last: "b" });
  await app.close();
});

Deno.test("StateGraph run fails when a router returns an unknown node", async () => {
  const app = new StateGraph(State)
    .addNode("a", () => ({ count: 1 }))
    .addEdge(START, "a")
    .addConditionalEdges("a", () => "ghost")
    .compile();
  const result = await app.invoke({}, { threadId: "unknown-route" });
  assert.equal(result.status, "failed");
  assert.equal(result.error?.code, "invalid_argument");
  assert.match(result.error!.message, /Cannot schedule node "ghost": there is no such node/);
  await app.close();
});

Deno.test("StateGraph run fails when a router returns a key missing from its path map", async () => {
  const app = new StateGraph(State)
    .addNode("a", () => ({ count: 1 }))
    .addNode("b", noop)
    .addEdge(START, "a")
    .addConditionalEdges("a", () => "maybe", { yes: "b", no: END })
    .addEdge("b", END)
    .compile();
  const result = await app.invoke({}, { threadId: "bad-key" });
  assert.equal(result.status, "failed");
  assert.equal(result.error?.code, "invalid_argument");
  assert.match(
    result.error!.message,
    /Cannot route from "a": "maybe" is not a key of its path map/,
  );
  await app.close();
});

Deno.test("StateGraph.compile() invoke rejects when a router from START returns an unknown node", async () => {
  const app = new StateGraph(State)
    .addNode("a", noop)
    .addConditionalEdges(START, () => "ghost", ["a"])
    .addEdge("a", END)
    .compile();
  await assert.rejects(
    () => app.invoke({}, { threadId: "bad-start" }),
    (error: unknown) =>
      error instanceof InvalidArgumentError && /Cannot schedule node "ghost"/.test(error.message),
  );
  await app.close();
});

Deno.test("StateGraph fan-out runs the nodes of one superstep in parallel", async () => {
  const aStarted = Promise.withResolvers<void>();
  const bStarted = Promise.withResolvers<void>();
  // Each node waits for the other to start: run one after the other, they would never finish.
  const app = new StateGraph(State)
    .addNode("a", async () => {
      aStarted.resolve();
      await bStarted.promise;
      return { log: ["a"] };
    })
    .addNode("b", async () => {
      bStarted.resolve();
      await aStarted.promise;
      return { log: ["b"] };
    })
    .addEdge(START, "a")
    .addEdge(START, "b")
    .addEdge("a", END)
    .addEdge("b", END)
    .compile();
  const result = await app.invoke({}, { threadId: "parallel" });
  assert.equal(result.status, "completed");
  assert.deepEqual(result.state.log, ["a", "b"]);
  assert.deepEqual(
    result.trace.filter((event) => event.type === "step_start"),
    [{ type: "step_start", step: 1, nodes: ["a", "b"] }],
  );
  await app.close();
});

Deno.test("StateGraph fan-out merges updates in task order whatever the completion order", async () => {
  const bDone = Promise.withResolvers<void>();
  const cDone = Promise.withResolvers<void>();
  const finished: string[] = [];
  const app = new StateGraph(State)
    .addNode("a", async () => {
      await bDone.promise;
      finished.push("a");
      return { log: ["a"], count: 1, last: "a" };
    })
    .addNode("b", async () => {
      await cDone.promise;
      finished.push("b");
      bDone.resolve();
      return { log: ["b"], count: 10, last: "b" };
    })
    .addNode("c", () => {
      finished.push("c");
      cDone.resolve();
      return { log: ["c"], count: 100, last: "c" };
    })
    .addEdge(START, "a")
    .addEdge(START, "b")
    .addEdge(START, "c")
    .addEdge("a", END)
    .addEdge("b", END)
    .addEdge("c", END)
    .compile();
  const result = await app.invoke({}, { threadId: "merge-order" });
  assert.deepEqual(finished, ["c", "b", "a"]);
  assert.equal(result.status, "completed");
  // Reducers see a, b, c (task order); the last write of a channel without a reducer is c's.
  assert.deepEqual(result.state, { log: ["a", "b", "c"], count: 111, last: "c" });
  const history = await app.getStateHistory("merge-order");
  const step = history.find((entry) => entry.source.kind === "step");
  assert.deepEqual(step?.source, { kind: "step", nodes: ["a", "b", "c"] });
  await app.close();
});

Deno.test("StateGraph fan-in runs a node reached from several parents once", async () => {
  let joins = 0;
  const app = new StateGraph(State)
    .addNode("a", () => ({ log: ["a"] }))
    .addNode("b", () => ({ log: ["b"] }))
    .addNode("join", (state) => {
      joins++;
      return { log: [`join saw ${state.log.join("+")}`] };
    })
    .addEdge(START, "a")
    .addEdge(START, "b")
    .addEdge("a", "join")
    .addEdge("b", "join")
    .addEdge("join", END)
    .compile();
  const result = await app.invoke({}, { threadId: "fan-in" });
  assert.equal(result.status, "completed");
  assert.equal(joins, 1);
  assert.deepEqual(result.state.log, ["a", "b", "join saw a+b"]);
  await app.close();
});

const Jokes = defineState({
  subjects: { default: (): string[] => [] },
  jokes: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

Deno.test("StateGraph Send fans out over a list and reduces the results in order", async () => {
  const done = new Map(["cats", "dogs", "owls"].map((s) => [s, Promise.withResolvers<void>()]));
  const inputs: unknown[] = [];
  const app = new StateGraph(Jokes)
    .addNode("joke", async (arg: { subject: string }) => {
      inputs.push(arg);
      // cats waits for dogs, dogs for owls: they finish in reverse order.
      const next = { cats: "dogs", dogs: "owls" }[arg.subject];
      if (next !== undefined) await done.get(next)!.promise;
      done.get(arg.subject)!.resolve();
      return { jokes: [`a joke about ${arg.subject}`] };
    })
    .addNode("summary", (state) => ({ jokes: [`${state.jokes.length} jokes`] }))
    .addConditionalEdges(
      START,
      (state) => state.subjects.map((subject) => new Send("joke", { subject })),
      ["joke"],
    )
    .addEdge("joke", "summary")
    .addEdge("summary", END)
    .compile();
  const result = await app.invoke({ subjects: ["cats", "dogs", "owls"] }, {
    threadId: "map-reduce",
  });
  assert.equal(result.status, "completed");
  assert.deepEqual(inputs, [{ subject: "cats" }, { subject: "dogs" }, { subject: "owls" }]);
  assert.deepEqual(result.state.jokes, [
    "a joke about cats",
    "a joke about dogs",
    "a joke about owls",
    "3 jokes",
  ]);
  assert.deepEqual(
    result.trace.filter((event) => event.type === "step_start"),
    [
      { type: "step_start", step: 1, nodes: ["joke", "joke", "joke"] },
      { type: "step_start", step: 2, nodes: ["summary"] },
    ],
  );
  await app.close();
});

const Routed = defineState({
  route: { default: () => "" },
  visited: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

Deno.test("StateGraph node returning a Command updates state and goes where it says", async () => {
  const app = new StateGraph(Routed)
    .addNode("decide", () => new Command({ update: { route: "right" }, goto: "right" }), {
      ends: ["left", "right"],
    })
    .addNode("left", () => ({ visited: ["left"] }))
    .addNode("right", (state) => ({ visited: [`right after ${state.route}`] }))
    .addEdge(START, "decide")
    .addEdge("left", END)
    .addEdge("right", END)
    .compile();
  const result = await app.invoke({}, { threadId: "command" });
  assert.equal(result.status, "completed");
  assert.deepEqual(result.state, { route: "right", visited: ["right after right"] });
  await app.close();
});

Deno.test("StateGraph node Command can go to several nodes and Sends", async () => {
  const app = new StateGraph(Routed)
    .addNode(
      "decide",
      () => new Command({ goto: ["left", new Send("right", { route: "sent" })] }),
      { ends: ["left", "right"] },
    )
    .addNode("left", () => ({ visited: ["left"] }))
    .addNode("right", (arg) => ({ visited: [`right with ${arg.route}`] }))
    .addEdge(START, "decide")
    .addEdge("left", END)
    .addEdge("right", END)
    .compile();
  const result = await app.invoke({}, { threadId: "command-many" });
  assert.equal(result.status, "completed");
  assert.deepEqual(result.state.visited, ["left", "right with sent"]);
  await app.close();
});

Deno.test("StateGraph.compile() needs `ends` to reach the targets of a Command", () => {
  const graph = new StateGraph(Routed)
    .addNode("decide", () => new Command({ goto: "right" }))
    .addNode("right", noop)
    .addEdge(START, "decide")
    .addEdge("right", END);
  assert.throws(() => graph.compile(), /node "right" is unreachable from START/);
});

Deno.test("StateGraph node returning a Command with resume fails the run", async () => {
  const app = new StateGraph(Routed)
    .addNode("a", () => new Command({ resume: "x" }))
    .addEdge(START, "a")
    .addEdge("a", END)
    .compile();
  const result = await app.invoke({}, { threadId: "command-resume" });
  assert.equal(result.status, "failed");
  assert.equal(result.error?.code, "invalid_argument");
  assert.match(result.error!.message, /resume is only for invoke\(\)/);
  await app.close();
});

Deno.test("StateGraph node returning something other than an object fails the run with invalid_argument", async () => {
  for (const [i, value] of [42, "text", [1, 2], true].entries()) {
    const app = new StateGraph(State)
      .addNode("bad", (() => value) as never)
      .addEdge(START, "bad")
      .addEdge("bad", END)
      .compile();
    const result = await app.invoke({}, { threadId: `bad-return-${i}` });
    assert.equal(result.status, "failed", JSON.stringify(value));
    assert.equal(result.error?.code, "invalid_argument");
    assert.equal(result.error?.node, "bad");
    assert.match(
      result.error!.message,
      /Cannot apply the result of node "bad": return an object of channels, a Command or nothing/,
    );
    await app.close();
  }
});

Deno.test("StateGraph node returning nothing leaves the state unchanged", async () => {
  const app = new StateGraph(State)
    .addNode("quiet", () => undefined)
    .addNode("silent", () => null)
    .addEdge(START, "quiet")
    .addEdge("quiet", "silent")
    .addEdge("silent", END)
    .compile();
  const result = await app.invoke({ count: 3 }, { threadId: "nothing" });
  assert.equal(result.status, "completed");
  assert.deepEqual(result.state, { log: [], count: 3, last: "" });
  await app.close();
});

Deno.test("StateGraph node update with an unknown channel or non-JSON value fails the run", async () => {
  const unknownChannel = new StateGraph(State)
    .addNode("a", () => ({ nope: 1 }) as never)
    .addEdge(START, "a")
    .addEdge("a", END)
    .compile();
  const first = await unknownChannel.invoke({}, { threadId: "unknown-channel" });
  assert.equal(first.status, "failed");
  assert.equal(first.error?.code, "invalid_argument");
  assert.match(first.error!.message, /unknown channel "nope"/);
  await unknownChannel.close();

  const notJson = new StateGraph(State)
    .addNode("a", () => ({ count: Number.NaN }))
    .addEdge(START, "a")
    .addEdge("a", END)
    .compile();
  const second = await notJson.invoke({}, { threadId: "not-json" });
  assert.equal(second.status, "failed");
  assert.equal(second.error?.code, "invalid_argument");
  assert.match(second.error!.message, /NaN/);
  await notJson.close();
});

Deno.test("StateGraph: a reducer that returns what JSON cannot carry fails the run", async () => {
  const Dated = defineState({
    when: { default: () => null, reducer: () => new Date(0) as never },
  });
  const app = new StateGraph(Dated)
    .addNode("a", () => ({ when: "now" }))
    .addEdge(START, "a")
    .addEdge("a", END)
    .compile();
  const result = await app.invoke({}, { threadId: "reducer-not-json" });
  assert.equal(result.status, "failed");
  assert.equal(result.error?.code, "invalid_argument");
  assert.match(result.error!.message, /the state after step 1/);
  // Nothing of the step was committed: the run failed at the state it had.
  assert.deepEqual(result.state, { when: null });
  await app.close();
});

Deno.test("StateGraph step limit fails a looping run with code step_limit", async () => {
  let calls = 0;
  const app = new StateGraph(State)
    .addNode("loop", () => {
      calls++;
      return { count: 1 };
    })
    .addEdge(START, "loop")
    .addConditionalEdges("loop", () => "loop", ["loop", END])
    .compile({ stepLimit: 5 });
  const result = await app.invoke({}, { threadId: "loop" });
  assert.equal(result.status, "failed");
  assert.equal(result.error?.code, "step_limit");
  assert.match(result.error!.message, /reached its limit of 5 steps without reaching END/);
  assert.equal(calls, 5);
  assert.equal(result.state.count, 5);
  assert.equal(result.trace.filter((event) => event.type === "step_end").length, 5);
  await app.close();
});

Deno.test("humanMessage(), aiMessage(), systemMessage() and toolMessage() build plain messages", () => {
  assert.deepEqual(humanMessage("hi"), { type: "human", content: "hi" });
  assert.deepEqual(humanMessage("hi", { id: "h1", name: "ann" }), {
    type: "human",
    content: "hi",
    id: "h1",
    name: "ann",
  });
  const call = { id: "call_1", name: "add", args: { a: 1, b: 2 } };
  assert.deepEqual(aiMessage("", { tool_calls: [call] }), {
    type: "ai",
    content: "",
    tool_calls: [call],
  });
  assert.deepEqual(systemMessage("be brief"), { type: "system", content: "be brief" });
  assert.deepEqual(toolMessage("3", "call_1", { name: "add" }), {
    type: "tool",
    content: "3",
    name: "add",
    tool_call_id: "call_1",
  });
  // Fields cannot override the type or content.
  assert.equal(humanMessage("x", { type: "ai" } as never).type, "human");
  assert.throws(() => aiMessage(42 as never), /Cannot make a ai message: content must be a string/);
  assert.throws(() => humanMessage(undefined as never), InvalidArgumentError);
});

Deno.test("messagesReducer() appends messages and gives them deterministic ids", () => {
  const first = messagesReducer([], [humanMessage("hi"), aiMessage("hello")]);
  const again = messagesReducer([], [humanMessage("hi"), aiMessage("hello")]);
  assert.deepEqual(first.map((m) => m.content), ["hi", "hello"]);
  assert.ok(first.every((m) => typeof m.id === "string" && m.id.startsWith("msg_")));
  assert.deepEqual(first, again);
  assert.notEqual(first[0]!.id, first[1]!.id);
  // The same message at another position gets another id.
  const twice = messagesReducer(first, humanMessage("hi"));
  assert.equal(twice.length, 3);
  assert.notEqual(twice[2]!.id, twice[0]!.id);
  // A single message is accepted as well as a list, and the input list is not modified.
  const base: Message[] = [humanMessage("a", { id: "1" })];
  const next = messagesReducer(base, aiMessage("b", { id: "2" }));
  assert.deepEqual(base, [humanMessage("a", { id: "1" })]);
  assert.deepEqual(next.map((m) => m.id), ["1", "2"]);
});

Deno.test("messagesReducer() appends a message without an id even when its derived id is taken", () => {
  // After a removal, the same content at the same length hashes to the id of a message still listed.
  let list = messagesReducer([], [
    humanMessage("a", { id: "A" }),
    humanMessage("b", { id: "B" }),
    humanMessage("ok"),
  ]);
  list = messagesReducer(list, removeMessage("A"));
  list = messagesReducer(list, humanMessage("ok"));
  assert.deepEqual(list.map((m) => m.content), ["b", "ok", "ok"]);
  assert.equal(new Set(list.map((m) => m.id)).size, 3);
});

Deno.test("messagesReducer() replaces a message with the same id in place", () => {
  const list = messagesReducer([], [
    humanMessage("q", { id: "1" }),
    aiMessage("draft", { id: "2" }),
    humanMessage("more", { id: "3" }),
  ]);
  const edited = messagesReducer(list, aiMessage("final", { id: "2" }));
  assert.deepEqual(edited.map((m) => [m.id, m.content]), [["1", "q"], ["2", "final"], [
    "3",
    "more",
  ]]);
});

Deno.test("messagesReducer() removes messages by id, or all of them", () => {
  const list = messagesReducer([], [
    humanMessage("a", { id: "1" }),
    aiMessage("b", { id: "2" }),
    humanMessage("c", { id: "3" }),
  ]);
  const removed = messagesReducer(list, [removeMessage("2"), aiMessage("d", { id: "4" })]);
  assert.deepEqual(removed.map((m) => m.id), ["1", "3", "4"]);
  assert.deepEqual(messagesReducer(list, removeMessage(REMOVE_ALL_MESSAGES)), []);
  assert.deepEqual(
    messagesReducer(list, [removeMessage(REMOVE_ALL_MESSAGES), humanMessage("fresh", { id: "9" })])
      .map((m) => m.id),
    ["9"],
  );
  assert.throws(
    () => messagesReducer(list, removeMessage("nope")),
    /Cannot remove message "nope": it is not in the list/,
  );
  assert.throws(
    () => messagesReducer(list, [42 as never]),
    /Cannot merge messages: each must be an object with a type/,
  );
});

Deno.test("MessagesState runs a graph whose nodes append, replace and remove messages", async () => {
  const app = new StateGraph(MessagesState)
    .addNode("draft", () => ({
      messages: [aiMessage("draft", { id: "answer" }), aiMessage("scratch", { id: "tmp" })],
    }))
    .addNode("final", () => ({
      messages: [aiMessage("final", { id: "answer" }), removeMessage("tmp")],
    }))
    .addEdge(START, "draft")
    .addEdge("draft", "final")
    .addEdge("final", END)
    .compile();
  const result = await app.invoke(
    { messages: [systemMessage("be brief", { id: "sys" }), humanMessage("hi!", { id: "q" })] },
    { threadId: "messages" },
  );
  assert.equal(result.status, "completed");
  assert.deepEqual(result.state.messages, [
    { type: "system", content: "be brief", id: "sys" },
    { type: "human", content: "hi!", id: "q" },
    { type: "ai", content: "final", id: "answer" },
  ]);
  assert.deepEqual(MessagesState.initial(), { messages: [] });
  await app.close();
});
