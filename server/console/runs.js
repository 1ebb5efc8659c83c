// The runs view: GET /v1/jobs (newest first, paged by cursor, filtered by
// status and graph), polled so that new and changed runs appear without a
// reload.

import { api, withQuery } from "./api.js";
import { h, notice, replace, statusBadge, time } from "./dom.js";

const STATUSES = ["queued", "running", "interrupted", "paused", "completed", "failed", "cancelled"];
const POLL_MS = 1500;
const LIMIT = 25;

export function runsView(main, signal) {
  const state = { status: "", graph: "", cursors: [null] };
  const body = h("tbody", { id: "runs-body" });
  const message = h("div", { "aria-live": "polite" });
  const older = h("button", { type: "button", id: "runs-older", onclick: () => page(+1) }, "Older");
  const newer = h("button", { type: "button", id: "runs-newer", onclick: () => page(-1) }, "Newer");
  const status = h(
    "select",
    {
      id: "runs-status",
      "aria-label": "Status",
      onchange: () => {
        state.status = status.value;
        state.cursors = [null];
        refresh();
      },
    },
    h("option", { value: "" }, "every status"),
    STATUSES.map((item) => h("option", { value: item }, item)),
  );
  const graph = h(
    "select",
    {
      id: "runs-graph",
      "aria-label": "Graph",
      onchange: () => {
        state.graph = graph.value;
        state.cursors = [null];
        refresh();
      },
    },
    h("option", { value: "" }, "every graph"),
  );
  // The served graphs, for the filter (a run of a graph no longer served is still listed).
  api("GET", "/v1/graphs").then((data) => {
    if (signal.aborted) return;
    for (const item of data.graphs) graph.append(h("option", { value: item.name }, item.name));
  }).catch(() => {});
  const search = h("input", {
    id: "runs-search",
    type: "search",
    placeholder: "thread id",
    "aria-label": "Open a run by thread id",
  });
  const form = h(
    "form",
    {
      class: "row",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        const id = search.value.trim();
        if (id !== "") location.hash = `#/runs/${encodeURIComponent(id)}`;
      },
    },
    search,
    h("button", { type: "submit" }, "Open"),
  );
  replace(
    main,
    h("h1", {}, "Runs"),
    h("div", { class: "toolbar" }, status, graph, form, newer, older),
    message,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { id: "runs" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Thread", "Status", "Graph", "Tenant", "Priority", "Created", "Updated", "Version"]
              .map(
                (name) => h("th", { scope: "col" }, name),
              ),
          ),
        ),
        body,
      ),
    ),
  );

  function page(direction) {
    if (direction > 0 && state.next !== null) state.cursors.push(state.next);
    if (direction < 0 && state.cursors.length > 1) state.cursors.pop();
    refresh();
  }

  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    const cursor = state.cursors.at(-1);
    try {
      const data = await api(
        "GET",
        withQuery("/v1/jobs", { limit: LIMIT, status: state.status, graph: state.graph, cursor }),
      );
      if (signal.aborted) return;
      state.next = data.next_cursor;
      older.disabled = data.next_cursor === null;
      newer.disabled = state.cursors.length === 1;
      replace(message);
      replace(
        body,
        data.jobs.length === 0
          ? h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No runs."))
          : data.jobs.map((job) =>
            h(
              "tr",
              { "data-thread": job.thread_id, "data-status": job.status, "data-graph": job.graph },
              h(
                "td",
                {},
                h("a", { href: `#/runs/${encodeURIComponent(job.thread_id)}` }, job.thread_id),
              ),
              h("td", {}, statusBadge(job.status)),
              h("td", {}, job.graph),
              h("td", { class: job.tenant_id === null ? "muted" : "" }, job.tenant_id ?? "none"),
              h("td", { class: "num" }, job.priority),
              h("td", {}, time(job.created_at)),
              h("td", {}, time(job.updated_at)),
              h("td", {}, job.version),
            )
          ),
      );
    } catch (error) {
      if (signal.aborted) return;
      replace(message, notice("error", `Cannot list runs: ${error.message}`));
    }
    if (!signal.aborted) timer = setTimeout(refresh, POLL_MS);
  }
  signal.addEventListener("abort", () => clearTimeout(timer));
  return refresh();
}
