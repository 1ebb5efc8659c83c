/**
 * Interrupt loop: a run waits for a person and continues with the answer.
 *
 * - approve, edit and reject flows reach the right end, and the approved
 *   action is performed once (and a rejected one never);
 * - two interrupts in one node are answered one after the other, and the
 *   first answer is kept when the node re-runs for the second;
 * - interrupts raised by two parallel branches are answered by id, both at
 *   once or one at a time (the unanswered one keeps its id);
 * - an interrupted run survives its process (a clean exit or SIGKILL): this
 *   process resumes it over the same Deno KV file or PostgreSQL schema;
 * - effects made before `interrupt()` run exactly once across every
 *   interrupt, resume and runtime restart;
 * - a resume with no pending interrupt, an unknown id, or a single value
 *   when several are pending is a `ConflictError` and leaves the log as it was.
 *
 * Every test runs on memory, Deno KV and PostgreSQL where it is meaningful.
 */

import assert from "node:assert/strict";
import {
  Command,
  defineState,
  END,
  interrupt,
  type Json,
  type RunResult,
  START,
  StateGraph,
  type Store,
} from "../mod.ts";
import { parseThreadId } from "../kernel/mod.ts";
import { approvalGraph } from "../examples/approval.ts";
import { assertConflict, readLog } from "./_helpers.ts";
import { freshLocation, openStoreAt, skipStoreKind, type StoreKind, storeTest } from "./_stores.ts";
import { checkoutGraph, readLines, type RestartConfig } from "./fixtures/interrupt_restart.ts";

const FIXTURE = new URL("./fixtures/interrupt_restart.ts", import.meta.url).pathname;

function onlyInterrupt(result: RunResult): { id: string; node: string; value: Json } {
  assert.equal(result.status, "interrupted");
  assert.equal(result.interrupts.length, 1, JSON.stringify(result.interrupts));
  return result.interrupts[0]!;
}

// ---------------------------------------------------------------------------
// Approve / edit / reject

storeTest("approval: an approved action is performed exactly once", async (store) => {
  const performed: Json[] = [];
  const app = approvalGraph({
    store,
    perform: (action) => {
      performed.push(action);
      return { done: true, n: performed.length };
    },
  });
  try {
    const first = await app.invoke({ request: "deploy v2" }, { threadId: "approve-1" });
    const pending = onlyInterrupt(first);
    assert.equal(pending.node, "approve");
    assert.deepEqual(pending.value, {
      question: "Approve this action?",
      action: { kind: "execute", request: "deploy v2" },
    });
    assert.deepEqual(first.state.log, ["prepared"]);
    assert.equal(performed.length, 0, "nothing is performed before the approval");

    const done = await app.invoke(new Command({ resume: true }), { threadId: "approve-1" });
    assert.equal(done.status, "completed");
    assert.deepEqual(done.interrupts, []);
    assert.equal(done.state.approved, true);
    assert.deepEqual(done.state.result, { done: true, n: 1 });
    assert.deepEqual(done.state.log, ["prepared", "approved", "performed"]);
    assert.deepEqual(performed, [{ kind: "execute", request: "deploy v2" }]);
    assert.deepEqual(
      done.trace.filter((event) => event.type === "resume"),
      [{ type: "resume", interruptIds: [pending.id] }],
    );

    // Asking again for the same run returns it as it is and performs nothing.
    const again = await app.invoke({ request: "deploy v2" }, { threadId: "approve-1" });
    assert.equal(again.status, "completed");
    assert.equal(performed.length, 1);
  } finally {
    await app.close();
  }
});

storeTest("approval: a rejected action is never performed", async (store) => {
  let performed = 0;
  const app = approvalGraph({
    store,
    perform: () => {
      performed++;
      return null;
    },
  });
  try {
    const first = await app.invoke({ request: "drop the database" }, { threadId: "reject-1" });
    onlyInterrupt(first);
    const done = await app.resume("reject-1", false);
    assert.equal(done.status, "completed");
    assert.equal(done.state.approved, false);
    assert.deepEqual(done.state.result, { rejected: true });
    assert.deepEqual(done.state.log, ["prepared", "rejected", "rejection recorded"]);
    assert.equal(performed, 0);
    const effects = await store.listEffects(parseThreadId("reject-1"));
    assert.deepEqual(effects.map((record) => record.name), [], "no effect was journaled");
  } finally {
    await app.close();
  }
});

