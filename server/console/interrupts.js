// Pending interrupts: the inbox (GET /v1/interrupts?status=pending, polled)
// and the card that answers one: a JSON editor (POST
// /v1/interrupts/:id/resume), approve / reject for the approval shape, and a
// decision per call for an agent's tool-call approvals.

import { api, can, seg, withQuery } from "./api.js";
import { h, notice, replace, time } from "./dom.js";
import { jsonBlock, jsonEditor } from "./json.js";

const POLL_MS = 1500;
const RESUME = "/v1/interrupts/:interrupt_id/resume";
const REJECT = "/v1/interrupts/:interrupt_id/reject";

function isToolApproval(value) {
  return value !== null && typeof value === "object" && Array.isArray(value.action_requests);
}

/** The answer prefilled in the editor: approve, in the shape the interrupt asks for. */
function defaultAnswer(value) {
  if (isToolApproval(value)) {
    return { decisions: value.action_requests.map(() => ({ type: "approve" })) };
  }
  return true;
}

/** Per-call decisions of an agent's tool-call approval. */
function toolDecisions(interrupt, answer) {
  const rows = interrupt.value.action_requests.map((request, index) => {
    const choice = h(
      "select",
      { "aria-label": `Decision for call ${request.name}`, "data-call": index },
      ["approve", "edit", "reject"].map((type) => h("option", { value: type }, type)),
    );
    const args = h("textarea", {
      "aria-label": `Arguments for ${request.name}`,
      "data-args": index,
      value: JSON.stringify(request.args ?? {}, null, 2),
      hidden: true,
    });
    choice.addEventListener("change", () => {
      args.hidden = choice.value !== "edit";
    });
    return { request, choice, args };
  });
  const message = h("div", { "aria-live": "polite" });
  return h(
    "form",
    {
      class: "tool-decisions",
      onsubmit: async (event) => {
        event.preventDefault();
        const decisions = [];
        for (const { request, choice, args } of rows) {
          if (choice.value !== "edit") {
            decisions.push({ type: choice.value });
            continue;
          }
          try {
            decisions.push({ type: "edit", args: JSON.parse(args.value) });
          } catch (error) {
            replace(
              message,
              notice("error", `Arguments of ${request.name} are not JSON: ${error.message}`),
            );
            return;
          }
        }
        try {
          await answer({ decisions });
        } catch (error) {
          replace(message, notice("error", `${error.code ?? "error"}: ${error.message}`));
        }
      },
    },
    h("h4", {}, "Tool calls"),
    rows.map(({ request, choice, args }) =>
      h(
        "div",
        { class: "tool-call" },
        h("code", {}, request.name),
        " ",
        jsonBlock(request.args ?? {}),
        choice,
        args,
      )
    ),
    h("button", { type: "submit", class: "primary" }, "Send decisions"),
    message,
  );
}

/**
 * A pending interrupt and the ways to answer it (only those the caller's role
 * may use). `onAnswered()` is called once the API accepted an answer.
 */
export function interruptCard(interrupt, onAnswered) {
  const id = interrupt.interrupt_id;
  const message = h("div", { "aria-live": "polite" });
  async function answer(value) {
    await api("POST", `/v1/interrupts/${seg(id)}/resume`, { value });
    onAnswered?.();
    return "Answered.";
  }
  async function act(what, call) {
    try {
      await call();
      replace(message, notice("ok", what));
      onAnswered?.();
    } catch (error) {
      replace(message, notice("error", `${error.code ?? "error"}: ${error.message}`));
    }
  }
  const canResume = can("POST", RESUME);
  const canReject = can("POST", REJECT);
  return h(
    "article",
    { class: "interrupt", "data-interrupt": id, "data-thread": interrupt.thread_id },
    h(
      "h3",
      {},
      h("a", { href: `#/runs/${encodeURIComponent(interrupt.thread_id)}` }, interrupt.thread_id),
      ` · ${interrupt.node} · step ${interrupt.step}`,
    ),
    h("p", { class: "muted" }, `${id} · raised `, time(interrupt.created_at)),
    jsonBlock(interrupt.value, { "aria-label": "Interrupt value" }),
    canResume || canReject
      ? h(
        "div",
        { class: "row" },
        canResume
          ? h("button", {
            type: "button",
            class: "primary approve",
            onclick: () => act("Approved.", () => answer(defaultAnswer(interrupt.value))),
          }, "Approve")
          : null,
        canReject
          ? h("button", {
            type: "button",
            class: "danger reject",
            onclick: () =>
              act("Rejected: the run is cancelled.", () =>
                api("POST", `/v1/interrupts/${seg(id)}/reject`, {
                  reason: "rejected from the console",
                })),
          }, "Reject run")
          : null,
      )
      : h("p", { class: "muted" }, "Your role may not answer interrupts."),
    message,
    canResume && isToolApproval(interrupt.value) ? toolDecisions(interrupt, answer) : null,
    canResume
      ? h(
        "details",
        {},
        h("summary", {}, "Answer with a JSON value"),
        jsonEditor({
          id: `answer-${id.replace(/[^A-Za-z0-9_-]/g, "_")}`,
          label: "Answer (JSON)",
          value: defaultAnswer(interrupt.value),
          submitLabel: "Send answer",
          onSubmit: answer,
        }),
      )
      : null,
  );
}

export function interruptsView(main, signal) {
  const list = h("div", { id: "interrupts" });
  const message = h("div", { "aria-live": "polite" });
  replace(main, h("h1", {}, "Pending interrupts"), message, list);
  const shown = new Set();
  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    try {
      const data = await api("GET", withQuery("/v1/interrupts", { status: "pending", limit: 200 }));
      if (signal.aborted) return;
      replace(message);
      const ids = new Set(data.interrupts.map((item) => item.interrupt_id));
      // Keep cards being edited; add new ones, drop answered ones.
      for (const card of [...list.children]) {
        if (card.dataset.interrupt && !ids.has(card.dataset.interrupt)) {
          card.remove();
          shown.delete(card.dataset.interrupt);
        }
      }
      for (const item of data.interrupts) {
        if (shown.has(item.interrupt_id)) continue;
        shown.add(item.interrupt_id);
        list.append(interruptCard(item, refresh));
      }
      list.querySelector(".empty")?.remove();
      if (data.interrupts.length === 0) {
        list.append(h("p", { class: "muted empty" }, "No pending interrupts."));
      }
    } catch (error) {
      if (signal.aborted) return;
      replace(message, notice("error", `Cannot list interrupts: ${error.message}`));
    }
    if (!signal.aborted) timer = setTimeout(refresh, POLL_MS);
  }
  signal.addEventListener("abort", () => clearTimeout(timer));
  return refresh();
}
