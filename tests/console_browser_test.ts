/// <reference lib="dom" />
/**
 * The operator console in a real browser (headless Chromium driven by
 * puppeteer-core) against a real server process with auth on: the console
 * asks for a token and keeps it in session storage only; the runs list
 * updates live; a run's graph, timeline (over the event stream), state at a
 * checkpoint and diff are shown; interrupts are answered from the inbox (the
 * JSON editor refuses invalid JSON before sending) and from the run page;
 * cancel, pause and resume, replay verification, fork and state updates go
 * through the API; a viewer sees no action button and the server refuses it
 * anyway; the audit view lists what was done. The runs list filters by graph
 * and shows tenant and priority; the timeline shows how long effects took;
 * an agent's tool calls are approved, edited and rejected one by one from the
 * inbox; the workers view shows a worker's lease and replays a dead letter;
 * the pages fit a narrow and a wide screen. Each step saves a screenshot
 * under `.artifacts/console/` (git-ignored). Every wait is on the page's DOM
 * or on the API, never a sleep.
 *
 * @module
 */

import assert from "node:assert/strict";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import type { RunCreatedEvent, ThreadId } from "../kernel/mod.ts";
import { KvStore } from "../storage/kv/mod.ts";
import { ROOT, startServer, stopServer } from "./_server_process.ts";

const TOKEN = "console-admin-token";
const ARTIFACTS = `${ROOT}.artifacts/console`;
const WAIT = { timeout: 60_000 };

/** The chromium on PATH (CHROMIUM_PATH wins). */
function chromium(): string {
  const given = Deno.env.get("CHROMIUM_PATH");
  if (given) return given;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const name of ["chromium", "chromium-browser"]) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch {
        // not in this directory
      }
    }
  }
  throw new Error("chromium is not on PATH: apt-get install -y chromium (.ci/run does)");
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
}

/** Replaces a field's text by typing it, as a person would. */
async function fill(page: Page, selector: string, text: string): Promise<void> {
  await page.$eval(selector, (element) => {
    (element as HTMLTextAreaElement).value = "";
    (element as HTMLTextAreaElement).focus();
  });
  await page.keyboard.type(text);
}

async function textOf(page: Page, selector: string): Promise<string> {
  return await page.$eval(selector, (element) => element.textContent ?? "");
}

