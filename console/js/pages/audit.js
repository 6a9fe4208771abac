// /console/audit — what a council checks: the log's head, the latest epoch's cut of it, what
// `daira audit verify` recomputes, and how to recompute an epoch from the log.

import { h, replace, section, table, note } from "../dom.js";
import { t, num, decimalString, seq } from "../i18n.js";
import { gql } from "../gql.js";

const AUDIT = `query Audit {
  logHead { seq hash }
  epochs { number logSeq logHash parameters { job version name value } }
  economy { issued fees pending transfers }
}`;

export async function render(main) {
  const data = await gql(AUDIT);
  const latest = data.epochs.at(-1);
  const behind = latest ? Number(data.logHead.seq) - Number(latest.logSeq) : null;
  const cmd = (text) => h("pre", { dir: "ltr" }, h("code", {}, text));
  replace(
    main,
    h("h1", {}, t("audit.title")),
    h("p", { class: "lead" }, t("audit.lead")),
    section(
      t("audit.head"),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, t("audit.seq")),
        h("dd", { id: "head-seq" }, seq(data.logHead.seq)),
        h("dt", {}, t("audit.hash")),
        h("dd", {}, h("code", { class: "hash", id: "head-hash" }, data.logHead.hash)),
      ),
      h("p", {}, t("audit.chainExplained")),
    ),
    section(
      t("audit.epochCut"),
      latest
        ? [
            h("p", {}, t("audit.epochAt", { number: latest.number, seq: seq(latest.logSeq) })),
            h("p", {}, h("code", { class: "hash" }, latest.logHash)),
            h("p", {}, behind > 0 ? t("audit.behind", { count: behind }) : t("audit.current")),
          ]
        : note(t("epochs.none")),
    ),
    section(
      t("audit.verifyTitle"),
      h("p", {}, t("audit.verifyText")),
      h("ol", {}, ["audit.check1", "audit.check2", "audit.check3", "audit.check4", "audit.check5"].map((k) => h("li", {}, t(k)))),
      cmd("daira --data DATA audit verify"),
    ),
    section(
      t("audit.recomputeTitle"),
      h("p", {}, t("audit.recomputeText")),
      latest ? cmd(`daira --data DATA audit recompute --epoch ${latest.number}`) : null,
      latest
        ? h(
            "details",
            {},
            h("summary", {}, t("epochs.parameters", { number: latest.number })),
            table(t("epochs.parameters", { number: latest.number }), [t("epochs.job"), t("epochs.version"), t("epochs.name"), t("epochs.value")], latest.parameters.map((p) => [p.job, num(p.version), h("code", {}, p.name), h("code", {}, p.value)])),
          )
        : null,
    ),
    section(
      t("audit.ledgerTitle"),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, t("audit.issued")),
        h("dd", {}, t("common.egp", { amount: decimalString(data.economy.issued) })),
        h("dt", {}, t("audit.fees")),
        h("dd", {}, t("common.egp", { amount: decimalString(data.economy.fees) })),
        h("dt", {}, t("audit.pending")),
        h("dd", {}, t("common.egp", { amount: decimalString(data.economy.pending) })),
        h("dt", {}, t("audit.transfers")),
        h("dd", {}, num(data.economy.transfers)),
      ),
      h("p", {}, t("audit.ledgerText")),
    ),
  );
}
