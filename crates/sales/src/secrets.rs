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

/// An argon2 PHC string for `password`.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        // Hashing only fails for absurd parameters; an unusable hash denies every login.
        .unwrap_or_default()
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
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

    fn parse(text: &str) -> Option<Self> {
        let bytes = STANDARD.decode(text.trim()).ok()?;
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(SealingKey(arr))
    }

    /// `KONTOR_SECRET_KEY` if set, else `<data_dir>/secret.key` (created with a new key when
    /// missing). Without a data folder and without the variable, a process-lifetime key.
    pub fn load(data_dir: Option<&Path>) -> Result<Self, KeyError> {
        if let Ok(v) = std::env::var("KONTOR_SECRET_KEY") {
            return Self::parse(&v).ok_or(KeyError::BadEnv);
        }
        let Some(dir) = data_dir else {
            return Ok(Self::generate());
        };
        let path = dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                Self::parse(&text).ok_or_else(|| KeyError::BadFile(path.display().to_string()))
            }
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
        let h = hash_password("correct horse");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
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
