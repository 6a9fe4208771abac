//! End-to-end encrypted direct messages between masks over GraphQL (see `crate::messages`
//! for the store, and the `daira-client` crate for the client half). The server checks what
//! it can — the keys' signature, the sender's mask, blocks, sizes — and stores envelopes it
//! cannot open. Conversations and messages are their participants' only: for anyone else the
//! mask is not found.

use super::connection::{Conn, page};
use super::mutation::{actor, auth_error, target};
use super::types::{Mask, Sight};
use super::{payload, state};
use crate::error::{ApiError, Code, UserError};
use crate::ids::NodeKind;
use crate::messages::{CIPHERTEXT_BYTES_MAX, Envelope, HEADER_BYTES_MAX, ONE_TIME_KEYS_MAX};
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use schema::Id;
use std::sync::Arc;

/// Messages' queries.
#[derive(Default)]
pub struct MessagesQuery;

/// Messages' mutations.
#[derive(Default)]
pub struct MessagesMutation;

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadUserInput, message).field(field)
}

/// Base64url bytes of `field`, of a length in `lengths`.
fn bytes(field: &str, text: &str, lengths: std::ops::RangeInclusive<usize>) -> Result<Vec<u8>, ApiError> {
    let raw = daira_client::unb64(text).ok_or_else(|| bad(field, "is not base64url"))?;
    if !lengths.contains(&raw.len()) {
        let (lo, hi) = (lengths.start(), lengths.end());
        let what = if lo == hi { format!("{lo} bytes") } else { format!("{lo} to {hi} bytes") };
        let code = if raw.is_empty() {
            Code::TextEmpty
        } else if raw.len() > *hi && hi > &32 {
            Code::TextTooLong
        } else {
            Code::BadUserInput
        };
        return Err(ApiError::new(code, format!("must be {what} (got {})", raw.len())).field(field));
    }
    Ok(raw)
}

fn key32(field: &str, text: &str) -> Result<[u8; 32], ApiError> {
    Ok(bytes(field, text, 32..=32)?.try_into().expect("32 bytes"))
}

/// The viewer's own mask named by `as`, or NOT_FOUND (exactly as a mask that does not exist).
/// Signed-in callers only (`super::user` first).
pub(crate) fn own_mask(ctx: &Context<'_>, id: &ID) -> std::result::Result<Id, ApiError> {
    let not_found = || ApiError::new(Code::NotFound, "mask not found").field("as");
    let user = super::caller(ctx).and_then(|c| c.user).ok_or_else(not_found)?;
    let st = state(ctx);
    st.ids.decode_as(NodeKind::Mask, id).filter(|&m| st.engine.read().is_owned_by(m, user)).ok_or_else(not_found)
}

/// A mask's published keys.
#[derive(SimpleObject, Clone, Debug)]
pub struct KeyBundle {
    /// The Ed25519 identity key (base64url).
    pub identity_key: String,
    /// The X25519 signed pre-key (base64url).
    pub signed_pre_key: String,
    /// The identity key's signature over `"DAIRA signed pre-key v1"` and the signed pre-key.
    pub signature: String,
    /// One one-time pre-key, handed out to this caller and to nobody else (null when none is
    /// left, or the caller is not signed in).
    pub one_time_pre_key: Option<OneTimePreKey>,
}

/// A one-time pre-key.
#[derive(SimpleObject, Clone, Debug)]
pub struct OneTimePreKey {
    /// Its id (the client's).
    pub id: i32,
    /// The X25519 key (base64url).
    pub key: String,
}

/// A one-time pre-key to publish.
#[derive(InputObject)]
pub struct OneTimePreKeyInput {
    /// Its id, 0 or more (the client's; it names the key in a message's header).
    pub id: i32,
    /// The X25519 key (32 bytes, base64url).
    pub key: String,
}

/// A mask's bundle, taking one of its one-time pre-keys when the caller is signed in.
pub(crate) async fn bundle_of(ctx: &Context<'_>, mask: Id, take: bool) -> Result<Option<KeyBundle>> {
    let signed_in = super::caller(ctx).and_then(|c| c.user).is_some();
    let found = state(ctx).messages.bundle(mask, take && signed_in).await.map_err(auth_error)?;
    Ok(found.map(|b| KeyBundle {
        identity_key: b.identity_key,
        signed_pre_key: b.signed_pre_key,
        signature: b.signature,
        one_time_pre_key: b.one_time.map(|(id, key)| OneTimePreKey { id: id as i32, key }),
    }))
}

