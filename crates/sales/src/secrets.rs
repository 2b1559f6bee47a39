//! Passwords, client secrets, tokens and encrypted-at-rest values.
//!
//! Passwords are argon2 hashes; client secrets and bearer tokens are high-entropy random strings
//! stored as sha256 hex. Values that must be read back (the Financials access key) are sealed
//! with XChaCha20-Poly1305 under a key from `KONTOR_SECRET_KEY` or a key file.

use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A secret string: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; call only where it leaves the process on purpose.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A stored argon2 password hash (PHC string).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredHash(String);

impl StoredHash {
    pub fn new(phc: impl Into<String>) -> Self {
        StoredHash(phc.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredHash(***)")
    }
}

/// An argon2 PHC string for `password`.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        // Hashing only fails for absurd parameters; an unusable hash denies every login.
        .unwrap_or_default()
}

/// A hash of a password nobody knows, made once with the same parameters as every stored one, so
/// that checking against it costs what checking a real one does.
fn dummy_hash() -> &'static StoredHash {
    static DUMMY: std::sync::OnceLock<StoredHash> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| StoredHash(hash_password(&random_token(18))))
}

/// Checks `password` against `stored`. Always runs argon2: with no stored hash (unknown user,
/// no password) it verifies against a dummy hash and answers false, so an unknown user name
/// costs the same as a wrong password. Slow by design: call it through [`verify_password_async`]
/// from async code.
pub fn verify_password(stored: Option<&StoredHash>, password: &str) -> bool {
    let phc = stored.unwrap_or_else(|| dummy_hash());
    let ok = match PasswordHash::new(phc.as_str()) {
        Ok(h) => Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    };
    ok && stored.is_some()
}

/// At most one password hash computation per core at a time, off the async runtime: a burst of
/// logins queues here instead of stalling every other request.
fn hashing_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    })
}

/// Runs a CPU-heavy hashing job on the blocking pool behind [`hashing_permits`].
async fn off_runtime<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> T {
    // The semaphore is never closed, so acquiring only waits.
    let _permit = hashing_permits().acquire().await.ok();
    match tokio::task::spawn_blocking(job).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// [`verify_password`] on the blocking pool, behind the hashing concurrency limit.
pub async fn verify_password_async(stored: Option<StoredHash>, password: &str) -> bool {
    let password = password.to_owned();
    off_runtime(move || verify_password(stored.as_ref(), &password)).await
}

/// [`hash_password`] on the blocking pool, behind the hashing concurrency limit.
pub async fn hash_password_async(password: &str) -> String {
    let password = password.to_owned();
    off_runtime(move || hash_password(&password)).await
}

/// A random URL-safe string with `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A generated password: 18 random bytes, URL-safe.
pub fn generate_password() -> Secret {
    Secret(random_token(18))
}

/// sha256 hex of a high-entropy value (tokens, client secrets).
pub fn sha256_hex(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison of two hex digests.
pub fn digest_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The key that seals stored secrets.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("KONTOR_SECRET_KEY must be 32 bytes, base64-encoded")]
    BadEnv,
    #[error("the key file {0} is not 32 bytes, base64-encoded")]
    BadFile(String),
    #[error("cannot read or write the key file: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, thiserror::Error)]
#[error("the stored secret cannot be decrypted with this key")]
pub struct UnsealError;

impl SealingKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SealingKey(bytes)
    }

    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        SealingKey(k)
    }

    /// A key written as base64 of its 32 bytes (as `secret.key` and `KONTOR_SECRET_KEY` hold it).
    pub fn from_base64(text: &str) -> Option<Self> {
        let bytes = STANDARD.decode(text.trim()).ok()?;
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(SealingKey(arr))
    }

    /// `KONTOR_SECRET_KEY` if set, else `<data_dir>/secret.key` (created with a new key when
    /// missing). Without a data folder and without the variable, a process-lifetime key.
    pub fn load(data_dir: Option<&Path>) -> Result<Self, KeyError> {
        if let Ok(v) = std::env::var("KONTOR_SECRET_KEY") {
            return Self::from_base64(&v).ok_or(KeyError::BadEnv);
        }
        Self::load_file(data_dir)
    }

    /// `<data_dir>/secret.key` (created with a new key when missing); without a data folder, a
    /// process-lifetime key. Unlike [`SealingKey::load`], `KONTOR_SECRET_KEY` is not read (the
    /// caller read its settings already).
    pub fn load_file(data_dir: Option<&Path>) -> Result<Self, KeyError> {
        let Some(dir) = data_dir else {
            return Ok(Self::generate());
        };
        let path = dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(&text)
                .ok_or_else(|| KeyError::BadFile(path.display().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                std::fs::create_dir_all(dir)?;
                std::fs::write(&path, STANDARD.encode(key.0))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(key)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// base64(nonce ‖ ciphertext).
    pub fn seal(&self, plaintext: &str) -> String {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct =
            cipher.encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes()).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(ct);
        STANDARD.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<Secret, UnsealError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| UnsealError)?;
        if bytes.len() < 24 {
            return Err(UnsealError);
        }
        let (nonce, ct) = bytes.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let pt = cipher.decrypt(XNonce::from_slice(nonce), ct).map_err(|_| UnsealError)?;
        String::from_utf8(pt).map(Secret).map_err(|_| UnsealError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let h = StoredHash::new(hash_password("correct horse"));
        assert!(verify_password(Some(&h), "correct horse"));
        assert!(!verify_password(Some(&h), "wrong"));
        assert!(!verify_password(Some(&StoredHash::new("not a hash")), "x"));
    }

    #[test]
    fn without_a_stored_hash_the_check_still_runs_argon2_and_fails() {
        // The dummy is a real argon2 hash with the stored hashes' parameters…
        let dummy = dummy_hash();
        let parsed = PasswordHash::new(dummy.as_str()).expect("a PHC string");
        let real = hash_password("x");
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(parsed.algorithm, real.algorithm);
        assert_eq!(parsed.params, real.params);
        // …and checking without a stored hash verifies against it and answers false, even for
        // the empty password.
        assert!(!verify_password(None, ""));
        assert!(!verify_password(None, "anything"));
    }

    #[tokio::test]
    async fn hashing_and_checking_run_off_the_async_runtime() {
        let h = StoredHash::new(hash_password_async("pw-123456").await);
        assert!(verify_password_async(Some(h.clone()), "pw-123456").await);
        assert!(!verify_password_async(Some(h), "nope").await);
        assert!(!verify_password_async(None, "pw-123456").await);
    }

    #[test]
    fn a_sealed_value_opens_with_the_same_key_only() {
        let k = SealingKey::generate();
        let sealed = k.seal("access-key");
        assert!(!sealed.contains("access-key"));
        assert_eq!(k.open(&sealed).unwrap().expose(), "access-key");
        assert!(SealingKey::generate().open(&sealed).is_err());
        assert!(k.open("garbage!").is_err());
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert!(!format!("{:?}", SealingKey::generate()).contains('['));
    }
}
