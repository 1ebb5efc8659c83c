/**
 * The public API, pinned: every entry point of `deno.json`'s `exports`
 * exports exactly the symbols listed in `tests/fixtures/public_api.json`
 * (name and kind), so that a change to what a JSR user sees is a visible
 * diff in review. To change the public API on purpose, edit that file.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

interface DocNode {
  name: string;
  declarations: { kind: string }[];
}

/** The symbols an entry point exports, as `name (kind)`, from `deno doc --json`. */
async function exportsOf(path: string): Promise<string[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", path],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`deno doc ${path} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  const doc = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    nodes: Record<string, { symbols: DocNode[] }>;
  };
  const [module] = Object.values(doc.nodes);
  return module!.symbols.map((symbol) => {
    const kinds = [...new Set(symbol.declarations.map((declaration) => declaration.kind))].sort();
    return `${symbol.name} (${kinds.join("/")})`;
  }).sort();
}

const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))) as {
  exports: Record<string, string>;
};
const pinned = JSON.parse(
  await Deno.readTextFile(new URL("tests/fixtures/public_api.json", root)),
) as Record<string, string[]>;

Deno.test("public API: every entry point of deno.json is pinned, and nothing else", () => {
  assert.deepEqual(Object.keys(config.exports).sort(), Object.keys(pinned).sort());
});

for (const [entry, path] of Object.entries(config.exports)) {
  Deno.test(`public API: "${entry}" (${path}) exports exactly its pinned symbols`, async () => {
    const actual = await exportsOf(path);
    const expected = pinned[entry] ?? [];
    const added = actual.filter((name) => !expected.includes(name));
    const removed = expected.filter((name) => !actual.includes(name));
    assert.deepEqual(
      { added, removed },
      { added: [], removed: [] },
      `The public API of "${entry}" changed; if on purpose, update tests/fixtures/public_api.json`,
    );
  });
}

Deno.test("public API: the package root stays an application author's API of about 90 symbols", () => {
  const names = pinned["."]!;
  assert.ok(names.length <= 95, `mod.ts exports ${names.length} symbols`);
  // Adapter plumbing and actor internals stay out of it.
  for (const internal of ["encodeAppend", "Mailbox", "Semaphore", "ActorEvent", "internalsOf"]) {
    assert.ok(!names.some((name) => name.startsWith(`${internal} `)), internal);
  }
});
