/**
 * W3C trace context for requests (Trace Context Level 1): a valid
 * `traceparent` header becomes the parent of the request's span (and so of
 * the run's spans); an invalid one is ignored and the request starts a new
 * trace (the spec's rule: a request never fails for its trace header).
 * Version `00` must be exactly `00-<trace>-<parent>-<flags>`; a higher
 * version (not `ff`) is read as the spec says: its first four fields, and
 * whatever follows a `-` after them is ignored. Responses carry
 * `trace { trace_id, span_id, traceparent }`.
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
  /** Why the caller's `traceparent` was ignored (and a new trace started), if it was. */
  ignored: string | null;
}

/** A `traceparent` read as the spec says: its ids and flags, or why it is invalid. */
export type Traceparent =
  | { ok: true; traceId: string; parentSpanId: string; flags: number }
  | { ok: false; reason: string };

/** The four fields of a `traceparent` (the first 55 characters of any version). */
const FIELDS = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})/;
const tracer = trace.getTracer("oris.server", "0.1.0");

/** Two hex digits of every byte. */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
/** The random bytes of one id (every request makes one or two). */
const RANDOM = new Uint8Array(16);

function randomHex(bytes: number): string {
  const random = crypto.getRandomValues(RANDOM.subarray(0, bytes));
  let hex = "";
  for (let i = 0; i < bytes; i++) hex += HEX[random[i]!]!;
  return hex;
}

/**
 * Reads a `traceparent` header as W3C Trace Context Level 1 says: version
 * `00` is exactly `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`
 * (lowercase, ids not all zeros); version `ff` is invalid; a higher version
 * is read by its first four fields, and what follows them must start with
 * `-` (it is ignored).
 *
 * @param header The header.
 * @returns The trace id, parent span id and flags, or why the header is invalid.
 */
export function parseTraceparent(header: string): Traceparent {
  const value = header.trim();
  const match = FIELDS.exec(value);
  if (match === null) {
    return {
      ok: false,
      reason: "not <2 hex version>-<32 hex trace id>-<16 hex parent id>-<2 hex flags>",
    };
  }
  const fields = match[0];
  const [version, traceId, parentSpanId, flags] = [match[1]!, match[2]!, match[3]!, match[4]!];
  if (version === "ff") return { ok: false, reason: 'version "ff" is invalid' };
  if (version === "00" && value.length !== fields.length) {
    return { ok: false, reason: "version 00 has exactly four fields" };
  }
  if (value.length > fields.length && value[fields.length] !== "-") {
    return { ok: false, reason: 'the fields after the fourth must start with "-"' };
  }
  if (/^0+$/.test(traceId)) return { ok: false, reason: "the trace id is all zeros" };
  if (/^0+$/.test(parentSpanId)) return { ok: false, reason: "the parent id is all zeros" };
  return { ok: true, traceId, parentSpanId, flags: parseInt(flags, 16) };
}

/**
 * Starts a request's trace from its `traceparent` header: the header's trace
 * continues, or, without a valid header, a new trace starts.
 *
 * @param header The header, if sent.
 * @param name The span's name.
 * @returns The request's trace (`ignored` says why an invalid header was not used).
 */
export function startRequestTrace(header: string | undefined, name: string): RequestTrace {
  let parent = ROOT_CONTEXT;
  let traceId = randomHex(16);
  let parentSpanId: string | null = null;
  let flags: number = TraceFlags.SAMPLED;
  let ignored: string | null = null;
  const parsed = header === undefined ? null : parseTraceparent(header);
  if (parsed !== null && !parsed.ok) ignored = parsed.reason;
  if (parsed?.ok) {
    traceId = parsed.traceId;
    parentSpanId = parsed.parentSpanId;
    flags = parsed.flags;
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
    ignored,
  };
}

/**
 * Records a span of a worker's operation on a run in the run's own trace
 * (the `traceparent` it was created with), linked to the request's span, so
 * a trace viewer shows where and when a worker took the run up.
 *
 * @param name The span's name, e.g. `oris.worker.dispatch`.
 * @param parent The run's trace context (from its `traceparent`), if it has one.
 * @param request The request's trace.
 * @param attributes The span's attributes (worker, attempt, lease ids).
 */
export function recordRunSpan(
  name: string,
  parent: OtelContext | undefined,
  request: RequestTrace,
  attributes: Record<string, string | number>,
): void {
  tracer.startSpan(
    name,
    { attributes, links: [{ context: request.span.spanContext() }] },
    parent ?? request.context,
  ).end();
}
