// One run: its facts, actions, graph (current and past nodes marked),
// pending interrupts, timeline (live over the event stream), the state at
// any checkpoint and the changes between two, and its journaled effects.
// Every figure comes from the v1 API; the stream only says when to ask again.

import { api, followRun, seg, withQuery } from "./api.js";
import { h, notice, replace, statusBadge, time } from "./dom.js";
import { actionsPanel } from "./actions.js";
import { graphSvg } from "./graph.js";
import { interruptCard } from "./interrupts.js";
import { diffList, jsonBlock } from "./json.js";

let graphs = null;

async function graphOf(name) {
  graphs ??= api("GET", "/v1/graphs").then((data) =>
    new Map(data.graphs.map((graph) => [graph.name, graph]))
  );
  return (await graphs).get(name) ?? null;
}

function facts(job) {
  const meta = job.metadata ?? {};
  const rows = [
    ["Status", statusBadge(job.status)],
    ["Graph", job.graph_changed ? `${job.graph} (changed since the run started)` : job.graph],
    ["Step", job.step],
    ["Checkpoint", h("code", {}, job.checkpoint_id ?? "—")],
    ["Created", time(job.created_at)],
    ["Updated", time(job.updated_at)],
    ["Tenant", meta.tenant_id ?? "—"],
    ["Priority", meta.priority ?? "—"],
    ["Attempts", job.attempts.length],
    ["Next", job.next.length === 0 ? "—" : job.next.join(", ")],
  ];
  if (job.reason) rows.push(["Reason", job.reason]);
  return h(
    "dl",
    { class: "facts", id: "facts" },
    rows.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]),
  );
}

/** How long something took, from milliseconds: "250 ms", "1.5 s", "2 min 5 s". */
function duration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(ms < 10_000 ? 2 : 1))} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/**
 * The journal's record of each `effect.recorded` entry of the timeline: the
 * calls of one task with one name, in call order (the event names no index).
 */
function effectOfEntry(entries, effects) {
  const queues = new Map();
  for (const effect of [...effects].sort((a, b) => a.index - b.index)) {
    const key = `${effect.step}|${effect.task_path}|${effect.name}`;
    if (!queues.has(key)) queues.set(key, []);
    queues.get(key).push(effect);
  }
  const found = new Map();
  for (const entry of entries) {
    if (entry.event_type !== "effect.recorded") continue;
    const effect = queues.get(`${entry.step}|${entry.task_path}|${entry.effect}`)?.shift();
    if (effect !== undefined) found.set(entry.seq, effect);
  }
  return found;
}

function timelineTable(entries, effects) {
  const recorded = effectOfEntry(entries, effects);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "timeline" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Seq", "Event", "Step", "Node", "Detail", "Took", "At"].map((name) =>
            h("th", { scope: "col" }, name)
          ),
        ),
      ),
      h(
        "tbody",
        {},
        entries.map((entry) => {
          const took = recorded.get(entry.seq)?.duration_ms ?? null;
          return h(
            "tr",
            {
              "data-seq": entry.seq,
              "data-event": entry.event_type,
              "data-effect": entry.effect,
              "data-duration-ms": took,
            },
            h("td", {}, entry.seq),
            h("td", {}, entry.event_type),
            h("td", {}, entry.step ?? ""),
            h("td", {}, entry.node ?? entry.nodes?.join(", ") ?? ""),
            h("td", {}, detailOf(entry)),
            h("td", { class: "num" }, duration(took)),
            h("td", {}, time(entry.at)),
          );
        }),
      ),
    ),
  );
}

function detailOf(entry) {
  if (entry.effect !== undefined) return `${entry.effect} ${entry.ok ? "ok" : "threw"}`;
  if (entry.error !== undefined) {
    const where = entry.error.node === undefined
      ? ""
      : ` at ${entry.error.node}, step ${entry.error.step}`;
    return h(
      "span",
      { class: "notice-error" },
      `${entry.error.code}: ${entry.error.message}${where}`,
    );
  }
  if (entry.interrupt_ids !== undefined) return entry.interrupt_ids.join(", ");
  if (entry.checkpoint_id !== undefined) return h("code", {}, entry.checkpoint_id);
  if (entry.reason) return entry.reason;
  if (entry.attempt_id !== undefined) return entry.attempt_id;
  return "";
}

