/**
 * The options of the runtime's calls as it passes them on (public fields
 * only, deadlines checked, the answer a resume gives) and the creation of a
 * run in the store from them.
 *
 * @module
 */

import {
  assertJson,
  type AttemptId,
  type Claim,
  type CreateRunResult,
  type Json,
  type JsonObject,
  type LeaseRequest,
  newEvent,
  payloadHash,
  planStart,
  type ResumeAnswer,
  type RunCreatedEvent,
  type RunDeadline,
  type RunStartedEvent,
  type Store,
  type ThreadId,
} from "../kernel/mod.ts";
import { checkDeadline } from "./deadlines.ts";
import { fingerprintOf } from "./graph_change.ts";
import { traceparentOf } from "./tracing.ts";
import type {
  GraphDefinition,
  InternalRunOptions,
  ResumeOptions,
  RunOptions,
} from "./runtime_api.ts";

/**
 * Creates a run in the store (idempotently: the same id, graph and input is the same run).
 *
 * @internal Used by the runtime.
 * @returns What the store did.
 */
export async function createRunIn(
  store: Store,
  graph: GraphDefinition,
  threadId: ThreadId,
  input: unknown,
  options: InternalRunOptions,
  env: { now: () => number; maxJsonDepth: number; attemptId: () => AttemptId },
  lease: LeaseRequest | null = null,
): Promise<CreateRunResult & { lease?: Claim | null; started?: RunStartedEvent }> {
  const plan = options.initial ??
    await planStart(graph.spec, graph.spec.schema.initial(input) as JsonObject, {
      maxDepth: env.maxJsonDepth,
    });
  const event: RunCreatedEvent = {
    type: "run.created",
    v: 1,
    at: env.now(),
    threadId,
    graph: graph.name,
    input: (input ?? null) as Json,
    payloadHash: payloadHash({ graph: graph.name, input: (input ?? null) as Json }),
    state: plan.state,
    next: plan.next,
    ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
    ...(options.deadline === undefined ? {} : { deadline: checkDeadline(options.deadline) }),
    graphFingerprint: fingerprintOf(graph.spec),
    ...(options.journalFrom === undefined ? {} : { journalFrom: options.journalFrom }),
    ...traceOf(options),
  };
  if (lease === null || store.createLeasedRun === undefined) return await store.createRun(event);
  // Leased to this runtime, which starts it at once: created started, in the same operation.
  const started = newEvent("run.started", env.now(), { attemptId: env.attemptId() });
  const result = await store.createLeasedRun(event, lease, started);
  return result.lease === null ? result : { ...result, started };
}

/** The `traceparent` a new run keeps: its creator's span, if there is one. */
function traceOf(options: InternalRunOptions): { traceparent?: string } {
  const traceparent = traceparentOf(options.parentContext);
  return traceparent === undefined ? {} : { traceparent };
}

/**
 * Keeps only the public fields of run options (internal ones come through `internalsOf`).
 *
 * @internal Used by the runtime.
 */
export function publicRunOptions(options: RunOptions): InternalRunOptions {
  const { threadId, durability, metadata, parentContext, deadline } = options;
  return {
    ...(threadId === undefined ? {} : { threadId }),
    ...(durability === undefined ? {} : { durability }),
    ...(metadata === undefined ? {} : { metadata }),
    ...(parentContext === undefined ? {} : { parentContext }),
    ...(deadline === undefined ? {} : { deadline }),
  };
}

/** Keeps only the public fields of resume options. @internal */
export function publicResumeOptions(options: ResumeOptions): ResumeOptions {
  const { parentContext, deadline } = options;
  return {
    ...(parentContext === undefined ? {} : { parentContext }),
    ...(deadline === undefined ? {} : { deadline }),
  };
}

/** A call's deadline, checked (`undefined`: the run's own applies). @internal */
export function deadlineOf(options: ResumeOptions): RunDeadline | undefined {
  return options.deadline === undefined ? undefined : checkDeadline(options.deadline);
}

/**
 * The answer a resume with one value gives: the value for the only pending
 * interrupt (no value: lift a pause, or answer `null`).
 *
 * @internal Used by the runtime, `CompiledGraph` and streams.
 * @param value The caller's value.
 * @param maxJsonDepth The runtime's nesting limit.
 * @returns The answer.
 * @throws {InvalidArgumentError} when the value is not JSON, or nests too deep.
 */
export function resumeAnswer(value: unknown, maxJsonDepth: number): ResumeAnswer {
  if (value === undefined) return { kind: "value" };
  assertJson(value, "the resume value", { maxDepth: maxJsonDepth });
  return { kind: "value", value };
}
