//! The console (`console/` at the workspace root): a web app for curators and councils, served
//! from the binary at `/console` and every `/console/…` route (client-side routing over real
//! URLs: each serves the same page). Its files are compiled in (`include_bytes!`), so a server
//! needs nothing beside it and no network; they are served gzip-compressed to clients that
//! accept it (compressed once, on first use).
//!
//! The page is written for its language: `?lang=ar|en` (remembered in a cookie), else the
//! `daira_lang` cookie, else `Accept-Language`, else Arabic. `<html lang dir>` follow it and
//! the language's message file is embedded in the page, so the first paint is already in the
//! reader's language and direction.

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

/// One file of the console.
struct Asset {
    path: &'static str,
    media: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $media:expr),* $(,)?) => {
        &[$(Asset {
            path: $path,
            media: $media,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../console/", $path)),
        }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the console serves (`console_files_are_all_served` checks none is missing).
static ASSETS: &[Asset] = assets! {
    "style.css" => "text/css; charset=utf-8",
    "js/app.js" => JS,
    "js/dom.js" => JS,
    "js/gql.js" => JS,
    "js/graph.js" => JS,
    "js/i18n.js" => JS,
    "js/pages/audit.js" => JS,
    "js/pages/clusters.js" => JS,
    "js/pages/epochs.js" => JS,
    "js/pages/governance.js" => JS,
    "js/pages/home.js" => JS,
    "js/pages/mask.js" => JS,
    "js/pages/search.js" => JS,
    "js/pages/signin.js" => JS,
    "js/pages/thread.js" => JS,
    "js/pages/world.js" => JS,
    "vendor/graphology.umd.min.js" => JS,
    "vendor/sigma.min.js" => JS,
    "vendor/LICENSES.txt" => "text/plain; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
};

const INDEX: &str = include_str!("../../console/index.html");
const MESSAGES_AR: &str = include_str!("../../console/i18n/ar.json");
const MESSAGES_EN: &str = include_str!("../../console/i18n/en.json");

/// The console's languages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Arabic, right to left (the default).
    Ar,
    /// English.
    En,
}

impl Lang {
    fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ar" => Some(Lang::Ar),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Lang::Ar => "ar",
            Lang::En => "en",
        }
    }

    fn dir(self) -> &'static str {
        match self {
            Lang::Ar => "rtl",
            Lang::En => "ltr",
        }
    }

    fn messages(self) -> &'static str {
        match self {
            Lang::Ar => MESSAGES_AR,
            Lang::En => MESSAGES_EN,
        }
    }
}

/// The language of `Accept-Language`: the acceptable one (ar, en or a regional variant) of
/// the highest quality, the first listed on a tie; None when it names neither.
pub fn accept_language(value: &str) -> Option<Lang> {
    let mut best: Option<(f32, Lang)> = None;
    for range in value.split(',') {
        let mut parts = range.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let primary = tag.split('-').next().unwrap_or("");
        let Some(lang) = Lang::parse(primary) else { continue };
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
            .next()
            .unwrap_or(1.0);
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

/// The language a request gets: `?lang`, the cookie, `Accept-Language`, Arabic.
fn choose(query: &HashMap<String, String>, headers: &HeaderMap) -> (Lang, bool) {
    if let Some(lang) = query.get("lang").and_then(|l| Lang::parse(l)) {
        return (lang, true);
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("daira_lang=").and_then(Lang::parse));
    if let Some(lang) = cookie {
        return (lang, false);
    }
    let accepted = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(accept_language);
    (accepted.unwrap_or(Lang::Ar), false)
}

/// The page for a language (built once per language).
fn page(lang: Lang) -> &'static str {
    static PAGES: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    PAGES[lang as usize].get_or_init(|| {
        let title = serde_json::from_str::<serde_json::Value>(lang.messages())
            .ok()
            .and_then(|m| m["app.name"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "DAIRA".to_owned());
        // JSON inside <script> must not close it: `</` is written `<\/` (the same string).
        // Every module at once: without this the browser finds them level by level (app.js,
        // then the pages, then what they import), a round trip each.
        let preloads: String = ASSETS
            .iter()
            .filter(|a| a.path.starts_with("js/"))
            .map(|a| format!("<link rel=\"modulepreload\" href=\"/console/assets/{}\">\n", a.path))
            .collect();
        INDEX
            .replace("{{PRELOADS}}", preloads.trim_end())
            .replace("{{LANG}}", lang.code())
            .replace("{{DIR}}", lang.dir())
            .replace("{{TITLE}}", &title)
            .replace("{{MESSAGES}}", &lang.messages().replace("</", "<\\/"))
    })
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `GET /console`.
pub async fn index(query: Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    serve_page(&query, &headers)
}

/// `GET /console/{*path}`: a file under `assets/`, else the page (the client routes it).
pub async fn route(Path(path): Path<String>, query: Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    match path.strip_prefix("assets/") {
        Some(file) => asset(file, &headers),
        None => serve_page(&query, &headers),
    }
}

fn serve_page(query: &HashMap<String, String>, headers: &HeaderMap) -> Response {
    let (lang, chosen) = choose(query, headers);
    let mut response = compressed(page(lang).as_bytes(), headers, lang as usize + ASSETS.len()).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.code()));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Language, Cookie, Accept-Encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if chosen {
        let cookie = format!("daira_lang={}; Path=/console; Max-Age=31536000; SameSite=Lax", lang.code());
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.insert(header::SET_COOKIE, v);
        }
    }
    response
}

