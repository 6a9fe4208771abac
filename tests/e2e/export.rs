//! Take everything with you (issue 19, point 5): `exportMyData` gives the signed-in user a JSON
//! document of all they own, signed with Ed25519 by the server's key; the signature is checked
//! here by another implementation (Node's crypto, i.e. OpenSSL) against the key the server
//! publishes, and `daira export --login` gives the operator the same document offline.

use crate::server::Server;
use serde_json::{Value, json};

/// Whether `signature` (base64) is an Ed25519 signature of `document` by `public_key` (base64
/// of 32 bytes), as Node's crypto sees it.
fn node_verifies(document: &str, signature: &str, public_key: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let doc = crate::write(dir.path(), "doc.json", document);
    let script = r#"
        const crypto = require('crypto'); const fs = require('fs');
        const [doc, sig, pub] = [fs.readFileSync(process.argv[1]), process.argv[2], process.argv[3]];
        const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(pub, 'base64')]);
        const key = crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' });
        process.stdout.write(String(crypto.verify(null, doc, key, Buffer.from(sig, 'base64'))));
    "#;
    let out = std::process::Command::new("node")
        .args(["-e", script, doc.to_str().unwrap(), signature, public_key])
        .output()
        .expect("node runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    match String::from_utf8_lossy(&out.stdout).as_ref() {
        "true" => true,
        "false" => false,
        other => panic!("node said {other:?}"),
    }
}

#[test]
fn a_users_data_leaves_whole_and_signed() {
    story(&[]);
}

#[test]
#[cfg_attr(not(daira_postgres), ignore = "set DAIRA_TEST_POSTGRES_URL to run it against PostgreSQL")]
fn a_users_data_leaves_whole_and_signed_from_a_postgresql_log() {
    let (url, schema) = crate::postgres("daira_export");
    story(&["--database-url", &url, "--pg-schema", &schema]);
}

/// The story, on the log `database` names (none: the data directory's SQLite).
fn story(database: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = [database, &["--rate-per-ip", "0", "--rate-per-token", "0"]].concat();
    let server = Server::start_in(&data, false, &args);
    let (rania, _) = server.user_with_mask("rania", "rania_pub", "PUBLIC");
    let shadow = server.create_mask(&rania, "rania_night", "SHADOW");
    let (bob, bob_pub) = server.user_with_mask("bob", "bob_pub", "PUBLIC");
    let ok = |token: &str, query: &str, vars: Value| {
        let data = server.gql(query, vars, Some(token));
        assert_eq!(data.as_object().unwrap().values().next().unwrap()["userErrors"], json!([]), "{data}");
    };
    ok(&rania, "mutation($m: ID!) { follow(input: {mask: $m}) { userErrors { message } } }", json!({"m": bob_pub}));
    ok(
        &rania,
        "mutation($s: ID!, $m: ID!) { rate(input: {as: $s, mask: $m, rating: 6}) { userErrors { message } } }",
        json!({"s": shadow, "m": bob_pub}),
    );
    ok(&rania, "mutation { publishWork(input: {title: \"Felucca at noon\"}) { userErrors { message } } }", json!({}));

    let exported = server.gql("{ exportMyData { document signature publicKey } }", json!({}), Some(&rania));
    let (document, signature, public_key) = (
        exported["exportMyData"]["document"].as_str().unwrap().to_owned(),
        exported["exportMyData"]["signature"].as_str().unwrap().to_owned(),
        exported["exportMyData"]["publicKey"].as_str().unwrap().to_owned(),
    );
    let doc: Value = serde_json::from_str(&document).unwrap();
    assert_eq!(doc["account"]["login"], "rania");
    let handles: Vec<&str> = doc["masks"].as_array().unwrap().iter().map(|m| m["handle"].as_str().unwrap()).collect();
    assert_eq!(handles.len(), 2, "{doc}");
    assert!(handles.contains(&"rania_pub") && handles.contains(&"rania_night"), "{doc}");
    let edges: Vec<&Value> =
        doc["masks"].as_array().unwrap().iter().flat_map(|m| m["edges"].as_array().unwrap()).collect();
    assert!(edges.iter().any(|e| e["kind"] == "follows" && e["to_handle"] == "bob_pub"), "{doc}");
    assert!(edges.iter().any(|e| e["kind"] == "rates" && e["rating"] == 6.0), "{doc}");
    assert_eq!(doc["works"][0]["title"], "Felucca at noon", "{doc}");
    // The key is published, and an independent implementation checks the signature.
    let published = server.request("GET", "/.well-known/daira-signing-key", &[], b"");
    assert_eq!(published.status, 200);
    assert_eq!(published.body.trim(), public_key);
    assert!(node_verifies(&document, &signature, &public_key));
    assert!(!node_verifies(&document.replace("Felucca", "Falucca"), &signature, &public_key));
    // Bob's export holds Bob's, and nothing of Rania's.
    let bobs = server.gql("{ exportMyData { document } }", json!({}), Some(&bob));
    let bobs = bobs["exportMyData"]["document"].as_str().unwrap();
    assert!(bobs.contains("bob_pub") && !bobs.contains("rania"), "{bobs}");
    // Signed-out: no export.
    let nobody = server.post(&json!({"query": "{ exportMyData { document } }"}), None);
    assert_eq!(nobody.json()["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{}", nobody.body);
    assert!(server.terminate().success());

    // Offline, the operator gets the same document, signed by the same key.
    let export = |login: &str| crate::run(&data, &[database, &["export", "--login", login]].concat());
    let out = export("rania");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let offline: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(offline["document"], document.as_str());
    assert_eq!(offline["publicKey"], public_key.as_str());
    assert!(node_verifies(offline["document"].as_str().unwrap(), offline["signature"].as_str().unwrap(), &public_key));
    let missing = export("nobody_here");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no account has the login"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("keys.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
