// The worker plane: the workers holding leases and their attempts (GET
// /v1/workers), and the dead-letter queue (GET /v1/dlq, paged by cursor,
// filtered by replay status) with replay (POST /v1/dlq/:attempt_id/replay)
// and an attempt's retries (GET /v1/attempts/:attempt_id/retries). Polled,
// so leases and dead letters appear and go without a reload.

import { api, can, seg, withQuery } from "./api.js";
import { h, notice, replace, time } from "./dom.js";

const POLL_MS = 1500;
const LIMIT = 25;
const REPLAY = "/v1/dlq/:attempt_id/replay";
const RETRIES = "/v1/attempts/:attempt_id/retries";

function runLink(threadId) {
  return h("a", { href: `#/runs/${encodeURIComponent(threadId)}` }, threadId);
}

function table(id, columns, body) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id },
      h("thead", {}, h("tr", {}, columns.map((name) => h("th", { scope: "col" }, name)))),
      body,
    ),
  );
}

function leaseRows(data) {
  const rows = data.workers.flatMap((worker) =>
    worker.leases.map((lease) =>
      h(
        "tr",
        {
          "data-worker": worker.worker_id,
          "data-attempt": lease.attempt_id,
          "data-expired": lease.expired ? "true" : "false",
        },
        h("td", {}, h("code", {}, worker.worker_id)),
        h("td", {}, runLink(lease.thread_id)),
        h("td", {}, h("code", {}, lease.attempt_id)),
        h("td", { class: "num" }, lease.attempt_no),
        h("td", { class: "num" }, lease.fencing_token ?? ""),
        h("td", {}, lease.tenant_id ?? h("span", { class: "muted" }, "none")),
        h("td", {}, time(lease.started_at)),
        h("td", {}, time(lease.lease_expires_at)),
        h(
          "td",
          {},
          lease.expired
            ? h("span", { class: "status status-failed" }, "expired")
            : h("span", { class: "status status-running" }, "live"),
        ),
      )
    )
  );
  if (rows.length > 0) return rows;
  return h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No worker holds a lease."));
}

