// A run's control actions, each one call of the v1 API (so RBAC and the audit
// log apply): cancel, pause, resume a paused run, verify a replay, fork from
// a checkpoint, update the state. A button shows only when the caller's role
// may call its route.

import { api, can, seg } from "./api.js";
import { h, notice, replace } from "./dom.js";
import { jsonEditor } from "./json.js";

const TERMINAL = new Set(["completed", "failed", "cancelled"]);

/**
 * The actions panel of a run.
 *
 * @param job The job's detail.
 * @param checkpoint () => the checkpoint id the page has selected (or null).
 * @param done Called after an action changed something.
 * @param message Where the outcome of an action is shown (kept across re-renders).
 */
export function actionsPanel(job, checkpoint, done, message) {
  const id = seg(job.thread_id);
  async function run(label, call) {
    replace(message, h("p", { class: "muted" }, `${label}…`));
    try {
      const shown = await call();
      replace(message, notice("ok", shown));
      done();
    } catch (error) {
      const where = error.details?.step === undefined
        ? ""
        : ` (step ${error.details.step}, node ${error.details.node})`;
      replace(message, notice("error", `${error.code ?? "error"}: ${error.message}${where}`));
    }
  }
  const button = (name, label, route, call, attrs = {}) =>
    can("POST", route)
      ? h("button", {
        type: "button",
        id: `action-${name}`,
        onclick: () => run(label, call),
        ...attrs,
      }, label)
      : null;
  const live = !TERMINAL.has(job.status);
  const buttons = [
    live
      ? button("cancel", "Cancel", "/v1/jobs/:thread_id/cancel", async () => {
        await api("POST", `/v1/jobs/${id}/cancel`, { reason: "cancelled from the console" });
        return "Cancelled.";
      }, { class: "danger" })
      : null,
    job.status === "running" || job.status === "queued"
      ? button("pause", "Pause", "/v1/jobs/:thread_id/pause", async () => {
        await api("POST", `/v1/jobs/${id}/pause`, { reason: "paused from the console" });
        return "Paused: the step in progress committed, nothing more runs until resumed.";
      })
      : null,
    job.status === "paused"
      ? button("resume", "Resume", "/v1/jobs/:thread_id/resume", async () => {
        const result = await api("POST", `/v1/jobs/${id}/resume`, { wait_ms: 0 });
        return `Resumed (${result.status}).`;
      })
      : null,
    button("replay", "Verify replay", "/v1/jobs/:thread_id/replay", async () => {
      const result = await api("POST", `/v1/jobs/${id}/replay`, { mode: "verify" });
      return `Replay ok: ${result.steps} steps match.`;
    }),
    job.checkpoint_id === null
      ? null
      : button("fork", "Fork", "/v1/jobs/:thread_id/fork", async () => {
        const from = checkpoint() ?? job.checkpoint_id;
        const result = await api("POST", `/v1/jobs/${id}/fork`, { checkpoint_id: from });
        return h(
          "span",
          { id: "fork-link" },
          `Forked from ${from} as `,
          h("a", { href: `#/runs/${encodeURIComponent(result.thread_id)}` }, result.thread_id),
        );
      }),
  ];
  const editor = live && can("POST", "/v1/jobs/:thread_id/state")
    ? h(
      "details",
      {},
      h("summary", {}, "Update state"),
      jsonEditor({
        id: "state-edit",
        label: "Values to write (through the channels' reducers)",
        value: {},
        submitLabel: "Update state",
        onSubmit: async (values) => {
          await api("POST", `/v1/jobs/${id}/state`, { values });
          done();
          return "State updated: a new checkpoint.";
        },
      }),
    )
    : null;
  const shown = buttons.filter((item) => item !== null);
  if (shown.length === 0 && editor === null) {
    return h(
      "section",
      { id: "actions", "aria-label": "Actions" },
      h("p", { class: "muted" }, "No action for your role."),
    );
  }
  return h(
    "section",
    { id: "actions", "aria-label": "Actions" },
    h("div", { class: "toolbar" }, shown),
    editor,
  );
}
