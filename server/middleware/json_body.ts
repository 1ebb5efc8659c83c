/**
 * `readJsonBody()`: reads a request's body as a JSON object within a size limit:
 * at most 1 MiB by default (413 beyond, whether declared by
 * `content-length` or only counted while reading), UTF-8, valid JSON nested
 * at most the runtime's `maxJsonDepth` levels (the body object is one; checked
 * iteratively before zod or anything recursive sees it), an object; an empty
 * body reads as `{}`. The object is the `json` variable, which
 * `routeHandler()` then checks against the route's schema.
 *
 * The body is read as JSON whatever its `Content-Type` (or none: `curl -d`
 * sends `application/x-www-form-urlencoded`). A `Content-Encoding` other
 * than `identity` is a 415: neither Hono nor `Deno.serve` decodes request
 * bodies, and a compressed body must not be read as if it were JSON.
 *
 * Hono's `bodyLimit()` trusts `content-length` and, for a body of unknown
 * length, decides after the handler has run, with a plain-text 413; the
 * server needs the v1 error envelope before any handler runs, so it has its
 * own.
 *
 * @module
 */

import {
  assertJson,
  DEFAULT_MAX_JSON_DEPTH,
  InvalidArgumentError,
  isJsonObject,
} from "../../kernel/mod.ts";
import { HttpError } from "../envelope.ts";

/** The largest request body accepted (1 MiB). */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Reads a request's JSON body: at most `maxBytes`, valid UTF-8 and JSON, an
 * object; an empty body reads as `{}`.
 *
 * @param request The request.
 * @param maxBytes The largest body accepted.
 * @param maxDepth The deepest nesting accepted.
 * @returns The parsed object.
 * @throws {HttpError} 415 for an encoded body, 413 for a larger body.
 * @throws {InvalidArgumentError} for malformed JSON, JSON nested deeper than
 * `maxDepth` (with `details.max_depth`) or a body that is not an object.
 */
export async function readJsonBody(
  request: Request,
  maxBytes: number = MAX_BODY_BYTES,
  maxDepth: number = DEFAULT_MAX_JSON_DEPTH,
): Promise<Record<string, unknown>> {
  checkEncoding(request.headers.get("content-encoding"));
  const length = request.headers.get("content-length");
  const declared = Number(length ?? "0");
  if (declared > maxBytes) throw tooLarge(maxBytes);
  if (request.body === null) return {};
  // A declared length bounds the body (the HTTP server enforces it): read it at once.
  const bytes = length !== null && Number.isSafeInteger(declared)
    ? new Uint8Array(await request.arrayBuffer())
    : await readAtMost(request.body, maxBytes);
  if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes);
  const text = decodeUtf8(bytes);
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(
      `The request body is not valid JSON: ${(error as Error).message}`,
    );
  }
  // `JSON.parse` is iterative; zod and the runtime recurse: limit the nesting first.
  assertJson(parsed, "the request body", { maxDepth });
  if (!isJsonObject(parsed)) {
    throw new InvalidArgumentError(
      `The request body must be a JSON object, got ${
        Array.isArray(parsed) ? "an array" : parsed === null ? "null" : typeof parsed
      }`,
    );
  }
  return parsed;
}

/** Reads a stream to its end, or throws a 413 as soon as it passes `maxBytes`. */
async function readAtMost(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      // The 413 is the answer; a stream that fails to cancel changes nothing about it.
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** Decodes whole bodies (never a stream), so one decoder serves every request. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new InvalidArgumentError("The request body is not valid UTF-8");
  }
}

/** Refuses a body in any coding but `identity` (a list of codings is applied in order). */
function checkEncoding(header: string | null): void {
  if (header === null) return;
  const codings = header.split(",").map((coding) => coding.trim().toLowerCase());
  if (codings.every((coding) => coding === "" || coding === "identity")) return;
  throw new HttpError(
    415,
    "invalid_argument",
    `Content-Encoding ${JSON.stringify(header.slice(0, 100))} is not supported: send the body ` +
      "unencoded (identity)",
    { content_encoding: header.slice(0, 100), supported: ["identity"] },
  );
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(
    413,
    "invalid_argument",
    `The request body is larger than ${maxBytes} bytes`,
    { max_bytes: maxBytes },
  );
}
