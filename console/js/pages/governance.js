// /console/proposals and /console/cases — governance across the worlds: proposals with their
// results and run-off rounds, and the public case log with its reasons, appeals and juries.
// `?world=ID` narrows either to one world.

import { h, replace, section, table, maskLink, worldLink, userText, note } from "../dom.js";
import { t, num, pct, date, decimalString, seq } from "../i18n.js";
import { gql } from "../gql.js";

const WORLDS = `query { worlds(first: 50) { nodes { id name } } }`;

const PROPOSALS = `query Proposals($world: ID!) {
  node(id: $world) {
    ... on World {
      id name
      proposals(first: 10) {
        totalCount
        nodes {
          id title method weight topic options opensAt closesAt quorum threshold secret onePersonOneVote
          author { id handle }
          result { status winner counts rounds { counts eliminated } turnout support participation quorumMet thresholdMet seq logHash }
        }
      }
    }
  }
}`;

const CASES = `query Cases($world: ID!) {
  node(id: $world) {
    ... on World {
      id name
      cases(first: 10) {
        totalCount
        nodes {
          id action rule reason status createdAt moderator { id handle }
          appeals { level statement filedAt jury { id handle } votes { juror { id handle } verdict reason } verdict decidedAt seedSeq }
        }
      }
    }
  }
}`;

/** The worlds to show: `?world=`, or every listed world. */
async function worlds(query) {
  const one = query.get("world");
  if (one) return [one];
  const data = await gql(WORLDS);
  return data.worlds.nodes.map((w) => w.id);
}

/** Runs `q` for each world, a few at a time. */
async function perWorld(ids, q) {
  const out = new Array(ids.length);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      out[i] = (await gql(q, { world: ids[i] })).node;
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, ids.length) }, worker));
  return out.filter(Boolean);
}

export async function renderProposals(main, _params, query) {
  replace(main, h("h1", {}, t("proposals.title")), h("p", { class: "lead" }, t("proposals.lead")), h("p", { "aria-busy": "true" }, t("common.loading")));
  const results = await perWorld(await worlds(query), PROPOSALS);
  main.lastChild.remove();
  const any = results.some((w) => w.proposals.nodes.length);
  if (!any) main.append(note(t("proposals.none")));
  for (const w of results.filter((w) => w.proposals.nodes.length)) {
    main.append(section(t("proposals.inWorld", { count: w.proposals.totalCount }), h("p", {}, worldLink(w)), ...w.proposals.nodes.map(proposal)));
  }
}

function proposal(p) {
  const r = p.result;
  const winner = r.winner !== null && r.winner !== undefined ? p.options[r.winner] : null;
  return h(
    "article",
    { class: "proposal" },
    h("h3", { dir: "auto" }, p.title),
    h(
      "p",
      { class: "muted" },
      t(`method.${p.method}`),
      " · ",
      t(`status.${r.status}`),
      " · ",
      t("proposals.by"),
      " ",
      maskLink(p.author),
      " · ",
      t("proposals.closes", { when: date(p.closesAt) }),
      p.secret ? [" · ", t("proposals.secret")] : null,
    ),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, t("proposals.winner")),
      h("dd", {}, winner ? userText(winner) : "—"),
      h("dt", {}, t("proposal.turnout")),
      h("dd", {}, num(r.turnout)),
      h("dt", {}, t("proposals.participation")),
      h("dd", {}, pct(r.participation), " ", r.quorumMet ? t("proposals.quorumMet") : t("proposals.quorumMissed", { quorum: pct(p.quorum) })),
      h("dt", {}, t("proposals.support")),
      h("dd", {}, pct(r.support), " ", r.thresholdMet ? t("proposals.thresholdMet") : t("proposals.thresholdMissed", { threshold: pct(p.threshold) })),
    ),
    r.counts.length
      ? table(t("proposals.counts"), [t("proposals.option"), t("proposals.count")], p.options.map((o, i) => [userText(o), decimalString(r.counts[i] ?? "0")]))
      : note(t("proposals.hiddenWhileOpen")),
    r.rounds.length
      ? h(
          "details",
          {},
          h("summary", {}, t("proposals.rounds", { count: r.rounds.length })),
          table(
            t("proposals.rounds", { count: r.rounds.length }),
            [t("proposals.round"), ...p.options.map((o) => userText(o)), t("proposals.eliminated")],
            r.rounds.map((round, i) => [num(i + 1), ...p.options.map((_, j) => decimalString(round.counts[j] ?? "0")), round.eliminated.map((e) => p.options[e]).join("، ")]),
          ),
        )
      : null,
    r.seq ? h("p", { class: "muted" }, t("proposals.recount", { seq: seq(r.seq) }), " ", h("code", { class: "hash" }, r.logHash)) : null,
  );
}

export async function renderCases(main, _params, query) {
  replace(main, h("h1", {}, t("cases.title")), h("p", { class: "lead" }, t("cases.lead")), h("p", { "aria-busy": "true" }, t("common.loading")));
  const results = await perWorld(await worlds(query), CASES);
  main.lastChild.remove();
  if (!results.some((w) => w.cases.nodes.length)) main.append(note(t("cases.none")));
  for (const w of results.filter((w) => w.cases.nodes.length)) {
    main.append(
      section(
        t("cases.inWorld", { count: w.cases.totalCount }),
        h("p", {}, worldLink(w)),
        table(
          t("cases.inWorld", { count: w.cases.totalCount }),
          [t("case.action"), t("case.rule"), t("case.reason"), t("case.moderator"), t("case.status"), t("case.when"), t("case.appeals")],
          w.cases.nodes.map((c) => [c.action ? t(`action.${c.action}`) : t("cases.awaiting"), userText(c.rule), userText(c.reason), (c.moderator ? maskLink(c.moderator) : t("cases.patrol")), t(`caseStatus.${c.status}`), date(c.createdAt), appeals(c.appeals)]),
        ),
      ),
    );
  }
}

function appeals(list) {
  if (!list.length) return "—";
  return h(
    "ul",
    { class: "appeals" },
    list.map((a) =>
      h(
        "li",
        {},
        t("cases.appeal", { level: a.level }),
        ": ",
        userText(a.statement),
        " — ",
        a.verdict ? t(`verdict.${a.verdict}`) : t("cases.pending"),
        h("br"),
        t("cases.jury"),
        " ",
        a.jury.map((j, i) => [i ? ", " : "", maskLink(j)]),
        a.votes.length ? h("ul", {}, a.votes.map((v) => h("li", {}, maskLink(v.juror), ": ", t(`verdict.${v.verdict}`), " — ", userText(v.reason)))) : null,
        h("span", { class: "muted" }, " ", t("cases.drawnAt", { seq: seq(a.seedSeq) })),
      ),
    ),
  );
}
