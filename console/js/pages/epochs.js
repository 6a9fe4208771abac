// /console/epochs?from=A&to=B — the kept epochs (log position, chain hash, parameters) and the
// difference between two: the biggest risers and fallers in trust.

import { h, replace, section, table, maskLink, note } from "../dom.js";
import { t, num, seq, signed } from "../i18n.js";
import { gql } from "../gql.js";
import { navigate } from "../app.js";

const EPOCHS = `query Epochs {
  epochs { number logSeq logHash computedInMs modularity clusterCount parameters { job version name value } }
}`;

const DIFF = `query Diff($from: Int!, $to: Int!) {
  reputationChanges(from: $from, to: $to, first: 100) {
    totalCount
    nodes { mask { id handle } trustBefore trustAfter contributionBefore contributionAfter }
  }
}`;

export async function render(main, _params, query) {
  const { epochs } = await gql(EPOCHS);
  replace(main, h("h1", {}, t("epochs.title")), h("p", { class: "lead" }, t("epochs.lead")));
  if (!epochs.length) {
    main.append(note(t("epochs.none")));
    return;
  }
  main.append(
    section(
      t("epochs.kept", { count: epochs.length }),
      table(
        t("epochs.kept", { count: epochs.length }),
        [t("epochs.number"), t("epochs.logSeq"), t("epochs.logHash"), t("epochs.clusters"), t("epochs.modularity"), t("epochs.took")],
        epochs.map((e) => [num(e.number), seq(e.logSeq), h("code", { class: "hash" }, e.logHash), num(e.clusterCount), num(e.modularity), t("epochs.ms", { ms: Math.round(e.computedInMs) })]),
      ),
      h(
        "details",
        {},
        h("summary", {}, t("epochs.parameters", { number: epochs.at(-1).number })),
        table(t("epochs.parameters", { number: epochs.at(-1).number }), [t("epochs.job"), t("epochs.version"), t("epochs.name"), t("epochs.value")], epochs.at(-1).parameters.map((p) => [p.job, num(p.version), h("code", {}, p.name), h("code", {}, p.value)])),
      ),
    ),
  );
  const numbers = epochs.map((e) => e.number);
  const to = numbers.includes(Number(query.get("to"))) ? Number(query.get("to")) : numbers.at(-1);
  const fromDefault = numbers.length > 1 ? numbers.at(-2) : numbers[0];
  const from = numbers.includes(Number(query.get("from"))) ? Number(query.get("from")) : fromDefault;
  const pick = (id, label, value) =>
    h("p", { class: "field" }, h("label", { for: id }, label), h("select", { id, name: id }, numbers.map((n) => h("option", { value: n, selected: n === value }, t("epochs.epoch", { number: n })))));
  const form = h(
    "form",
    {
      class: "inline-form",
      onsubmit: (e) => {
        e.preventDefault();
        const data = new FormData(e.target);
        navigate(`/console/epochs?from=${data.get("from")}&to=${data.get("to")}`);
      },
    },
    pick("from", t("epochs.from"), from),
    pick("to", t("epochs.to"), to),
    h("button", { type: "submit" }, t("epochs.compare")),
  );
  const diff = h("div", { "aria-live": "polite" });
  main.append(section(t("epochs.diffTitle"), form, diff));
  if (from === to) {
    replace(diff, note(t("epochs.sameEpoch")));
    return;
  }
  const { reputationChanges } = await gql(DIFF, { from, to });
  const changes = reputationChanges.nodes.map((c) => ({ ...c, delta: c.trustAfter - c.trustBefore }));
  const risers = changes.filter((c) => c.delta > 0).sort((a, b) => b.delta - a.delta).slice(0, 15);
  const fallers = changes.filter((c) => c.delta < 0).sort((a, b) => a.delta - b.delta).slice(0, 15);
  const rows = (list) => list.map((c) => [maskLink(c.mask), num(c.trustBefore), num(c.trustAfter), h("span", { class: c.delta > 0 ? "up" : "down" }, signed(c.delta))]);
  const columns = [t("mask.handle"), t("epochs.before"), t("epochs.after"), t("epochs.change")];
  replace(
    diff,
    h("p", {}, t("epochs.diffSummary", { from, to, count: reputationChanges.totalCount })),
    h("div", { class: "grid" }, section(t("epochs.risers"), table(t("epochs.risers"), columns, rows(risers))), section(t("epochs.fallers"), table(t("epochs.fallers"), columns, rows(fallers)))),
  );
}