fn asset(file: &str, headers: &HeaderMap) -> Response {
    let Some((i, found)) = ASSETS.iter().enumerate().find(|(_, a)| a.path == file) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such file in the console",
        )
            .into_response();
    };
    let mut response = compressed(found.bytes, headers, i).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(found.media));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The files change with the binary: revalidate (cheap on loopback), never serve stale code.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

/// The body, gzip-compressed when the client accepts it, with an `ETag` (its BLAKE3, so a
/// new binary's files are new), or a 304 when the client holds it already. Each body is
/// compressed and hashed once; `slot` names it among the console's bodies.
fn compressed(bytes: &'static [u8], headers: &HeaderMap, slot: usize) -> Response {
    /// A body compressed, and its entity tag.
    type Prepared = OnceLock<(Vec<u8>, HeaderValue)>;
    static PREPARED: OnceLock<Vec<Prepared>> = OnceLock::new();
    let slots = PREPARED.get_or_init(|| (0..ASSETS.len() + 2).map(|_| OnceLock::new()).collect());
    let (gzipped, etag) = slots[slot].get_or_init(|| {
        let tag = format!("\"{}\"", &blake3::hash(bytes).to_hex()[..20]);
        (gzip(bytes), HeaderValue::from_str(&tag).expect("hex is a header value"))
    });
    let held = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().trim_start_matches("W/") == etag.to_str().unwrap_or(""));
    let mut response = if held {
        StatusCode::NOT_MODIFIED.into_response()
    } else if accepts_gzip(headers) {
        let mut r = Bytes::from(gzipped.clone()).into_response();
        r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        Bytes::from_static(bytes).into_response()
    };
    response.headers_mut().insert(header::ETAG, etag.clone());
    response
}

/// Whether `Accept-Encoding` allows gzip.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused =
                parts.any(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()) == Some(0.0));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        },
    )
}

/// `bytes` gzip-compressed at the best level.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// The console's JavaScript and CSS, compressed, in bytes (for the size budget).
pub fn compressed_code_size() -> usize {
    ASSETS.iter().filter(|a| a.path.ends_with(".js") || a.path.ends_with(".css")).map(|a| gzip(a.bytes).len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_takes_the_best_quality() {
        assert_eq!(accept_language("en-US,en;q=0.9,ar;q=0.8"), Some(Lang::En));
        assert_eq!(accept_language("fr-FR, ar-EG;q=0.9, en;q=0.5"), Some(Lang::Ar));
        assert_eq!(accept_language("en;q=0.4, ar;q=0.6"), Some(Lang::Ar));
        assert_eq!(accept_language("de, fr"), None);
        assert_eq!(accept_language("ar;q=0, en;q=0.1"), Some(Lang::En));
    }

    #[test]
    fn console_files_are_all_served() {
        // Every file under console/ that the page loads is in ASSETS: a new page module that is
        // not listed would be a 404 in the browser.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../console");
        let mut missing = Vec::new();
        for dir in ["js", "js/pages", "vendor"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    let rel = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
                    if !ASSETS.iter().any(|a| a.path == rel) {
                        missing.push(rel);
                    }
                }
            }
        }
        assert!(missing.is_empty(), "not in console.rs's ASSETS: {missing:?}");
    }

    #[test]
    fn both_languages_have_every_message() {
        let ar: serde_json::Map<String, serde_json::Value> = serde_json::from_str(MESSAGES_AR).unwrap();
        let en: serde_json::Map<String, serde_json::Value> = serde_json::from_str(MESSAGES_EN).unwrap();
        let only_ar: Vec<_> = ar.keys().filter(|k| !en.contains_key(*k)).collect();
        let only_en: Vec<_> = en.keys().filter(|k| !ar.contains_key(*k)).collect();
        assert!(only_ar.is_empty() && only_en.is_empty(), "only in ar: {only_ar:?}; only in en: {only_en:?}");
        // Every t("key") in the code has a message.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../console/js");
        let mut unknown = Vec::new();
        for asset in ASSETS.iter().filter(|a| a.path.starts_with("js/")) {
            let code = std::fs::read_to_string(root.join(asset.path.trim_start_matches("js/"))).unwrap();
            for (i, _) in code.match_indices("t(\"") {
                let before = code[..i].chars().next_back().unwrap_or(' ');
                if before.is_alphanumeric() || matches!(before, '_' | '$' | '.') {
                    continue; // select("…"), not t("…")
                }
                let key: String = code[i + 3..].chars().take_while(|&c| c != '"').collect();
                if !en.contains_key(&key) {
                    unknown.push(format!("{}: {key}", asset.path));
                }
            }
        }
        assert!(unknown.is_empty(), "messages missing from both files: {unknown:?}");
    }

    #[test]
    fn gzip_is_sent_to_those_who_accept_it() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&h)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, gzip;q=0.8"));
        assert!(!with("gzip;q=0, br"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn the_page_is_written_in_its_language() {
        let ar = page(Lang::Ar);
        assert!(ar.contains(r#"<html lang="ar" dir="rtl">"#), "{ar}");
        let en = page(Lang::En);
        assert!(en.contains(r#"<html lang="en" dir="ltr">"#), "{en}");
        assert!(!en.contains("{{"), "a placeholder left: {en}");
    }

    #[test]
    fn the_code_stays_under_its_budget() {
        // The issue's budget: JS and CSS under 500 kB compressed, the graph library included.
        let size = compressed_code_size();
        assert!(size < 500_000, "{size} bytes compressed");
    }
}
