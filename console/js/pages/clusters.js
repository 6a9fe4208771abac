// /console/clusters — the latest epoch's communities as a graph: one node per community, sized
// by its members, joined by the follows between them. /console/clusters/ID — one community's
// members (the most trusted first, up to 300) and the follows among them; selecting a member
// shows the ties that hold it in, and where the community might grow (its suggested worlds).

import { h, replace, section, table, maskLink, worldLink, userText, note } from "../dom.js";
import { t, num } from "../i18n.js";
import { gql } from "../gql.js";
import { navigate } from "../app.js";
import { layout, draw, PALETTE, paintedPixels } from "../graph.js";

const MAP = `query ClusterMap {
  clusterMap(first: 60) {
    epoch { number logSeq modularity clusterCount }
    clusters { id size suggestedWorlds { world { id name } members } }
    ties { source target weight }
  }
}`;

const CLUSTER = `query Cluster($id: ID!) {
  node(id: $id) {
    ... on Cluster {
      id size epoch { number }
      suggestedWorlds { world { id name } members }
      graph(first: 300) { total members { mask { id handle displayName } trust } ties { source target } }
    }
  }
}`;

// Exposed for the browser tests and for anyone poking at the console from devtools.
window.daira ??= {};

export async function renderMap(main) {
  const canvas = h("div", { class: "graph", role: "img", "aria-label": t("clusters.mapLabel") });
  const side = h("div", { class: "side", "aria-live": "polite" });
  replace(main, h("h1", {}, t("clusters.title")), h("p", { class: "lead" }, t("clusters.lead")), h("div", { class: "graph-page" }, canvas, side));
  const request = gql(MAP);
  const renderer = draw(canvas, { onSelect: (key) => key && navigate(`/console/clusters/${encodeURIComponent(key)}`) });
  window.daira.renderer = renderer;
  window.daira.paintedPixels = () => paintedPixels(renderer);
  const { clusterMap } = await request;
  if (!clusterMap.epoch) {
    replace(side, note(t("epochs.none")));
    return () => renderer.kill();
  }
  const clusters = clusterMap.clusters;
  const positions = layout(clusters.length, clusterMap.ties.map((e) => [e.source, e.target, e.weight]), "clusters");
  const maxSize = Math.max(...clusters.map((c) => c.size), 1);
  const nodes = clusters.map((c, i) => ({
    key: c.id,
    x: positions[i][0],
    y: positions[i][1],
    size: 4 + 22 * Math.sqrt(c.size / maxSize),
    label: t("clusters.node", { index: i + 1, size: c.size }),
    color: PALETTE[i % PALETTE.length],
  }));
  const maxTie = Math.max(...clusterMap.ties.map((e) => e.weight), 1);
  const edges = clusterMap.ties.map((e) => ({
    source: clusters[e.source].id,
    target: clusters[e.target].id,
    size: 0.5 + 5 * (e.weight / maxTie),
  }));
  renderer.show(nodes, edges);
  replace(
    side,
    h("p", {}, t("clusters.epoch", { number: clusterMap.epoch.number, count: clusterMap.epoch.clusterCount, modularity: clusterMap.epoch.modularity })),
    table(
      t("clusters.title"),
      [t("clusters.community"), t("clusters.size"), t("clusters.gathersIn")],
      clusters.map((c, i) => [
        h("a", { href: `/console/clusters/${encodeURIComponent(c.id)}` }, t("clusters.name", { index: i + 1 })),
        num(c.size),
        c.suggestedWorlds[0] ? worldLink(c.suggestedWorlds[0].world) : "—",
      ]),
    ),
  );
  markInteractive(renderer, "clusters-interactive");
  return () => renderer.kill();
}

