//! Sealing: who owns a mask, and what its owner wrote about it, are stored in the log only
//! encrypted, and an account's erasure destroys the key that reads them.
//!
//! Keys, from the outside in:
//! - the **server key** lives in the key file (see [`crate::keyfile`]), never in the database
//!   that holds the log;
//! - each user that owns a mask has a **user key**, kept in the log's database in the
//!   `keyring` table, wrapped (XChaCha20-Poly1305) by the server key, under a random 16-byte
//!   id. Erasing the account deletes that row in the transaction that appends the erasure:
//!   the key is shredded, and with it every envelope it sealed.
//!
//! An [`Event::Owned`] is stored as an [`Event::Sealed`] envelope with [`Lock::User`]: its
//! body is the event, encrypted with the user key; its locator is the key's id, encrypted with
//! the server key under a fresh nonce, so that no two envelopes of one user look alike to a
//! reader of the log. An [`Event::Erased`] — which names an account's masks together — is
//! sealed with the server key itself ([`Lock::Server`]) and carries the id of the key it
//! shredded, so that a replay can tell a shredded envelope from a lost key.
//!
//! The chain hash covers envelopes as stored: `daira audit verify` needs no key. Replay does.

use crate::{Error, Result};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hashbrown::{HashMap, HashSet};
use schema::{Event, Id, Lock, Sealed};
use serde::{Deserialize, Serialize};

/// A user key's id in the keyring.
pub type KeyId = [u8; 16];

const NONCE: usize = 24;
const LOCATOR_AAD: &[u8] = b"daira locator v1";
const SERVER_AAD: &[u8] = b"daira server envelope v1";
const KEYRING_AAD: &[u8] = b"daira keyring v1";

/// What an envelope sealed with the server key holds.
#[derive(Serialize, Deserialize)]
struct ServerBody {
    event: Event,
    /// The user keys this event destroyed.
    shredded: Vec<KeyId>,
}

/// Rows to write to, and delete from, the keyring in the transaction of an append.
#[derive(Default, Debug)]
pub(crate) struct KeyringChange {
    /// New user keys: id and wrapped key.
    pub insert: Vec<(KeyId, Vec<u8>)>,
    /// Shredded user keys.
    pub delete: Vec<KeyId>,
    /// The new keys in clear, with their users, for [`Sealer::commit`].
    new_keys: Vec<(Id, KeyId, [u8; 32])>,
    /// The users whose keys are deleted.
    erased: Vec<Id>,
}

impl KeyringChange {
    pub(crate) fn is_empty(&self) -> bool {
        self.insert.is_empty() && self.delete.is_empty()
    }
}

/// What opening an envelope gave.
pub(crate) enum Opened {
    /// The event inside. For an owner's envelope, the owner and the key that opened it.
    Event(Event, Option<(Id, KeyId)>, Vec<KeyId>),
    /// Its user key is not in the keyring: shredded, if an erasure in the log says so.
    KeyGone(KeyId),
}

/// Seals events for the log and opens them again.
pub(crate) struct Sealer {
    server: Option<XChaCha20Poly1305>,
    /// Every user key in the keyring, unwrapped.
    keys: HashMap<KeyId, [u8; 32]>,
    /// Which key is each user's (learnt from the envelopes replay opens, and from new keys).
    of_user: HashMap<Id, KeyId>,
    /// Replay's bookkeeping: envelopes whose key is gone (key id → first sequence) and keys
    /// erasures say they shredded.
    unopened: HashMap<KeyId, u64>,
    shredded: HashSet<KeyId>,
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::Config(format!("no randomness for a key or nonce: {e}")))?;
    Ok(bytes)
}

/// `nonce ‖ ciphertext` of `message`.
fn encrypt(cipher: &XChaCha20Poly1305, message: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let nonce: [u8; NONCE] = random()?;
    let mut out = nonce.to_vec();
    out.extend(
        cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: message, aad })
            .map_err(|_| Error::Config("encryption failed".into()))?,
    );
    Ok(out)
}

