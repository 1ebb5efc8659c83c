/**
 * OpenTelemetry spans for runs, steps and nodes, through `@opentelemetry/api`
 * (a no-op unless an SDK, or Deno's built-in exporter with `OTEL_DENO=true`,
 * is installed). Attributes: `oris.thread_id`, `oris.checkpoint_id`,
 * `oris.node`, `oris.step`, `oris.interrupt_id`.
 *
 * @module
 */

import {
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  trace,
  TraceFlags,
} from "@opentelemetry/api";
import type { RunSnapshot } from "../kernel/mod.ts";
import type { ActorEvent } from "./run_actor.ts";

const tracer = trace.getTracer("oris", "0.1.0");

/** Spans of one call on a run, fed by the actor's events. @internal */
export interface RunTrace {
  /** Feeds an actor event. */
  observe(event: ActorEvent): void;
  /** Ends the run span with the run's status. */
  end(run: RunSnapshot): void;
  /** Ends the run span with an error. */
  fail(error: unknown): void;
}

/**
 * Starts the span of a call on a run (a child of the active context, so an
 * incoming `traceparent` becomes its parent). When that span does not record
 * (no tracer provider is installed, or its sampler dropped the run), no step
 * or node span is made either: the returned trace does nothing per event.
 *
 * @internal Used by the runtime.
 * @param threadId The run.
 * @param parent The parent context (default: the active one).
 * @param attributes More attributes of the run span (e.g. the lease's fencing token).
 * @returns The trace.
 */
export function traceRun(
  threadId: string,
  parent?: Context,
  attributes: Record<string, string | number> = {},
): RunTrace {
  const base = parent ?? context.active();
  const runSpan = tracer.startSpan(
    "oris.run",
    { attributes: { ...attributes, "oris.thread_id": threadId } },
    base,
  );
  if (!runSpan.isRecording()) return quiet(runSpan);
  const runContext = trace.setSpan(base, runSpan);
  let stepSpan: Span | null = null;
  let stepContext = runContext;
  const nodeSpans = new Map<string, Span>();

  function endStep(attributes: Record<string, string | number>): void {
    if (stepSpan === null) return;
    stepSpan.setAttributes(attributes);
    stepSpan.end();
    stepSpan = null;
    stepContext = runContext;
  }

  return {
    observe(event) {
      if (event.kind === "step_start") {
        endStep({});
        stepSpan = tracer.startSpan(
          "oris.step",
          { attributes: { "oris.thread_id": threadId, "oris.step": event.step } },
          runContext,
        );
        stepContext = trace.setSpan(runContext, stepSpan);
      } else if (event.kind === "execution") {
        const { event: inner } = event;
        if (inner.kind === "task_start") {
          nodeSpans.get(inner.task.id)?.end();
          nodeSpans.set(
            inner.task.id,
            tracer.startSpan("oris.node", {
              attributes: {
                "oris.thread_id": threadId,
                "oris.node": inner.task.node,
                "oris.step": inner.step,
                "oris.attempt": inner.attempt,
              },
            }, stepContext),
          );
        } else if (inner.kind === "task_end") {
          const span = nodeSpans.get(inner.task.id);
          if (span === undefined) return;
          if (inner.error !== null) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: inner.error });
          }
          if (inner.interrupt !== null) span.setAttribute("oris.interrupt_id", inner.interrupt.id);
          span.end();
          nodeSpans.delete(inner.task.id);
        }
      } else if (event.kind === "committed") {
        for (const item of event.events) {
          if (item.type === "step.committed") endStep({ "oris.checkpoint_id": item.checkpointId });
          else if (item.type === "interrupt.raised") endStep({ "oris.interrupted": 1 });
        }
      }
    },
    end(run) {
      endStep({});
      for (const span of nodeSpans.values()) span.end();
      runSpan.setAttributes({ "oris.status": run.status });
      if (run.checkpointId !== null) runSpan.setAttribute("oris.checkpoint_id", run.checkpointId);
      if (run.status === "failed") {
        runSpan.setStatus({ code: SpanStatusCode.ERROR, message: run.error.message });
      }
      runSpan.end();
    },
    fail(error) {
      endStep({});
      for (const span of nodeSpans.values()) span.end();
      runSpan.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : String(error),
      });
      runSpan.end();
    },
  };
}

/** What {@linkcode traceTakenUp} needs of an actor. @internal */
export interface TracedActor {
  readonly threadId: string;
  readonly run: RunSnapshot;
  readonly fence: { token(): number };
  listen(listener: (event: ActorEvent) => void): () => void;
}

/**
 * Traces an execution no caller waits on (a run taken up by a claim: a
 * recovery, a takeover, a remote worker's run): its spans join the trace the
 * run was created in, and the run span carries the lease's fencing token and
 * the attempt.
 *
 * @internal Used by the runtime.
 * @param actor The run's actor, before it starts.
 * @returns Ends the trace with the run at rest, or with an error.
 */
export function traceTakenUp(actor: TracedActor): (rest: Promise<RunSnapshot>) => void {
  const attributes: Record<string, string | number> = { "oris.taken_up": 1 };
  try {
    attributes["oris.fencing_token"] = actor.fence.token();
  } catch {
    // A lease already lost: the run will not execute; its span says so by its status.
  }
  if (actor.run.attemptId !== null) attributes["oris.attempt_id"] = actor.run.attemptId;
  const span = traceRun(actor.threadId, contextOfTraceparent(actor.run.traceparent), attributes);
  const stop = actor.listen((event) => span.observe(event));
  return (rest) => {
    rest.then((run) => span.end(run), (error) => span.fail(error)).finally(stop);
  };
}

/** `00-<trace>-<span>-<flags>` */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The W3C `traceparent` of the span active in a context, to keep with a new
 * run (`run.created`), or `undefined` when that context has no valid span.
 *
 * @internal Used by the runtime.
 * @param parent The context (default: the active one).
 * @returns The `traceparent`.
 */
export function traceparentOf(parent?: Context): string | undefined {
  const span = trace.getSpanContext(parent ?? context.active());
  if (span === undefined || !trace.isSpanContextValid(span)) return undefined;
  const flags = (span.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, "0");
  return `00-${span.traceId}-${span.spanId}-${flags}`;
}

/**
 * The context whose (remote) span a `traceparent` names, so spans started in
 * it join that trace; `undefined` for no or a malformed `traceparent`.
 *
 * @internal Used by the runtime and the worker plane's routes.
 * @param traceparent What `run.created` kept.
 * @returns The context.
 *
 * @example
 * ```ts
 * import { contextOfTraceparent } from "./tracing.ts";
 * import { trace } from "@opentelemetry/api";
 * import assert from "node:assert/strict";
 *
 * const context = contextOfTraceparent("00-0123456789abcdef0123456789abcdef-1111111111111111-01");
 * assert.equal(trace.getSpanContext(context!)?.spanId, "1111111111111111");
 * assert.equal(contextOfTraceparent("nonsense"), undefined);
 * ```
 */
export function contextOfTraceparent(traceparent: string | undefined): Context | undefined {
  const match = traceparent === undefined ? null : TRACEPARENT.exec(traceparent);
  if (match === null) return undefined;
  const spanContext = {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: parseInt(match[3]!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  if (!trace.isSpanContextValid(spanContext)) return undefined;
  return trace.setSpanContext(ROOT_CONTEXT, spanContext);
}

/** The trace of a run whose span does not record: nothing per event, the span ended at the end. */
function quiet(runSpan: Span): RunTrace {
  return {
    observe() {},
    end: () => runSpan.end(),
    fail: () => runSpan.end(),
  };
}
