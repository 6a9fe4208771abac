// Language: the server picked it (`?lang=`, the `daira_lang` cookie, then Accept-Language) and
// wrote it into <html lang dir> with the messages of that language; everything the console
// says comes from that one message file (console/i18n/LANG.json). Numbers and dates go through
// Intl, in Egyptian Arabic (ar-EG: Arabic-Indic digits) or English.

const root = document.documentElement;
export const lang = root.lang === "en" ? "en" : "ar";
export const dir = lang === "ar" ? "rtl" : "ltr";
const locale = lang === "ar" ? "ar-EG" : "en-GB";
const messages = JSON.parse(document.getElementById("messages").textContent);

/** The message `key`, with `{name}` placeholders filled from `args` (numbers formatted). */
export function t(key, args = {}) {
  const text = messages[key];
  if (text === undefined) {
    console.warn(`no message ${key} in ${lang}.json`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (_, name) => {
    const v = args[name];
    return typeof v === "number" ? num(v) : String(v ?? "");
  });
}

const integer = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(locale, { maximumFractionDigits: 3 });
const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
const small = new Intl.NumberFormat(locale, { maximumSignificantDigits: 3 });
const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });

/** A number as people read it: integers whole, small scores to three significant digits. */
export function num(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  if (Math.abs(v) < 1e-12) return integer.format(0); // rounding dust, never "-0"
  if (Number.isInteger(v)) return integer.format(v);
  if (Math.abs(v) < 1) return small.format(v);
  return decimal.format(v);
}

const position = new Intl.NumberFormat(locale, { useGrouping: false });

/** A log position (a 64-bit decimal string from the API) in the reader's digits, exactly. */
export function seq(s) {
  return /^\d+$/.test(String(s ?? "")) ? position.format(BigInt(s)) : String(s ?? "—");
}

const change = new Intl.NumberFormat(locale, { maximumSignificantDigits: 3, signDisplay: "exceptZero" });

/** A change, with its sign where the language puts it. */
export const signed = (v) => change.format(Math.abs(v) < 1e-12 ? 0 : v);

/** A fraction 0..=1 as a percentage. */
export const pct = (v) => (v === null || v === undefined ? "—" : percent.format(v));

/** A date: from an ISO string, or milliseconds / microseconds since the epoch. */
export function date(v) {
  if (v === null || v === undefined || v === "") return "—";
  let d;
  if (typeof v === "string" && /^\d+$/.test(v)) {
    const n = Number(v);
    d = new Date(n > 1e14 ? n / 1000 : n);
  } else d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : dateTime.format(d);
}

/** A decimal string from the API ("12.50", a count) as a localised number. */
export function decimalString(s) {
  const n = Number(s);
  return Number.isFinite(n) ? decimal.format(n) : s;
}

/** The URL of the current page in the other language. */
export function otherLanguageHref() {
  const url = new URL(location.href);
  url.searchParams.set("lang", lang === "ar" ? "en" : "ar");
  return url.pathname + url.search;
}
