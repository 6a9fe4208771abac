// /console/mask/HANDLE — a mask's reputation with its explanation (who trusts it and how much,
// distrust, where its contribution comes from, alignment, community), trust across the kept
// epochs as a chart, its followers live (`maskActivity`), and acting on it: follow, endorse,
// report, as the signed-in user's acting mask.

import { h, replace, section, table, maskLink, worldLink, userText, note, failure } from "../dom.js";
import { t, num, pct, date, dir } from "../i18n.js";
import { gql, mutate, subscribe, session } from "../gql.js";

const MASK = `query Mask($handle: String!) {
  epochs { number }
  mask(handle: $handle) {
    id handle displayName bio kind erased isMine trust
    followers(first: 30) { totalCount nodes { id handle } }
    following(first: 1) { totalCount }
    worlds(first: 20) { nodes { id name } }
    works(first: 10) { totalCount nodes { id title } }
    reputation {
      epoch { number }
      trust trustPercentile sybil
      trustExplanation { beforeDiscount teleport dangling from { mask { id handle } amount } distrust { mask { id handle } amount } }
      contribution
      contributionExplanation { total works { work { id title } amount } collaborations trades governance }
      alignment { intercept viewpoint }
      cluster { id size }
    }
  }
}`;

const ACTIVITY = `subscription MaskActivity($mask: ID!) {
  maskActivity(mask: $mask) { kind seq committedAt actor { id handle } followerCount }
}`;

const FOLLOW = `mutation Follow($as: ID, $mask: ID!) { follow(input: {as: $as, mask: $mask}) { seq userErrors { field message code } } }`;
const UNFOLLOW = `mutation Unfollow($as: ID, $mask: ID!) { unfollow(input: {as: $as, mask: $mask}) { seq userErrors { field message code } } }`;
const ENDORSE = `mutation Endorse($as: ID, $target: ID!) { endorse(input: {as: $as, target: $target}) { seq userErrors { field message code } } }`;
const REPORT = `mutation Report($as: ID, $target: ID!, $reason: String!) { report(input: {as: $as, target: $target, reason: $reason}) { ok userErrors { field message code } } }`;

