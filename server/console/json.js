// JSON on the page: shown pretty-printed, edited in a textarea that refuses
// invalid JSON before anything is sent, and the changes between two states.

import { h, notice, replace } from "./dom.js";

/** A JSON value, pretty-printed. */
export function jsonBlock(value, attrs = {}) {
  return h("pre", { class: "json", ...attrs }, JSON.stringify(value, null, 2));
}

/**
 * A JSON editor: a textarea, a button, and a message. The button is disabled
 * while the text is not JSON; `onSubmit(value)` gets the parsed value and
 * returns a promise (its failure is shown).
 */
export function jsonEditor({ id, label, value, submitLabel, onSubmit }) {
  const area = h("textarea", {
    id,
    "aria-label": label,
    spellcheck: "false",
    value: JSON.stringify(value, null, 2),
  });
  const message = h("div", { id: `${id}-message`, "aria-live": "polite" });
  const button = h("button", { type: "submit", id: `${id}-submit`, class: "primary" }, submitLabel);
  function parse() {
    try {
      return { ok: true, value: JSON.parse(area.value) };
    } catch (error) {
      return { ok: false, error: error.message };
    }
  }
  function check() {
    const parsed = parse();
    button.disabled = !parsed.ok;
    area.setAttribute("aria-invalid", String(!parsed.ok));
    replace(message, parsed.ok ? null : notice("error", `Not JSON: ${parsed.error}`));
    return parsed;
  }
  area.addEventListener("input", check);
  return h(
    "form",
    {
      class: "json-editor",
      onsubmit: async (event) => {
        event.preventDefault();
        const parsed = check();
        if (!parsed.ok) return;
        button.disabled = true;
        try {
          const shown = await onSubmit(parsed.value);
          replace(message, shown === undefined ? null : notice("ok", shown));
        } catch (error) {
          replace(message, notice("error", `${error.code ?? "error"}: ${error.message}`));
        } finally {
          button.disabled = !parse().ok;
        }
      },
    },
    h("label", { for: id }, label),
    area,
    h("div", { class: "row" }, button),
    message,
  );
}

function pathText(path) {
  return path.map((part) => typeof part === "number" ? `[${part}]` : `.${part}`).join("").replace(
    /^\./,
    "",
  ) || "(root)";
}

/** The changes of GET /v1/jobs/:id/diff as a list. */
export function diffList(changes) {
  if (changes.length === 0) return h("p", { class: "muted", id: "diff-empty" }, "No change.");
  return h(
    "ul",
    { class: "diff", id: "diff" },
    changes.map((change) =>
      h(
        "li",
        { class: change.op, "data-path": pathText(change.path) },
        h("strong", {}, `${change.op} `),
        h("code", {}, pathText(change.path)),
        change.op === "add" ? null : [": ", h("code", {}, JSON.stringify(change.before))],
        change.op === "remove" ? null : [" → ", h("code", {}, JSON.stringify(change.after))],
      )
    ),
  );
}
