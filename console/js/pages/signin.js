// /console/signin — sign in (or create an account), then choose the mask to act as (or make
// one). The session token is the API's own (`login`), kept for this tab only.

import { h, replace, failure, section, note } from "../dom.js";
import { t } from "../i18n.js";
import { gql, mutate, session } from "../gql.js";
import { navigate } from "../app.js";

const LOGIN = `mutation Login($login: String!, $password: String!) { login(input: {login: $login, password: $password}) { token userErrors { field message code } } }`;
const REGISTER = `mutation Register($login: String!, $password: String!) { register(input: {login: $login, password: $password}) { token userErrors { field message code } } }`;
const MASKS = `query { viewer { masks(first: 50) { nodes { id handle displayName kind } } } }`;
const CREATE_MASK = `mutation CreateMask($handle: String!, $name: String!, $kind: MaskKind!) {
  createMask(input: {handle: $handle, displayName: $name, kind: $kind}) { mask { id handle } userErrors { field message code } }
}`;

export async function render(main, _params, query) {
  if (session.token) return chooseMask(main, query);
  const status = h("div", { role: "alert" });
  const field = (id, label, type, autocomplete) =>
    h("p", { class: "field" }, h("label", { for: id }, label), h("input", { id, name: id, type, required: true, autocomplete, dir: "ltr" }));
  const form = h(
    "form",
    { class: "stack", id: "signin-form" },
    field("login", t("signin.login"), "text", "username"),
    field("password", t("signin.password"), "password", "current-password"),
    h(
      "p",
      { class: "actions" },
      h("button", { type: "submit", name: "action", value: "login" }, t("signin.submit")),
      " ",
      h("button", { type: "submit", name: "action", value: "register", class: "secondary" }, t("signin.register")),
    ),
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const register = e.submitter?.value === "register";
    const data = new FormData(form);
    for (const b of form.querySelectorAll("button")) b.disabled = true;
    try {
      const payload = await mutate(register ? REGISTER : LOGIN, { login: data.get("login"), password: data.get("password") }, register ? "register" : "login");
      session.token = payload.token;
      window.dispatchEvent(new Event("daira:session"));
      await chooseMask(main, query);
    } catch (error) {
      replace(status, failure(error));
    } finally {
      for (const b of form.querySelectorAll("button")) b.disabled = false;
    }
  });
  replace(main, h("h1", {}, t("signin.title")), h("p", { class: "lead" }, t("signin.lead")), form);
  form.querySelector("input").focus();
}

async function chooseMask(main, query) {
  const data = await gql(MASKS);
  const masks = data.viewer?.masks.nodes ?? [];
  const next = query.get("next");
  const choose = (m) => {
    session.mask = { id: m.id, handle: m.handle };
    window.dispatchEvent(new Event("daira:session"));
    navigate(next && next.startsWith("/console") ? next : `/console/mask/${encodeURIComponent(m.handle)}`);
  };
  const status = h("div", { role: "alert" });
  const create = h(
    "form",
    { class: "stack", id: "create-mask" },
    h("p", { class: "field" }, h("label", { for: "handle" }, t("signin.handle")), h("input", { id: "handle", name: "handle", required: true, pattern: "[a-z0-9_]{3,32}", dir: "ltr", autocomplete: "off" })),
    h("p", { class: "field" }, h("label", { for: "name" }, t("signin.displayName")), h("input", { id: "name", name: "name", required: true, dir: "auto" })),
    h(
      "p",
      { class: "field" },
      h("label", { for: "kind" }, t("mask.kind")),
      h("select", { id: "kind", name: "kind" }, ["PUBLIC", "CREATOR", "CITIZEN", "PRIVATE", "SHADOW"].map((k) => h("option", { value: k }, t(`maskKind.${k}`)))),
    ),
    h("button", { type: "submit" }, t("signin.createMask")),
    status,
  );
  create.addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(create);
    try {
      const payload = await mutate(CREATE_MASK, { handle: form.get("handle"), name: form.get("name"), kind: form.get("kind") }, "createMask");
      choose(payload.mask);
    } catch (error) {
      replace(status, failure(error));
    }
  });
  replace(
    main,
    h("h1", {}, t("signin.chooseTitle")),
    section(
      t("signin.yourMasks"),
      masks.length
        ? h("ul", { class: "choices" }, masks.map((m) => h("li", {}, h("button", { type: "button", onclick: () => choose(m), class: session.mask?.id === m.id ? "current" : null }, h("bdi", { dir: "ltr" }, `@${m.handle}`), " · ", h("span", { dir: "auto" }, m.displayName), " · ", t(`maskKind.${m.kind}`)))))
        : note(t("signin.noMasks")),
    ),
    section(t("signin.newMask"), create),
  );
}
