// Building the page: elements from data, never HTML from strings, so nothing a user wrote
// (a world's name, a bio) is ever parsed as markup. Text of unknown direction — names,
// handles, Arabizi — is isolated (`dir=auto`, <bdi>) so it cannot reorder the text around it.

import { t } from "./i18n.js";

/** An element: `h("a", {href: "/x", class: "y"}, "text", child, [more])`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Text written by a user (name, title, bio): its own direction. */
export const userText = (text, tag = "span") => h(tag, { dir: "auto" }, text ?? "");

/** A mask's handle, isolated, as a link to its page. */
export const maskLink = (mask) =>
  mask
    ? h("a", { href: `/console/mask/${encodeURIComponent(mask.handle)}`, class: "mask" }, h("bdi", { dir: "ltr" }, `@${mask.handle}`))
    : h("span", { class: "muted" }, t("common.hidden"));

/** A world's name as a link to its page. */
export const worldLink = (world) =>
  world ? h("a", { href: `/console/world/${encodeURIComponent(world.id)}`, dir: "auto" }, world.name) : "—";

/** A section with a heading. */
export const section = (title, ...children) => h("section", { class: "card" }, h("h2", {}, title), ...children);

/** A table from column titles and rows of cells. */
export function table(caption, columns, rows) {
  return h(
    "table",
    {},
    h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      rows.length
        ? rows.map((r) => h("tr", {}, r.map((cell) => h("td", {}, cell))))
        : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, t("common.none"))),
    ),
  );
}

/** Replaces a container's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A message that something failed, readable by screen readers. */
export const failure = (error) => h("p", { class: "error", role: "alert" }, t("common.failed", { reason: error.message }));

/** A note for something not there (yet). */
export const note = (text) => h("p", { class: "note" }, text);
