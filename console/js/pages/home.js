// /console — where to start: the worlds, the latest epoch, the pages by who uses them.

import { h, section, table, worldLink, replace } from "../dom.js";
import { t, num, pct, seq } from "../i18n.js";
import { gql } from "../gql.js";

const QUERY = `query Home {
  worlds(first: 50) { totalCount nodes { id name memberCount coherence tags } }
  epochs { number logSeq clusterCount modularity }
}`;

export async function render(main) {
  const body = h("div", {}, h("p", { "aria-busy": "true" }, t("common.loading")));
  replace(main, h("h1", {}, t("home.title")), h("p", { class: "lead" }, t("home.lead")), body);
  const data = await gql(QUERY);
  const latest = data.epochs.at(-1);
  replace(
    body,
    h(
      "div",
      { class: "grid" },
      section(
        t("home.forCurators"),
        h("p", {}, t("home.curatorsText")),
        h("ul", {}, h("li", {}, h("a", { href: "/console/search" }, t("nav.search"))), h("li", {}, h("a", { href: "/console/clusters" }, t("nav.clusters")))),
      ),
      section(
        t("home.forCouncils"),
        h("p", {}, t("home.councilsText")),
        h(
          "ul",
          {},
          ["epochs", "proposals", "cases", "audit"].map((p) => h("li", {}, h("a", { href: `/console/${p}` }, t(`nav.${p}`)))),
        ),
      ),
      section(
        t("home.latestEpoch"),
        latest
          ? h("p", {}, t("home.epochSummary", { number: latest.number, seq: seq(latest.logSeq), clusters: latest.clusterCount }))
          : h("p", {}, t("epochs.none")),
      ),
    ),
    section(
      t("home.worlds", { count: data.worlds.totalCount }),
      table(
        t("home.worlds", { count: data.worlds.totalCount }),
        [t("world.name"), t("world.members"), t("world.coherence")],
        data.worlds.nodes.map((w) => [worldLink(w), num(w.memberCount), w.coherence === null ? "—" : pct(w.coherence)]),
      ),
    ),
  );
}
