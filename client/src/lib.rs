//! The client half of DAIRA's end-to-end encrypted direct messages between masks: the keys a
//! mask publishes, an X3DH-style key agreement (Signal's, one message at a time), and
//! ChaCha20-Poly1305 over each message. The server stores what [`seal`] makes and hands it
//! back; it never holds a key that opens it.
//!
//! **Keys.** A mask's identity key is an Ed25519 key: it signs the mask's signed pre-key, and
//! its Montgomery form (RFC 7748's birational map, as libsodium and Signal's XEdDSA use) takes
//! part in the key agreement. The signed pre-key and the one-time pre-keys are X25519 keys.
//! The server verifies the signature when the keys are published; the sender verifies it again
//! when it fetches the bundle, so a server that swapped the pre-key is caught.
//!
//! **Sealing** a message to a bundle `(IK_B, SPK_B, sig, OPK_B?)` with the sender's identity
//! `IK_A` and a fresh ephemeral key `EK_A`: `DH1 = DH(IK_A, SPK_B)`, `DH2 = DH(EK_A, IK_B)`,
//! `DH3 = DH(EK_A, SPK_B)`, `DH4 = DH(EK_A, OPK_B)` when a one-time pre-key was handed out;
//! `key ‖ nonce = HKDF-SHA256(salt = 0³², 0xFF³² ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], "DAIRA X3DH v1")`;
//! the ciphertext is ChaCha20-Poly1305 under that key with the header and `IK_B` as associated
//! data. The header (101 bytes) carries the version, `IK_A`, `EK_A`, the `SPK_B` used and the
//! one-time pre-key's id. Every message has its own ephemeral key, hence its own key. A
//! recipient deletes a one-time pre-key once a message made with it opened (forward secrecy
//! for that message against a later theft of the key file), so a client keeps what it read
//! ([`Keys::remember`]): the server's copy cannot be opened again.
//!
//! What this does not do (yet): a double ratchet (every message is a fresh X3DH, so there is
//! no post-compromise security within a conversation), signed pre-key rotation, and sealed
//! sender (the server sees which mask sent to which).

mod graphql;

pub use graphql::{Client, ClientError};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// What the identity key signs: this context, then the signed pre-key.
pub const SIGNED_PRE_KEY_CONTEXT: &[u8] = b"DAIRA signed pre-key v1";
/// The key agreement's HKDF info.
const INFO: &[u8] = b"DAIRA X3DH v1";
/// The header's version byte.
const VERSION: u8 = 1;
/// The length of a message header, in bytes.
pub const HEADER_LEN: usize = 1 + 32 + 32 + 32 + 4;
/// The header's one-time pre-key id when none was used.
const NO_ONE_TIME: u32 = u32::MAX;
/// The most one-time pre-keys a key file keeps unused.
pub const ONE_TIME_MAX: usize = 100;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bundle's signature does not verify.
    #[error("the signed pre-key's signature does not verify against the identity key")]
    BadSignature,
    /// Bytes that are not the key they should be.
    #[error("{0} is not a valid key")]
    BadKey(&'static str),
    /// A header that is not one.
    #[error("the message header is malformed (expected {HEADER_LEN} bytes, version {VERSION})")]
    BadHeader,
    /// The message was made for pre-keys these keys do not hold (another device, a one-time
    /// pre-key already used).
    #[error("the message was not made for these keys (unknown signed or one-time pre-key)")]
    UnknownPreKey,
    /// Authentication failed: the ciphertext, header or keys were changed.
    #[error("the message does not open: it was tampered with, or was not made for these keys")]
    Tampered,
    /// A key agreement gave the all-zero output (a low-order point).
    #[error("a key agreement was not contributory (a low-order public key)")]
    WeakKey,
    /// The key file.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The operating system's randomness.
    #[error("randomness: {0}")]
    Random(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn random32() -> Result<Zeroizing<[u8; 32]>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|e| Error::Random(e.to_string()))?;
    Ok(bytes)
}

