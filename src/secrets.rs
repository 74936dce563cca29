//! Secrets at rest and in URLs. Input: the operator's 32-byte key (environment or key
//! file), the data directory's signing key. Output: sealed credential passwords
//! (AES-256-GCM, a fresh 96-bit nonce each, stored as nonce ‖ ciphertext), API keys and
//! their hashes, signed download URLs. Invariant: no plaintext secret is stored or
//! logged; an API key is shown once and kept only as its SHA-256.

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{source_name}: must hold a 32-byte key as 64 hex digits or base64 ({found})")]
    BadKey { source_name: String, found: String },
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("a stored secret could not be decrypted with this key (was the key changed?)")]
    Open,
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// Reads a 32-byte key written as hex or base64 (surrounding whitespace ignored).
pub fn parse_key(text: &str, source_name: &str) -> Result<[u8; 32], SecretError> {
    use base64::Engine;
    let text = text.trim();
    let bytes = hex::decode(text)
        .ok()
        .filter(|b| b.len() == 32)
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok().filter(|b| b.len() == 32));
    let found = if text.is_empty() { "empty".to_string() } else { format!("{} characters", text.len()) };
    let bytes = bytes.ok_or_else(|| SecretError::BadKey { source_name: source_name.to_string(), found })?;
    Ok(bytes.try_into().expect("checked length"))
}

/// Seals and opens credential passwords.
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Sealer {
        Sealer { cipher: Aes256Gcm::new(key.into()) }
    }

    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        let nonce = random_bytes::<12>();
        let mut sealed = nonce.to_vec();
        sealed.extend(self.cipher.encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes()).expect("AES-GCM encryption of a short text"));
        sealed
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, SecretError> {
        if sealed.len() < 12 + 16 {
            return Err(SecretError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| SecretError::Open)?;
        String::from_utf8(plain).map_err(|_| SecretError::Open)
    }
}

/// A new API key: `drk_` and 64 hex digits (256 random bits).
pub fn new_api_key() -> String {
    format!("drk_{}", hex::encode(random_bytes::<32>()))
}

/// What the database keeps of an API key. Keys are random and long, so a plain SHA-256
/// is enough (nothing to brute-force).
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Signs download URLs: HMAC-SHA256 over the artifact id and the expiry.
/// Seconds since the Unix epoch: the clock signed links expire by.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub struct UrlSigner {
    key: [u8; 32],
}

impl UrlSigner {
    /// The signing key lives in the data directory (created on first start, mode 0600),
    /// so signed URLs survive restarts.
    pub fn load_or_create(path: &Path) -> Result<UrlSigner, SecretError> {
        let file_error = |e: std::io::Error| SecretError::File { path: path.display().to_string(), reason: e.to_string() };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(UrlSigner { key: parse_key(&text, &path.display().to_string())? }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_bytes::<32>();
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(file_error)?;
                }
                crate::files::write_private(path, hex::encode(key).as_bytes()).map_err(file_error)?;
                Ok(UrlSigner { key })
            }
            Err(e) => Err(file_error(e)),
        }
    }

    /// A key of its own for another kind of token (`purpose` names it), derived from the
    /// signing key: a token of one kind never checks as another.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("derive\n{purpose}").as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn sign(&self, artifact_id: &str, expires_unix: u64) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{artifact_id}\n{expires_unix}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn verify(&self, artifact_id: &str, expires_unix: u64, signature: &str, now_unix: u64) -> bool {
        if now_unix > expires_unix {
            return false;
        }
        let Ok(given) = hex::decode(signature) else { return false };
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{artifact_id}\n{expires_unix}").as_bytes());
        mac.verify_slice(&given).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_passwords_open_only_with_their_key() {
        let sealer = Sealer::new(&[7u8; 32]);
        let sealed = sealer.seal("hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(sealer.open(&sealed).unwrap(), "hunter2");
        assert_ne!(sealer.seal("hunter2"), sealed, "a fresh nonce each time");
        assert!(Sealer::new(&[8u8; 32]).open(&sealed).is_err());
        assert!(parse_key(&"ab".repeat(32), "test").is_ok());
        assert!(parse_key("short", "DEMOREEL_SECRET_KEY").unwrap_err().to_string().contains("DEMOREEL_SECRET_KEY"));
    }

    #[test]
    fn signatures_name_one_artifact_and_expire() {
        let dir = std::env::temp_dir().join(format!("demoreel-signer-{}", std::process::id()));
        let signer = UrlSigner::load_or_create(&dir.join("signing.key")).unwrap();
        let sig = signer.sign("a", 100);
        assert!(signer.verify("a", 100, &sig, 99));
        assert!(!signer.verify("b", 100, &sig, 99), "another artifact");
        assert!(!signer.verify("a", 100, &sig, 101), "expired");
        assert!(!signer.verify("a", 101, &sig, 99), "another expiry");
        let again = UrlSigner::load_or_create(&dir.join("signing.key")).unwrap();
        assert!(again.verify("a", 100, &sig, 99), "the key survives a restart");
        let _ = std::fs::remove_dir_all(dir);
    }
}
