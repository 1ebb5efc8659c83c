/**
 * A small recording tracer provider for tests: the interfaces of
 * `@opentelemetry/api`, no SDK. {@linkcode withRecorder} registers it
 * globally while a test body runs and collects the spans it starts.
 *
 * @module
 */

import {
  type Context,
  context as otelContext,
  INVALID_SPAN_CONTEXT,
  type Span,
  type SpanAttributes,
  type SpanAttributeValue,
  type SpanContext,
  type SpanKind,
  type SpanOptions,
  type SpanStatus,
  trace,
  TraceFlags,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import assert from "node:assert/strict";

/** A span as recorded. */
export interface Recorded {
  name: string;
  kind: SpanKind | undefined;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  attributes: SpanAttributes;
  status: SpanStatus | null;
  ended: boolean;
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

class RecordingSpan implements Span {
  readonly record: Recorded;
  readonly #context: SpanContext;

  constructor(name: string, options: SpanOptions, parent: SpanContext | undefined) {
    this.#context = {
      traceId: parent?.traceId ?? randomHex(16),
      spanId: randomHex(8),
      traceFlags: parent?.traceFlags ?? TraceFlags.SAMPLED,
      isRemote: false,
    };
    this.record = {
      name,
      kind: options.kind,
      traceId: this.#context.traceId,
      spanId: this.#context.spanId,
      parentSpanId: parent?.spanId ?? null,
      attributes: { ...options.attributes },
      status: null,
      ended: false,
    };
  }

  spanContext(): SpanContext {
    return this.#context;
  }
  setAttribute(key: string, value: SpanAttributeValue): this {
    this.record.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: SpanAttributes): this {
    Object.assign(this.record.attributes, attributes);
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.record.status = status;
    return this;
  }
  updateName(name: string): this {
    this.record.name = name;
    return this;
  }
  end(): void {
    this.record.ended = true;
  }
  isRecording(): boolean {
    return !this.record.ended;
  }
  recordException(): void {}
}

/**
 * Records spans while `recording`; otherwise behaves like the API's no-op
 * tracer. One instance serves the whole file: `@opentelemetry/api` caches
 * the tracer its module-level proxies first delegate to, so after
 * `trace.disable()` and a new registration, the same provider keeps
 * receiving spans from the server's and the runtime's tracers.
 */
export class RecordingProvider implements TracerProvider {
  spans: Recorded[] = [];
  recording = false;

  getTracer(): Tracer {
    return new RecordingTracer(this);
  }
}

class RecordingTracer implements Tracer {
  constructor(readonly provider: RecordingProvider) {}

  startSpan(name: string, options: SpanOptions = {}, context?: Context): Span {
    const parentContext = options.root ? undefined : trace.getSpanContext(
      context ?? otelContext.active(),
    );
    const parent = parentContext !== undefined && trace.isSpanContextValid(parentContext)
      ? parentContext
      : undefined;
    if (!this.provider.recording) return trace.wrapSpanContext(parent ?? INVALID_SPAN_CONTEXT);
    const span = new RecordingSpan(name, options, parent);
    this.provider.spans.push(span.record);
    return span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    ...args: unknown[]
  ): ReturnType<F> {
    const fn = args.at(-1) as (span: Span) => ReturnType<F>;
    const options = (args.length > 1 ? args[0] : {}) as SpanOptions;
    const context = (args.length > 2 ? args[1] : otelContext.active()) as Context;
    const span = this.startSpan(name, options, context);
    return otelContext.with(trace.setSpan(context, span), fn, undefined, span);
  }
}

/** The provider (one per test module; see {@linkcode RecordingProvider}). */
export const provider: RecordingProvider = new RecordingProvider();

/** Runs `body` with the recording provider registered globally, then disables it. */
export async function withRecorder(body: () => Promise<void>): Promise<void> {
  provider.spans = [];
  assert.equal(trace.setGlobalTracerProvider(provider), true, "registered the provider");
  provider.recording = true;
  try {
    await body();
  } finally {
    provider.recording = false;
    trace.disable();
  }
}