/// Bytes as the API carries them: base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Bytes from base64url (padding allowed), or `None`.
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

fn array<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| Error::BadKey(what))
}

/// A public identity key's X25519 (Montgomery) form.
fn montgomery(identity: &[u8; 32]) -> Result<PublicKey> {
    let key = VerifyingKey::from_bytes(identity).map_err(|_| Error::BadKey("identity key"))?;
    Ok(PublicKey::from(key.to_montgomery().to_bytes()))
}

/// Verifies that `signature` is `identity`'s over the signed pre-key (the server does this
/// when keys are published; a sender again when it fetches them).
pub fn verify_signed_pre_key(identity: &[u8; 32], signed_pre_key: &[u8; 32], signature: &[u8; 64]) -> Result<()> {
    let key = VerifyingKey::from_bytes(identity).map_err(|_| Error::BadKey("identity key"))?;
    let message = [SIGNED_PRE_KEY_CONTEXT, signed_pre_key.as_slice()].concat();
    key.verify_strict(&message, &Signature::from_bytes(signature)).map_err(|_| Error::BadSignature)
}

/// The keys a mask publishes (`publishKeys`), as base64url.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The Ed25519 identity key.
    pub identity_key: String,
    /// The X25519 signed pre-key.
    pub signed_pre_key: String,
    /// The identity key's signature over [`SIGNED_PRE_KEY_CONTEXT`] and the signed pre-key.
    pub signature: String,
    /// One-time pre-keys: (id, X25519 key).
    pub one_time_pre_keys: Vec<(u32, String)>,
}

/// A mask's bundle as fetched (`Mask.keyBundle`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The Ed25519 identity key.
    pub identity_key: [u8; 32],
    /// The X25519 signed pre-key.
    pub signed_pre_key: [u8; 32],
    /// Its signature.
    pub signature: [u8; 64],
    /// The one-time pre-key handed out, if any was left: (id, key).
    pub one_time_pre_key: Option<(u32, [u8; 32])>,
}

impl Bundle {
    /// A bundle from its base64url fields.
    pub fn decode(
        identity: &str,
        signed_pre_key: &str,
        signature: &str,
        one_time: Option<(u32, &str)>,
    ) -> Result<Bundle> {
        let bytes = |text: &str, what| unb64(text).ok_or(Error::BadKey(what));
        Ok(Bundle {
            identity_key: array(&bytes(identity, "identity key")?, "identity key")?,
            signed_pre_key: array(&bytes(signed_pre_key, "signed pre-key")?, "signed pre-key")?,
            signature: array(&bytes(signature, "signature")?, "signature")?,
            one_time_pre_key: match one_time {
                Some((id, key)) => Some((id, array(&bytes(key, "one-time pre-key")?, "one-time pre-key")?)),
                None => None,
            },
        })
    }
}

/// A sealed message: what `sendMessage` stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The header ([`HEADER_LEN`] bytes).
    pub header: Vec<u8>,
    /// The ciphertext, with its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// An opened message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The sender's identity key (compare it with the sending mask's published one).
    pub sender_identity: [u8; 32],
    /// The plaintext.
    pub plaintext: Vec<u8>,
}

/// A message a client has read, kept in its key file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Read {
    /// The sending mask's handle, as the server named it.
    pub from: String,
    /// When it was sent, in milliseconds since the Unix epoch.
    pub sent_at: String,
    /// What it said.
    pub text: String,
}

/// A mask's private keys (and the messages it has read), as its key file holds them.
pub struct Keys {
    identity: SigningKey,
    signed_pre_key: StaticSecret,
    one_time: BTreeMap<u32, StaticSecret>,
    next_one_time: u32,
    read: BTreeMap<String, Read>,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    identity: String,
    signed_pre_key: String,
    one_time: BTreeMap<u32, String>,
    next_one_time: u32,
    #[serde(default)]
    read: BTreeMap<String, Read>,
}