export async function renderCluster(main, [id]) {
  const canvas = h("div", { class: "graph", role: "img", "aria-label": t("clusters.membersLabel") });
  const side = h("div", { class: "side", "aria-live": "polite" });
  const heading = h("h1", {}, t("clusters.cluster"));
  replace(main, h("p", {}, h("a", { href: "/console/clusters" }, t("clusters.back"))), heading, h("div", { class: "graph-page" }, canvas, side));
  const request = gql(CLUSTER, { id });
  const details = h("div", { id: "member" });
  let members = [];
  let ties = [];
  let byId = new Map();
  const select = (key) => {
    renderer.select(key);
    showMember(details, key === null ? null : byId.get(key), members, ties);
  };
  const renderer = draw(canvas, { onSelect: select, directed: true });
  window.daira.renderer = renderer;
  window.daira.paintedPixels = () => paintedPixels(renderer);
  const { node: cluster } = await request;
  if (!cluster) {
    replace(side, note(t("clusters.notFound")));
    return () => renderer.kill();
  }
  ({ members, ties } = cluster.graph);
  const total = cluster.graph.total;
  replace(heading, t("clusters.clusterOf", { size: cluster.size, epoch: cluster.epoch.number }));
  const positions = layout(members.length, ties.map((e) => [e.source, e.target, 1]), id);
  const maxTrust = Math.max(...members.map((m) => m.trust), 1e-12);
  const nodes = members.map((m, i) => ({
    key: m.mask.id,
    x: positions[i][0],
    y: positions[i][1],
    size: 3 + 12 * Math.sqrt(m.trust / maxTrust),
    label: `@${m.mask.handle}`,
    color: "#0072B2",
  }));
  const edges = ties.map((e) => ({ source: members[e.source].mask.id, target: members[e.target].mask.id, size: 1 }));
  byId = new Map(members.map((m, i) => [m.mask.id, i]));
  renderer.show(nodes, edges);
  replace(
    side,
    total > members.length ? note(t("clusters.truncated", { shown: members.length, total })) : null,
    details,
    section(
      t("clusters.suggested"),
      cluster.suggestedWorlds.length
        ? h("ul", {}, cluster.suggestedWorlds.map((w) => h("li", {}, worldLink(w.world), " ", h("span", { class: "muted" }, t("clusters.membersThere", { count: w.members })))))
        : note(t("common.none")),
    ),
    h(
      "details",
      { class: "card" },
      h("summary", {}, t("clusters.memberList", { count: members.length })),
      h(
        "ul",
        { class: "members" },
        members.map((m) => h("li", {}, h("button", { type: "button", class: "linklike", onclick: () => select(m.mask.id) }, h("bdi", { dir: "ltr" }, `@${m.mask.handle}`)), " ", h("span", { class: "muted" }, num(m.trust)))),
      ),
    ),
  );
  markInteractive(renderer, "cluster-interactive");
  return () => renderer.kill();
}

function showMember(el, index, members, ties) {
  if (index === undefined || index === null) {
    replace(el);
    return;
  }
  const m = members[index];
  const follows = ties.filter((e) => e.source === index).map((e) => members[e.target].mask);
  const followedBy = ties.filter((e) => e.target === index).map((e) => members[e.source].mask);
  const list = (masks) => (masks.length ? h("ul", { class: "inline" }, masks.map((x) => h("li", {}, maskLink(x)))) : note(t("common.none")));
  replace(
    el,
    section(
      t("clusters.member"),
      h("p", {}, maskLink(m.mask), " ", userText(m.mask.displayName)),
      h("p", {}, t("mask.trust"), ": ", num(m.trust)),
      h("h3", {}, t("clusters.tiesBehind")),
      h("p", { class: "muted" }, t("clusters.tiesExplained")),
      h("h4", {}, t("clusters.follows", { count: follows.length })),
      list(follows),
      h("h4", {}, t("clusters.followedBy", { count: followedBy.length })),
      list(followedBy),
      h("p", {}, h("a", { href: `/console/mask/${encodeURIComponent(m.mask.handle)}`, class: "button" }, t("clusters.openMask"))),
    ),
  );
  el.querySelector("a.button")?.focus();
}

/** Marks the moment the graph is drawn and answers clicks (for the Performance API). */
function markInteractive(renderer, name) {
  requestAnimationFrame(() => {
    renderer.refresh();
    performance.mark(name);
  });
}
