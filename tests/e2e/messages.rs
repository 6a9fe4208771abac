//! End-to-end encrypted direct messages (issue 22, point 3), end to end: `daira message keys /
//! send / read` (the `daira-client` crate) through a running server. The recipient reads the
//! plaintext; every byte the server stored — the log, the message store, the accounts, the
//! search index, the epochs — is scanned for it and holds none of it; a tampered ciphertext is
//! refused by the client; a blocked mask cannot send; a mask with no keys cannot be sent to;
//! a shadow mask messages without its owner showing; conversations are their owners' only.

use crate::server::{Server, ws};
use crate::{daira, log_seq};

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const ARGS: [&str; 4] = ["--rate-per-ip", "0", "--rate-per-token", "0"];

/// Runs `daira message ARGS` against `server` as `token`, acting as `handle` with `keys`.
fn message(server: &Server, token: &str, handle: &str, keys: &Path, args: &[&str]) -> std::process::Output {
    let url = format!("http://{}/graphql", server.addr);
    daira(&std::env::temp_dir())
        .args(["message", "--server", &url, "--token", token, "--as", handle, "--keys"])
        .arg(keys)
        .args(args)
        .output()
        .unwrap()
}

fn ok_out(output: std::process::Output) -> String {
    let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "daira message failed: {out}{err}");
    out.into_owned()
}

/// Every file under `dir` whose bytes contain `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                files += 1;
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    assert!(files >= 3, "the data directory holds the stores and the index ({files} files)");
    found
}

fn conversations(server: &Server, token: &str, mask: &str) -> Value {
    server.gql(
        "query($as: ID!) { conversations(as: $as, first: 10) { totalCount nodes { with { handle } count } } }",
        json!({"as": mask}),
        Some(token),
    )
}

#[test]
fn sealed_messages_reach_their_recipient_and_nobody_else() {
    story(&[]);
}

#[test]
#[cfg_attr(not(daira_postgres), ignore = "set DAIRA_TEST_POSTGRES_URL to run it against PostgreSQL")]
fn sealed_messages_on_postgresql() {
    let (url, schema) = crate::postgres("daira_dm");
    story(&["--database-url", &url, "--pg-schema", &schema]);
}

