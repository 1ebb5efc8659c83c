/**
 * The top of a V8 CPU profile (`deno run --cpu-prof`): self and total
 * (inclusive) time by function, as Markdown tables, idle time left out (on a
 * shared machine the process waits for the CPU as much as for I/O). Used for
 * `bench/PROFILE.md`.
 *
 * Run: `deno run -A bench/profile_top.ts <file.cpuprofile> [rows=20]`
 *
 * @module
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A function's name and where it is (the last two parts of its path, and its line). */
function keyOf(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const path = url
    .replace(/^file:\/\/.*?\/(actors|kernel|storage|server|bench)\//, "$1/")
    .replace(/^.*node_modules\/\.deno\/[^/]+\/node_modules\//, "npm:");
  const where = path === "" ? "" : ` ${path.split("/").slice(-2).join("/")}:${lineNumber + 1}`;
  return `${functionName || "(anonymous)"}${where}`;
}

/**
 * Self and total time by function.
 *
 * @param profile The profile.
 * @returns Microseconds by function, and the busy time in all.
 */
export function profileTimes(
  profile: CpuProfile,
): { self: Map<string, number>; total: Map<string, number>; busy: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // A sample stands for the time until the next one.
    const time = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(profile.samples[i]!)!;
    if (node.callFrame.functionName === "(idle)") continue;
    busy += time;
    const key = keyOf(node);
    self.set(key, (self.get(key) ?? 0) + time);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const outer = keyOf(byId.get(id)!);
      if (seen.has(outer)) continue;
      seen.add(outer);
      total.set(outer, (total.get(outer) ?? 0) + time);
    }
  }
  return { self, total, busy };
}

function table(times: Map<string, number>, busy: number, title: string, rows: number): string {
  const lines = [`| ${title} % | ms | function |`, "|---:|---:|---|"];
  for (const [key, time] of [...times].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    lines.push(`| ${(100 * time / busy).toFixed(1)} | ${(time / 1000).toFixed(0)} | \`${key}\` |`);
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const [file, rowsArg] = Deno.args;
  if (file === undefined) throw new TypeError("Usage: profile_top.ts <file.cpuprofile> [rows]");
  const rows = Number(rowsArg ?? 20);
  const { self, total, busy } = profileTimes(JSON.parse(await Deno.readTextFile(file)));
  console.log(table(self, busy, "self", rows));
  console.log();
  console.log(table(total, busy, "total", rows));
  console.log(`\nBusy time sampled (idle left out): ${(busy / 1e6).toFixed(2)} s`);
}
