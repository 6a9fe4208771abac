//! The server's key file: keys that must not live in the database they protect.
//!
//! `DATA/keys.json` by default (`--key-file` / `$DAIRA_KEY_FILE` put it elsewhere: a
//! PostgreSQL deployment keeps it off the database server), created on first use with mode
//! 0600 and refused if anyone but its owner may read it. It holds the Ed25519 key that signs
//! data exports; the public half is served at `/.well-known/daira-signing-key`.

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
}

/// The keys, loaded.
pub struct Keys {
    signing: SigningKey,
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

impl Keys {
    /// Opens the key file at `path`, creating it (0600) with fresh keys when it does not exist.
    pub fn open(path: &Path) -> Result<Keys, KeyError> {
        let fail = |reason: String| KeyError { path: path.to_owned(), reason };
        match std::fs::read(path) {
            Ok(bytes) => {
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
                let stored: Stored =
                    serde_json::from_slice(&bytes).map_err(|e| fail(format!("not a key file: {e}")))?;
                let secret: [u8; 32] = STANDARD
                    .decode(stored.signing_key.as_bytes())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| fail("signing_key must be 32 bytes in base64".into()))?;
                Ok(Keys { signing: SigningKey::from_bytes(&secret) })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret).map_err(|e| fail(e.to_string()))?;
                let stored = Stored { version: 1, signing_key: STANDARD.encode(secret) };
                let text = serde_json::to_vec_pretty(&stored).map_err(|e| fail(e.to_string()))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                use std::io::Write;
                let mut file = options.open(path).map_err(|e| fail(e.to_string()))?;
                file.write_all(&text).and_then(|()| file.sync_all()).map_err(|e| fail(e.to_string()))?;
                Ok(Keys { signing: SigningKey::from_bytes(&secret) })
            }
            Err(e) => Err(fail(e.to_string())),
        }
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
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    #[test]
    fn made_private_kept_and_signing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let keys = Keys::open(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let again = Keys::open(&path).unwrap();
        assert_eq!(keys.public_key(), again.public_key());
        let public: [u8; 32] = STANDARD.decode(keys.public_key()).unwrap().try_into().unwrap();
        let signature: [u8; 64] = STANDARD.decode(keys.sign(b"doc")).unwrap().try_into().unwrap();
        let verifying = VerifyingKey::from_bytes(&public).unwrap();
        assert!(verifying.verify(b"doc", &Signature::from_bytes(&signature)).is_ok());
        assert!(verifying.verify(b"dog", &Signature::from_bytes(&signature)).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(Keys::open(&path).err().unwrap().to_string().contains("chmod 600"));
        }
    }
}
