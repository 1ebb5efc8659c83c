/**
 * OpenTelemetry spans for runs, steps and nodes, through `@opentelemetry/api`
 * (a no-op unless an SDK, or Deno's built-in exporter with `OTEL_DENO=true`,
 * is installed). Attributes: `oris.thread_id`, `oris.checkpoint_id`,
 * `oris.node`, `oris.step`, `oris.interrupt_id`.
 *
 * @module
 */

import { type Context, context, type Span, SpanStatusCode, trace } from "@opentelemetry/api";
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
 * @returns The trace.
 */
export function traceRun(threadId: string, parent?: Context): RunTrace {
  const base = parent ?? context.active();
  const runSpan = tracer.startSpan(
    "oris.run",
    { attributes: { "oris.thread_id": threadId } },
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

/** The trace of a run whose span does not record: nothing per event, the span ended at the end. */
function quiet(runSpan: Span): RunTrace {
  return {
    observe() {},
    end: () => runSpan.end(),
    fail: () => runSpan.end(),
  };
}
