//! Share tokens: what a demonstration's link carries. Input: a session id, what the link
//! grants, its expiry. Output: a JWT (HS256, signed with a key derived from the server's
//! signing key) and, for a token presented back, the session and grant it names.
//! Invariant: a token names exactly one session and one grant (drive it, or only watch
//! it); an expired, tampered or foreign token checks as nothing. No API endpoint reads
//! these tokens: only the share pages and their live channel do.

use crate::secrets::UrlSigner;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

/// A share link lasts an hour unless the session is asked for longer.
pub const SHARE_LINK_S: u64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The person's link (`share_url`): watch, drive, finish.
    Drive,
    /// The operator's view (`live_view_url`): watch only.
    View,
}

impl Grant {
    fn audience(self) -> &'static str {
        match self {
            Grant::Drive => "demoreel:demonstrate",
            Grant::View => "demoreel:watch",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this link has expired")]
    Expired,
    #[error("this link is not valid")]
    Invalid,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    /// The session.
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
}

pub struct ShareTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl ShareTokens {
    pub fn new(signer: &UrlSigner) -> ShareTokens {
        let key = signer.derive_key("demonstration share token");
        ShareTokens { encoding: EncodingKey::from_secret(&key), decoding: DecodingKey::from_secret(&key) }
    }

    pub fn issue(&self, session_id: &str, grant: Grant, now_unix: u64, expires_unix: u64) -> String {
        let claims = Claims { sub: session_id.to_string(), aud: grant.audience().to_string(), exp: expires_unix, iat: now_unix };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).expect("HS256 signs any claims")
    }

    /// The session `token` names and what it grants there, if it holds at `now_unix`.
    pub fn check(&self, token: &str, now_unix: u64) -> Result<(String, Grant), Refusal> {
        for grant in [Grant::Drive, Grant::View] {
            let mut validation = Validation::new(Algorithm::HS256);
            validation.set_audience(&[grant.audience()]);
            validation.set_required_spec_claims(&["exp", "aud", "sub"]);
            // Checked below against the caller's clock, to the second.
            validation.validate_exp = false;
            match jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation) {
                Ok(data) if data.claims.exp < now_unix => return Err(Refusal::Expired),
                Ok(data) => return Ok((data.claims.sub, grant)),
                Err(e) if matches!(e.kind(), ErrorKind::InvalidAudience) => continue,
                Err(_) => return Err(Refusal::Invalid),
            }
        }
        Err(Refusal::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(seed: u8) -> ShareTokens {
        let path = std::env::temp_dir().join(format!("demoreel-share-key-{}-{seed}", std::process::id()));
        std::fs::write(&path, hex::encode([seed; 32])).unwrap();
        let tokens = ShareTokens::new(&UrlSigner::load_or_create(&path).unwrap());
        let _ = std::fs::remove_file(&path);
        tokens
    }

    #[test]
    fn a_token_names_its_session_and_grant_until_it_expires_and_checks_as_nothing_when_touched() {
        let tokens = tokens(7);
        let drive = tokens.issue("demo_1", Grant::Drive, 100, 200);
        assert!(drive.starts_with("eyJ"), "a JWT, as the hosted flow's clients expect");
        assert_eq!(tokens.check(&drive, 150), Ok(("demo_1".to_string(), Grant::Drive)));
        assert_eq!(tokens.check(&tokens.issue("demo_1", Grant::View, 100, 200), 150), Ok(("demo_1".to_string(), Grant::View)));
        assert_eq!(tokens.check(&drive, 201), Err(Refusal::Expired));
        let mut tampered = drive.clone().into_bytes();
        let middle = drive.find('.').unwrap() + 3;
        tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
        assert_eq!(tokens.check(&String::from_utf8(tampered).unwrap(), 150), Err(Refusal::Invalid));
        assert_eq!(self::tokens(8).check(&drive, 150), Err(Refusal::Invalid), "another server's key");
        assert_eq!(tokens.check("not a token", 150), Err(Refusal::Invalid));
    }
}
