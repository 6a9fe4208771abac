//! The server's key file: keys that must not live in the database they protect.
//!
//! `DATA/keys.json` by default (`--key-file` / `$DAIRA_KEY_FILE` put it elsewhere: a
//! PostgreSQL deployment keeps it off the database server). A JSON object of named 32-byte
//! keys in base64, created with mode 0600 and refused when anyone but its owner may read it.
//! The engine keeps its server key here (`seal_key`, see [`crate::seal`]); the API its signing
//! key and the global ids' key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::path::{Path, PathBuf};

/// The file's default name in the data directory.
pub const DEFAULT_FILE: &str = "keys.json";

/// Why the key file could not be used, naming it.
#[derive(Debug, thiserror::Error)]
#[error("key file {path}: {reason}")]
pub struct KeyError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// A key file, read (or new, until it is saved).
pub struct KeyFile {
    path: PathBuf,
    entries: serde_json::Map<String, serde_json::Value>,
    dirty: bool,
}

/// 32 random bytes.
pub fn random_key() -> Result<[u8; 32], String> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| e.to_string())?;
    Ok(key)
}

impl KeyFile {
    fn fail(&self, reason: impl Into<String>) -> KeyError {
        KeyError { path: self.path.clone(), reason: reason.into() }
    }

    /// Reads the file at `path`; None when there is none. Refused when others may read it.
    pub fn read(path: &Path) -> Result<Option<KeyFile>, KeyError> {
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
        let entries = serde_json::from_slice(&bytes).map_err(|e| fail(format!("not a key file: {e}")))?;
        Ok(Some(KeyFile { path: path.to_owned(), entries, dirty: false }))
    }

    /// Reads the file at `path`, or starts a new one there (written by [`KeyFile::save`]).
    pub fn read_or_new(path: &Path) -> Result<KeyFile, KeyError> {
        Ok(Self::read(path)?.unwrap_or_else(|| {
            let mut entries = serde_json::Map::new();
            entries.insert("version".into(), 1.into());
            KeyFile { path: path.to_owned(), entries, dirty: true }
        }))
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key named `name`, if the file has it.
    pub fn get(&self, name: &str) -> Result<Option<[u8; 32]>, KeyError> {
        match self.entries.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_str()
                .and_then(|text| STANDARD.decode(text.as_bytes()).ok())
                .and_then(|bytes| bytes.try_into().ok())
                .map(Some)
                .ok_or_else(|| self.fail(format!("{name} must be 32 bytes in base64"))),
        }
    }

    /// Sets the key named `name` (written by [`KeyFile::save`]).
    pub fn set(&mut self, name: &str, key: [u8; 32]) {
        self.entries.insert(name.into(), STANDARD.encode(key).into());
        self.dirty = true;
    }

    /// The key named `name`, made (randomly) if the file has none.
    pub fn get_or_make(&mut self, name: &str) -> Result<[u8; 32], KeyError> {
        if let Some(key) = self.get(name)? {
            return Ok(key);
        }
        let key = random_key().map_err(|e| self.fail(e))?;
        self.set(name, key);
        Ok(key)
    }

    /// Writes the file if anything changed: whole (a temporary file, synced, renamed over
    /// it), mode 0600.
    pub fn save(&mut self) -> Result<(), KeyError> {
        if !self.dirty {
            return Ok(());
        }
        let text = serde_json::to_vec_pretty(&self.entries).map_err(|e| self.fail(e.to_string()))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.fail(e.to_string()))?;
        }
        let temporary = self.path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        use std::io::Write;
        let mut file = options.open(&temporary).map_err(|e| self.fail(e.to_string()))?;
        file.write_all(&text).and_then(|()| file.sync_all()).map_err(|e| self.fail(e.to_string()))?;
        std::fs::rename(&temporary, &self.path).map_err(|e| self.fail(e.to_string()))?;
        self.dirty = false;
        Ok(())
    }
}
