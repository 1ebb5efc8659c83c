/**
 * W3C trace context for requests: a valid `traceparent` header becomes the
 * parent of the request's span (and so of the run's spans); an invalid one is
 * a 400. Responses carry `trace { trace_id, span_id, traceparent }`.
 *
 * @module
 */

import {
  type Context as OtelContext,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  trace,
  TraceFlags,
} from "@opentelemetry/api";
import { InvalidArgumentError } from "../kernel/mod.ts";

/** The trace of one request. */
export interface RequestTrace {
  /** 32 hex digits. */
  traceId: string;
  /** This request's span id, 16 hex digits. */
  spanId: string;
  /** The caller's span id, if it sent a `traceparent`. */
  parentSpanId: string | null;
  /** `00-<trace>-<span>-<flags>`. */
  traceparent: string;
  /** The OpenTelemetry context whose active span is this request's. */
  context: OtelContext;
  /** The request's span. */
  span: Span;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const tracer = trace.getTracer("oris.server", "0.1.0");

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/**
 * Starts a request's trace from its `traceparent` header.
 *
 * @param header The header, if sent.
 * @param name The span's name.
 * @returns The request's trace.
 * @throws {InvalidArgumentError} for a malformed `traceparent`.
 */
export function startRequestTrace(header: string | undefined, name: string): RequestTrace {
  let parent = ROOT_CONTEXT;
  let traceId = randomHex(16);
  let parentSpanId: string | null = null;
  let flags = TraceFlags.SAMPLED;
  if (header !== undefined) {
    const match = TRACEPARENT.exec(header.trim());
    if (match === null || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) {
      throw new InvalidArgumentError(
        "traceparent must be 00-<32 hex trace id>-<16 hex span id>-<2 hex flags> with non-zero ids",
        { field: "traceparent" },
      );
    }
    traceId = match[1]!;
    parentSpanId = match[2]!;
    flags = parseInt(match[3]!, 16);
    parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId,
      spanId: parentSpanId,
      traceFlags: flags,
      isRemote: true,
    });
  }
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER }, parent);
  const recorded = span.spanContext();
  const real = trace.isSpanContextValid(recorded) && recorded.spanId !== parentSpanId;
  const spanId = real ? recorded.spanId : randomHex(8);
  if (real) traceId = recorded.traceId;
  const context = real
    ? trace.setSpan(parent, span)
    : trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: flags, isRemote: false });
  const sampled = (flags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? "01" : "00";
  return {
    traceId,
    spanId,
    parentSpanId,
    traceparent: `00-${traceId}-${spanId}-${sampled}`,
    context,
    span,
  };
}
