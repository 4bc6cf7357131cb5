// The console's shell: sign-in, the token's scopes, the navigation and the router. Each view is a
// function of (container, context) that fills the container and returns a stop() for its timers.
import { api, ApiError, errorBox, session, whenUnauthorized } from "./api.js";
import { fill, h } from "./dom.js";
import { campaignsView } from "./campaigns.js";
import { campaignView } from "./campaign.js";
import { submitView } from "./submit.js";
import { dncView } from "./dnc.js";

const main = document.getElementById("main");
const context = {
  me: null,
  /** True when the token allows `scope` (the API checks again on every request). */
  can(scope) {
    return Boolean(this.me && this.me.scopes.includes(scope));
  },
};
let current = null;

const ROUTES = [
  [/^#\/campaigns\/([A-Za-z0-9_-]{1,64})$/, (m) => (el) => campaignView(el, context, m[1])],
  [/^#\/campaigns(?:\?(.*))?$/, (m) => (el) => campaignsView(el, context, m[1] || "")],
  [/^#\/submit$/, () => (el) => submitView(el, context)],
  [/^#\/dnc$/, () => (el) => dncView(el, context)],
];

function route() {
  if (current) current();
  current = null;
  if (!context.me) return;
  const hash = window.location.hash || "#/campaigns";
  for (const [pattern, view] of ROUTES) {
    const match = hash.match(pattern);
    if (match) {
      for (const link of document.querySelectorAll("#nav a")) {
        link.classList.toggle("active", hash.startsWith(`#/${link.dataset.nav}`));
      }
      const container = fill(main, h("section", { class: "view" }));
      current = view(match)(container.firstChild) || null;
      return;
    }
  }
  window.location.hash = "#/campaigns";
}

function showSignedIn() {
  document.getElementById("nav").hidden = false;
  document.getElementById("who").hidden = false;
  fill(document.getElementById("who-name"), context.me.name || "signed in");
  fill(document.getElementById("who-scopes"), context.me.scopes.join(" · "));
  document.getElementById("who-scopes").dataset.scopes = context.me.scopes.join(" ");
}

function signInView(message) {
  if (current) current();
  current = null;
  context.me = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("who").hidden = true;
  const input = h("input", {
    type: "password", id: "token", name: "token", autocomplete: "off", required: true,
    spellcheck: "false", "aria-label": "API token",
  });
  const status = h("div", { id: "sign-in-status" }, message ? h("div", { class: "error" }, message) : null);
  const form = h(
    "form", { id: "sign-in", class: "card narrow" },
    h("h1", {}, "Sign in"),
    h("p", {}, "Use one of the API's bearer tokens (DISPATCHER_API_TOKENS). It is kept in this ",
      "tab only and sent to this server's API, nowhere else."),
    h("label", { for: "token" }, "API token"), input,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Sign in")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    session.signIn(input.value.trim());
    try {
      await loadMe(true);
    } catch (error) {
      session.signOut();
      const why = error instanceof ApiError && error.status === 401
        ? h("div", { class: "error", role: "alert" }, "This token is not accepted.")
        : errorBox(error);
      fill(status, why);
    }
  });
  fill(main, form);
  input.focus();
}

async function loadMe(signingIn) {
  const { data } = await api("GET", "/me", { signingIn });
  context.me = data;
  showSignedIn();
  route();
}

whenUnauthorized(() => {
  session.signOut();
  signInView("The API no longer accepts this token: sign in again.");
});

document.getElementById("sign-out").addEventListener("click", () => {
  session.signOut();
  signInView();
});
window.addEventListener("hashchange", route);

if (session.token) {
  loadMe(false).catch((error) => {
    if (!(error instanceof ApiError && error.status === 401)) fill(main, errorBox(error));
  });
} else {
  signInView();
}