/// A direct message: an envelope only its recipient's keys open.
#[derive(Clone, Debug)]
pub struct Message(pub(crate) Arc<Envelope>);

#[Object]
impl Message {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The sending mask.
    async fn from(&self, ctx: &Context<'_>) -> Option<Mask> {
        Sight::of(ctx).mask_by_id(&state(ctx).engine.read(), self.0.sender)
    }
    /// The receiving mask.
    async fn to(&self, ctx: &Context<'_>) -> Option<Mask> {
        Sight::of(ctx).mask_by_id(&state(ctx).engine.read(), self.0.recipient)
    }
    /// When the server stored it, in milliseconds since the Unix epoch (a decimal string).
    async fn sent_at(&self) -> String {
        self.0.sent_ms.to_string()
    }
    /// The header the sender's client made (public keys: the sender's identity key, its
    /// ephemeral key, the pre-keys used), base64url.
    async fn header(&self) -> &str {
        &self.0.header
    }
    /// The ciphertext (ChaCha20-Poly1305, with its tag), base64url.
    async fn ciphertext(&self) -> &str {
        &self.0.ciphertext
    }
}

/// A conversation: the other mask, the latest message's time, and how many messages.
#[derive(SimpleObject, Clone, Debug)]
pub struct Conversation {
    /// The other mask (null when the viewer no longer sees it).
    pub with: Option<Mask>,
    /// The latest message's time, in milliseconds since the Unix epoch (a decimal string).
    pub last_at: String,
    /// Messages both ways.
    pub count: i32,
}

#[Object]
impl MessagesQuery {
    /// One of your masks' conversations, the latest first.
    #[graphql(complexity = "super::cost(first, last, child_complexity)")]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "as")] as_mask: ID,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Conversation>> {
        super::user(ctx)?;
        let mask = own_mask(ctx, &as_mask)?;
        let found = state(ctx).messages.conversations(mask).await.map_err(auth_error)?;
        let graph = state(ctx).engine.read();
        let sight = Sight::of(ctx);
        let items: Vec<usize> = (0..found.len()).collect();
        page(&items, (first, last, after, before), |i| Conversation {
            with: sight.mask_by_id(&graph, found[i].with),
            last_at: found[i].last_ms.to_string(),
            count: found[i].count as i32,
        })
    }

    /// The messages between one of your masks and another, oldest first.
    #[graphql(complexity = "super::cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "as")] as_mask: ID,
        with: ID,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Message>> {
        super::user(ctx)?;
        let mask = own_mask(ctx, &as_mask)?;
        let other = target(ctx, NodeKind::Mask, &with, "with", "mask")?;
        let found: Vec<Arc<Envelope>> =
            state(ctx).messages.between(mask, other).await.map_err(auth_error)?.into_iter().map(Arc::new).collect();
        let items: Vec<usize> = (0..found.len()).collect();
        page(&items, (first, last, after, before), |i| Message(found[i].clone()))
    }
}

