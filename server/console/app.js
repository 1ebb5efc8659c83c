// The console's shell: signs in when the API asks for credentials, learns
// what the caller may do (GET /v1/whoami), and shows the view the URL's hash
// names: #/runs, #/runs/<thread id>, #/interrupts, #/workers, #/audit.

import { api, clearCredentials, credentials, session, setCredentials } from "./api.js";
import { h, notice, replace } from "./dom.js";
import { runsView } from "./runs.js";
import { runView } from "./run.js";
import { interruptsView } from "./interrupts.js";
import { auditView } from "./audit.js";
import { workersView } from "./workers.js";

const main = document.getElementById("main");
const dialog = document.getElementById("auth");
const form = document.getElementById("auth-form");
let current = null;

async function loadSession() {
  const me = await api("GET", "/v1/whoami");
  session.authEnabled = me.auth_enabled;
  session.role = me.role;
  session.actorId = me.actor_id;
  session.routes = new Set(me.routes);
  const who = document.getElementById("who");
  who.textContent = me.auth_enabled ? `${me.actor_id ?? me.actor_type} · ${me.role}` : "auth off";
  who.dataset.role = me.role ?? "";
  document.getElementById("sign-out").hidden = credentials() === null;
}

function askCredentials(message) {
  const error = document.getElementById("auth-error");
  error.hidden = message === undefined;
  error.textContent = message ?? "";
  if (!dialog.open) dialog.showModal();
  document.getElementById("auth-secret").focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const kind = form.elements.kind.value;
  const secret = form.elements.secret.value;
  const keyId = form.elements.key_id.value.trim();
  setCredentials(kind === "bearer" ? { kind, token: secret } : { kind, keyId, secret });
  try {
    await loadSession();
  } catch (error) {
    clearCredentials();
    askCredentials(error.status === 401 ? "These credentials were refused." : error.message);
    return;
  }
  form.reset();
  dialog.close();
  route();
});

// The skip link moves focus, not the route (the hash is the route).
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

dialog.addEventListener("cancel", (event) => event.preventDefault());

document.getElementById("sign-out").addEventListener("click", () => {
  clearCredentials();
  location.reload();
});

globalThis.addEventListener("oris:unauthorized", () => {
  if (!dialog.open) askCredentials();
});

function route() {
  current?.abort();
  current = new AbortController();
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const [view, ...rest] = hash.split("/");
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.dataset.view === (view || "runs"));
    if (link.hasAttribute("aria-current")) link.setAttribute("aria-current", "page");
  }
  const signal = current.signal;
  let shown;
  if (view === "runs" && rest.length > 0) shown = runView(main, rest.join("/"), signal);
  else if (view === "interrupts") shown = interruptsView(main, signal);
  else if (view === "audit") shown = auditView(main, signal);
  else if (view === "workers") shown = workersView(main, signal);
  else shown = runsView(main, signal);
  Promise.resolve(shown).catch((error) => {
    if (signal.aborted) return;
    replace(main, notice("error", `${error.code ?? "error"}: ${error.message}`));
  });
}

globalThis.addEventListener("hashchange", () => {
  route();
  main.focus();
});

async function start() {
  try {
    await loadSession();
  } catch (error) {
    if (error.status === 401) {
      replace(main, h("p", { class: "muted" }, "Sign in to see the runs."));
      askCredentials();
      return;
    }
    replace(main, notice("error", `Cannot reach the API: ${error.message}`));
    return;
  }
  route();
}

start();
