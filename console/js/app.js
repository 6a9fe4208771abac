// The console's shell: the header (navigation, language, who is signed in), client-side
// routing over real URLs (every /console/… URL also loads directly from the server), and the
// page modules, each `render(main, params, query) → cleanup`.

import { h, replace, failure } from "./dom.js";
import { t, lang, otherLanguageHref } from "./i18n.js";
import { session, gql } from "./gql.js";
import * as home from "./pages/home.js";
import * as search from "./pages/search.js";
import * as clusters from "./pages/clusters.js";
import * as world from "./pages/world.js";
import * as thread from "./pages/thread.js";
import * as mask from "./pages/mask.js";
import * as epochs from "./pages/epochs.js";
import * as governance from "./pages/governance.js";
import * as audit from "./pages/audit.js";
import * as signin from "./pages/signin.js";

const routes = [
  [/^\/console\/?$/, home.render, "nav.home"],
  [/^\/console\/search\/?$/, search.render, "nav.search"],
  [/^\/console\/clusters\/?$/, clusters.renderMap, "nav.clusters"],
  [/^\/console\/clusters\/([^/]+)\/?$/, clusters.renderCluster, "nav.clusters"],
  [/^\/console\/world\/([^/]+)\/?$/, world.render, "nav.worlds"],
  [/^\/console\/thread\/([^/]+)\/?$/, thread.render, "nav.worlds"],
  [/^\/console\/mask\/([^/]+)\/?$/, mask.render, null],
  [/^\/console\/epochs\/?$/, epochs.render, "nav.epochs"],
  [/^\/console\/proposals\/?$/, governance.renderProposals, "nav.proposals"],
  [/^\/console\/cases\/?$/, governance.renderCases, "nav.cases"],
  [/^\/console\/audit\/?$/, audit.render, "nav.audit"],
  [/^\/console\/signin\/?$/, signin.render, "nav.signin"],
];

const nav = [
  ["/console/search", "nav.search"],
  ["/console/clusters", "nav.clusters"],
  ["/console/epochs", "nav.epochs"],
  ["/console/proposals", "nav.proposals"],
  ["/console/cases", "nav.cases"],
  ["/console/audit", "nav.audit"],
];

const main = document.getElementById("main");
const header = document.getElementById("header");
let cleanup = null;

function renderHeader(current) {
  const acting = session.mask;
  replace(
    header,
    h("a", { class: "skip", href: "#main" }, t("nav.skip")),
    h("a", { class: "brand", href: "/console" }, t("app.name")),
    h(
      "nav",
      { "aria-label": t("nav.label") },
      h(
        "ul",
        {},
        nav.map(([href, key]) =>
          h("li", {}, h("a", { href, "aria-current": current === key ? "page" : null }, t(key))),
        ),
      ),
    ),
    h(
      "div",
      { class: "session" },
      acting
        ? [h("span", {}, t("session.acting"), " ", h("a", { href: `/console/mask/${encodeURIComponent(acting.handle)}` }, h("bdi", { dir: "ltr" }, `@${acting.handle}`))), " ",
           h("button", { type: "button", onclick: signOut }, t("session.signout"))]
        : h("a", { href: "/console/signin", "aria-current": current === "nav.signin" ? "page" : null }, t("nav.signin")),
      " ",
      h("a", { href: otherLanguageHref(), hreflang: lang === "ar" ? "en" : "ar", lang: lang === "ar" ? "en" : "ar", class: "lang" }, t("lang.other")),
    ),
  );
}

async function signOut() {
  try {
    await gql("mutation { logout(input: {}) { ok } }");
  } catch {
    // Signed out here whatever the server says: the token is forgotten.
  }
  session.token = null;
  session.mask = null;
  route();
}

/** Renders the page for the current URL. */
export async function route() {
  cleanup?.();
  cleanup = null;
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  const found = routes.find(([re]) => re.test(path));
  renderHeader(found?.[2]);
  main.replaceChildren();
  if (!found) {
    document.title = `${t("notfound.title")} · ${t("app.name")}`;
    replace(main, h("h1", {}, t("notfound.title")), h("p", {}, t("notfound.body")));
    return;
  }
  const [re, render, key] = found;
  const params = path.match(re).slice(1).map(decodeURIComponent);
  if (key) document.title = `${t(key)} · ${t("app.name")}`;
  try {
    cleanup = (await render(main, params, query)) ?? null;
  } catch (error) {
    console.warn(error);
    main.append(failure(error));
  }
  if (location.hash === "#main") main.focus();
}

/** Goes to a console URL without reloading. */
export function navigate(href, replaceState = false) {
  if (replaceState) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  route();
  if (!replaceState) window.scrollTo(0, 0);
}

document.addEventListener("click", (e) => {
  const a = e.target.closest?.("a[href]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
  const url = new URL(a.href, location.href);
  // A language switch reloads: the server writes the other language into the page.
  if (url.origin !== location.origin || !url.pathname.startsWith("/console") || url.searchParams.has("lang")) return;
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", route);
window.addEventListener("daira:session", () => renderHeader());

route();