/// Publish a mask's keys.
#[derive(InputObject)]
pub struct PublishKeysInput {
    /// One of your masks.
    #[graphql(name = "as")]
    pub as_mask: ID,
    /// The Ed25519 identity key (32 bytes, base64url).
    pub identity_key: String,
    /// The X25519 signed pre-key (32 bytes, base64url).
    pub signed_pre_key: String,
    /// The identity key's Ed25519 signature over `"DAIRA signed pre-key v1"` followed by the
    /// signed pre-key (64 bytes, base64url).
    pub signature: String,
    /// One-time pre-keys to add (at most 100 unused per mask).
    #[graphql(default)]
    pub one_time_pre_keys: Vec<OneTimePreKeyInput>,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Keys published, or why not.
#[derive(SimpleObject, Default)]
pub struct PublishKeysPayload {
    /// How many one-time pre-keys the mask has left.
    pub one_time_pre_keys: Option<i32>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong.
    pub user_errors: Vec<UserError>,
}

/// Send a sealed message to a mask.
#[derive(InputObject)]
pub struct SendMessageInput {
    /// The sending mask (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The receiving mask.
    pub to: ID,
    /// The header your client made (base64url, at most 1 KiB).
    pub header: String,
    /// The ciphertext (base64url, 1 byte to 64 KiB).
    pub ciphertext: String,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// A message sent, or why not.
#[derive(SimpleObject, Default)]
pub struct SendMessagePayload {
    /// The message as stored.
    pub message: Option<Message>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong (NO_KEYS, BLOCKED, NOT_FOUND, TEXT_TOO_LONG, …).
    pub user_errors: Vec<UserError>,
}

/// Delete a message you sent or received (for both: the server keeps no copy).
#[derive(InputObject)]
pub struct DeleteMessageInput {
    /// The mask that sent or received it.
    #[graphql(name = "as")]
    pub as_mask: ID,
    /// The message.
    pub id: ID,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Block or unblock a mask.
#[derive(InputObject)]
pub struct BlockMaskInput {
    /// The mask that blocks.
    #[graphql(name = "as")]
    pub as_mask: ID,
    /// The mask blocked.
    pub mask: ID,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Whether something changed, or why not.
#[derive(SimpleObject, Default)]
pub struct MessageChangePayload {
    /// Whether anything changed.
    pub ok: bool,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong.
    pub user_errors: Vec<UserError>,
}

async fn on_block(ctx: &Context<'_>, input: BlockMaskInput, on: bool) -> Result<MessageChangePayload> {
    let client = input.client_mutation_id.clone();
    super::user(ctx)?;
    let result = async {
        let mask = own_mask(ctx, &input.as_mask)?;
        let other = target(ctx, NodeKind::Mask, &input.mask, "mask", "mask")?;
        if mask == other {
            return Err(bad("mask", "a mask cannot block itself"));
        }
        let ok = state(ctx).messages.block(mask, other, on).await.map_err(auth_error)?;
        Ok(MessageChangePayload { ok, client_mutation_id: client.clone(), user_errors: Vec::new() })
    }
    .await;
    payload(result, |user_errors| MessageChangePayload {
        client_mutation_id: client,
        user_errors,
        ..Default::default()
    })
}

#[Object]
impl MessagesMutation {
    /// Publish one of your masks' keys: its identity key, its signed pre-key (the signature is
    /// checked) and one-time pre-keys. A new identity key replaces the old keys.
    async fn publish_keys(&self, ctx: &Context<'_>, input: PublishKeysInput) -> Result<PublishKeysPayload> {
        let client = input.client_mutation_id.clone();
        super::user(ctx)?;
        let result = async {
            let mask = own_mask(ctx, &input.as_mask)?;
            let identity = key32("identityKey", &input.identity_key)?;
            let signed_pre_key = key32("signedPreKey", &input.signed_pre_key)?;
            let signature: [u8; 64] = bytes("signature", &input.signature, 64..=64)?.try_into().expect("64 bytes");
            daira_client::verify_signed_pre_key(&identity, &signed_pre_key, &signature)
                .map_err(|e| bad("signature", e.to_string()))?;
            if input.one_time_pre_keys.len() > ONE_TIME_KEYS_MAX as usize {
                return Err(bad("oneTimePreKeys", format!("at most {ONE_TIME_KEYS_MAX} at once")));
            }
            let mut one_time = Vec::with_capacity(input.one_time_pre_keys.len());
            for (i, k) in input.one_time_pre_keys.iter().enumerate() {
                if k.id < 0 {
                    return Err(bad(&format!("oneTimePreKeys.{i}.id"), "must be 0 or more"));
                }
                let key = key32(&format!("oneTimePreKeys.{i}.key"), &k.key)?;
                one_time.push((i64::from(k.id), daira_client::b64(&key)));
            }
            let (identity, spk, sig) =
                (daira_client::b64(&identity), daira_client::b64(&signed_pre_key), daira_client::b64(&signature));
            let left = state(ctx).messages.publish(mask, &identity, &spk, &sig, &one_time).await.map_err(auth_error)?;
            Ok(PublishKeysPayload {
                one_time_pre_keys: Some(left as i32),
                client_mutation_id: client.clone(),
                user_errors: Vec::new(),
            })
        }
        .await;
        payload(result, |user_errors| PublishKeysPayload {
            client_mutation_id: client,
            user_errors,
            ..Default::default()
        })
    }

