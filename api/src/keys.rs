//! The API's keys in the server's key file ([`graph_engine::keyfile`]: `DATA/keys.json` by
//! default, `--key-file` / `$DAIRA_KEY_FILE` elsewhere, mode 0600, beside the engine's server
//! key that seals owner links). It holds the Ed25519 key that signs
//! data exports (the public half is served at `/.well-known/daira-signing-key`) and the key of
//! the global ids' Feistel permutation, which earlier versions kept in the account store: it is
//! moved here on first start (every global id depends on it) and deleted there.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
pub use graph_engine::keyfile::{DEFAULT_FILE, KeyError};
use graph_engine::keyfile::{KeyFile, random_key};
use std::path::Path;

/// The keys, loaded.
pub struct Keys {
    signing: SigningKey,
    id_key: [u8; 32],
}

/// The account store's name for the id key, where earlier versions kept it.
const LEGACY_ID_KEY: &str = "global-ids";

impl Keys {
    /// Opens the key file at `path`, creating it (0600) with fresh keys when it does not exist,
    /// and moves the id key out of `auth` (where earlier versions kept it) into it.
    pub async fn load(path: &Path, auth: &crate::auth::AuthStore) -> Result<Keys, KeyError> {
        let fail = |reason: String| KeyError { path: path.to_owned(), reason };
        let mut file = KeyFile::read_or_new(path)?;
        let signing = file.get_or_make("signing_key")?;
        let id_key = match file.get("id_key")? {
            Some(key) => key,
            None => {
                let legacy = auth.peek_secret(LEGACY_ID_KEY).await.map_err(|e| fail(e.to_string()))?;
                let key = match legacy {
                    Some(key) => key,
                    None => random_key().map_err(fail)?,
                };
                file.set("id_key", key);
                key
            }
        };
        file.save()?;
        // Written (and synced) first, deleted second: a crash between leaves it in both.
        auth.forget_secret(LEGACY_ID_KEY).await.map_err(|e| fail(e.to_string()))?;
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