const DraftState = defineState({
  topic: { default: () => "" },
  draft: { default: () => "" },
  final: { default: () => "" },
  published: { default: (): Json => null },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

storeTest("edit: the node continues with the value the person edited", async (store) => {
  const published: string[] = [];
  let drafts = 0;
  const app = new StateGraph(DraftState)
    .addNode("write", async (state, ctx) => {
      const draft = await ctx.effect("llm.draft", () => {
        drafts++;
        return `A post about ${state.topic}.`;
      });
      return { draft, log: ["drafted"] };
    })
    .addNode("review", async (state) => {
      const answer = await interrupt<{ action: string; text?: string }>({
        question: "Publish this draft?",
        draft: state.draft,
      });
      if (answer.action === "edit") return { final: answer.text ?? "", log: ["edited"] };
      return { final: state.draft, log: ["accepted"] };
    })
    .addNode("publish", async (state, ctx) => {
      const receipt = await ctx.effect("publish", () => {
        published.push(state.final);
        return { id: published.length, text: state.final };
      });
      return { published: receipt, log: ["published"] };
    })
    .addEdge(START, "write")
    .addEdge("write", "review")
    .addEdge("review", "publish")
    .addEdge("publish", END)
    .compile({ store, name: "edit" });
  try {
    const first = await app.invoke({ topic: "durable runs" }, { threadId: "edit-1" });
    const pending = onlyInterrupt(first);
    assert.equal(pending.node, "review");
    assert.deepEqual(pending.value, {
      question: "Publish this draft?",
      draft: "A post about durable runs.",
    });
    const edited = "Durable runs: pause, crash, resume.";
    const done = await app.resume("edit-1", { action: "edit", text: edited });
    assert.equal(done.status, "completed");
    assert.equal(done.state.draft, "A post about durable runs.", "the draft is kept");
    assert.equal(done.state.final, edited);
    assert.deepEqual(done.state.published, { id: 1, text: edited });
    assert.deepEqual(published, [edited], "the edited text, not the draft, was published");
    assert.deepEqual(done.state.log, ["drafted", "edited", "published"]);
    assert.equal(drafts, 1, "the draft was written once");
  } finally {
    await app.close();
  }
});

// ---------------------------------------------------------------------------
// Two interrupts in one node

const FormState = defineState({
  profile: { default: () => "" },
});

storeTest(
  "two interrupts in one node: answered in turn, the first answer is kept for the re-run",
  async (store) => {
    /** What each execution of the node saw: the answers it got, then where it stopped. */
    const executions: string[][] = [];
    let prepared = 0;
    const app = new StateGraph(FormState)
      .addNode("ask", async (_state, ctx) => {
        const seen: string[] = [];
        executions.push(seen);
        await ctx.effect("prepare", () => ++prepared);
        seen.push("asking name");
        const name = await ctx.interrupt<string>({ field: "name" });
        seen.push(`name=${name}`);
        const age = await interrupt<number>({ field: "age" });
        seen.push(`age=${age}`);
        return { profile: `${name}:${age}` };
      })
      .addEdge(START, "ask")
      .addEdge("ask", END)
      .compile({ store, name: "form" });
    try {
      const first = await app.invoke({}, { threadId: "form-1" });
      const name = onlyInterrupt(first);
      assert.equal(name.node, "ask");
      assert.deepEqual(name.value, { field: "name" });

      const second = await app.resume("form-1", "Ada");
      const age = onlyInterrupt(second);
      assert.equal(age.node, "ask");
      assert.deepEqual(age.value, { field: "age" });
      assert.notEqual(age.id, name.id, "the second interrupt has its own id");

      // Answering the already answered first interrupt again is a conflict.
      await assertConflict(() => app.resumeById("form-1", { [name.id]: "Grace" }), /not pending/);

      const done = await app.resumeById("form-1", { [age.id]: 36 });
      assert.equal(done.status, "completed");
      assert.equal(done.state.profile, "Ada:36");
      assert.deepEqual(executions, [
        ["asking name"],
        ["asking name", "name=Ada"],
        ["asking name", "name=Ada", "age=36"],
      ]);
      assert.equal(prepared, 1, "the effect before the interrupts ran once");

      const log = await readLog(store, "form-1");
      const raised = log.flatMap(({ event }) =>
        event.type === "interrupt.raised" ? event.interrupts.map((record) => record.id) : []
      );
      assert.deepEqual(raised, [name.id, age.id]);
      const resumed = log.flatMap(({ event }) =>
        event.type === "run.resumed" ? [event.values] : []
      );
      assert.deepEqual(resumed, [{ [name.id]: "Ada" }, { [age.id]: 36 }]);
    } finally {
      await app.close();
    }
  },
);

// ---------------------------------------------------------------------------
// Parallel branches

const ParallelState = defineState({
  answers: {
    default: (): string[] => [],
    reducer: (a: string[], b: string[]) => [...a, ...b].sort(),
  },
  merged: { default: () => "" },
});

/** START fans out to `a` and `b`, which both ask a person; `merge` joins them. */
function parallelGraph(store: Store, counts: Record<string, number>) {
  const count = (key: string) => counts[key] = (counts[key] ?? 0) + 1;
  return new StateGraph(ParallelState)
    .addNode("a", async (_state, ctx) => {
      count("a.runs");
      await ctx.effect("a.lookup", () => count("a.effect"));
      const answer = await interrupt<string>({ branch: "a" });
      return { answers: [`a=${answer}`] };
    })
    .addNode("b", async (_state, ctx) => {
      count("b.runs");
      await ctx.effect("b.lookup", () => count("b.effect"));
      const answer = await interrupt<string>({ branch: "b" });
      return { answers: [`b=${answer}`] };
    })
    .addNode("merge", (state) => {
      count("merge.runs");
      return { merged: state.answers.join(",") };
    })
    .addEdge(START, "a")
    .addEdge(START, "b")
    .addEdge("a", "merge")
    .addEdge("b", "merge")
    .addEdge("merge", END)
    .compile({ store, name: "parallel" });
}

function byNode(result: RunResult): Map<string, { id: string; value: Json }> {
  assert.equal(result.status, "interrupted");
  return new Map(result.interrupts.map(({ id, node, value }) => [node, { id, value }]));
}

storeTest(
  "parallel branches: both interrupts are resumed at once by a map of ids",
  async (store) => {
    const counts: Record<string, number> = {};
    const app = parallelGraph(store, counts);
    try {
      const first = await app.invoke({}, { threadId: "par-1" });
      const pending = byNode(first);
      assert.deepEqual([...pending.keys()].sort(), ["a", "b"]);
      assert.deepEqual(pending.get("a")!.value, { branch: "a" });
      assert.deepEqual(pending.get("b")!.value, { branch: "b" });
      assert.notEqual(pending.get("a")!.id, pending.get("b")!.id);

      const done = await app.resumeById("par-1", {
        [pending.get("b")!.id]: "no",
        [pending.get("a")!.id]: "yes",
      });
      assert.equal(done.status, "completed");
      assert.deepEqual(done.state.answers, ["a=yes", "b=no"]);
      assert.equal(done.state.merged, "a=yes,b=no");
      assert.deepEqual(counts, {
        "a.runs": 2,
        "a.effect": 1,
        "b.runs": 2,
        "b.effect": 1,
        "merge.runs": 1,
      });
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "parallel branches: a partial map answers one interrupt; the other keeps its id",
  async (store) => {
    const counts: Record<string, number> = {};
    const app = parallelGraph(store, counts);
    try {
      const first = await app.invoke({}, { threadId: "par-2" });
      const pending = byNode(first);
      const idA = pending.get("a")!.id;
      const idB = pending.get("b")!.id;

      const second = await app.resumeById("par-2", { [idA]: "yes" });
      const left = onlyInterrupt(second);
      assert.equal(left.node, "b");
      assert.equal(left.id, idB, "the unanswered interrupt is raised again with the same id");
      assert.deepEqual(left.value, { branch: "b" });
      assert.deepEqual(second.state.answers, [], "no update is merged before the step ends");

      // The answered interrupt is no longer pending.
      await assertConflict(() => app.resumeById("par-2", { [idA]: "again" }), /not pending/);

      const done = await app.resumeById("par-2", { [idB]: "no" });
      assert.equal(done.status, "completed");
      assert.deepEqual(done.state.answers, ["a=yes", "b=no"]);
      assert.equal(done.state.merged, "a=yes,b=no");
      assert.deepEqual(counts, {
        "a.runs": 2, // raised, then answered; its write was kept while b waited
        "a.effect": 1,
        "b.runs": 3, // raised, raised again, answered
        "b.effect": 1,
        "merge.runs": 1,
      });
      const log = await readLog(store, "par-2");
      const raised = log.flatMap(({ event }) =>
        event.type === "interrupt.raised" ? [event.interrupts.map((record) => record.id)] : []
      );
      assert.deepEqual(raised.map((ids) => [...ids].sort()), [[idA, idB].sort(), [idB]]);
    } finally {
      await app.close();
    }
  },
);

// ---------------------------------------------------------------------------
// Resume after a process restart

interface ChildOutcome {
  result: RunResult;
  status: Deno.CommandStatus;
  stderr: string;
}

/** Runs the fixture; with `hold`, kills it with SIGKILL once it printed the interrupt. */
async function runChild(config: RestartConfig): Promise<ChildOutcome> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", FIXTURE, JSON.stringify(config)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let result: RunResult | null = null;
  let buffer = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    const lines = buffer.split("\n");
    buffer = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith("interrupted ")) continue;
      result = JSON.parse(line.slice("interrupted ".length)) as RunResult;
      if (config.hold) child.kill("SIGKILL");
    }
  }
  const status = await child.status;
  const errors = await stderr;
  assert.ok(result !== null, `the child printed no interrupt (code ${status.code}): ${errors}`);
  return { result, status, stderr: errors };
}

