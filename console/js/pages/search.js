// /console/search?q=…&kind=…&world=…&lang=… — discovery in Arabic, Egyptian dialect, Arabizi
// and English, with each hit's text relevance and the reputation prior it was blended with.

import { h, replace, userText, maskLink, worldLink, failure } from "../dom.js";
import { t, num } from "../i18n.js";
import { gql } from "../gql.js";
import { navigate } from "../app.js";

const SEARCH = `query Search($q: String!, $kind: SearchKind, $world: ID, $lang: Language) {
  search(query: $q, kind: $kind, world: $world, lang: $lang, first: 20) {
    totalCount
    nodes {
      title score relevance prior
      node {
        __typename
        ... on World { id name memberCount }
        ... on Work { id title world { id name } }
        ... on Mask { id handle displayName }
        ... on Proposal { id title world { id name } }
        ... on Listing { id price kind work { id title } seller { handle } }
        ... on Thread { id world { id name } }
        ... on Post { id thread { id } author { id handle } }
      }
    }
  }
}`;

const WORLDS = `query { worlds(first: 100) { nodes { id name } } }`;
const KINDS = ["WORLD", "WORK", "MASK", "PROPOSAL", "LISTING", "THREAD", "POST"];
let worldsCache = null;

export async function render(main, _params, query) {
  const q = query.get("q") ?? "";
  const kind = query.get("kind") ?? "";
  const world = query.get("world") ?? "";
  const language = query.get("in") ?? "";
  worldsCache ??= gql(WORLDS).then((d) => d.worlds.nodes).catch(() => []);
  const worlds = await worldsCache;

  const input = h("input", { type: "search", id: "q", name: "q", value: q, required: true, maxlength: 256, autocomplete: "off", dir: "auto" });
  const select = (id, label, value, options) =>
    h(
      "p",
      { class: "field" },
      h("label", { for: id }, label),
      h("select", { id, name: id }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))),
    );
  const form = h(
    "form",
    { role: "search", class: "search", onsubmit: (e) => submit(e, form) },
    h("p", { class: "field wide" }, h("label", { for: "q" }, t("search.label")), input),
    select("kind", t("search.kind"), kind, [["", t("search.anyKind")], ...KINDS.map((k) => [k, t(`kind.${k}`)])]),
    select("world", t("search.world"), world, [["", t("search.anyWorld")], ...worlds.map((w) => [w.id, w.name])]),
    select("in", t("search.language"), language, [["", t("search.anyLanguage")], ["AR", t("search.arabic")], ["EN", t("search.english")]]),
    h("button", { type: "submit" }, t("search.submit")),
  );
  const results = h("div", { id: "results", "aria-live": "polite" });
  replace(main, h("h1", {}, t("search.title")), form, results);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") performance.mark("search-submit");
  });
  if (!q.trim()) {
    input.focus();
    return;
  }
  replace(results, h("p", { "aria-busy": "true" }, t("common.loading")));
  try {
    const data = await gql(SEARCH, { q, kind: kind || null, world: world || null, lang: language || null });
    showResults(results, q, data.search);
  } catch (error) {
    replace(results, failure(error));
  }
  performance.mark("search-results");
}

function submit(e, form) {
  e.preventDefault();
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
  navigate(`/console/search?${params}`);
}

function showResults(el, q, search) {
  if (!search.nodes.length) {
    replace(el, h("p", {}, t("search.nothing", { q })));
    return;
  }
  replace(
    el,
    h("p", { class: "muted" }, t("search.count", { count: search.totalCount })),
    h(
      "ol",
      { class: "hits" },
      search.nodes.map((hit) =>
        h(
          "li",
          { class: "hit" },
          h("span", { class: "badge" }, t(`kind.${kindOf(hit.node.__typename)}`)),
          " ",
          link(hit),
          h(
            "dl",
            { class: "scores" },
            h("dt", {}, t("search.relevance")),
            h("dd", {}, num(hit.relevance)),
            h("dt", {}, t("search.prior")),
            h("dd", {}, num(hit.prior)),
            h("dt", {}, t("search.score")),
            h("dd", {}, num(hit.score)),
          ),
        ),
      ),
    ),
  );
}

const kindOf = (typename) =>
  ({ World: "WORLD", Work: "WORK", Mask: "MASK", Proposal: "PROPOSAL", Listing: "LISTING", Thread: "THREAD", Post: "POST" })[typename];

function link(hit) {
  const n = hit.node;
  switch (n.__typename) {
    case "World":
      return h("span", {}, worldLink(n), " ", h("span", { class: "muted" }, t("world.memberCount", { count: n.memberCount })));
    case "Mask":
      return h("span", {}, maskLink(n), " ", userText(n.displayName));
    case "Thread":
      return h("span", {}, h("a", { href: `/console/thread/${encodeURIComponent(n.id)}`, dir: "auto" }, hit.title), n.world ? [" · ", worldLink(n.world)] : null);
    case "Post":
      return h("span", {}, n.thread ? h("a", { href: `/console/thread/${encodeURIComponent(n.thread.id)}`, dir: "auto" }, hit.title) : userText(hit.title, "strong"), " · ", maskLink(n.author));
    case "Work":
    case "Proposal":
      return h("span", {}, userText(hit.title, "strong"), n.world ? [" · ", worldLink(n.world)] : null);
    default:
      return h("span", {}, userText(hit.title, "strong"), n.seller ? [" · ", maskLink(n.seller)] : null);
  }
}
