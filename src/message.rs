//! `daira message keys | send | read`: end-to-end encrypted direct messages from the command
//! line, through a running server's GraphQL API, with the `daira-client` crate doing the
//! cryptography on this side. The key file (`--keys`, readable by its owner only) holds the
//! mask's private keys and the messages it has read; the server holds neither.

use anyhow::{Context, Result, bail};
use daira_client::{Bundle, Client, Keys, Read};
use serde_json::{Value, json};
use std::path::Path;

/// One-time pre-keys a key file keeps published.
pub const ONE_TIME_KEYS: usize = 20;

/// Where and as whom.
pub struct Session {
    /// The GraphQL endpoint.
    pub client: Client,
    /// The acting mask's handle.
    pub handle: String,
}

fn mask_id(client: &Client, handle: &str, field: &str) -> Result<String> {
    let handle = handle.trim_start_matches('@');
    let data = client.request("query($h: String!) { mask(handle: $h) { id } }", json!({"h": handle}))?;
    data["mask"]["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{field}: no mask @{handle} that you can see"))
}

/// The first user error of a mutation's payload, as an error.
fn check(payload: &Value) -> Result<()> {
    if let Some(e) = payload["userErrors"].as_array().and_then(|e| e.first()) {
        bail!("{} ({})", e["message"].as_str().unwrap_or("refused"), e["code"].as_str().unwrap_or(""));
    }
    Ok(())
}

/// Makes keys for the mask (or tops up its one-time pre-keys) and publishes them.
pub fn keys(session: &Session, path: &Path) -> Result<i64> {
    let mask = mask_id(&session.client, &session.handle, "--as")?;
    let mut keys = if path.exists() { Keys::load(path)? } else { Keys::generate(ONE_TIME_KEYS)? };
    keys.top_up(ONE_TIME_KEYS)?;
    keys.save(path)?;
    let p = keys.published();
    let one_time: Vec<Value> = p.one_time_pre_keys.iter().map(|(id, key)| json!({"id": id, "key": key})).collect();
    let data = session.client.request(
        "mutation($i: PublishKeysInput!) { publishKeys(input: $i) { oneTimePreKeys userErrors { field message code } } }",
        json!({"i": {"as": mask, "identityKey": p.identity_key, "signedPreKey": p.signed_pre_key, "signature": p.signature, "oneTimePreKeys": one_time}}),
    )?;
    check(&data["publishKeys"])?;
    Ok(data["publishKeys"]["oneTimePreKeys"].as_i64().unwrap_or(0))
}

/// Seals `text` to `to`'s published keys and sends it; the message's id.
pub fn send(session: &Session, path: &Path, to: &str, text: &str) -> Result<String> {
    let keys = Keys::load(path)?;
    let from = mask_id(&session.client, &session.handle, "--as")?;
    let to = mask_id(&session.client, to, "--to")?;
    let data = session.client.request(
        "query($m: ID!) { node(id: $m) { ... on Mask { keyBundle { identityKey signedPreKey signature oneTimePreKey { id key } } } } }",
        json!({"m": to}),
    )?;
    let b = &data["node"]["keyBundle"];
    if b.is_null() {
        bail!("--to: that mask has published no keys yet (it cannot be messaged)");
    }
    let field = |name: &str| b[name].as_str().unwrap_or_default().to_owned();
    let one_time =
        b["oneTimePreKey"]["id"].as_u64().map(|id| (id as u32, b["oneTimePreKey"]["key"].as_str().unwrap_or("")));
    let bundle = Bundle::decode(&field("identityKey"), &field("signedPreKey"), &field("signature"), one_time)?;
    let sealed = keys.seal(&bundle, text.as_bytes())?;
    let data = session.client.request(
        "mutation($i: SendMessageInput!) { sendMessage(input: $i) { message { id } userErrors { field message code } } }",
        json!({"i": {"as": from, "to": to, "header": daira_client::b64(&sealed.header), "ciphertext": daira_client::b64(&sealed.ciphertext)}}),
    )?;
    check(&data["sendMessage"])?;
    Ok(data["sendMessage"]["message"]["id"].as_str().unwrap_or_default().to_owned())
}

/// One message as `read` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    /// The sender's handle.
    pub from: String,
    /// When it was sent (milliseconds since the Unix epoch).
    pub sent_at: String,
    /// The text, or why it could not be shown.
    pub text: Result<String, String>,
}

/// The messages between the mask and `with` (or every conversation's), oldest first within
/// each; received ones opened with the key file (and remembered there), sent ones shown as
/// sealed — only their recipient can open them.
pub fn read(session: &Session, path: &Path, with: Option<&str>) -> Result<Vec<Shown>> {
    let mut keys = Keys::load(path)?;
    let me = mask_id(&session.client, &session.handle, "--as")?;
    let others: Vec<String> = match with {
        Some(handle) => vec![mask_id(&session.client, handle, "--with")?],
        None => {
            let data = session.client.request(
                "query($as: ID!) { conversations(as: $as, first: 100) { nodes { with { id } } } }",
                json!({"as": me}),
            )?;
            data["conversations"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["with"]["id"].as_str().map(str::to_owned))
                .collect()
        }
    };
    let mut shown = Vec::new();
    for other in others {
        let data = session.client.request(
            "query($as: ID!, $w: ID!) { messages(as: $as, with: $w, last: 100) { nodes { id sentAt header ciphertext from { id handle identityKey } } } }",
            json!({"as": me, "w": other}),
        )?;
        for m in data["messages"]["nodes"].as_array().into_iter().flatten() {
            let id = m["id"].as_str().unwrap_or_default();
            let from = m["from"]["handle"].as_str().unwrap_or("(a mask you no longer see)").to_owned();
            let sent_at = m["sentAt"].as_str().unwrap_or_default().to_owned();
            if m["from"]["id"].as_str() == Some(me.as_str()) {
                shown.push(Shown { from, sent_at, text: Err("sent: sealed to its recipient".into()) });
                continue;
            }
            if let Some(read) = keys.recall(id) {
                shown.push(Shown { from, sent_at, text: Ok(read.text.clone()) });
                continue;
            }
            let bytes = |name: &str| daira_client::unb64(m[name].as_str().unwrap_or_default()).unwrap_or_default();
            let text = match keys.open(&bytes("header"), &bytes("ciphertext")) {
                Ok(opened) => {
                    let claimed = m["from"]["identityKey"].as_str().and_then(daira_client::unb64);
                    if claimed.as_deref() != Some(opened.sender_identity.as_slice()) {
                        Err("refused: the sender's identity key is not the one its mask published".to_owned())
                    } else {
                        let text = String::from_utf8_lossy(&opened.plaintext).into_owned();
                        keys.remember(id, Read { from: from.clone(), sent_at: sent_at.clone(), text: text.clone() });
                        Ok(text)
                    }
                }
                Err(e) => Err(format!("refused: {e}")),
            };
            shown.push(Shown { from, sent_at, text });
        }
    }
    keys.save(path)?;
    Ok(shown)
}
