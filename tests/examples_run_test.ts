/**
 * The examples run as their README says (`deno run -A examples/<name>.ts`)
 * and print what they show: time travel (history, fork, state edit) and
 * verified replay (a clean replay, a nondeterministic node caught).
 */

import assert from "node:assert/strict";
import { ROOT } from "./_server_process.ts";

async function runExample(name: string): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `examples/${name}`],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  return new TextDecoder().decode(output.stdout);
}

Deno.test("examples/time_travel.ts: history, a fork from an earlier checkpoint, a state edit", async () => {
  const out = await runExample("time_travel.ts");
  assert.match(out, /^run: interrupted with "An essay on rivers\."$/m);
  assert.match(
    out,
    /^history: step 2 next \[review\]; step 1 next \[write\]; step 0 next \[outline\]$/m,
  );
  assert.match(out, /^fork: interrupted with "An essay on mountains\."$/m);
  assert.match(out, /^edited: paused at step 3$/m);
  assert.match(out, /^done: A short essay on rivers\. \(polished\)$/m);
  assert.match(out, /^before the edit: An essay on rivers\.$/m);
});

Deno.test("examples/replay_check.ts: a clean replay, and a nondeterministic node caught", async () => {
  const out = await runExample("replay_check.ts");
  assert.match(out, /^good: 2 steps verified, the charge ran 1 time$/m);
  assert.match(out, /^bad: caught at step 1 in node "draw"$/m);
});
