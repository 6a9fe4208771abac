//! The server's key file: keys that must not live in the database they protect.
//!
//! `DATA/keys.json` by default (`--key-file` / `$DAIRA_KEY_FILE` put it elsewhere: a
//! PostgreSQL deployment keeps it off the database server), created on first use with mode
//! 0600 and refused if anyone but its owner may read it. It holds the Ed25519 key that signs
//! data exports (the public half is served at `/.well-known/daira-signing-key`) and the key of
//! the global ids' Feistel permutation, which earlier versions kept in the account store: it is
//! moved here on first start (every global id depends on it) and deleted there.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file's default name in the data directory.
pub const DEFAULT_FILE: &str = "keys.json";

/// What the file holds.
#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    /// The Ed25519 signing key's 32 secret bytes, base64.
    signing_key: String,
    /// The global ids' key, base64 (absent from files written before it moved here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_key: Option<String>,
}

/// The keys, loaded.
pub struct Keys {
    signing: SigningKey,
    id_key: [u8; 32],
}

/// The account store's name for the id key, where earlier versions kept it.
const LEGACY_ID_KEY: &str = "global-ids";

fn random_key() -> Result<[u8; 32], String> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| e.to_string())?;
    Ok(key)
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    STANDARD.decode(text.as_bytes()).ok().and_then(|b| b.try_into().ok())
}

/// Why the key file could not be used, naming it.
#[derive(Debug, thiserror::Error)]
#[error("key file {path}: {reason}")]
pub struct KeyError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// The file's contents, or None when there is no file; refused when others may read it.
fn read(path: &Path) -> Result<Option<Stored>, KeyError> {
    let fail = |reason: String| KeyError { path: path.to_owned(), reason };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(e.to_string())),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(fail(format!(
                "others may read it (mode {:o}); chmod 600 it, it holds the server's secret keys",
                mode & 0o777
            )));
        }
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| fail(format!("not a key file: {e}")))
}

/// Writes the file whole (a temporary file, synced, renamed over it), mode 0600.
fn write(path: &Path, stored: &Stored) -> Result<(), KeyError> {
    let fail = |reason: String| KeyError { path: path.to_owned(), reason };
    let text = serde_json::to_vec_pretty(stored).map_err(|e| fail(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    let temporary = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(&temporary).map_err(|e| fail(e.to_string()))?;
    file.write_all(&text).and_then(|()| file.sync_all()).map_err(|e| fail(e.to_string()))?;
    std::fs::rename(&temporary, path).map_err(|e| fail(e.to_string()))
}

impl Keys {
    /// Opens the key file at `path`, creating it (0600) with fresh keys when it does not exist,
    /// and moves the id key out of `auth` (where earlier versions kept it) into it.
    pub async fn load(path: &Path, auth: &crate::auth::AuthStore) -> Result<Keys, KeyError> {
        let fail = |reason: String| KeyError { path: path.to_owned(), reason };
        let (mut stored, mut dirty) = match read(path)? {
            Some(stored) => (stored, false),
            None => {
                let signing_key = STANDARD.encode(random_key().map_err(fail)?);
                (Stored { version: 1, signing_key, id_key: None }, true)
            }
        };
        if stored.id_key.is_none() {
            let legacy = auth.peek_secret(LEGACY_ID_KEY).await.map_err(|e| fail(e.to_string()))?;
            stored.id_key = Some(STANDARD.encode(match legacy {
                Some(key) => key,
                None => random_key().map_err(fail)?,
            }));
            dirty = true;
        }
        if dirty {
            write(path, &stored)?;
        }
        // Written (and synced) first, deleted second: a crash between leaves it in both.
        auth.forget_secret(LEGACY_ID_KEY).await.map_err(|e| fail(e.to_string()))?;
        let signing: [u8; 32] =
            decode_key(&stored.signing_key).ok_or_else(|| fail("signing_key must be 32 bytes in base64".into()))?;
        let id_key = stored
            .id_key
            .as_deref()
            .and_then(decode_key)
            .ok_or_else(|| fail("id_key must be 32 bytes in base64".into()))?;
        Ok(Keys { signing: SigningKey::from_bytes(&signing), id_key })
    }

    /// The global ids' key.
    pub fn id_key(&self) -> [u8; 32] {
        self.id_key
    }

    /// The public key that checks signatures, base64 of its 32 bytes.
    pub fn public_key(&self) -> String {
        STANDARD.encode(self.signing.verifying_key().as_bytes())
    }

    /// An Ed25519 signature over `bytes`, base64.
    pub fn sign(&self, bytes: &[u8]) -> String {
        STANDARD.encode(self.signing.sign(bytes).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthStore;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    use std::time::Duration;

    #[tokio::test]
    async fn made_private_kept_signing_and_the_id_key_moved_in() {
        let dir = tempfile::tempdir().unwrap();
        let auth = AuthStore::open(dir.path(), None, None, Duration::from_secs(60)).await.unwrap();
        // An account store as earlier versions left it: the id key inside.
        let legacy = random_key().unwrap();
        auth.put_secret(LEGACY_ID_KEY, legacy).await.unwrap();
        let path = dir.path().join("keys.json");
        let keys = Keys::load(&path, &auth).await.unwrap();
        assert_eq!(keys.id_key(), legacy, "every global id depends on it: moved, not remade");
        assert_eq!(auth.peek_secret(LEGACY_ID_KEY).await.unwrap(), None, "no longer beside the accounts");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let again = Keys::load(&path, &auth).await.unwrap();
        assert_eq!((keys.public_key(), keys.id_key()), (again.public_key(), again.id_key()));
        let public: [u8; 32] = STANDARD.decode(keys.public_key()).unwrap().try_into().unwrap();
        let signature: [u8; 64] = STANDARD.decode(keys.sign(b"doc")).unwrap().try_into().unwrap();
        let verifying = VerifyingKey::from_bytes(&public).unwrap();
        assert!(verifying.verify(b"doc", &Signature::from_bytes(&signature)).is_ok());
        assert!(verifying.verify(b"dog", &Signature::from_bytes(&signature)).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(Keys::load(&path, &auth).await.err().unwrap().to_string().contains("chmod 600"));
        }
    }
}