    /// Send a message your client sealed to the recipient's keys. The server stores the
    /// envelope as it is, outside the log, and delivers it (`directMessages`).
    async fn send_message(&self, ctx: &Context<'_>, input: SendMessageInput) -> Result<SendMessagePayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let result = async {
            let actor = actor?;
            let st = state(ctx);
            let to = target(ctx, NodeKind::Mask, &input.to, "to", "mask")?;
            {
                let graph = st.engine.read();
                if !graph.is_owned_by(actor.mask, actor.user) {
                    return Err(ApiError::new(Code::NotFound, "mask not found").field("as"));
                }
                let seen = graph
                    .index_of(to)
                    .filter(|&v| graph.erased_until(v).is_none())
                    .and_then(|v| Sight::of(ctx).mask(&graph, v));
                if seen.is_none() {
                    return Err(ApiError::new(Code::NotFound, "mask not found").field("to"));
                }
            }
            if to == actor.mask {
                return Err(bad("to", "a mask cannot message itself"));
            }
            let header = bytes("header", &input.header, 1..=HEADER_BYTES_MAX)?;
            let ciphertext = bytes("ciphertext", &input.ciphertext, 1..=CIPHERTEXT_BYTES_MAX)?;
            if st.messages.bundle(to, false).await.map_err(auth_error)?.is_none() {
                return Err(ApiError::new(Code::NoKeys, "this mask has published no keys: it cannot be messaged yet")
                    .field("to"));
            }
            if st.messages.blocks(to, actor.mask).await.map_err(auth_error)? {
                return Err(ApiError::new(Code::Blocked, "this mask does not take your messages").field("to"));
            }
            let mut id = [0u8; 16];
            getrandom::fill(&mut id).map_err(|e| ApiError::internal("message id", e))?;
            let sent_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let envelope = Envelope {
                id: graph_engine::log::hex(&id),
                sender: actor.mask,
                recipient: to,
                sent_ms,
                header: daira_client::b64(&header),
                ciphertext: daira_client::b64(&ciphertext),
            };
            st.messages.send(envelope.clone()).await.map_err(auth_error)?;
            st.metrics.message_sent(ciphertext.len());
            Ok(SendMessagePayload {
                message: Some(Message(Arc::new(envelope))),
                client_mutation_id: client.clone(),
                user_errors: Vec::new(),
            })
        }
        .await;
        payload(result, |user_errors| SendMessagePayload {
            client_mutation_id: client,
            user_errors,
            ..Default::default()
        })
    }

    /// Delete a message one of your masks sent or received: gone from the server for both.
    async fn delete_message(&self, ctx: &Context<'_>, input: DeleteMessageInput) -> Result<MessageChangePayload> {
        let client = input.client_mutation_id.clone();
        super::user(ctx)?;
        let result = async {
            let mask = own_mask(ctx, &input.as_mask)?;
            let ok = state(ctx).messages.delete(mask, input.id.as_str()).await.map_err(auth_error)?;
            if !ok {
                return Err(ApiError::new(Code::NotFound, "message not found").field("id"));
            }
            Ok(MessageChangePayload { ok, client_mutation_id: client.clone(), user_errors: Vec::new() })
        }
        .await;
        payload(result, |user_errors| MessageChangePayload {
            client_mutation_id: client,
            user_errors,
            ..Default::default()
        })
    }

    /// Block a mask: its messages to your mask are refused (`BLOCKED`). It blocks that mask
    /// only — nobody can tell which other masks share its owner.
    async fn block_mask(&self, ctx: &Context<'_>, input: BlockMaskInput) -> Result<MessageChangePayload> {
        on_block(ctx, input, true).await
    }

    /// Unblock a mask.
    async fn unblock_mask(&self, ctx: &Context<'_>, input: BlockMaskInput) -> Result<MessageChangePayload> {
        on_block(ctx, input, false).await
    }
}