function effectsTable(effects) {
  if (effects.length === 0) {
    return h("p", { class: "muted", id: "effects" }, "No journaled effect.");
  }
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "effects" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Step", "Node", "Effect", "Result", "Recorded", "Took"].map((name) =>
            h("th", { scope: "col" }, name)
          ),
        ),
      ),
      h(
        "tbody",
        {},
        effects.map((effect) =>
          h(
            "tr",
            { "data-effect": effect.name, "data-duration-ms": effect.duration_ms },
            h("td", {}, effect.step),
            h("td", {}, effect.task_path),
            h("td", {}, `${effect.name} #${effect.index}`),
            h(
              "td",
              {},
              effect.ok ? jsonBlock(effect.value) : h(
                "span",
                { class: "notice-error" },
                `${effect.error.name}: ${effect.error.message}`,
              ),
            ),
            h("td", {}, time(effect.recorded_at)),
            h(
              "td",
              { class: "num" },
              effect.duration_ms === null
                ? h("span", { class: "muted" }, "not recorded")
                : duration(
                  effect.duration_ms,
                ),
            ),
          )
        ),
      ),
    ),
  );
}

/** The nodes of past steps (committed or interrupted) and of the current one. */
function marks(job, timeline) {
  const done = new Set();
  for (const entry of timeline) {
    if (entry.event_type === "step.committed") {
      for (const node of entry.nodes ?? []) done.add(node);
    }
  }
  if (timeline.length > 0) done.add("__start__");
  if (job.status === "completed") done.add("__end__");
  const current = new Set(job.status === "completed" ? [] : job.next);
  for (const pending of job.pending_interrupts) current.add(pending.node);
  return { done, current };
}

