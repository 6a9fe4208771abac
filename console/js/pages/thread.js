// /console/thread/ID — a thread: its posts in the order written, each with its author, the
// post it answers and its reactions; bodies are shown as the text their authors wrote (never
// parsed as markup). Live from `threadUpdates`; signed in, reply as the acting mask.

import { h, replace, section, maskLink, worldLink, userText, note, failure } from "../dom.js";
import { t, num, date } from "../i18n.js";
import { gql, mutate, subscribe, session } from "../gql.js";

const THREAD = `query Thread($id: ID!) {
  node(id: $id) {
    ... on Thread {
      id title createdAt activeAt postCount author { id handle } world { id name }
      posts(first: 100) {
        totalCount
        nodes { id body createdAt editedAt author { id handle } parent { id author { id handle } } reactions { reaction count } }
      }
    }
  }
}`;

const UPDATES = `subscription Updates($thread: ID!) { threadUpdates(thread: $thread) { kind postId } }`;

const REPLY = `mutation Reply($as: ID, $to: ID!, $body: String!) { reply(input: {as: $as, to: $to, body: $body}) { seq userErrors { field message code } } }`;

const EMOJI = { LIKE: "👍", LOVE: "❤️", LAUGH: "😂", WOW: "😮", SAD: "😢", THANKS: "🙏" };

function post(p, index) {
  return h(
    "li",
    { class: "post", id: `post-${index + 1}` },
    h(
      "p",
      { class: "post-meta" },
      maskLink(p.author),
      " · ",
      h("time", {}, date(p.createdAt)),
      p.editedAt ? [" · ", t("thread.edited")] : null,
      p.parent ? [" · ", t("thread.inReplyTo"), " ", maskLink(p.parent.author)] : null,
    ),
    h("div", { class: "post-body", dir: "auto" }, p.body),
    p.reactions.length
      ? h(
          "p",
          { class: "reactions", "aria-label": t("thread.reactions") },
          p.reactions.map((r) => h("span", { class: "badge", title: t(`reaction.${r.reaction}`) }, `${EMOJI[r.reaction] ?? ""} ${num(r.count)}`)),
        )
      : null,
  );
}

export async function render(main, [id]) {
  const load = () => gql(THREAD, { id }).then((d) => d.node);
  const thread = await load();
  if (!thread?.title) {
    replace(main, h("h1", {}, t("thread.notFound")));
    return;
  }
  document.title = `${thread.title} · ${t("app.name")}`;
  const list = h("ol", { class: "posts", "aria-live": "polite" });
  const count = h("span", {}, num(thread.postCount));
  const show = (t2) => {
    replace(list, t2.posts.nodes.map(post));
    count.textContent = num(t2.postCount);
  };
  show(thread);
  const form = h("div");
  replace(
    main,
    h("h1", { dir: "auto" }, thread.title),
    h("p", { class: "muted" }, worldLink(thread.world), " · ", maskLink(thread.author), " · ", h("time", {}, date(thread.createdAt)), " · ", t("thread.posts"), " ", count),
    section(t("thread.posts"), list),
    form,
  );

  if (session.mask) {
    const body = h("textarea", { id: "reply-body", name: "body", rows: 4, maxlength: 4000, required: true, dir: "auto" });
    const status = h("span", { role: "status" });
    const send = h("button", { type: "submit" }, t("thread.reply"));
    const element = h(
      "form",
      { class: "reply" },
      h("p", { class: "field wide" }, h("label", { for: "reply-body" }, t("thread.replyAs", { handle: session.mask.handle })), body),
      send,
      " ",
      status,
    );
    element.addEventListener("submit", async (e) => {
      e.preventDefault();
      send.disabled = true;
      try {
        await mutate(REPLY, { as: session.mask.id, to: thread.id, body: body.value }, "reply");
        body.value = "";
        replace(status, t("thread.replied"));
        show(await load());
      } catch (error) {
        replace(status, failure(error));
      } finally {
        send.disabled = false;
      }
    });
    replace(form, section(t("thread.reply"), element));
  } else {
    replace(form, note(t("thread.signInToReply")));
  }

  return subscribe(UPDATES, { thread: thread.id }, async () => {
    const now = await load();
    if (now?.posts) show(now);
  });
}
