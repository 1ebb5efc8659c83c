import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { payloadHash, sha256Hex } from "./hash.ts";
import { canonicalJson, type Json } from "./json.ts";

/** The reference digest, from Node's crypto (only in tests: the kernel stays pure). */
function reference(input: string | Uint8Array): string {
  return createHash("sha256").update(input).digest("hex");
}

/** Deterministic bytes 0, 7, 14, ... (mod 256), to cover every byte value. */
function bytes(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + 3) & 0xff);
}

Deno.test("sha256Hex() matches the published test vectors", () => {
  const vectors: [string, string][] = [
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    [
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    ],
    [
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
    ],
  ];
  for (const [input, digest] of vectors) assert.equal(sha256Hex(input), digest, input);
});

Deno.test("sha256Hex() hashes one million times 'a'", () => {
  assert.equal(
    sha256Hex("a".repeat(1_000_000)),
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
  );
});

Deno.test("sha256Hex() matches node:crypto around the padding boundaries", () => {
  for (const length of [55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129]) {
    const text = "x".repeat(length);
    assert.equal(sha256Hex(text), reference(text), `${length} characters`);
    const data = bytes(length);
    assert.equal(sha256Hex(data), reference(data), `${length} bytes`);
  }
});

Deno.test("sha256Hex() matches node:crypto for every length up to 300 bytes", () => {
  for (let length = 0; length <= 300; length++) {
    const data = bytes(length);
    assert.equal(sha256Hex(data), reference(data), `${length} bytes`);
  }
});

Deno.test("sha256Hex() encodes strings as UTF-8", () => {
  for (const text of ["héllo", "日本語のテキスト", "emoji 💬🧪", "\u0000\uffff", "Ω".repeat(100)]) {
    assert.equal(sha256Hex(text), reference(text), text);
    assert.equal(sha256Hex(text), sha256Hex(new TextEncoder().encode(text)), text);
  }
  assert.notEqual(sha256Hex("é"), sha256Hex("e\u0301"));
});

Deno.test("sha256Hex() hashes a Uint8Array, including a view into a larger buffer", () => {
  const data = bytes(200);
  assert.equal(sha256Hex(data), reference(data));
  const view = data.subarray(17, 90);
  assert.equal(sha256Hex(view), reference(Uint8Array.from(view)));
  assert.equal(sha256Hex(new Uint8Array(0)), sha256Hex(""));
});

Deno.test("sha256Hex() does not modify its input", () => {
  const data = bytes(70);
  const copy = Uint8Array.from(data);
  sha256Hex(data);
  assert.deepEqual(data, copy);
});

Deno.test("sha256Hex() returns 64 lowercase hex digits", () => {
  for (const input of ["", "a", bytes(1000)]) assert.match(sha256Hex(input), /^[0-9a-f]{64}$/);
});

Deno.test("payloadHash() is the prefixed SHA-256 of the canonical JSON", () => {
  const payload = { b: [1, { d: 2, c: 3 }], a: "x" };
  assert.equal(payloadHash(payload), `sha256:${reference(canonicalJson(payload))}`);
  assert.match(payloadHash(null), /^sha256:[0-9a-f]{64}$/);
});

Deno.test("payloadHash() does not depend on key order", () => {
  assert.equal(
    payloadHash({ graph: "g", input: { q: "hi", opts: { a: 1, b: [1, 2] } } }),
    payloadHash({ input: { opts: { b: [1, 2], a: 1 }, q: "hi" }, graph: "g" }),
  );
});

Deno.test("payloadHash() differs for different payloads", () => {
  const payloads: Json[] = [
    null,
    {},
    [],
    "",
    0,
    1,
    "1",
    true,
    false,
    { a: 1 },
    { a: 2 },
    { a: "1" },
    { a: null },
    { b: 1 },
    { a: 1, b: 1 },
    [1, 2],
    [2, 1],
    [[1], 2],
    { a: [1, 2] },
    { a: { b: 1 } },
    "é",
  ];
  const hashes = new Set(payloads.map(payloadHash));
  assert.equal(hashes.size, payloads.length);
});
