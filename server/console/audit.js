// The audit log (GET /v1/audit/logs): every control action with who did it,
// their role, the result and the request id; filtered by action, paged by
// cursor.

import { api, withQuery } from "./api.js";
import { h, notice, replace, time } from "./dom.js";

export function auditView(main, signal) {
  const state = { action: "", cursors: [null], next: null };
  const body = h("tbody", { id: "audit-body" });
  const message = h("div", { "aria-live": "polite" });
  const action = h(
    "select",
    {
      id: "audit-action",
      "aria-label": "Action",
      onchange: () => {
        state.action = action.value;
        state.cursors = [null];
        load();
      },
    },
    h("option", { value: "" }, "every action"),
  );
  const older = h("button", {
    type: "button",
    id: "audit-older",
    onclick: () => {
      state.cursors.push(state.next);
      load();
    },
  }, "Older");
  const newest = h("button", {
    type: "button",
    onclick: () => {
      state.cursors = [null];
      load();
    },
  }, "Newest");
  replace(
    main,
    h("h1", {}, "Audit log"),
    h("div", { class: "toolbar" }, action, newest, older),
    message,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { id: "audit" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["When", "Action", "Resource", "Result", "Actor", "Role", "Request"].map((name) =>
              h("th", { scope: "col" }, name)
            ),
          ),
        ),
        body,
      ),
    ),
  );
  async function load() {
    try {
      const data = await api(
        "GET",
        withQuery("/v1/audit/logs", {
          action: state.action,
          cursor: state.cursors.at(-1),
          limit: 50,
        }),
      );
      if (signal.aborted) return;
      state.next = data.next_cursor;
      older.disabled = data.next_cursor === null;
      replace(message);
      replace(
        body,
        data.logs.length === 0
          ? h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No entries."))
          : data.logs.map((log) =>
            h(
              "tr",
              { "data-action": log.action, "data-result": log.result },
              h("td", {}, time(log.created_at)),
              h("td", {}, log.action),
              h(
                "td",
                {},
                log.resource_id === null
                  ? log.resource_type
                  : `${log.resource_type} ${log.resource_id}`,
              ),
              h("td", {}, `${log.result} ${log.details?.status ?? ""}`),
              h("td", {}, log.actor_id ?? log.actor_type),
              h("td", {}, log.actor_role ?? "—"),
              h("td", {}, h("code", {}, log.request_id)),
            )
          ),
      );
    } catch (error) {
      if (!signal.aborted) {
        replace(message, notice("error", `Cannot read the audit log: ${error.message}`));
      }
    }
  }
  // The actions come from the server's own list (served beside the page).
  async function start() {
    try {
      const response = await fetch("/console/audit_actions.json", { signal });
      if (!response.ok) throw new Error(`status ${response.status}`);
      const actions = await response.json();
      action.append(...actions.map((item) => h("option", { value: item }, item)));
    } catch (error) {
      if (!signal.aborted) {
        replace(message, notice("error", `Cannot read the audit actions: ${error.message}`));
      }
      return;
    }
    await load();
  }
  return start();
}