export function workersView(main, signal) {
  const state = { status: "", cursors: [null], next: null };
  const leases = h("tbody", { id: "leases-body" });
  const leaseSummary = h("p", { class: "muted", id: "leases-summary" });
  const letters = h("tbody", { id: "dlq-body" });
  const message = h("div", { "aria-live": "polite" });
  const outcome = h("div", { id: "dlq-result", "aria-live": "polite" });
  const retries = h("div", { id: "dlq-retries" });
  const mayReadDlq = can("GET", "/v1/dlq");
  const status = h(
    "select",
    {
      id: "dlq-status",
      "aria-label": "Replay status",
      onchange: () => {
        state.status = status.value;
        state.cursors = [null];
        refresh();
      },
    },
    h("option", { value: "" }, "every dead letter"),
    h("option", { value: "pending" }, "pending"),
    h("option", { value: "replayed" }, "replayed"),
  );
  const older = h("button", {
    type: "button",
    id: "dlq-older",
    onclick: () => {
      if (state.next !== null) state.cursors.push(state.next);
      refresh();
    },
  }, "Older");
  const newest = h("button", {
    type: "button",
    onclick: () => {
      state.cursors = [null];
      refresh();
    },
  }, "Newest");
  replace(
    main,
    h("h1", {}, "Workers"),
    message,
    h("h2", {}, "Leases"),
    leaseSummary,
    table(
      "leases",
      ["Worker", "Run", "Attempt", "No.", "Token", "Tenant", "Started", "Lease ends", "Lease"],
      leases,
    ),
    h("h2", {}, "Dead letters"),
    mayReadDlq
      ? [
        h("div", { class: "toolbar" }, status, newest, older),
        outcome,
        table(
          "dlq",
          ["Attempt", "Run", "No.", "Ended", "Reason", "Dead at", "Replay", "Replays", ""],
          letters,
        ),
        retries,
      ]
      : h("p", { class: "muted", id: "dlq-hidden" }, "Your role may not read the dead letters."),
  );

  async function replay(letter) {
    try {
      const done = await api("POST", `/v1/dlq/${seg(letter.attempt_id)}/replay`, {});
      replace(
        outcome,
        notice(
          "ok",
          `Replayed ${done.attempt_id}: its attempt is queued again (replay ${done.replay_count}).`,
        ),
      );
    } catch (error) {
      replace(outcome, notice("error", `${error.code ?? "error"}: ${error.message}`));
    }
    await refresh();
  }

  async function showRetries(letter) {
    try {
      const data = await api("GET", `/v1/attempts/${seg(letter.attempt_id)}/retries`);
      if (signal.aborted) return;
      replace(
        retries,
        h("h3", {}, "Retries of ", h("code", {}, data.attempt_id)),
        h(
          "p",
          { class: "muted" },
          `Attempt ${data.current_attempt_no}, ${data.current_status}`,
          data.next_retry_at
            ? ` · next retry ${new Date(data.next_retry_at).toLocaleString()}`
            : "",
        ),
        data.history.length === 0 ? h("p", { class: "muted" }, "No retry.") : table(
          "retries",
          ["Retry", "Attempt", "Strategy", "Backoff (ms)", "Of", "Scheduled", "Due"],
          h(
            "tbody",
            {},
            data.history.map((item) =>
              h(
                "tr",
                {},
                h("td", { class: "num" }, item.retry_no),
                h("td", { class: "num" }, item.attempt_no),
                h("td", {}, item.strategy),
                h("td", { class: "num" }, item.backoff_ms),
                h("td", { class: "num" }, item.max_retries),
                h("td", {}, time(item.scheduled_at)),
                h("td", {}, time(item.next_retry_at)),
              )
            ),
          ),
        ),
      );
    } catch (error) {
      replace(retries, notice("error", `${error.code ?? "error"}: ${error.message}`));
    }
  }

  function letterRow(letter) {
    const buttons = [];
    if (letter.replay_status === "pending" && can("POST", REPLAY)) {
      buttons.push(h("button", {
        type: "button",
        class: "primary replay",
        onclick: (event) => {
          event.currentTarget.disabled = true;
          replay(letter);
        },
      }, "Replay"));
    }
    if (can("GET", RETRIES)) {
      buttons.push(h("button", {
        type: "button",
        class: "retries",
        onclick: () => showRetries(letter),
      }, "Retries"));
    }
    return h(
      "tr",
      { "data-attempt": letter.attempt_id, "data-replay": letter.replay_status },
      h("td", {}, h("code", {}, letter.attempt_id)),
      h("td", {}, runLink(letter.run_id)),
      h("td", { class: "num" }, letter.attempt_no),
      h("td", {}, letter.terminal_status),
      h("td", {}, letter.reason),
      h("td", {}, time(letter.dead_at)),
      h("td", {}, letter.replay_status),
      h(
        "td",
        { class: "num" },
        letter.replay_count,
        letter.last_replayed_at
          ? h("span", { class: "muted" }, " · ", time(letter.last_replayed_at))
          : null,
      ),
      h("td", {}, h("div", { class: "row" }, buttons)),
    );
  }

  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    try {
      const cursor = state.cursors.at(-1);
      const [workers, dlq] = await Promise.all([
        api("GET", "/v1/workers"),
        mayReadDlq
          ? api("GET", withQuery("/v1/dlq", { status: state.status, limit: LIMIT, cursor }))
          : null,
      ]);
      if (signal.aborted) return;
      replace(message);
      const count = workers.workers.length;
      replace(
        leaseSummary,
        `${count} ${count === 1 ? "worker holds" : "workers hold"} ${workers.leases} ${
          workers.leases === 1 ? "lease" : "leases"
        }${
          workers.truncated ? " (the first 1000 listed)" : ""
        }; a worker holding none is not listed.`,
      );
      replace(leases, leaseRows(workers));
      if (dlq !== null) {
        state.next = dlq.next_cursor;
        older.disabled = dlq.next_cursor === null;
        replace(
          letters,
          dlq.entries.length === 0
            ? h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No dead letter."))
            : dlq.entries.map(letterRow),
        );
      }
    } catch (error) {
      if (signal.aborted) return;
      replace(message, notice("error", `Cannot read the worker plane: ${error.message}`));
    }
    if (!signal.aborted) timer = setTimeout(refresh, POLL_MS);
  }
  signal.addEventListener("abort", () => clearTimeout(timer));
  return refresh();
}
