// /console/world/ID — a world: members, moderators and curators, works, coherence, proposals
// and its public case log; live from `worldActivity` while signed in; join it as the acting mask.

import { h, replace, section, table, maskLink, userText, note, failure } from "../dom.js";
import { t, num, pct, date } from "../i18n.js";
import { gql, mutate, subscribe, session } from "../gql.js";

const WORLD = `query World($id: ID!) {
  node(id: $id) {
    ... on World {
      id name description tags memberCount coherence
      members(first: 30) { totalCount nodes { id handle displayName trust } }
      moderators(first: 20) { nodes { id handle } }
      curators { id handle }
      works(first: 20) { totalCount nodes { id title endorsementCount authors(first: 3) { nodes { id handle } } } }
      threads(first: 20) { totalCount nodes { id title postCount activeAt author { id handle } } }
      proposals(first: 20) { totalCount nodes { id title method result { status winner turnout } closesAt } }
      cases(first: 20) { totalCount nodes { id action rule reason status createdAt moderator { id handle } } }
    }
  }
}`;

const ACTIVITY = `subscription Activity($world: ID!) {
  worldActivity(world: $world) { kind seq committedAt mask { id handle } work { id title } proposal { id title } thread { id title } }
}`;

const JOIN = `mutation Join($as: ID, $world: ID!) { joinWorld(input: {as: $as, world: $world}) { seq userErrors { field message code } } }`;

export async function render(main, [id]) {
  const { node: world } = await gql(WORLD, { id });
  if (!world?.name) {
    replace(main, h("h1", {}, t("world.notFound")));
    return;
  }
  document.title = `${world.name} · ${t("app.name")}`;
  const live = h("ol", { class: "activity", "aria-live": "polite", "aria-label": t("world.activity") });
  const members = h("span", { id: "member-count" }, num(world.memberCount));
  const actions = h("div", { class: "actions" });
  replace(
    main,
    h("h1", { dir: "auto" }, world.name),
    userText(world.description, "p"),
    h("p", { class: "tags" }, world.tags.map((tag) => h("span", { class: "badge", dir: "auto" }, tag))),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, t("world.members")),
      h("dd", {}, members),
      h("dt", {}, t("world.coherence")),
      h("dd", {}, world.coherence === null ? "—" : pct(world.coherence)),
    ),
    actions,
    h(
      "div",
      { class: "grid" },
      section(
        t("world.membersTitle", { count: world.members.totalCount }),
        table(t("world.members"), [t("mask.handle"), t("mask.name"), t("mask.trust")], world.members.nodes.map((m) => [maskLink(m), userText(m.displayName), num(m.trust)])),
      ),
      section(
        t("world.stewards"),
        h("h3", {}, t("world.moderators")),
        world.moderators.nodes.length ? h("ul", { class: "inline" }, world.moderators.nodes.map((m) => h("li", {}, maskLink(m)))) : note(t("common.none")),
        h("h3", {}, t("world.curators")),
        world.curators.length ? h("ul", { class: "inline" }, world.curators.map((m) => h("li", {}, maskLink(m)))) : note(t("world.noCurators")),
      ),
    ),
    section(
      t("world.works", { count: world.works.totalCount }),
      table(
        t("world.works", { count: world.works.totalCount }),
        [t("work.title"), t("work.authors"), t("work.endorsements")],
        world.works.nodes.map((w) => [userText(w.title), h("span", {}, w.authors.nodes.map((a, i) => [i ? ", " : "", maskLink(a)])), num(w.endorsementCount)]),
      ),
    ),
    section(
      t("world.threadsTitle", { count: world.threads.totalCount }),
      table(
        t("world.threads"),
        [t("thread.title"), t("thread.author"), t("thread.posts"), t("thread.active")],
        world.threads.nodes.map((th) => [
          h("a", { href: `/console/thread/${encodeURIComponent(th.id)}`, dir: "auto" }, th.title),
          maskLink(th.author),
          num(th.postCount),
          date(th.activeAt),
        ]),
      ),
    ),
    section(
      t("world.proposals", { count: world.proposals.totalCount }),
      table(
        t("nav.proposals"),
        [t("proposal.title"), t("proposal.method"), t("proposal.status"), t("proposal.turnout"), t("proposal.closes")],
        world.proposals.nodes.map((p) => [userText(p.title), t(`method.${p.method}`), t(`status.${p.result.status}`), num(p.result.turnout), date(p.closesAt)]),
      ),
    ),
    section(
      t("world.cases", { count: world.cases.totalCount }),
      table(
        t("nav.cases"),
        [t("case.action"), t("case.rule"), t("case.reason"), t("case.moderator"), t("case.status"), t("case.when")],
        world.cases.nodes.map((c) => [c.action ? t(`action.${c.action}`) : "—", userText(c.rule), userText(c.reason), (c.moderator ? maskLink(c.moderator) : t("cases.patrol")), t(`caseStatus.${c.status}`), date(c.createdAt)]),
      ),
    ),
    section(t("world.activity"), session.token ? live : note(t("common.signInForLive"))),
  );

  if (session.mask) {
    const status = h("span", { role: "status" });
    const join = h("button", { type: "button" }, t("world.join"));
    join.addEventListener("click", async () => {
      join.disabled = true;
      try {
        await mutate(JOIN, { as: session.mask.id, world: world.id }, "joinWorld");
        replace(status, t("world.joined"));
      } catch (error) {
        replace(status, failure(error));
      } finally {
        join.disabled = false;
      }
    });
    replace(actions, join, " ", status);
  }

  let count = world.memberCount;
  return subscribe(ACTIVITY, { world: world.id }, ({ worldActivity: a }) => {
    if (a.kind === "JOINED" || a.kind === "LEFT") {
      count += a.kind === "JOINED" ? 1 : -1;
      members.textContent = num(count);
    }
    const what = a.work?.title ?? a.proposal?.title ?? a.thread?.title ?? "";
    live.prepend(h("li", {}, h("time", {}, date(a.committedAt)), " ", t(`activity.${a.kind}`), " ", a.mask ? maskLink(a.mask) : null, what ? [" · ", userText(what)] : null));
  });
}