/// The story, on the embedded default or with `backend`'s arguments (the message store then
/// lives in PostgreSQL; the scan covers the data directory either way).
fn story(backend: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args: Vec<&str> = ARGS.iter().copied().chain(backend.iter().copied()).collect();
    let server = Server::start_in(&data, false, &args);
    let (amal, amal_pub) = server.user_with_mask("amal", "amal_pub", "PUBLIC");
    let amal_shadow = server.create_mask(&amal, "night_owl", "SHADOW");
    let (bilal, bilal_pub) = server.user_with_mask("bilal", "bilal_pub", "PUBLIC");
    let (carol, _) = server.user_with_mask("carol", "carol_pub", "PUBLIC");
    let keys = |name: &str| dir.path().join(format!("{name}.keys.json"));

    // A session token may begin with '-' (base64url): it is the token, not an option.
    let dashed = message(&server, "-nNotAToken", "amal_pub", &keys("nobody"), &["read"]);
    let said = String::from_utf8_lossy(&dashed.stderr);
    assert!(!dashed.status.success() && said.contains("key file"), "parsed as the token: {said}");

    // Keys: made on each side, published; the server checked the signature.
    assert!(ok_out(message(&server, &amal, "amal_pub", &keys("amal"), &["keys"])).contains("20 one-time pre-keys"));
    ok_out(message(&server, &amal, "night_owl", &keys("owl"), &["keys"]));
    ok_out(message(&server, &bilal, "bilal_pub", &keys("bilal"), &["keys"]));
    let before = log_seq(&server);

    // Bilal watches his messages live.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut live = runtime.block_on(ws::watch(
        &server.ws_url("/graphql/ws"),
        &bilal,
        "subscription($as: ID!) { directMessages(as: $as) { id from { handle } to { handle } ciphertext } }",
        json!({"as": bilal_pub}),
    ));

    // Amal sends; Bilal reads the plaintext back, decrypted on his side.
    let secret = "zarqa-7orriya: نتقابل عند الحيطة الساعة ٥";
    let sent = ok_out(message(&server, &amal, "amal_pub", &keys("amal"), &["send", "--to", "bilal_pub", secret]));
    assert!(sent.starts_with("sent "), "{sent}");
    let delivered = runtime.block_on(ws::next(&mut live, Duration::from_secs(15))).expect("delivered live");
    let delivered = &delivered["payload"]["data"]["directMessages"];
    assert_eq!(
        (delivered["from"]["handle"].as_str(), delivered["to"]["handle"].as_str()),
        (Some("amal_pub"), Some("bilal_pub"))
    );
    let read = ok_out(message(&server, &bilal, "bilal_pub", &keys("bilal"), &["read", "--with", "amal_pub"]));
    assert!(read.contains(&format!("@amal_pub: {secret}")), "{read}");
    // Read again: from the key file (the one-time pre-key it used is gone).
    let again = ok_out(message(&server, &bilal, "bilal_pub", &keys("bilal"), &["read"]));
    assert!(again.contains(secret), "{again}");
    // The sender cannot open what it sealed to another; nor can anyone else.
    let mine = ok_out(message(&server, &amal, "amal_pub", &keys("amal"), &["read", "--with", "bilal_pub"]));
    assert!(!mine.contains(secret) && mine.contains("sealed to its recipient"), "{mine}");

    // A shadow mask messages without its owner showing.
    ok_out(message(&server, &amal, "night_owl", &keys("owl"), &["send", "--to", "bilal_pub", "from the shadows"]));
    let read = ok_out(message(&server, &bilal, "bilal_pub", &keys("bilal"), &["read", "--with", "night_owl"]));
    assert!(read.contains("@night_owl: from the shadows"), "{read}");
    let listed = conversations(&server, &bilal, &bilal_pub);
    assert_eq!(listed["conversations"]["totalCount"], 2, "{listed}");
    assert!(!listed.to_string().contains("amal_pub\",\"count\":2"), "the two masks are two conversations: {listed}");
    let _ = amal_shadow;

    // Nothing the server stored holds the plaintext: not the log (which did not move), the
    // message store, the accounts, the search index or the epochs.
    assert_eq!(log_seq(&server), before, "messages are not in the log");
    for needle in [secret.as_bytes(), "zarqa-7orriya".as_bytes(), "نتقابل عند الحيطة".as_bytes(), b"from the shadows"]
    {
        assert_eq!(holding(&data, needle), Vec::<String>::new(), "{}", String::from_utf8_lossy(needle));
    }

    // Conversations are their owners': another user is told the mask does not exist.
    for query in [
        "query($as: ID!) { conversations(as: $as, first: 10) { totalCount } }",
        "query($as: ID!, $w: ID!) { messages(as: $as, with: $w, first: 5) { totalCount } }",
    ] {
        let variables =
            if query.contains("$w") { json!({"as": bilal_pub, "w": amal_pub}) } else { json!({"as": bilal_pub}) };
        let reply = server.post(&json!({"query": query, "variables": variables}), Some(&carol));
        let body = reply.json();
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
        assert!(!body.to_string().contains("amal_pub"), "{body}");
    }

    // A tampered ciphertext: stored as sent, refused by the recipient's client.
    let bundle = server.gql(
        "query($m: ID!) { node(id: $m) { ... on Mask { keyBundle { identityKey signedPreKey signature oneTimePreKey { id key } } } } }",
        json!({"m": bilal_pub}),
        Some(&amal),
    )["node"]["keyBundle"]
        .clone();
    let one_time =
        bundle["oneTimePreKey"]["id"].as_u64().map(|id| (id as u32, bundle["oneTimePreKey"]["key"].as_str().unwrap()));
    let bundle = daira_client::Bundle::decode(
        bundle["identityKey"].as_str().unwrap(),
        bundle["signedPreKey"].as_str().unwrap(),
        bundle["signature"].as_str().unwrap(),
        one_time,
    )
    .unwrap();
    let sealed =
        daira_client::Keys::load(&keys("amal")).unwrap().seal(&bundle, b"pay 500 to the wrong account").unwrap();
    let mut tampered = sealed.ciphertext.clone();
    tampered[3] ^= 0x20;
    let send = "mutation($i: SendMessageInput!) { sendMessage(input: $i) { message { id } userErrors { field message code } } }";
    let stored = server.gql(
        send,
        json!({"i": {"as": amal_pub, "to": bilal_pub, "header": daira_client::b64(&sealed.header), "ciphertext": daira_client::b64(&tampered)}}),
        Some(&amal),
    );
    assert_eq!(stored["sendMessage"]["userErrors"], json!([]), "the server cannot tell: {stored}");
    let read = ok_out(message(&server, &bilal, "bilal_pub", &keys("bilal"), &["read", "--with", "amal_pub"]));
    assert!(read.contains("refused: the message does not open"), "{read}");
    assert!(!read.contains("wrong account"), "{read}");

    // Refusals, nothing stored: a mask with no keys; a blocked sender; bad envelopes.
    let count = |server: &Server| conversations(server, &bilal, &bilal_pub)["conversations"]["nodes"].to_string();
    let refused = |token: &str, input: Value| {
        let before = count(&server);
        let data = server.gql(send, json!({"i": input}), Some(token));
        assert_eq!(count(&server), before, "nothing stored: {data}");
        data["sendMessage"]["userErrors"][0].clone()
    };
    let header = daira_client::b64(&sealed.header);
    let body = daira_client::b64(&sealed.ciphertext);
    let carol_pub = server.gql("{ mask(handle: \"carol_pub\") { id } }", json!({}), None)["mask"]["id"].clone();
    let e = refused(&amal, json!({"as": amal_pub, "to": carol_pub, "header": header, "ciphertext": body}));
    assert_eq!((e["code"].as_str(), e["field"].clone()), (Some("NO_KEYS"), json!(["input", "to"])), "{e}");
    let e = refused(&amal, json!({"as": amal_pub, "to": bilal_pub, "header": header, "ciphertext": ""}));
    assert_eq!(e["code"], "TEXT_EMPTY", "{e}");
    let huge = daira_client::b64(&vec![7u8; 64 * 1024 + 1]);
    let e = refused(&amal, json!({"as": amal_pub, "to": bilal_pub, "header": header, "ciphertext": huge}));
    assert_eq!(e["code"], "TEXT_TOO_LONG", "{e}");
    let e = refused(&amal, json!({"as": amal_pub, "to": bilal_pub, "header": "not base64!", "ciphertext": body}));
    assert_eq!(e["code"], "BAD_USER_INPUT", "{e}");
    let e = refused(&carol, json!({"as": amal_pub, "to": bilal_pub, "header": header, "ciphertext": body}));
    assert_eq!(e["code"], "NOT_FOUND", "acting as another's mask: {e}");
    let block = "mutation($i: BlockMaskInput!) { blockMask(input: $i) { ok userErrors { field message code } } }";
    let blocked = server.gql(block, json!({"i": {"as": bilal_pub, "mask": amal_pub}}), Some(&bilal));
    assert_eq!(blocked["blockMask"]["ok"], true, "{blocked}");
    let e = refused(&amal, json!({"as": amal_pub, "to": bilal_pub, "header": header, "ciphertext": body}));
    assert_eq!((e["code"].as_str(), e["field"].clone()), (Some("BLOCKED"), json!(["input", "to"])), "{e}");
    let cli = message(&server, &amal, "amal_pub", &keys("amal"), &["send", "--to", "bilal_pub", "hello?"]);
    assert!(!cli.status.success() && String::from_utf8_lossy(&cli.stderr).contains("BLOCKED"), "{cli:?}");
    // The block is of that mask alone: the shadow mask still reaches him.
    ok_out(message(&server, &amal, "night_owl", &keys("owl"), &["send", "--to", "bilal_pub", "still here"]));

    // Deleted by a participant: gone from the server for both.
    let list = "query($as: ID!, $w: ID!) { messages(as: $as, with: $w, first: 50) { totalCount nodes { id } } }";
    let theirs = server.gql(list, json!({"as": bilal_pub, "w": amal_pub}), Some(&bilal));
    let n = theirs["messages"]["totalCount"].as_u64().unwrap();
    let first = theirs["messages"]["nodes"][0]["id"].clone();
    let deleted = server.gql(
        "mutation($i: DeleteMessageInput!) { deleteMessage(input: $i) { ok userErrors { code } } }",
        json!({"i": {"as": bilal_pub, "id": first}}),
        Some(&bilal),
    );
    assert_eq!(deleted["deleteMessage"]["ok"], true, "{deleted}");
    let mine = server.gql(list, json!({"as": amal_pub, "w": bilal_pub}), Some(&amal));
    assert_eq!(mine["messages"]["totalCount"].as_u64(), Some(n - 1), "{mine}");
    assert!(server.terminate().success());
    // After the server stopped (its write-ahead logs folded in), still nothing.
    assert_eq!(holding(&data, secret.as_bytes()), Vec::<String>::new());
}