for (const kind of ["kv", "postgres"] as const satisfies readonly StoreKind[]) {
  for (const hold of [false, true]) {
    const how = hold ? "is killed with SIGKILL" : "exits";
    Deno.test({
      name: `restart: a run interrupted in a process that ${how} is resumed by another (${kind})`,
      ignore: skipStoreKind(kind),
      async fn() {
        const { location, cleanup } = await freshLocation(kind);
        const dir = await Deno.makeTempDir({ prefix: "oris-restart-" });
        const counterFile = `${dir}/effects.log`;
        const threadId = `restart-${hold ? "kill" : "exit"}`;
        try {
          const child = await runChild({ location, threadId, counterFile, hold });
          if (hold) assert.equal(child.status.signal, "SIGKILL", child.stderr);
          else assert.equal(child.status.code, 0, child.stderr);
          const pending = onlyInterrupt(child.result);
          assert.equal(pending.node, "checkout");
          assert.deepEqual(await readLines(counterFile), ["charge"]);

          await using store = await openStoreAt(location);
          const app = checkoutGraph(store, counterFile);
          try {
            const before = await app.getState(threadId);
            assert.equal(before.status, "interrupted");
            assert.deepEqual(before.interrupts, child.result.interrupts);

            const done = await app.resumeById(threadId, { [pending.id]: "yes" });
            assert.equal(done.status, "completed");
            assert.deepEqual(done.state.receipt, { order: "order-1", line: 1 });
            assert.equal(done.state.confirmed, "yes");
            assert.deepEqual(done.state.shipped, { order: "order-1", line: 2 });
            assert.deepEqual(
              await readLines(counterFile),
              ["charge", "ship"],
              "the charge made before the restart was not made again",
            );
            const replay = await app.replay(threadId);
            assert.equal(replay.ok, true);
          } finally {
            await app.close();
          }
        } finally {
          await Deno.remove(dir, { recursive: true });
          await cleanup();
        }
      },
    });
  }
}