fn derive(dhs: &[[u8; 32]]) -> (Zeroizing<[u8; 32]>, [u8; 12]) {
    let mut ikm = Zeroizing::new(vec![0xFF; 32]);
    for dh in dhs {
        ikm.extend_from_slice(dh);
    }
    let mut okm = Zeroizing::new([0u8; 44]);
    hkdf::Hkdf::<sha2::Sha256>::new(Some(&[0u8; 32]), &ikm)
        .expand(INFO, okm.as_mut())
        .expect("44 bytes is a valid HKDF-SHA256 output length");
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&okm[..32]);
    let nonce = okm[32..].try_into().expect("12 bytes");
    (key, nonce)
}

fn agree(secret: &StaticSecret, public: &PublicKey) -> Result<[u8; 32]> {
    let shared = secret.diffie_hellman(public);
    if !shared.was_contributory() {
        return Err(Error::WeakKey);
    }
    Ok(*shared.as_bytes())
}

impl Keys {
    /// New keys: an identity, a signed pre-key and `one_time` one-time pre-keys.
    pub fn generate(one_time: usize) -> Result<Keys> {
        let mut keys = Keys {
            identity: SigningKey::from_bytes(&*random32()?),
            signed_pre_key: StaticSecret::from(*random32()?),
            one_time: BTreeMap::new(),
            next_one_time: 0,
            read: BTreeMap::new(),
        };
        keys.top_up(one_time)?;
        Ok(keys)
    }

    /// Makes one-time pre-keys until `count` are unused (at most [`ONE_TIME_MAX`]).
    pub fn top_up(&mut self, count: usize) -> Result<()> {
        while self.one_time.len() < count.min(ONE_TIME_MAX) {
            self.one_time.insert(self.next_one_time, StaticSecret::from(*random32()?));
            self.next_one_time = self.next_one_time.wrapping_add(1) % NO_ONE_TIME;
        }
        Ok(())
    }

    /// The public identity key.
    pub fn identity_key(&self) -> [u8; 32] {
        self.identity.verifying_key().to_bytes()
    }

    /// What to publish: the public keys, the pre-key signed.
    pub fn published(&self) -> Published {
        let spk = PublicKey::from(&self.signed_pre_key).to_bytes();
        let message = [SIGNED_PRE_KEY_CONTEXT, spk.as_slice()].concat();
        Published {
            identity_key: b64(&self.identity_key()),
            signed_pre_key: b64(&spk),
            signature: b64(&self.identity.sign(&message).to_bytes()),
            one_time_pre_keys: self.one_time.iter().map(|(&id, k)| (id, b64(PublicKey::from(k).as_bytes()))).collect(),
        }
    }

    /// Seals `plaintext` to the mask whose bundle is `to`, after checking its signature.
    pub fn seal(&self, to: &Bundle, plaintext: &[u8]) -> Result<Sealed> {
        verify_signed_pre_key(&to.identity_key, &to.signed_pre_key, &to.signature)?;
        let their_identity = montgomery(&to.identity_key)?;
        let our_identity = StaticSecret::from(self.identity.to_scalar_bytes());
        let ephemeral = StaticSecret::from(*random32()?);
        let spk = PublicKey::from(to.signed_pre_key);
        let mut dhs = vec![agree(&our_identity, &spk)?, agree(&ephemeral, &their_identity)?, agree(&ephemeral, &spk)?];
        if let Some((_, one_time)) = to.one_time_pre_key {
            dhs.push(agree(&ephemeral, &PublicKey::from(one_time))?);
        }
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.push(VERSION);
        header.extend_from_slice(&self.identity_key());
        header.extend_from_slice(PublicKey::from(&ephemeral).as_bytes());
        header.extend_from_slice(&to.signed_pre_key);
        header.extend_from_slice(&to.one_time_pre_key.map_or(NO_ONE_TIME, |(id, _)| id).to_le_bytes());
        let (key, nonce) = derive(&dhs);
        let aad = [header.as_slice(), &to.identity_key].concat();
        let ciphertext = ChaCha20Poly1305::new(key.as_ref().into())
            .encrypt(&nonce.into(), Payload { msg: plaintext, aad: &aad })
            .map_err(|_| Error::Tampered)?;
        Ok(Sealed { header, ciphertext })
    }

