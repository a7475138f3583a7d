//! API keys: which key id belongs to which user, and the SHA-256 of its secret.
//!
//! A key file has one key a line: `KEY_ID USER SHA256_HEX_OF_SECRET [service]`; blank
//! lines and lines starting with `#` are skipped. A `service` key logs in a service
//! session, which may act for any user and run admin commands (the HTTP services' key). Secrets are 32 random bytes issued to a market
//! maker, so a fast hash is the right tool (a slow password hash protects guessable
//! secrets; these are not). Comparison is constant-time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bourse_core::{FixedStr, UserId};
use sha2::{Digest, Sha256};

/// Why a key file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A line is not `KEY_ID USER SHA256_HEX`.
    #[error("line {line}: {why}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: &'static str,
    },
}

/// The keys the gateway accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyStore {
    keys: HashMap<FixedStr, (UserId, [u8; 32])>,
    services: std::collections::HashSet<FixedStr>,
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl KeyStore {
    /// Parses a key file's text.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut keys = HashMap::new();
        let mut services = std::collections::HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |why| KeyFileError::Syntax { line: i + 1, why };
            let mut parts = line.split_whitespace();
            let id = parts
                .next()
                .and_then(|k| FixedStr::new(k).ok())
                .ok_or_else(|| err("key id: 1 to 16 printable ASCII characters"))?;
            let user = parts
                .next()
                .and_then(|u| u.parse().ok())
                .map(UserId)
                .ok_or_else(|| err("user: an unsigned integer"))?;
            let hash = parts
                .next()
                .and_then(hex32)
                .ok_or_else(|| err("secret hash: 64 hex digits of SHA-256"))?;
            match parts.next() {
                None => {}
                Some("service") => {
                    services.insert(id);
                }
                Some(_) => return Err(err("a fourth field can only be `service`")),
            }
            if parts.next().is_some() {
                return Err(err("extra fields"));
            }
            keys.insert(id, (user, hash));
        }
        Ok(KeyStore { keys, services })
    }

    /// Loads a key file.
    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Adds a key (for tests and the demo).
    pub fn insert(&mut self, key_id: FixedStr, user: UserId, secret: &[u8; 32]) {
        self.keys
            .insert(key_id, (user, Sha256::digest(secret).into()));
    }

    /// The line a key file needs for this key.
    pub fn line(key_id: &FixedStr, user: UserId, secret: &[u8; 32]) -> String {
        let hash: [u8; 32] = Sha256::digest(secret).into();
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        format!("{key_id} {} {hex}", user.0)
    }

    /// Adds a key by the SHA-256 of its secret (as the user service stores it).
    pub fn insert_hash(&mut self, key_id: FixedStr, user: UserId, secret_sha256: [u8; 32]) {
        self.keys.insert(key_id, (user, secret_sha256));
    }

    /// Adds a service key (for tests and the all-in-one process).
    pub fn insert_service(&mut self, key_id: FixedStr, user: UserId, secret: &[u8; 32]) {
        self.insert(key_id, user, secret);
        self.services.insert(key_id);
    }

    /// Whether `key_id` is a service key.
    pub fn is_service(&self, key_id: &FixedStr) -> bool {
        self.services.contains(key_id)
    }

    /// The user a key belongs to, whatever the secret.
    pub fn user_of(&self, key_id: &FixedStr) -> Option<UserId> {
        self.keys.get(key_id).map(|(u, _)| *u)
    }

    /// The user of a key whose secret matches.
    pub fn check(&self, key_id: &FixedStr, secret: &[u8; 32]) -> Option<UserId> {
        let (user, want) = self.keys.get(key_id)?;
        let got: [u8; 32] = Sha256::digest(secret).into();
        // Constant time: no early exit on the first differing byte.
        let diff = want.iter().zip(&got).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0).then_some(*user)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A key store that can be replaced while the gateway runs: keys made or revoked in
/// the user service reach the gateway's I/O thread without a restart. The I/O thread
/// looks at [`version`](Self::version) (one atomic load) on every loop and takes the
/// new store when it changed; sessions whose key is gone are logged out then.
#[derive(Clone, Debug, Default)]
pub struct SharedKeys {
    store: Arc<RwLock<Arc<KeyStore>>>,
    version: Arc<AtomicU64>,
}

impl SharedKeys {
    /// Starts with `store`.
    pub fn new(store: KeyStore) -> Self {
        SharedKeys {
            store: Arc::new(RwLock::new(Arc::new(store))),
            version: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Puts `store` in place (nothing happens if it is the same).
    pub fn replace(&self, store: KeyStore) {
        let mut current = self.store.write().unwrap_or_else(|e| e.into_inner());
        if **current != store {
            *current = Arc::new(store);
            self.version.fetch_add(1, Ordering::Release);
        }
    }

    /// The store now.
    pub fn current(&self) -> Arc<KeyStore> {
        self.store.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes every time the store is replaced by a different one.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

impl From<KeyStore> for SharedKeys {
    fn from(store: KeyStore) -> Self {
        SharedKeys::new(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_line_round_trips_and_only_the_right_secret_logs_in() {
        let id = FixedStr::new("mm-1").unwrap();
        let secret = [7u8; 32];
        let text = format!(
            "# market makers\n\n{}\n",
            KeyStore::line(&id, UserId(42), &secret)
        );
        let keys = KeyStore::parse(&text).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys.check(&id, &secret), Some(UserId(42)));
        assert_eq!(keys.check(&id, &[8u8; 32]), None);
        assert_eq!(keys.check(&FixedStr::new("other").unwrap(), &secret), None);
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        for (text, line) in [
            ("k 1\n", 1),
            ("# c\nk x 00\n", 2),
            ("k 1 zz\n", 1),
            (&format!("k 1 {} extra", "0".repeat(64)) as &str, 1),
        ] {
            match KeyStore::parse(text) {
                Err(KeyFileError::Syntax { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
