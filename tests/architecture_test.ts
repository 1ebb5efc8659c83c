/**
 * The layering of docs/architecture.md, checked on the source: who may
 * import whom, no import cycles, no database driver or HTTP framework behind
 * the package root, and small files. Test files are left out: they may reach
 * across folders to set things up.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const FOLDERS = ["kernel", "actors", "storage", "server", "worker", "cli", "examples", "agents"];
/** Folders whose files are held to the size limit but not to the layering (benchmarks). */
const SIZE_ONLY = ["bench"];
const MAX_LINES = 600;

/** Every source file (not a test) of the package, by path from the root. */
async function sourceFiles(): Promise<string[]> {
  const files = ["mod.ts", "preset.ts"];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(new URL(`${dir}/`, root))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) files.push(path);
    }
  }
  for (const folder of FOLDERS) await walk(folder);
  return files.sort();
}

/** The benchmarks' files. */
async function benchFiles(): Promise<string[]> {
  const found: string[] = [];
  for (const folder of SIZE_ONLY) {
    for await (const entry of Deno.readDir(new URL(`${folder}/`, root))) {
      if (entry.isFile && entry.name.endsWith(".ts")) found.push(`${folder}/${entry.name}`);
    }
  }
  return found.sort();
}

/** The local modules a file imports statically (`import`/`export ... from`), by path from the root. */
function localImports(path: string, text: string): string[] {
  const found: string[] = [];
  const pattern = /^\s*(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)"|^\s*import\s*"([^"]+)"/gms;
  for (const match of text.matchAll(pattern)) {
    const specifier = match[1] ?? match[2]!;
    if (!specifier.startsWith(".")) continue;
    const resolved = new URL(specifier, new URL(path, root)).pathname;
    // Package metadata (`deno.json`, for the version) is not a module of a layer.
    if (!resolved.endsWith(".json")) found.push(resolved.slice(root.pathname.length));
  }
  return found;
}

/** External (npm, node) modules a file imports statically. */
function externalImports(text: string): string[] {
  const found: string[] = [];
  const pattern = /^\s*(?:import|export)\b[^;]*?\bfrom\s*"([^".][^"]*)"/gms;
  for (const match of text.matchAll(pattern)) found.push(match[1]!);
  return found;
}

const files = await sourceFiles();
const texts = new Map<string, string>();
for (const file of files) texts.set(file, await Deno.readTextFile(new URL(file, root)));
const imports = new Map(files.map((file) => [file, localImports(file, texts.get(file)!)]));

/** A file's folder: `storage/<adapter>` for adapters, the top folder otherwise, "" at the root. */
function folderOf(path: string): string {
  const parts = path.split("/");
  if (parts.length === 1) return "";
  return parts[0] === "storage" && parts.length > 2 ? `storage/${parts[1]}` : parts[0]!;
}

/** The storage folder's own helpers, shared by its adapters (`storage/_*.ts`). */
function storageToolkit(path: string): boolean {
  return /^storage\/_[a-z_]+\.ts$/.test(path);
}

function violations(
  from: (file: string) => boolean,
  allowed: (file: string, target: string) => boolean,
): string[] {
  const found: string[] = [];
  for (const [file, targets] of imports) {
    if (!from(file)) continue;
    for (const target of targets) if (!allowed(file, target)) found.push(`${file} -> ${target}`);
  }
  return found;
}

Deno.test("architecture: kernel/ imports nothing outside itself, and no npm package", () => {
  assert.deepEqual(
    violations((f) => f.startsWith("kernel/"), (_f, t) => t.startsWith("kernel/")),
    [],
  );
  const external = files.filter((f) => f.startsWith("kernel/"))
    .flatMap((f) => externalImports(texts.get(f)!).map((name) => `${f} -> ${name}`));
  assert.deepEqual(external, []);
});

Deno.test("architecture: actors/ imports the kernel's mod.ts and itself, never storage/", async () => {
  // Not even its tests: they use the package root's MemoryStore.
  for await (const entry of Deno.readDir(new URL("actors/", root))) {
    if (!entry.name.endsWith("_test.ts")) continue;
    const text = await Deno.readTextFile(new URL(`actors/${entry.name}`, root));
    assert.deepEqual(
      localImports(`actors/${entry.name}`, text).filter((target) => target.startsWith("storage/")),
      [],
      entry.name,
    );
  }
  assert.deepEqual(
    violations(
      (f) => f.startsWith("actors/"),
      (_f, t) => t.startsWith("actors/") || t === "kernel/mod.ts",
    ),
    [],
  );
});

Deno.test("architecture: a storage adapter imports the kernel's mod.ts and its own folder only", () => {
  assert.deepEqual(
    violations(
      (f) => f.startsWith("storage/"),
      (f, t) => folderOf(t) === folderOf(f) || t === "kernel/mod.ts" || storageToolkit(t),
    ),
    [],
  );
});

Deno.test("architecture: server/ imports the kernel and actors; only its composition root picks stores and examples", () => {
  assert.deepEqual(
    violations(
      (f) => f.startsWith("server/") && f !== "server/main.ts",
      (_f, t) => t.startsWith("server/") || t === "kernel/mod.ts" || t === "actors/mod.ts",
    ),
    [],
  );
});

Deno.test("architecture: worker/ imports the kernel and actors (its store is the server's HTTP API)", () => {
  assert.deepEqual(
    violations(
      (f) => f.startsWith("worker/"),
      (_f, t) => t.startsWith("worker/") || t === "kernel/mod.ts" || t === "actors/mod.ts",
    ),
    [],
  );
});

Deno.test("architecture: agents/ is a user of the public API: the package root, the kernel's mod.ts and itself", () => {
  assert.deepEqual(
    violations(
      (f) => f.startsWith("agents/"),
      (_f, t) => t.startsWith("agents/") || t === "mod.ts" || t === "kernel/mod.ts",
    ),
    [],
  );
});

Deno.test("architecture: across folders, modules are imported through the folder's mod.ts", () => {
  assert.deepEqual(
    violations(
      () => true,
      (f, t) =>
        folderOf(t) === folderOf(f) || t.endsWith("/mod.ts") || t === "preset.ts" ||
        // Examples and agents use the package as its users do.
        ((f.startsWith("examples/") || f.startsWith("agents/")) && t === "mod.ts") ||
        (f.startsWith("storage/") && storageToolkit(t)) ||
        // `oris server` runs the server's composition root.
        (f === "cli/commands/process.ts" && t === "server/main.ts"),
    ),
    [],
  );
});

Deno.test("architecture: no import cycles", () => {
  const cycles: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  function visit(file: string, path: string[]): void {
    if (state.get(file) === "done") return;
    if (state.get(file) === "visiting") {
      cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
      return;
    }
    state.set(file, "visiting");
    for (const target of imports.get(file) ?? []) visit(target, [...path, file]);
    state.set(file, "done");
  }
  for (const file of files) visit(file, []);
  assert.deepEqual(cycles, []);
});

Deno.test("architecture: the package root loads no database driver, HTTP framework or metrics client", () => {
  const reached = new Set<string>();
  const pending = ["mod.ts"];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (reached.has(file)) continue;
    reached.add(file);
    pending.push(...(imports.get(file) ?? []));
  }
  const external = [...reached].flatMap((file) => externalImports(texts.get(file) ?? ""));
  for (const forbidden of ["postgres", "hono", "prom-client", "zod"]) {
    assert.ok(
      !external.some((name) => name === forbidden || name.startsWith(`${forbidden}/`)),
      forbidden,
    );
  }
  assert.ok(![...reached].some((file) => /Deno\.openKv/.test(texts.get(file) ?? "")));
  // Nor the agents, and with them the providers' clients.
  assert.deepEqual([...reached].filter((file) => file.startsWith("agents/")), []);
});

Deno.test(`architecture: no source file is over ${MAX_LINES} lines`, async () => {
  const all = [...files, ...await benchFiles()];
  for (const file of all) {
    if (!texts.has(file)) texts.set(file, await Deno.readTextFile(new URL(file, root)));
  }
  const long = all
    .map((file) => ({ file, lines: texts.get(file)!.split("\n").length }))
    .filter((entry) => entry.lines > MAX_LINES)
    .map((entry) => `${entry.file}: ${entry.lines}`);
  assert.deepEqual(long, []);
});