Deno.test("the operator console, in a real browser", async (t) => {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const dir = await Deno.makeTempDir({ prefix: "oris-console-" });
  const actionLog = `${dir}/actions.jsonl`;
  // A run that no graph of the server executes, left queued (as a server in
  // workers mode leaves runs), for the workers view: only the test's worker
  // takes it. Written before the server starts, which reads its runs once.
  {
    await using store = await KvStore.open({ path: `${dir}/oris.kv` });
    const event: RunCreatedEvent = {
      type: "run.created",
      v: 1,
      at: Date.now(),
      threadId: "c-remote" as ThreadId,
      graph: "remote",
      input: null,
      payloadHash: "h-c-remote",
      state: {},
      next: [],
      metadata: { priority: 0, tenant_id: "acme" },
    };
    await store.createRun(event);
  }
  const server = await startServer({
    ORIS_KV_PATH: `${dir}/oris.kv`,
    ORIS_API_AUTH_BEARER_TOKEN: TOKEN,
    ORIS_GRAPHS: `${ROOT}tests/fixtures/console_graphs.ts`,
    ORIS_EXAMPLES: "true",
    ORIS_EXAMPLES_ACTION_LOG: actionLog,
    CONSOLE_GATE_DIR: dir,
  }, { args: [] });
  const base = server.base;
  async function call(method: string, path: string, body?: unknown, headers = {}) {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = await response.json();
    return { status: response.status, data: json.data, error: json.error };
  }
  async function status(threadId: string): Promise<string> {
    return (await call("GET", `/v1/jobs/${threadId}`)).data.status;
  }
  const errors: string[] = [];
  const browser: Browser = await puppeteer.launch({
    executablePath: chromium(),
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  const watch = (page: Page) => {
    page.on("pageerror", (error) => errors.push(String(error)));
    page.on("console", (message) => {
      // A refused request (the viewer's 403) is logged by the browser; that is expected.
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
        errors.push(message.text());
      }
    });
  };
  try {
    const page = await browser.newPage();
    watch(page);
    // A failed step leaves a screenshot of the page as it was.
    const step = (name: string, fn: () => Promise<void>) =>
      t.step(name, async () => {
        try {
          await fn();
        } catch (error) {
          await shot(page, `failed-${name.replaceAll(/\W+/g, "-")}`).catch(() => {});
          throw error;
        }
      });
    await page.setViewport({ width: 1366, height: 900 });

    await step("asks for a token and keeps it in session storage only", async () => {
      await page.goto(`${base}/console`);
      await page.waitForSelector("#auth[open]", WAIT);
      await shot(page, "01-sign-in");
      await fill(page, "#auth-secret", "wrong-token");
      await page.click("#auth-submit");
      await page.waitForFunction(
        () => document.getElementById("auth-error")?.textContent?.includes("refused"),
        WAIT,
      );
      await fill(page, "#auth-secret", TOKEN);
      await page.keyboard.press("Enter");
      await page.waitForFunction(
        () => document.getElementById("who")?.dataset.role === "admin",
        WAIT,
      );
      const stored = await page.evaluate(() => ({
        session: sessionStorage.getItem("oris.credentials"),
        local: localStorage.length,
        cookie: document.cookie,
      }));
      assert.deepEqual(JSON.parse(stored.session!), { kind: "bearer", token: TOKEN });
      assert.equal(stored.local, 0);
      assert.equal(stored.cookie, "");
    });

    await step("the runs list shows a new run without a reload", async () => {
      await page.waitForSelector("#runs-body", WAIT);
      await call("POST", "/v1/jobs/run", { thread_id: "c-hello", input: "hi" });
      await page.waitForSelector(
        '#runs-body tr[data-thread="c-hello"][data-status="completed"]',
        WAIT,
      );
      await call("POST", "/v1/jobs/run?wait=false", {
        thread_id: "c-gate-cancel",
        graph: "gated",
        input: { gate: "never" },
      });
      await page.waitForSelector('#runs-body tr[data-thread="c-gate-cancel"]', WAIT);
      // Tenant and priority columns; the graph filter keeps one graph's runs.
      await call("POST", "/v1/jobs/run", {
        thread_id: "c-tenant",
        input: "hi",
        tenant_id: "acme",
        priority: 7,
      });
      const row = '#runs-body tr[data-thread="c-tenant"]';
      await page.waitForSelector(`${row}[data-status="completed"]`, WAIT);
      const cells = await page.$$eval(`${row} td`, (all) => all.map((td) => td.textContent));
      assert.deepEqual(cells.slice(0, 5), ["c-tenant", "completed", "hello", "acme", "7"]);
      await page.waitForSelector('#runs-graph option[value="gated"]', WAIT);
      await page.select("#runs-graph", "gated");
      await page.waitForFunction(
        () => {
          const rows = [...document.querySelectorAll("#runs-body tr[data-thread]")];
          return rows.length === 1 && (rows[0] as HTMLElement).dataset.thread === "c-gate-cancel";
        },
        WAIT,
      );
      await shot(page, "02-runs-by-graph");
      await page.select("#runs-graph", "");
      await page.waitForSelector('#runs-body tr[data-thread="c-tenant"]', WAIT);
      await shot(page, "02-runs");
    });

    await step("a run shows its graph, state, diff, and its timeline live", async () => {
      const first = await call("POST", "/v1/jobs/run", {
        thread_id: "c-approve",
        graph: "approval",
        input: { request: "deploy v2" },
      });
      assert.equal(first.data.status, "interrupted");
      await page.goto(`${base}/console/#/runs/c-approve`);
      await page.waitForSelector('#graph g.node.current[data-node="approve"]', WAIT);
      await page.waitForSelector('#graph g.node.done[data-node="prepare"]', WAIT);
      assert.equal(await page.$('#graph g.node.done[data-node="act"]'), null);
      await page.waitForSelector('#timeline tr[data-event="interrupt.raised"]', WAIT);
      // The latest checkpoint's state, and what its step changed (from the empty state).
      await page.waitForSelector("#state-values", WAIT);
      assert.match(await textOf(page, "#state-values"), /"prepared"/);
      await page.waitForSelector('#diff li.add[data-path="log"]', WAIT);
      await shot(page, "03-run-interrupted");
      // Approve from the run page: the timeline grows over the stream.
      await page.click(`#run-interrupts [data-thread="c-approve"] button.approve`);
      await page.waitForSelector('#timeline tr[data-event="run.completed"]', WAIT);
      await page.waitForSelector('#graph g.node.done[data-node="act"]', WAIT);
      await page.waitForSelector('#graph g.node.done[data-node="__end__"]', WAIT);
      await page.waitForSelector('#effects tr[data-effect="perform_action"]', WAIT);
      await page.waitForSelector('#facts [data-status="completed"]', WAIT);
      // The effect's duration, in the timeline and the journal, as the API has it.
      const [effect] = (await call("GET", "/v1/jobs/c-approve/effects")).data.effects;
      assert.equal(typeof effect.duration_ms, "number");
      const took = '#timeline tr[data-event="effect.recorded"][data-effect="perform_action"]';
      await page.waitForSelector(`${took}[data-duration-ms="${effect.duration_ms}"]`, WAIT);
      assert.match(await textOf(page, `${took} td.num`), /^\d+(\.\d+)? (ms|s)$/);
      await page.waitForSelector(
        `#effects tr[data-effect="perform_action"][data-duration-ms="${effect.duration_ms}"]`,
        WAIT,
      );
      assert.equal(await status("c-approve"), "completed");
      // The last step's changes: `act` appended to the log and set the result.
      await page.waitForSelector('#diff li.add[data-path="log[2]"]', WAIT);
      await page.waitForSelector('#diff li.replace[data-path="result"]', WAIT);
      // An earlier checkpoint: the state before the approval, and compared with the latest.
      const history = (await call("GET", "/v1/jobs/c-approve/history")).data.history;
      const earliest = history.at(-1).checkpoint_id;
      const latest = history[0].checkpoint_id;
      await page.select("#checkpoint-to", earliest);
      await page.waitForSelector(`#state-values[data-checkpoint="${earliest}"]`, WAIT);
      assert.doesNotMatch(await textOf(page, "#state-values"), /"performed"/);
      await page.select("#checkpoint-from", latest);
      await page.waitForSelector(`#diff-range[data-from="${latest}"][data-to="${earliest}"]`, WAIT);
      await page.waitForSelector('#diff li.remove[data-path="log[2]"]', WAIT);
      await shot(page, "04-run-completed");
    });

    await step("replay verification and fork from the run page", async () => {
      await page.waitForSelector("#action-replay", WAIT);
      await page.click("#action-replay");
      await page.waitForFunction(
        () => document.getElementById("action-result")?.textContent?.includes("Replay ok"),
        WAIT,
      );
      await page.click("#action-fork");
      await page.waitForSelector("#fork-link a", WAIT);
      const forked = await textOf(page, "#fork-link a");
      assert.equal((await call("GET", `/v1/jobs/${forked}`)).status, 200);
    });

    await step("an interrupt is answered from the inbox with the JSON editor", async () => {
      await call("POST", "/v1/jobs/run", {
        thread_id: "c-inbox",
        graph: "approval",
        input: { request: "ship it" },
      });
      await page.goto(`${base}/console/#/interrupts`);
      const card = '#interrupts [data-thread="c-inbox"]';
      await page.waitForSelector(card, WAIT);
      await page.click(`${card} details summary`);
      const area = `${card} textarea`;
      await fill(page, area, "{ not json");
      await page.waitForSelector(`${card} textarea[aria-invalid="true"]`, WAIT);
      assert.equal(
        await page.$eval(`${card} .json-editor button`, (b) => (b as HTMLButtonElement).disabled),
        true,
      );
      // Submitting anyway (Enter in a form) sends nothing.
      await page.$eval(`${card} .json-editor`, (form) => (form as HTMLFormElement).requestSubmit());
      await page.waitForFunction(
        (selector) => document.querySelector(selector)?.textContent?.includes("Not JSON"),
        WAIT,
        `${card} .json-editor`,
      );
      assert.equal(await status("c-inbox"), "interrupted");
      await shot(page, "05-inbox-invalid-json");
      await fill(page, area, "true");
      await page.waitForSelector(`${card} textarea[aria-invalid="false"]`, WAIT);
      await page.click(`${card} .json-editor button`);
      await page.waitForFunction(
        (selector) => document.querySelector(selector) === null,
        WAIT,
        card,
      );
      assert.equal(await status("c-inbox"), "completed");
      const performed = (await Deno.readTextFile(actionLog)).trim().split("\n")
        .filter((line) => line.includes("ship it"));
      assert.equal(performed.length, 1, "the approved action ran once");
      // Reject: the run ends cancelled.
      await call("POST", "/v1/jobs/run", {
        thread_id: "c-reject",
        graph: "approval",
        input: { request: "drop tables" },
      });
      await page.waitForSelector('#interrupts [data-thread="c-reject"] button.reject', WAIT);
      await page.click('#interrupts [data-thread="c-reject"] button.reject');
      await page.waitForFunction(
        () => document.querySelector('#interrupts [data-thread="c-reject"]') === null,
        WAIT,
      );
      assert.equal(await status("c-reject"), "cancelled");
    });

    await step("cancel, pause and resume, update state from the run page", async () => {
      await page.goto(`${base}/console/#/runs/c-gate-cancel`);
      await page.waitForSelector('#graph g.node.current[data-node="wait"]', WAIT);
      await page.click("#action-cancel");
      await page.waitForSelector('#facts [data-status="cancelled"]', WAIT);
      assert.equal(await status("c-gate-cancel"), "cancelled");

      await call("POST", "/v1/jobs/run?wait=false", {
        thread_id: "c-gate-pause",
        graph: "gated",
        input: { gate: "pause" },
      });
      await page.goto(`${base}/console/#/runs/c-gate-pause`);
      await page.waitForSelector("#action-pause", WAIT);
      await page.click("#action-pause");
      // The pause is answered once the step in progress commits: let it go.
      await page.waitForFunction(
        () => document.getElementById("action-result")?.textContent?.includes("Pause"),
        WAIT,
      );
      await Deno.writeTextFile(`${dir}/pause`, "open");
      await page.waitForFunction(
        () => document.getElementById("action-result")?.textContent?.includes("Paused"),
        WAIT,
      );
      await page.waitForSelector('#facts [data-status="paused"]', WAIT);
      await page.waitForSelector('#graph g.node.current[data-node="finish"]', WAIT);
      await shot(page, "06-paused");
      // Update the paused run's state with the JSON editor.
      await page.click("#actions details summary");
      await fill(page, "#state-edit", '{ "log": ["edited"');
      await page.waitForSelector('#state-edit[aria-invalid="true"]', WAIT);
      await fill(page, "#state-edit", '{ "log": ["edited"] }');
      await page.click("#state-edit-submit");
      await page.waitForFunction(
        () => document.getElementById("state-edit-message")?.textContent?.includes("State updated"),
        WAIT,
      );
      const edited = (await call("GET", "/v1/jobs/c-gate-pause")).data.values.log;
      assert.deepEqual(edited, ["passed the gate", "edited"]);
      await page.waitForSelector("#action-resume", WAIT);
      await page.click("#action-resume");
      await page.waitForSelector('#facts [data-status="completed"]', WAIT);
      assert.deepEqual((await call("GET", "/v1/jobs/c-gate-pause")).data.values.log, [
        "passed the gate",
        "edited",
        "finished",
      ]);
    });

    await step(
      "an agent's tool calls are approved, edited and rejected one by one from the inbox",
      async () => {
        const first = await call("POST", "/v1/jobs/run", {
          thread_id: "c-tools",
          graph: "tools",
          input: "Tidy up",
        });
        assert.equal(first.data.status, "interrupted");
        await page.goto(`${base}/console/#/interrupts`);
        const card = '#interrupts [data-thread="c-tools"]';
        await page.waitForSelector(`${card} .tool-decisions`, WAIT);
        const calls = await page.$$eval(
          `${card} .tool-call > code`,
          (all) => all.map((code) => code.textContent),
        );
        assert.deepEqual(calls, ["send_email", "transfer_money", "delete_records"]);
        // Approve the first (the default), edit the second's arguments, reject the third.
        await page.select(`${card} select[data-call="1"]`, "edit");
        const args = `${card} textarea[data-args="1"]`;
        await page.waitForSelector(`${args}:not([hidden])`, WAIT);
        await fill(page, args, '{ "to": "Bob", "amount": 40 }');
        await page.select(`${card} select[data-call="2"]`, "reject");
        await shot(page, "09-tool-decisions");
        await page.click(`${card} .tool-decisions button[type="submit"]`);
        await page.waitForFunction(
          (selector) => document.querySelector(selector) === null,
          WAIT,
          card,
        );
        assert.equal(await status("c-tools"), "completed");
        // Each approved tool ran once (the edited one with its new arguments); the rejected one never.
        const effects = (await call("GET", "/v1/jobs/c-tools/effects")).data.effects as {
          name: string;
          value: unknown;
        }[];
        const ran = (name: string) => effects.filter((effect) => effect.name === `tool:${name}`);
        assert.equal(ran("send_email").length, 1);
        assert.equal(ran("transfer_money").length, 1);
        assert.match(JSON.stringify(ran("transfer_money")[0]!.value), /sent 40 to Bob/);
        assert.equal(ran("delete_records").length, 0);
        const job = (await call("GET", "/v1/jobs/c-tools")).data;
        const last = job.values.messages.at(-1).content as string;
        assert.match(last, /emailed ops@example.com about deploy/);
        assert.match(last, /sent 40 to Bob/);
        assert.match(last, /rejected the call to "delete_records"/);
      },
    );

    await step("the workers view shows a worker's lease, and replays a dead letter", async () => {
      const poll = (worker: string) =>
        call("POST", "/v1/workers/poll", { worker_id: worker, graphs: ["remote"] });
      const lease = (await poll("console-worker")).data;
      assert.equal(lease.decision, "dispatched");
      await page.goto(`${base}/console/#/workers`);
      await page.waitForSelector(
        `#leases-body tr[data-worker="console-worker"][data-attempt="${lease.attempt_id}"]` +
          '[data-expired="false"]',
        WAIT,
      );
      await shot(page, "10-workers-lease");
      const acked = await call("POST", "/v1/workers/console-worker/ack", {
        attempt_id: lease.attempt_id,
        terminal_status: "failed",
      });
      assert.equal(acked.status, 200);
      const row = `#dlq-body tr[data-attempt="${lease.attempt_id}"]`;
      await page.waitForSelector(`${row}[data-replay="pending"] button.replay`, WAIT);
      await page.waitForFunction(
        () => document.querySelector("#leases-body tr[data-worker]") === null,
        WAIT,
      );
      await page.click(`${row} button.retries`);
      await page.waitForSelector("#dlq-retries h3", WAIT);
      await page.click(`${row} button.replay`);
      await page.waitForSelector(`${row}[data-replay="replayed"]`, WAIT);
      await page.waitForFunction(
        () => document.getElementById("dlq-result")?.textContent?.includes("Replayed"),
        WAIT,
      );
      const letter = (await call("GET", `/v1/dlq/${lease.attempt_id}`)).data;
      assert.deepEqual([letter.replay_status, letter.replay_count], ["replayed", 1]);
      assert.equal(await page.$(`${row} button.replay`), null);
      // Its attempt is queued again: the next poll takes it.
      const again = (await poll("console-worker-2")).data;
      assert.equal(again.attempt_id, lease.attempt_id);
      await page.waitForSelector('#leases-body tr[data-worker="console-worker-2"]', WAIT);
      await shot(page, "11-workers-replayed");
      await call("POST", "/v1/workers/console-worker-2/ack", {
        attempt_id: again.attempt_id,
        terminal_status: "completed",
      });
    });

    await step("the audit view lists the actions, filtered by action", async () => {
      await page.goto(`${base}/console/#/audit`);
      await page.waitForSelector('#audit-body tr[data-action="job.cancel"]', WAIT);
      await page.waitForSelector('#audit-body tr[data-action="interrupt.resume"]', WAIT);
      await page.select("#audit-action", "job.pause");
      await page.waitForFunction(
        () => {
          const rows = [...document.querySelectorAll("#audit-body tr")];
          return rows.length > 0 &&
            rows.every((row) => (row as HTMLElement).dataset.action === "job.pause");
        },
        WAIT,
      );
      await shot(page, "07-audit");
    });

    await step("a viewer sees no action button, and the server refuses anyway", async () => {
      const created = await call("POST", "/v1/keys", { key_id: "console-viewer", role: "viewer" });
      assert.equal(created.status, 200);
      await call("POST", "/v1/jobs/run", {
        thread_id: "c-viewer",
        graph: "approval",
        input: { request: "look only" },
      });
      const viewer = await browser.newPage();
      watch(viewer);
      await viewer.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);
      await viewer.goto(`${base}/console/#/runs/c-viewer`);
      await viewer.waitForSelector("#auth[open]", WAIT);
      await viewer.click('#auth input[value="key"]');
      await fill(viewer, "#auth-key-id", "console-viewer");
      await fill(viewer, "#auth-secret", created.data.secret);
      await viewer.click("#auth-submit");
      await viewer.waitForFunction(
        () => document.getElementById("who")?.dataset.role === "viewer",
        WAIT,
      );
      await viewer.waitForSelector('#graph g.node.current[data-node="approve"]', WAIT);
      await viewer.waitForSelector('#run-interrupts [data-thread="c-viewer"]', WAIT);
      assert.deepEqual(
        await viewer.$$eval("#actions button, #run-interrupts button", (all) => all.length),
        0,
      );
      assert.match(await textOf(viewer, "#actions"), /No action for your role/);
      const dark = await viewer.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(dark, "rgb(17, 20, 24)");
      await shot(viewer, "08-viewer-dark");
      // The page's own credentials, sent to an action route: refused.
      const refused = await viewer.evaluate(async () => {
        const stored = JSON.parse(sessionStorage.getItem("oris.credentials")!);
        const response = await fetch("/v1/jobs/c-viewer/cancel", {
          method: "POST",
          headers: { "x-api-key-id": stored.keyId, "x-api-key": stored.secret },
          body: "{}",
        });
        return response.status;
      });
      assert.equal(refused, 403);
      assert.equal(await status("c-viewer"), "interrupted");
      // The workers view: leases, and no dead letters for a viewer.
      await viewer.goto(`${base}/console/#/workers`);
      await viewer.waitForSelector("#leases-summary", WAIT);
      await viewer.waitForSelector("#dlq-hidden", WAIT);
      assert.equal(await viewer.$("#dlq-body"), null);
      await viewer.close();
    });

    await step("the page is keyboard reachable", async () => {
      await page.goto(`${base}/console/#/runs`);
      await page.waitForSelector("#runs-body tr[data-thread]", WAIT);
      await page.reload();
      await page.waitForSelector("#runs-body tr[data-thread]", WAIT);
      const focused = () =>
        page.evaluate(() => document.activeElement?.id || document.activeElement?.className);
      await page.keyboard.press("Tab");
      assert.equal(await focused(), "skip");
      await page.keyboard.press("Enter");
      assert.equal(await focused(), "main");
      await page.keyboard.press("Tab");
      assert.equal(await focused(), "runs-status");
      const reachable = await page.$$eval(
        "button, a, select, input, textarea, summary",
        (all) => all.every((element) => (element as HTMLElement).tabIndex >= 0),
      );
      assert.ok(reachable);
    });
    await step("the views fit a narrow and a wide screen, light and dark", async () => {
      const views: [string, string][] = [
        ["runs", "#runs-body tr[data-thread]"],
        ["runs/c-approve", '#timeline tr[data-event="run.completed"]'],
        ["interrupts", "#interrupts > *"],
        ["workers", "#leases-body tr"],
        ["audit", "#audit-body tr[data-action]"],
      ];
      for (const [width, height, scheme] of [[390, 844, "light"], [1920, 1080, "dark"]] as const) {
        await page.setViewport({ width, height });
        await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: scheme }]);
        for (const [view, loaded] of views) {
          await page.goto(`${base}/console/#/${view}`);
          await page.waitForSelector(loaded, WAIT);
          const { overflow, wide } = await page.evaluate(() => {
            const room = document.documentElement.clientWidth;
            const wide = [...document.querySelectorAll("body *")]
              .filter((element) =>
                element.getBoundingClientRect().right > room + 0.5 &&
                element.closest(".table-wrap") === null
              )
              .slice(0, 4)
              .map((element) => `${element.tagName}#${element.id}.${element.className}`);
            return { overflow: document.documentElement.scrollWidth - room, wide };
          });
          assert.ok(overflow <= 0, `#/${view} at ${width} px is ${overflow} px too wide: ${wide}`);
          await shot(page, `12-${width}-${scheme}-${view.replaceAll("/", "-")}`);
        }
      }
      await page.setViewport({ width: 1366, height: 900 });
      await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
    });
    assert.deepEqual(errors, [], "no script error in the pages");
  } finally {
    // Let every gated run go, so the server stops (it lets running nodes finish).
    for (const gate of ["never", "pause"]) await Deno.writeTextFile(`${dir}/${gate}`, "open");
    await browser.close();
    await stopServer(server, "SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
});