// ---------------------------------------------------------------------------
// Effects before interrupt() happen exactly once

const PaymentState = defineState({
  plan: { default: (): Json => null },
  charge: { default: (): Json => null },
  notes: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

storeTest(
  "exactly once: effects before interrupt() run once across interrupts, resumes and a restart",
  async (store) => {
    const calls = { llm: 0, payment: 0, email: 0, runs: 0 };
    const build = () =>
      new StateGraph(PaymentState)
        .addNode("agent", async (_state, ctx) => {
          calls.runs++;
          const plan = await ctx.effect("llm.call", () => {
            calls.llm++;
            return { text: "charge 42 EUR", tokens: 17 };
          });
          const charge = await ctx.effect("payment", () => {
            calls.payment++;
            return { id: `ch_${calls.payment}`, amount: 42 };
          });
          const amount = await interrupt<number>({ confirm: "amount", charge });
          await ctx.effect("email", () => ++calls.email);
          const note = await interrupt<string>({ confirm: "note", amount });
          return { plan, charge, notes: [`${amount}:${note}`] };
        })
        .addEdge(START, "agent")
        .addEdge("agent", END)
        .compile({ store, name: "payment" });

    const first = build();
    let firstId: string;
    try {
      const started = await first.invoke({}, { threadId: "pay-1" });
      firstId = onlyInterrupt(started).id;
      assert.deepEqual(calls, { llm: 1, payment: 1, email: 0, runs: 1 });
      // Asking again with the same input returns the interrupted run; nothing runs.
      const same = await first.invoke({}, { threadId: "pay-1" });
      assert.deepEqual(same.interrupts, started.interrupts);
      assert.deepEqual(calls, { llm: 1, payment: 1, email: 0, runs: 1 });

      const second = await first.resume("pay-1", 42);
      const pending = onlyInterrupt(second);
      assert.notEqual(pending.id, firstId);
      assert.deepEqual(pending.value, { confirm: "note", amount: 42 });
      assert.deepEqual(calls, { llm: 1, payment: 1, email: 1, runs: 2 });
    } finally {
      await first.close();
    }

    // A new runtime over the same store (as after a restart) finishes the run.
    const restarted = build();
    try {
      const done = await restarted.resume("pay-1", "ok");
      assert.equal(done.status, "completed");
      assert.deepEqual(done.state.plan, { text: "charge 42 EUR", tokens: 17 });
      assert.deepEqual(done.state.charge, { id: "ch_1", amount: 42 });
      assert.deepEqual(done.state.notes, ["42:ok"]);
      assert.deepEqual(calls, { llm: 1, payment: 1, email: 1, runs: 3 });

      const journal = await store.listEffects(parseThreadId("pay-1"));
      assert.deepEqual(journal.map((record) => record.name).sort(), [
        "email",
        "llm.call",
        "payment",
      ]);
      const recorded = (await readLog(store, "pay-1")).flatMap(({ event }) =>
        event.type === "effect.recorded" ? [event.name] : []
      );
      assert.deepEqual(recorded.sort(), ["email", "llm.call", "payment"]);
      assert.equal((await restarted.replay("pay-1")).ok, true);
      // Replay re-executes the node (runs: 4) but serves every effect from the journal.
      assert.deepEqual(calls, { llm: 1, payment: 1, email: 1, runs: 4 }, "replay runs no effect");
    } finally {
      await restarted.close();
    }
  },
);

// ---------------------------------------------------------------------------
// Resume conflicts change nothing

storeTest("conflict: resuming a run with no pending interrupt changes nothing", async (store) => {
  const app = approvalGraph({ store });
  try {
    const first = await app.invoke({ request: "x" }, { threadId: "nothing-pending" });
    const pending = onlyInterrupt(first);
    await app.resume("nothing-pending", true);
    const before = await readLog(store, "nothing-pending");
    assert.equal(before.at(-1)?.event.type, "run.completed");

    await assertConflict(() => app.resume("nothing-pending", true), /completed, not interrupted/);
    await assertConflict(
      () => app.invoke(new Command({ resume: true }), { threadId: "nothing-pending" }),
      /completed, not interrupted/,
    );
    await assertConflict(
      () => app.resumeById("nothing-pending", { [pending.id]: true }),
      /not interrupted/,
    );
    assert.deepEqual(await readLog(store, "nothing-pending"), before);
  } finally {
    await app.close();
  }
});

storeTest("conflict: resuming with an unknown interrupt id changes nothing", async (store) => {
  let performed = 0;
  const app = approvalGraph({ store, perform: () => ++performed });
  try {
    const first = await app.invoke({ request: "x" }, { threadId: "unknown-id" });
    const pending = onlyInterrupt(first);
    const before = await readLog(store, "unknown-id");
    const unknown = `in_${"0".repeat(32)}`;

    await assertConflict(
      () => app.resumeById("unknown-id", { [unknown]: true }),
      new RegExp(`interrupt "${unknown}" is not pending`),
    );
    await assertConflict(
      () => app.resumeById("unknown-id", { [pending.id]: true, [unknown]: true }),
      /is not pending/,
    );
    assert.deepEqual(await readLog(store, "unknown-id"), before);
    assert.equal((await app.getState("unknown-id")).status, "interrupted");
    assert.equal(performed, 0);

    // The run is still waiting for the same interrupt, and resumes normally.
    const done = await app.resumeById("unknown-id", { [pending.id]: true });
    assert.equal(done.status, "completed");
    assert.equal(performed, 1);
  } finally {
    await app.close();
  }
});

storeTest(
  "conflict: one value for several pending interrupts changes nothing",
  async (store) => {
    const counts: Record<string, number> = {};
    const app = parallelGraph(store, counts);
    try {
      const first = await app.invoke({}, { threadId: "several" });
      const pending = byNode(first);
      const before = await readLog(store, "several");

      for (const value of ["yes", true, null, 7, ["yes", "no"], { answer: "yes" }, {}]) {
        await assertConflict(
          () => app.resume("several", value),
          /2 interrupts are pending; answer them with a map by interrupt id/,
        );
      }
      await assertConflict(
        () => app.invoke(new Command({ resume: "yes" }), { threadId: "several" }),
        /2 interrupts are pending/,
      );
      assert.deepEqual(await readLog(store, "several"), before);
      assert.equal(counts["a.runs"], 1);
      assert.equal(counts["b.runs"], 1);

      const done = await app.resumeById("several", {
        [pending.get("a")!.id]: "1",
        [pending.get("b")!.id]: "2",
      });
      assert.equal(done.status, "completed");
      assert.equal(done.state.merged, "a=1,b=2");
    } finally {
      await app.close();
    }
  },
);
