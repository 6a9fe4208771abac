//! Nobody but its owner learns who owns a shadow mask. The test enumerates the schema by
//! introspection and, for every query field, asks for everything reachable below it (every
//! field whose arguments it can fill, several levels deep) — as a second user and as nobody.
//! It runs the same story on two servers that differ only in who owns the shadow mask (Alice
//! on one, Carol on the other), and the answers, with ids replaced by the names of what they
//! identify, are the same: nothing in any response tells the two worlds apart.

use crate::server::Server;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// The story; `shadow_owner` is "alice" or "carol". Returns the server, Bob's token, the
/// tokens by login, and the ids of the named things.
fn story(shadow_owner: &str) -> (Server, tempfile::TempDir, HashMap<String, String>, HashMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // No epoch while the story is told, however slowly a loaded machine tells it: the one
    // epoch is computed by the second process, over all of it.
    let quiet = ["--rate-per-ip", "0", "--rate-per-token", "0", "--epoch-interval-ms", "3600000"];
    let server = Server::start_in(&data, false, &quiet);
    let mut tokens = HashMap::new();
    let mut ids = HashMap::new();
    for (login, handle) in [("alice", "alice_pub"), ("bob", "bob_pub"), ("carol", "carol_pub"), ("dave", "dave_pub")] {
        let (token, mask) = server.user_with_mask(login, handle, "PUBLIC");
        tokens.insert(login.to_owned(), token);
        ids.insert(handle.to_owned(), mask);
    }
    let shadow = server.create_mask(&tokens[shadow_owner], "night_owl", "SHADOW");
    ids.insert("night_owl".into(), shadow.clone());
    let as_ = |login: &str, query: &str, vars: Value| server.gql(query, vars, Some(&tokens[login]));
    let world = as_("dave", "mutation { createWorld(input: {name: \"Cairo nights\", description: \"ليالي القاهرة\", tags: [\"night\"]}) { world { id } } }", json!({}))["createWorld"]["world"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ids.insert("world".into(), world.clone());
    let work = as_(
        "dave",
        "mutation($w: ID!) { publishWork(input: {world: $w, title: \"Dawn over Bulaq\"}) { work { id } } }",
        json!({"w": world}),
    )["publishWork"]["work"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ids.insert("dave_work".into(), work.clone());
    let (alice_pub, carol_pub, dave_pub) =
        (ids["alice_pub"].clone(), ids["carol_pub"].clone(), ids["dave_pub"].clone());
    for login in ["alice", "carol"] {
        // Both public masks found a world of their own: seeds of trust, like the shadow mask
        // below (a trust job that split pre-trust by owner would halve one of them).
        as_(
            login,
            "mutation($n: String!) { createWorld(input: {name: $n}) { userErrors { message } } }",
            json!({"n": format!("{login}'s corner")}),
        );
        as_(
            login,
            "mutation($w: ID!) { joinWorld(input: {world: $w}) { userErrors { message } } }",
            json!({"w": world}),
        );
        as_(
            login,
            "mutation($m: ID!) { rate(input: {mask: $m, rating: 5}) { userErrors { message } } }",
            json!({"m": dave_pub}),
        );
        as_(login, "mutation($m: ID!) { follow(input: {mask: $m}) { userErrors { message } } }", json!({"m": shadow}));
    }
    let owner = shadow_owner;
    let s = Some(json!(shadow));
    let act = |query: &str, mut vars: Value| {
        vars["s"] = s.clone().unwrap();
        let data = as_(owner, query, vars);
        let payload = data.as_object().unwrap().values().next().unwrap();
        assert_eq!(payload["userErrors"], json!([]), "{query}: {data}");
    };
    act(
        "mutation($s: ID!) { createWorld(input: {as: $s, name: \"Owl's den\"}) { userErrors { message } } }",
        json!({}),
    );
    act(
        "mutation($s: ID!, $w: ID!) { joinWorld(input: {as: $s, world: $w}) { userErrors { message } } }",
        json!({"w": world}),
    );
    act(
        "mutation($s: ID!, $m: ID!) { follow(input: {as: $s, mask: $m}) { userErrors { message } } }",
        json!({"m": alice_pub}),
    );
    act(
        "mutation($s: ID!, $m: ID!) { follow(input: {as: $s, mask: $m}) { userErrors { message } } }",
        json!({"m": carol_pub}),
    );
    act(
        "mutation($s: ID!, $m: ID!) { rate(input: {as: $s, mask: $m, rating: 8}) { userErrors { message } } }",
        json!({"m": dave_pub}),
    );
    act(
        "mutation($s: ID!, $t: ID!) { endorse(input: {as: $s, target: $t}) { userErrors { message } } }",
        json!({"t": work}),
    );
    act(
        "mutation($s: ID!, $m: ID!) { collaborate(input: {as: $s, mask: $m}) { userErrors { message } } }",
        json!({"m": dave_pub}),
    );
    act(
        "mutation($s: ID!, $w: ID!) { publishWork(input: {as: $s, world: $w, title: \"Night owl notes\", description: \"قهوة بالليل\"}) { userErrors { message } } }",
        json!({"w": world}),
    );
    act(
        "mutation($s: ID!, $o: ID!) { remix(input: {as: $s, original: $o, title: \"Dawn, remixed\"}) { userErrors { message } } }",
        json!({"o": work}),
    );
    // Restart: the new process computes one epoch over the whole story (so epoch numbers and
    // positions do not depend on timing), and the index catches up.
    assert!(server.terminate().success());
    let server = Server::start_in(&data, false, &["--rate-per-ip", "0", "--rate-per-token", "0"]);
    let started = std::time::Instant::now();
    loop {
        let hits = server.gql("{ search(query: \"remixed\", first: 1) { totalCount } }", json!({}), None);
        let epochs = server.gql("{ epochs { number } }", json!({}), None);
        if hits["search"]["totalCount"] == 1 && epochs["epochs"].as_array().unwrap().len() == 1 {
            break;
        }
        assert!(started.elapsed().as_secs() < 60, "the epoch and the index never caught up: {hits} {epochs}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    (server, dir, tokens, ids)
}

/// Introspection: type name → its fields (name, args, type).
fn types(server: &Server) -> HashMap<String, Value> {
    let data = server.gql(include_str!("introspection.graphql"), json!({}), None);
    data["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone()))
        .collect()
}

fn named(t: &Value) -> (String, String) {
    let mut t = t;
    while t["ofType"].is_object() {
        t = &t["ofType"];
    }
    (t["name"].as_str().unwrap().to_owned(), t["kind"].as_str().unwrap().to_owned())
}

fn required(arg: &Value) -> bool {
    arg["type"]["kind"] == "NON_NULL" && arg["defaultValue"].is_null()
}

/// What a dump asks about: the mask under test (for every `id`, `mask` and `handle` argument),
/// two more masks (with it, for `ids`), the world, and the words to search for.
pub(crate) struct Probe {
    pub mask: String,
    pub handle: String,
    pub others: [String; 2],
    pub world: String,
    pub query: String,
}

/// Argument values for a field, or None when a required one cannot be filled.
fn arguments(field: &Value, probe: &Probe, page: usize) -> Option<String> {
    let mut out = Vec::new();
    for arg in field["args"].as_array().unwrap() {
        let name = arg["name"].as_str().unwrap();
        let value = match name {
            "first" => Some(page.to_string()),
            "id" | "mask" => Some(format!("{:?}", probe.mask)),
            "ids" => Some(format!("[{:?}, {:?}, {:?}]", probe.mask, probe.others[0], probe.others[1])),
            "world" => Some(format!("{:?}", probe.world)),
            "handle" => Some(format!("{:?}", probe.handle)),
            "query" => Some(format!("{:?}", probe.query)),
            "from" | "to" => Some("1".to_owned()),
            _ => None,
        };
        match value {
            Some(v) if name != "world" || required(arg) => out.push(format!("{name}: {v}")),
            Some(_) => {}
            None if required(arg) => return None,
            None => {}
        }
    }
    Some(if out.is_empty() { String::new() } else { format!("({})", out.join(", ")) })
}

/// Everything reachable below `type_name`, `depth` object levels deep.
fn selection(types: &HashMap<String, Value>, type_name: &str, depth: usize, probe: &Probe, page: usize) -> String {
    let t = &types[type_name];
    let mut parts = vec!["__typename".to_owned()];
    if let Some(possible) = t["possibleTypes"].as_array() {
        for p in possible {
            let name = p["name"].as_str().unwrap();
            parts.push(format!("... on {name} {{ {} }}", selection(types, name, depth, probe, page)));
        }
        return parts.join(" ");
    }
    for field in t["fields"].as_array().into_iter().flatten() {
        let name = field["name"].as_str().unwrap();
        let Some(args) = arguments(field, probe, page) else { continue };
        let (inner, kind) = named(&field["type"]);
        match kind.as_str() {
            "SCALAR" | "ENUM" => parts.push(format!("{name}{args}")),
            _ if depth > 0 => {
                parts.push(format!("{name}{args} {{ {} }}", selection(types, &inner, depth - 1, probe, page)))
            }
            _ => {}
        }
    }
    parts.join(" ")
}

/// Every query field's answer, asked as `token` (or nobody), as deep as the limits allow.
pub(crate) fn dump(server: &Server, token: Option<&str>, probe: &Probe) -> BTreeMap<String, Value> {
    let types = types(server);
    let mut out = BTreeMap::new();
    for field in types["Query"]["fields"].as_array().unwrap() {
        let name = field["name"].as_str().unwrap();
        let mut answered = false;
        for (depth, page) in [(6, 3), (5, 3), (4, 3), (3, 5), (2, 5), (1, 10)] {
            let Some(args) = arguments(field, probe, page) else { break };
            let (inner, kind) = named(&field["type"]);
            let query = match kind.as_str() {
                "SCALAR" | "ENUM" => format!("{{ {name}{args} }}"),
                _ => format!("{{ {name}{args} {{ {} }} }}", selection(&types, &inner, depth, probe, page)),
            };
            let reply = server.post(&json!({ "query": query }), token);
            if reply.status == 400 && reply.code() == "GRAPHQL_VALIDATION_FAILED" || reply.status == 413 {
                continue; // Too deep, too complex or too long for the limits: ask less.
            }
            assert_eq!(reply.status, 200, "{name}: {}", reply.brief());
            out.insert(name.to_owned(), reply.json());
            answered = true;
            break;
        }
        assert!(answered || arguments(field, probe, 1).is_none(), "{name} was never answered");
    }
    out
}

/// Replaces every id by the name of what it identifies and every value that differs between
/// two runs of the same story for reasons of time (hashes, timestamps, cursors) by a mark, and
/// puts every list in a canonical order.
fn canonical(value: &Value, names: &HashMap<String, String>) -> Value {
    match value {
        Value::String(s) => Value::String(names.get(s).cloned().unwrap_or_else(|| s.clone())),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(|v| canonical(v, names)).collect();
            items.sort_by_key(|v| v.to_string());
            Value::Array(items)
        }
        // The clock the contribution job decays from: the time of the epoch.
        Value::Object(map) if map.get("name") == Some(&json!("now_ms")) => json!("·now"),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let v = match k.as_str() {
                    "logHash" | "committedAt" | "expiresAt" | "cursor" | "startCursor" | "endCursor"
                    | "computedInMs" | "hash" | "signature" | "publicKey" => json!("·"),
                    // A signed export: the JSON document inside the string, compared as JSON.
                    "document" => match v.as_str().and_then(|d| serde_json::from_str::<Value>(d).ok()) {
                        Some(document) => canonical(&document, names),
                        None => canonical(v, names),
                    },
                    "id" if !names.contains_key(v.as_str().unwrap_or("")) => json!("·id"),
                    _ => canonical(v, names),
                };
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        // Scores decay with the time of the epoch: six significant digits are the same in both
        // runs; a difference of ownership would move them far more.
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            let x = n.as_f64().unwrap_or(0.0);
            json!(format!("{x:.5e}").parse::<f64>().unwrap_or(x))
        }
        other => other.clone(),
    }
}

/// The first place two answers differ: its path and both values (abridged).
fn difference(a: &Value, b: &Value, path: String) -> Option<(String, String, String)> {
    let brief = |v: &Value| v.to_string().chars().take(600).collect::<String>();
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() && x.keys().eq(y.keys()) => {
            x.iter().find_map(|(k, v)| difference(v, &y[k], format!("{path}.{k}")))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (v, w))| difference(v, w, format!("{path}[{i}]")))
        }
        _ if a == b => None,
        _ => Some((path, brief(a), brief(b))),
    }
}