/// The attack: a user publishes one key file's keys for two of their masks (as a careless
/// client would); anyone comparing the masks' public identity keys would then see that one
/// person holds both. The second publication must be refused (the refusal reaches only the
/// key's holder: nobody else can sign with it), and the two masks' keys never match.
#[test]
fn one_key_for_two_masks_is_refused_so_keys_never_link_masks() {
    let server = Server::start(false, &ARGS);
    let (amal, amal_pub) = server.user_with_mask("amal", "amal_pub", "PUBLIC");
    let shadow = server.create_mask(&amal, "quiet_one", "SHADOW");
    let (stranger, _) = server.user_with_mask("stranger", "stranger_pub", "PUBLIC");
    let keys = daira_client::Keys::generate(2).unwrap().published();
    let publish = "mutation($i: PublishKeysInput!) { publishKeys(input: $i) { oneTimePreKeys userErrors { field message code } } }";
    let input = |mask: &str| {
        let one_time: Vec<Value> = keys.one_time_pre_keys.iter().map(|(id, k)| json!({"id": id, "key": k})).collect();
        json!({"i": {"as": mask, "identityKey": keys.identity_key, "signedPreKey": keys.signed_pre_key, "signature": keys.signature, "oneTimePreKeys": one_time}})
    };
    let first = server.gql(publish, input(&amal_pub), Some(&amal));
    assert_eq!(first["publishKeys"]["userErrors"], json!([]), "{first}");
    let second = server.gql(publish, input(&shadow), Some(&amal));
    assert_eq!(second["publishKeys"]["userErrors"][0]["code"], "BAD_USER_INPUT", "{second}");
    let key = |mask: &str| {
        server.gql(
            "query($m: ID!) { node(id: $m) { ... on Mask { identityKey } } }",
            json!({"m": mask}),
            Some(&stranger),
        )["node"]["identityKey"]
            .clone()
    };
    assert_ne!(key(&amal_pub), key(&shadow), "one identity key on two masks links them");
    assert!(server.terminate().success());
}