export async function render(main, [handle]) {
  const data = await gql(MASK, { handle });
  const mask = data.mask;
  if (!mask) {
    replace(main, h("h1", {}, t("mask.notFound")), h("p", {}, h("bdi", { dir: "ltr" }, `@${handle}`)));
    return;
  }
  document.title = `@${mask.handle} · ${t("app.name")}`;
  const r = mask.reputation;
  const followerCount = h("span", { id: "follower-count" }, num(mask.followers.totalCount));
  const followers = h("ul", { class: "inline", id: "followers" }, mask.followers.nodes.map((m) => h("li", { dataset: { id: m.id } }, maskLink(m))));
  const live = h("ol", { class: "activity", "aria-live": "polite", "aria-label": t("mask.activity") });
  const chart = h("div", { class: "chart" }, h("p", { "aria-busy": "true" }, t("common.loading")));
  replace(
    main,
    h("h1", {}, h("bdi", { dir: "ltr" }, `@${mask.handle}`), " ", h("small", { dir: "auto" }, mask.displayName)),
    userText(mask.bio, "p"),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, t("mask.kind")),
      h("dd", {}, mask.kind ? t(`maskKind.${mask.kind}`) : "—"),
      h("dt", {}, t("mask.followers")),
      h("dd", {}, followerCount),
      h("dt", {}, t("mask.following")),
      h("dd", {}, num(mask.following.totalCount)),
      h("dt", {}, t("mask.works")),
      h("dd", {}, num(mask.works.totalCount)),
    ),
    actions(mask),
    r
      ? [
          h(
            "div",
            { class: "grid" },
            section(
              t("mask.trustTitle", { epoch: r.epoch.number }),
              h("p", { class: "big" }, num(r.trust), " ", h("span", { class: "muted" }, t("mask.percentile", { p: pct(r.trustPercentile / 100) }))),
              r.sybil ? h("p", { class: "warning" }, t("mask.sybil")) : null,
              h(
                "dl",
                { class: "facts" },
                h("dt", {}, t("mask.teleport")),
                h("dd", {}, num(r.trustExplanation.teleport)),
                h("dt", {}, t("mask.dangling")),
                h("dd", {}, num(r.trustExplanation.dangling)),
                h("dt", {}, t("mask.beforeDiscount")),
                h("dd", {}, num(r.trustExplanation.beforeDiscount)),
              ),
            ),
            section(
              t("mask.alignmentTitle"),
              h("dl", { class: "facts" }, h("dt", {}, t("mask.intercept")), h("dd", {}, num(r.alignment.intercept)), h("dt", {}, t("mask.viewpoint")), h("dd", {}, num(r.alignment.viewpoint))),
              h("h3", {}, t("mask.cluster")),
              r.cluster ? h("p", {}, h("a", { href: `/console/clusters/${encodeURIComponent(r.cluster.id)}` }, t("mask.clusterOf", { size: r.cluster.size }))) : note(t("mask.noCluster")),
            ),
          ),
          h(
            "div",
            { class: "grid" },
            section(
              t("mask.trustedBy"),
              h("p", { class: "muted" }, t("mask.trustedByText")),
              table(t("mask.trustedBy"), [t("mask.handle"), t("mask.share")], r.trustExplanation.from.map((f) => [maskLink(f.mask), num(f.amount)])),
            ),
            section(
              t("mask.distrust"),
              table(t("mask.distrust"), [t("mask.handle"), t("mask.share")], r.trustExplanation.distrust.map((f) => [maskLink(f.mask), num(f.amount)])),
            ),
          ),
          section(
            t("mask.contribution", { total: num(r.contribution) }),
            h(
              "dl",
              { class: "facts" },
              h("dt", {}, t("mask.fromCollaborations")),
              h("dd", {}, num(r.contributionExplanation.collaborations)),
              h("dt", {}, t("mask.fromTrades")),
              h("dd", {}, num(r.contributionExplanation.trades)),
              h("dt", {}, t("mask.fromGovernance")),
              h("dd", {}, num(r.contributionExplanation.governance)),
            ),
            table(t("mask.fromWorks"), [t("work.title"), t("mask.share")], r.contributionExplanation.works.map((w) => [userText(w.work.title), num(w.amount)])),
          ),
          section(t("mask.trustOverTime"), chart),
        ]
      : note(t("mask.noEpoch")),
    h(
      "div",
      { class: "grid" },
      section(t("mask.followersTitle"), followers),
      section(t("mask.worlds"), mask.worlds.nodes.length ? h("ul", { class: "inline" }, mask.worlds.nodes.map((w) => h("li", {}, worldLink(w)))) : note(t("common.none"))),
    ),
    section(t("mask.activity"), session.token ? live : note(t("common.signInForLive"))),
  );
  if (r) trustHistory(chart, mask, data.epochs.map((e) => e.number)).catch((error) => replace(chart, failure(error)));

  return subscribe(ACTIVITY, { mask: mask.id }, ({ maskActivity: a }) => {
    if (a.followerCount !== null && a.followerCount !== undefined) followerCount.textContent = num(a.followerCount);
    if (a.kind === "FOLLOWED" && a.actor && !followers.querySelector(`[data-id="${CSS.escape(a.actor.id)}"]`)) {
      followers.prepend(h("li", { dataset: { id: a.actor.id } }, maskLink(a.actor)));
    }
    if (a.kind === "UNFOLLOWED" && a.actor) followers.querySelector(`[data-id="${CSS.escape(a.actor.id)}"]`)?.remove();
    live.prepend(h("li", {}, h("time", {}, date(a.committedAt)), " ", t(`maskActivity.${a.kind}`), " ", a.actor ? maskLink(a.actor) : null));
  });
}