/// Names for ids: every node's handle, name or title, from the dumps themselves.
fn names(value: &Value, out: &mut HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(id)) = map.get("id") {
                for key in ["handle", "name", "title"] {
                    if let Some(Value::String(label)) = map.get(key) {
                        out.insert(id.clone(), format!("<{label}>"));
                    }
                }
            }
            map.values().for_each(|v| names(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| names(v, out)),
        _ => {}
    }
}

#[test]
fn nobody_but_its_owner_learns_who_owns_a_shadow_mask() {
    let (x, _dir_x, tokens_x, ids_x) = story("alice");
    let (y, _dir_y, tokens_y, ids_y) = story("carol");
    let (bob_x, bob_y) = (tokens_x["bob"].clone(), tokens_y["bob"].clone());
    for (who, token_x, token_y) in [("bob", Some(bob_x.as_str()), Some(bob_y.as_str())), ("nobody", None, None)] {
        let probe = |ids: &HashMap<String, String>| Probe {
            mask: ids["night_owl"].clone(),
            handle: "night_owl".into(),
            others: [ids["alice_pub"].clone(), ids["carol_pub"].clone()],
            world: ids["world"].clone(),
            query: "night owl قهوة".into(),
        };
        let dump_x = dump(&x, token_x, &probe(&ids_x));
        let dump_y = dump(&y, token_y, &probe(&ids_y));
        assert!(dump_x.len() >= 10, "every query field: {:?}", dump_x.keys());
        let (mut names_x, mut names_y) = (HashMap::new(), HashMap::new());
        for (key, id) in &ids_x {
            names_x.insert(id.clone(), format!("<{key}>"));
        }
        for (key, id) in &ids_y {
            names_y.insert(id.clone(), format!("<{key}>"));
        }
        dump_x.values().for_each(|v| names(v, &mut names_x));
        dump_y.values().for_each(|v| names(v, &mut names_y));
        for (field, answer_x) in &dump_x {
            let cx = canonical(answer_x, &names_x);
            let cy = canonical(&dump_y[field], &names_y);
            if let Some((path, a, c)) = difference(&cx, &cy, String::new()) {
                panic!(
                    "as {who}, `{field}` tells who owns the shadow mask at {path}:\nalice owns it: {a}\ncarol owns it: {c}"
                );
            }
            assert!(!answer_x.to_string().contains("\"isMine\":true") || who == "bob", "{field}");
        }
        // The dumps saw the shadow mask and its deeds (or the test proves nothing).
        let text = serde_json::to_string(&dump_x).unwrap();
        for seen in ["night_owl", "Night owl notes", "Dawn, remixed", "alice_pub", "carol_pub"] {
            assert!(text.contains(seen), "{seen} never appeared in the answers as {who}");
        }
    }
    // Acting as someone else's mask is "not found", exactly like a mask that does not exist.
    let as_shadow = x.gql(
        "mutation($s: ID!, $w: ID!) { joinWorld(input: {as: $s, world: $w}) { userErrors { field message code } } }",
        json!({"s": ids_x["night_owl"], "w": ids_x["world"]}),
        Some(&bob_x),
    );
    let as_nothing = x.gql(
        "mutation($s: ID!, $w: ID!) { joinWorld(input: {as: $s, world: $w}) { userErrors { field message code } } }",
        json!({"s": "TUFBQUFBQUFB", "w": ids_x["world"]}),
        Some(&bob_x),
    );
    assert_eq!(as_shadow, as_nothing);
    assert_eq!(as_shadow["joinWorld"]["userErrors"][0]["code"], "NOT_FOUND");
    // The owner does see it as theirs.
    let mine = x.gql(
        "{ viewer { masks(first: 20) { edges { node { handle isMine kind } } } } }",
        json!({}),
        Some(&tokens_x["alice"]),
    );
    let edges = mine["viewer"]["masks"]["edges"].as_array().unwrap();
    assert!(
        edges.iter().any(|e| e["node"]["handle"] == "night_owl"
            && e["node"]["isMine"] == true
            && e["node"]["kind"] == "SHADOW")
    );
}