    /// Opens a message sealed to these keys; a one-time pre-key it used is deleted once it
    /// opened (save the keys afterwards).
    pub fn open(&mut self, header: &[u8], ciphertext: &[u8]) -> Result<Opened> {
        if header.len() != HEADER_LEN || header[0] != VERSION {
            return Err(Error::BadHeader);
        }
        let sender_identity: [u8; 32] = array(&header[1..33], "identity key")?;
        let their_identity = montgomery(&sender_identity)?;
        let ephemeral = PublicKey::from(array::<32>(&header[33..65], "ephemeral key")?);
        if header[65..97] != *PublicKey::from(&self.signed_pre_key).as_bytes() {
            return Err(Error::UnknownPreKey);
        }
        let one_time_id = u32::from_le_bytes(header[97..101].try_into().expect("4 bytes"));
        let our_identity = StaticSecret::from(self.identity.to_scalar_bytes());
        let mut dhs = vec![
            agree(&self.signed_pre_key, &their_identity)?,
            agree(&our_identity, &ephemeral)?,
            agree(&self.signed_pre_key, &ephemeral)?,
        ];
        if one_time_id != NO_ONE_TIME {
            let secret = self.one_time.get(&one_time_id).ok_or(Error::UnknownPreKey)?;
            dhs.push(agree(secret, &ephemeral)?);
        }
        let (key, nonce) = derive(&dhs);
        let aad = [header, &self.identity_key()].concat();
        let plaintext = ChaCha20Poly1305::new(key.as_ref().into())
            .decrypt(&nonce.into(), Payload { msg: ciphertext, aad: &aad })
            .map_err(|_| Error::Tampered)?;
        self.one_time.remove(&one_time_id);
        Ok(Opened { sender_identity, plaintext })
    }

    /// Keeps a message read, by its id (the server's copy cannot be opened twice).
    pub fn remember(&mut self, id: &str, read: Read) {
        self.read.insert(id.to_owned(), read);
    }

    /// A message read before.
    pub fn recall(&self, id: &str) -> Option<&Read> {
        self.read.get(id)
    }