/** Follow, endorse and report, as the acting mask (not on one's own masks). */
function actions(mask) {
  const acting = session.mask;
  if (!acting) return h("p", { class: "muted" }, h("a", { href: "/console/signin" }, t("nav.signin")), " ", t("mask.signInToAct"));
  if (mask.isMine) return h("p", { class: "muted" }, t("mask.yours"));
  const status = h("p", { role: "status", class: "status" });
  const run = (label, action) =>
    h("button", {
      type: "button",
      onclick: async (e) => {
        e.target.disabled = true;
        try {
          replace(status, await action());
        } catch (error) {
          replace(status, failure(error));
        } finally {
          e.target.disabled = false;
        }
      },
    }, label);
  const reason = h("input", { id: "report-reason", type: "text", maxlength: 500, dir: "auto" });
  return h(
    "div",
    { class: "actions" },
    run(t("mask.follow"), async () => (await mutate(FOLLOW, { as: acting.id, mask: mask.id }, "follow"), t("mask.followed"))),
    run(t("mask.unfollow"), async () => (await mutate(UNFOLLOW, { as: acting.id, mask: mask.id }, "unfollow"), t("mask.unfollowed"))),
    run(t("mask.endorse"), async () => (await mutate(ENDORSE, { as: acting.id, target: mask.id }, "endorse"), t("mask.endorsed"))),
    h(
      "details",
      {},
      h("summary", {}, t("mask.report")),
      h("p", { class: "field" }, h("label", { for: "report-reason" }, t("mask.reportReason")), reason),
      run(t("mask.sendReport"), async () => (await mutate(REPORT, { as: acting.id, target: mask.id, reason: reason.value }, "report"), t("mask.reported"))),
    ),
    status,
  );
}

/** Trust in every kept epoch, as an SVG line chart with the numbers in a table beside it. */
async function trustHistory(el, mask, epochs) {
  if (!epochs.length) return replace(el, note(t("epochs.none")));
  const fields = epochs.map((n) => `e${n}: reputation(epoch: ${n}) { trust }`).join(" ");
  const data = await gql(`query History($handle: String!) { mask(handle: $handle) { ${fields} } }`, { handle: mask.handle });
  const points = epochs.map((n) => ({ epoch: n, trust: data.mask[`e${n}`]?.trust ?? null })).filter((p) => p.trust !== null);
  const width = 480;
  const height = 160;
  const pad = 36;
  const max = Math.max(...points.map((p) => p.trust), 1e-12);
  const x = (i) => pad + (points.length === 1 ? (width - 2 * pad) / 2 : (i * (width - 2 * pad)) / (points.length - 1));
  const y = (v) => height - pad + 8 - (v / max) * (height - 2 * pad);
  const svgNs = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, ...children) => {
    const e = document.createElementNS(svgNs, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    for (const c of children) e.append(c);
    return e;
  };
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": t("mask.trustOverTime"), class: "line-chart", direction: "ltr" });
  svg.append(s("line", { x1: pad, y1: height - pad + 8, x2: width - pad, y2: height - pad + 8, class: "axis" }));
  svg.append(s("line", { x1: pad, y1: y(max), x2: width - pad, y2: y(max), class: "axis" }));
  svg.append(s("text", { x: 4, y: y(max) + 4, class: "tick" }, num(max)));
  svg.append(s("text", { x: 4, y: y(0) + 4, class: "tick" }, num(0)));
  if (points.length > 1) svg.append(s("polyline", { points: points.map((p, i) => `${x(i)},${y(p.trust)}`).join(" "), class: "series" }));
  points.forEach((p, i) => {
    svg.append(s("circle", { cx: x(i), cy: y(p.trust), r: 4, class: "dot" }, s("title", {}, `${t("epochs.epoch", { number: p.epoch })}: ${num(p.trust)}`)));
    svg.append(s("text", { x: x(i), y: height - 6, "text-anchor": "middle", class: "tick" }, num(p.epoch)));
  });
  replace(
    el,
    h("div", { dir: "ltr", class: "chart-box" }, svg),
    h("div", { dir }, table(t("mask.trustOverTime"), [t("epochs.number"), t("mask.trust")], points.map((p) => [num(p.epoch), num(p.trust)]))),
  );
}