/// The message inside `nonce ‖ ciphertext`, or None when the key or the data is wrong.
fn decrypt(cipher: &XChaCha20Poly1305, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE);
    let nonce: [u8; NONCE] = nonce.try_into().ok()?;
    cipher.decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad }).ok()
}

/// A keyring row's key, unwrapped by the server key.
fn unwrap_key(server: &XChaCha20Poly1305, id: Vec<u8>, wrapped: &[u8]) -> Result<(KeyId, [u8; 32])> {
    let id: KeyId = id.try_into().map_err(|_| Error::Corrupt("a keyring id is not 16 bytes".into()))?;
    let aad = [KEYRING_AAD, &id].concat();
    let key = decrypt(server, wrapped, &aad).and_then(|k| <[u8; 32]>::try_from(k).ok()).ok_or_else(|| {
        Error::Config("the key file does not open this log's keyring: is it the key file of this data?".into())
    })?;
    Ok((id, key))
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

impl Sealer {
    /// A sealer with the server key (None: a log that holds no envelope can still be read and
    /// appended to, but nothing can be sealed or opened) and the keyring's rows.
    pub(crate) fn new(server_key: Option<[u8; 32]>, keyring: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Sealer> {
        let server = server_key.as_ref().map(cipher);
        if !keyring.is_empty() && server.is_none() {
            return Err(Error::Config(format!(
                "the log's keyring holds {} user keys: the server's key file is needed to open it",
                keyring.len()
            )));
        }
        let mut keys = HashMap::with_capacity(keyring.len());
        if let Some(server) = &server {
            for (id, wrapped) in keyring {
                let (id, key) = unwrap_key(server, id, &wrapped)?;
                keys.insert(id, key);
            }
        }
        Ok(Sealer { server, keys, of_user: HashMap::new(), unopened: HashMap::new(), shredded: HashSet::new() })
    }

    /// Takes in keyring rows that other writers of the same log added (replicas): the keys it
    /// did not hold yet.
    pub(crate) fn learn_keyring(&mut self, keyring: Vec<(Vec<u8>, Vec<u8>)>) -> Result<()> {
        let Some(server) = &self.server else { return Ok(()) };
        for (id, wrapped) in keyring {
            if let Ok(known) = KeyId::try_from(&id[..])
                && self.keys.contains_key(&known)
            {
                continue;
            }
            let (id, key) = unwrap_key(server, id, &wrapped)?;
            if !self.shredded.contains(&id) {
                self.keys.insert(id, key);
            }
        }
        Ok(())
    }

    /// Forgets the keys that erasures met since (in replay or following) shredded.
    pub(crate) fn forget_shredded(&mut self) {
        for id in &self.shredded {
            self.keys.remove(id);
        }
    }

    fn server(&self) -> Result<&XChaCha20Poly1305> {
        self.server.as_ref().ok_or_else(|| {
            Error::Config("this log holds sealed events, and no server key file was given to open them".into())
        })
    }

    /// Encodes `event` as the log stores it: envelopes for [`Event::Owned`] and
    /// [`Event::Erased`], the plain encoding for everything else. New user keys and shredded
    /// ones go to `change`, written with the records; [`Sealer::commit`] takes them in after.
    pub(crate) fn encode(&self, event: &Event, change: &mut KeyringChange) -> Result<Vec<u8>> {
        let sealed = match event {
            Event::Owned { owner, .. } => {
                let server = self.server()?;
                let staged = change.new_keys.iter().find(|(u, ..)| u == owner).map(|&(_, id, key)| (id, key));
                let known = self.of_user.get(owner).and_then(|id| self.keys.get(id).map(|key| (*id, *key)));
                let (id, key) = match staged.or(known) {
                    Some(found) => found,
                    None => {
                        let (id, key): (KeyId, [u8; 32]) = (random()?, random()?);
                        let aad = [KEYRING_AAD, &id].concat();
                        change.insert.push((id, encrypt(server, &key, &aad)?));
                        change.new_keys.push((*owner, id, key));
                        (id, key)
                    }
                };
                let locator = encrypt(server, &id, LOCATOR_AAD)?;
                let (nonce, body) = split(encrypt(&cipher(&key), &crate::log::encode(event), &locator)?);
                Sealed { lock: Lock::User { locator }, nonce, body }
            }
            Event::Confidential(_) => {
                let body = ServerBody { event: event.clone(), shredded: Vec::new() };
                let plain = postcard::to_stdvec(&body).expect("events always encode");
                let (nonce, body) = split(encrypt(self.server()?, &plain, SERVER_AAD)?);
                Sealed { lock: Lock::Server, nonce, body }
            }
            Event::Erased(erasure) => {
                let shredded: Vec<KeyId> = self.of_user.get(&erasure.user).copied().into_iter().collect();
                change.delete.extend(&shredded);
                change.erased.push(erasure.user);
                let body = ServerBody { event: event.clone(), shredded };
                let plain = postcard::to_stdvec(&body).expect("events always encode");
                let (nonce, body) = split(encrypt(self.server()?, &plain, SERVER_AAD)?);
                Sealed { lock: Lock::Server, nonce, body }
            }
            Event::Sealed(_) => return Err(Error::Corrupt("an envelope cannot be sealed again".into())),
            event => return Ok(crate::log::encode(event)),
        };
        Ok(crate::log::encode(&Event::Sealed(sealed)))
    }

    /// Takes in what an append wrote: new keys become usable, shredded ones are forgotten.
    pub(crate) fn commit(&mut self, change: KeyringChange) {
        for (user, id, key) in change.new_keys {
            self.keys.insert(id, key);
            self.of_user.insert(user, id);
        }
        for user in change.erased {
            if let Some(id) = self.of_user.remove(&user) {
                self.keys.remove(&id);
            }
        }
    }

    /// Opens an envelope (without learning anything from it: see [`Sealer::learn`]).
    pub(crate) fn open(&self, sealed: &Sealed, seq: u64) -> Result<Opened> {
        let server = self.server()?;
        let wrong_key = || {
            Error::Config(format!("the key file does not open sealed event {seq}: is it the key file of this data?"))
        };
        let corrupt = |what: &str| Error::Corrupt(format!("sealed event {seq}: {what}"));
        let whole = [&sealed.nonce[..], &sealed.body].concat();
        match &sealed.lock {
            Lock::Server => {
                let plain = decrypt(server, &whole, SERVER_AAD).ok_or_else(wrong_key)?;
                let body: ServerBody = postcard::from_bytes(&plain).map_err(|_| corrupt("its body does not decode"))?;
                if !matches!(body.event, Event::Erased(_) | Event::Confidential(_)) {
                    return Err(corrupt("the server's envelope holds something other than an erasure or ballots"));
                }
                Ok(Opened::Event(body.event, None, body.shredded))
            }
            Lock::User { locator } => {
                let id: KeyId = decrypt(server, locator, LOCATOR_AAD)
                    .ok_or_else(wrong_key)?
                    .try_into()
                    .map_err(|_| corrupt("its key id is not 16 bytes"))?;
                let Some(key) = self.keys.get(&id) else { return Ok(Opened::KeyGone(id)) };
                let plain = decrypt(&cipher(key), &whole, locator).ok_or_else(|| corrupt("its body does not open"))?;
                let event = crate::log::decode(&plain).map_err(|_| corrupt("its body does not decode"))?;
                match event {
                    Event::Owned { owner, .. } => Ok(Opened::Event(event, Some((owner, id)), Vec::new())),
                    _ => Err(corrupt("a user's envelope holds something other than owned events")),
                }
            }
        }
    }

    /// Opens an envelope met in replay, and keeps what it tells: whose key opened it, which
    /// keys an erasure shredded, which envelopes no key opens. None for a shredded envelope.
    pub(crate) fn open_in_replay(&mut self, sealed: &Sealed, seq: u64) -> Result<Option<Event>> {
        match self.open(sealed, seq)? {
            Opened::Event(event, owner, shredded) => {
                if let Some((user, id)) = owner {
                    self.of_user.insert(user, id);
                }
                if let Event::Erased(erasure) = &event {
                    self.of_user.remove(&erasure.user);
                }
                self.shredded.extend(shredded);
                Ok(Some(event))
            }
            Opened::KeyGone(id) => {
                self.unopened.entry(id).or_insert(seq);
                Ok(None)
            }
        }
    }

    /// After replay: every envelope no key opened must belong to an erased account.
    pub(crate) fn check_replayed(&mut self) -> Result<()> {
        let lost = self.unopened.iter().filter(|(id, _)| !self.shredded.contains(*id)).map(|(_, seq)| *seq).min();
        if let Some(seq) = lost {
            return Err(Error::Corrupt(format!(
                "the key of sealed event {seq} is missing from the keyring, and no erasure shredded it"
            )));
        }
        self.unopened = HashMap::new();
        self.shredded = HashSet::new();
        Ok(())
    }
}

fn split(mut sealed: Vec<u8>) -> ([u8; NONCE], Vec<u8>) {
    let body = sealed.split_off(NONCE);
    (sealed.try_into().expect("a nonce first"), body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema::{EdgeKind, Erasure};

    fn owned(user: u64, mask: u64) -> Event {
        Event::Owned {
            owner: Id(user),
            events: vec![Event::EdgeAdded {
                kind: EdgeKind::Owns,
                src: Id(user),
                dst: Id(mask),
                weight: None,
                time_ms: None,
            }],
        }
    }

    fn stored(sealer: &Sealer, event: &Event, change: &mut KeyringChange) -> Sealed {
        match crate::log::decode(&sealer.encode(event, change).unwrap()).unwrap() {
            Event::Sealed(sealed) => sealed,
            other => panic!("stored in clear: {other:?}"),
        }
    }

    #[test]
    fn envelopes_of_one_user_do_not_look_alike_and_erasure_shreds_them() {
        let key = [7u8; 32];
        let mut sealer = Sealer::new(Some(key), Vec::new()).unwrap();
        let mut change = KeyringChange::default();
        let (a, b) = (stored(&sealer, &owned(1, 10), &mut change), stored(&sealer, &owned(1, 11), &mut change));
        assert_eq!(change.insert.len(), 1, "one key for the user, however many envelopes");
        let (Lock::User { locator: la }, Lock::User { locator: lb }) = (&a.lock, &b.lock) else { panic!() };
        assert_ne!(la, lb, "locators of one user's envelopes differ");
        let rows: Vec<(Vec<u8>, Vec<u8>)> = change.insert.iter().map(|(id, w)| (id.to_vec(), w.clone())).collect();
        sealer.commit(change);

        // A fresh sealer on the same keyring (a restart) opens both.
        let mut replay = Sealer::new(Some(key), rows.clone()).unwrap();
        assert_eq!(replay.open_in_replay(&a, 1).unwrap(), Some(owned(1, 10)));
        assert_eq!(replay.open_in_replay(&b, 2).unwrap(), Some(owned(1, 11)));
        assert!(Sealer::new(Some([8u8; 32]), rows).is_err(), "another server key opens nothing");

        // Erasure deletes the user's key; a replay on the keyring left opens nothing of it.
        let erasure = Event::Erased(Erasure {
            user: Id(1),
            masks: vec![Id(10), Id(11)],
            hide_works: false,
            handles_free_at_ms: 5,
        });
        let mut change = KeyringChange::default();
        let e = stored(&replay, &erasure, &mut change);
        assert_eq!(change.delete.len(), 1);
        let mut after = Sealer::new(Some(key), Vec::new()).unwrap();
        assert_eq!(after.open_in_replay(&a, 1).unwrap(), None);
        assert!(after.check_replayed().is_err(), "a key gone without an erasure is a damaged keyring");
        assert_eq!(after.open_in_replay(&a, 1).unwrap(), None);
        assert_eq!(after.open_in_replay(&e, 3).unwrap(), Some(erasure));
        after.check_replayed().unwrap();
    }
}