export async function runView(main, threadId, signal) {
  const id = seg(threadId);
  const view = { from: "", to: "" };
  const parts = {
    facts: h("div"),
    actions: h("div"),
    outcome: h("div", { id: "action-result", "aria-live": "polite" }),
    graph: h("div", { id: "graph" }),
    interrupts: h("div", { id: "run-interrupts" }),
    timeline: h("div"),
    checkpoints: h("div", { id: "checkpoints" }),
    state: h("div", { id: "state" }),
    diff: h("div", { id: "diff-panel" }),
    effects: h("div"),
    error: h("div", { "aria-live": "polite" }),
  };
  replace(
    main,
    h("h1", {}, "Run ", h("code", { id: "run-id" }, threadId)),
    parts.error,
    h(
      "div",
      { class: "grid" },
      h(
        "section",
        { class: "panel", "aria-label": "Run" },
        parts.facts,
        parts.actions,
        parts.outcome,
      ),
      h(
        "section",
        { class: "panel", "aria-label": "Graph" },
        h("h2", {}, "Graph"),
        h(
          "p",
          { class: "legend" },
          h("span", {}, h("span", { class: "swatch current" }), "current"),
          h("span", {}, h("span", { class: "swatch done" }), "ran"),
        ),
        parts.graph,
      ),
    ),
    parts.interrupts,
    h("h2", {}, "Timeline"),
    parts.timeline,
    h(
      "div",
      { class: "grid" },
      h(
        "section",
        { "aria-label": "State" },
        h("h2", {}, "State at a checkpoint"),
        parts.checkpoints,
        parts.state,
      ),
      h("section", { "aria-label": "Changes" }, h("h2", {}, "Changes"), parts.diff),
    ),
    h("h2", {}, "Journaled effects"),
    parts.effects,
  );

  async function showState() {
    if (view.to === "") {
      replace(parts.state, h("p", { class: "muted" }, "No checkpoint yet."));
      replace(parts.diff);
      return;
    }
    const [state, diff] = await Promise.all([
      api("GET", `/v1/jobs/${id}/checkpoints/${seg(view.to)}`),
      api("GET", withQuery(`/v1/jobs/${id}/diff`, { to: view.to, from: view.from })),
    ]);
    if (signal.aborted) return;
    replace(
      parts.state,
      h("p", { class: "muted" }, `Step ${state.step}, next: ${state.next.join(", ") || "—"}`),
      jsonBlock(state.values, { id: "state-values", "data-checkpoint": state.checkpoint_id }),
    );
    replace(
      parts.diff,
      h(
        "p",
        {
          class: "muted",
          id: "diff-range",
          "data-from": diff.from_checkpoint_id ?? "",
          "data-to": diff.to_checkpoint_id,
        },
        `From ${diff.from_checkpoint_id ?? "the empty state"} to ${diff.to_checkpoint_id}`,
      ),
      diffList(diff.changes),
    );
  }

  function checkpointPicker(history) {
    const option = (checkpoint) =>
      h(
        "option",
        { value: checkpoint.checkpoint_id },
        `step ${checkpoint.step} · ${checkpoint.checkpoint_id}`,
      );
    const to = h(
      "select",
      {
        id: "checkpoint-to",
        "aria-label": "Checkpoint",
        onchange: () => {
          view.to = to.value;
          showState().catch(fail);
        },
      },
      history.map(option),
    );
    const from = h(
      "select",
      {
        id: "checkpoint-from",
        "aria-label": "Compare with",
        onchange: () => {
          view.from = from.value;
          showState().catch(fail);
        },
      },
      h("option", { value: "" }, "its parent"),
      history.map(option),
    );
    to.value = view.to;
    from.value = view.from;
    return h(
      "div",
      { class: "row" },
      h("label", {}, "Checkpoint ", to),
      h("label", {}, "compared with ", from),
    );
  }

  function fail(error) {
    if (!signal.aborted) {
      replace(parts.error, notice("error", `${error.code ?? "error"}: ${error.message}`));
    }
  }

  let refreshing = null;
  let again = false;
  function refresh() {
    if (refreshing !== null) {
      again = true;
      return refreshing;
    }
    refreshing = (async () => {
      do {
        again = false;
        const [job, timeline, effects] = await Promise.all([
          api("GET", `/v1/jobs/${id}/detail`),
          api("GET", `/v1/jobs/${id}/timeline`),
          api("GET", `/v1/jobs/${id}/effects`),
        ]);
        if (signal.aborted) return;
        const graph = await graphOf(job.graph);
        replace(parts.error);
        replace(
          parts.facts,
          facts(job),
          job.error
            ? notice(
              "error",
              `${job.error.code}: ${job.error.message}${
                job.error.node ? ` (node ${job.error.node}, step ${job.error.step})` : ""
              }`,
            )
            : null,
        );
        // Rebuilt only when what it offers changes, and never under an open editor.
        const offer = `${job.status} ${job.checkpoint_id}`;
        if (offer !== view.offer && parts.actions.querySelector("details[open]") === null) {
          view.offer = offer;
          replace(
            parts.actions,
            actionsPanel(job, () => view.to || null, () => refresh().catch(fail), parts.outcome),
          );
        }
        replace(
          parts.graph,
          graph === null
            ? h("p", { class: "muted" }, `This server does not serve graph ${job.graph}.`)
            : graphSvg(graph, marks(job, timeline.timeline)),
        );
        const known = new Set(
          [...parts.interrupts.querySelectorAll("[data-interrupt]")].map((card) =>
            card.dataset.interrupt
          ),
        );
        const pending = new Set(job.pending_interrupts.map((item) => item.interrupt_id));
        if (known.size !== pending.size || [...pending].some((item) => !known.has(item))) {
          replace(
            parts.interrupts,
            job.pending_interrupts.length === 0 ? null : h("h2", {}, "Pending interrupts"),
            job.pending_interrupts.map((item) =>
              interruptCard(
                { ...item, thread_id: job.thread_id, created_at: null },
                () => refresh().catch(fail),
              )
            ),
          );
        }
        replace(parts.timeline, timelineTable(timeline.timeline, effects.effects));
        view.seq = timeline.timeline.at(-1)?.seq ?? 0;
        replace(parts.effects, effectsTable(effects.effects));
        const latest = job.history[0]?.checkpoint_id ?? "";
        const follow = view.to === "" || view.to === view.latest;
        view.latest = latest;
        if (follow) view.to = latest;
        replace(parts.checkpoints, job.history.length === 0 ? null : checkpointPicker(job.history));
        await showState();
      } while (again && !signal.aborted);
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  await refresh();
  followRun(threadId, {
    signal,
    fromSeq: view.seq + 1,
    onEvent: () => refresh().catch(fail),
    onEnd: () => refresh().catch(fail),
    onError: fail,
  });
}