    /// Writes the key file (created readable by its owner only).
    pub fn save(&self, path: &Path) -> Result<()> {
        let file = KeyFile {
            identity: b64(self.identity.as_bytes()),
            signed_pre_key: b64(self.signed_pre_key.as_bytes()),
            one_time: self.one_time.iter().map(|(&id, k)| (id, b64(k.as_bytes()))).collect(),
            next_one_time: self.next_one_time,
            read: self.read.clone(),
        };
        let fail = |reason: String| Error::KeyFile { path: path.to_owned(), reason };
        let text = Zeroizing::new(serde_json::to_string_pretty(&file).map_err(|e| fail(e.to_string()))?);
        let tmp = path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(&tmp).map_err(|e| fail(e.to_string()))?;
        std::io::Write::write_all(&mut out, text.as_bytes()).map_err(|e| fail(e.to_string()))?;
        out.sync_all().map_err(|e| fail(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| fail(e.to_string()))
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<Keys> {
        let fail = |reason: String| Error::KeyFile { path: path.to_owned(), reason };
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?);
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let secret = |field: &str, text: &str| -> Result<[u8; 32]> {
            unb64(text)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| fail(format!("{field} is not 32 bytes of base64url")))
        };
        let mut one_time = BTreeMap::new();
        for (id, key) in &file.one_time {
            one_time.insert(*id, StaticSecret::from(secret(&format!("one_time.{id}"), key)?));
        }
        Ok(Keys {
            identity: SigningKey::from_bytes(&secret("identity", &file.identity)?),
            signed_pre_key: StaticSecret::from(secret("signed_pre_key", &file.signed_pre_key)?),
            one_time,
            next_one_time: file.next_one_time,
            read: file.read,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_of(keys: &Keys, with_one_time: bool) -> Bundle {
        let p = keys.published();
        let one_time = p.one_time_pre_keys.first().filter(|_| with_one_time).map(|(id, k)| (*id, k.as_str()));
        Bundle::decode(&p.identity_key, &p.signed_pre_key, &p.signature, one_time).unwrap()
    }

    #[test]
    fn a_message_opens_for_its_recipient_only_and_once_per_one_time_key() {
        let alice = Keys::generate(2).unwrap();
        let mut bob = Keys::generate(2).unwrap();
        let mut eve = Keys::generate(2).unwrap();
        for with_one_time in [true, false] {
            let sealed = alice.seal(&bundle_of(&bob, with_one_time), "أهلا يا بوب — hi".as_bytes()).unwrap();
            assert_eq!(sealed.header.len(), HEADER_LEN);
            assert!(!sealed.ciphertext.windows(4).any(|w| w == b"bob "), "the ciphertext is not the text");
            assert!(matches!(eve.open(&sealed.header, &sealed.ciphertext), Err(Error::UnknownPreKey)));
            let opened = bob.open(&sealed.header, &sealed.ciphertext).unwrap();
            assert_eq!(opened.plaintext, "أهلا يا بوب — hi".as_bytes());
            assert_eq!(opened.sender_identity, alice.identity_key());
            if with_one_time {
                assert!(matches!(bob.open(&sealed.header, &sealed.ciphertext), Err(Error::UnknownPreKey)), "used once");
            }
        }
    }

    #[test]
    fn tampering_anywhere_is_refused() {
        let alice = Keys::generate(1).unwrap();
        let mut bob = Keys::generate(1).unwrap();
        let sealed = alice.seal(&bundle_of(&bob, false), b"meet at the wall at 5").unwrap();
        for i in [0, sealed.ciphertext.len() / 2, sealed.ciphertext.len() - 1] {
            let mut c = sealed.ciphertext.clone();
            c[i] ^= 1;
            assert!(matches!(bob.open(&sealed.header, &c), Err(Error::Tampered)), "byte {i}");
        }
        // Another sender's identity in the header: the agreement differs, so it does not open.
        let mallory = Keys::generate(1).unwrap();
        let mut h = sealed.header.clone();
        h[1..33].copy_from_slice(&mallory.identity_key());
        assert!(matches!(bob.open(&h, &sealed.ciphertext), Err(Error::Tampered)));
        assert!(bob.open(&sealed.header, &sealed.ciphertext).is_ok());
    }

    #[test]
    fn a_swapped_pre_key_is_caught_by_its_signature() {
        let alice = Keys::generate(1).unwrap();
        let bob = Keys::generate(1).unwrap();
        let server = Keys::generate(1).unwrap();
        let mut bundle = bundle_of(&bob, false);
        bundle.signed_pre_key = bundle_of(&server, false).signed_pre_key;
        assert!(matches!(alice.seal(&bundle, b"x"), Err(Error::BadSignature)));
    }

    #[test]
    fn the_key_file_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let alice = Keys::generate(1).unwrap();
        let mut bob = Keys::generate(3).unwrap();
        bob.remember("m1", Read { from: "alice".into(), sent_at: "1".into(), text: "hi".into() });
        bob.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let mut again = Keys::load(&path).unwrap();
        assert_eq!(again.published(), bob.published());
        assert_eq!(again.recall("m1").unwrap().text, "hi");
        let sealed = alice.seal(&bundle_of(&bob, true), b"after a restart").unwrap();
        assert_eq!(again.open(&sealed.header, &sealed.ciphertext).unwrap().plaintext, b"after a restart");
    }
}
