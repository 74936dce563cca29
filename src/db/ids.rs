//! Typed ids. Input: an API key's id as text (a row's column, a studio token, a new id).
//! Output: a [`KeyId`], stored and bound as plain text. Invariant: the owner every scoped
//! read and write is filtered by cannot be passed where another id is expected, nor
//! another id where it is: the compiler refuses the swap that a pair of positional
//! strings (`owner, id` here, `id, owner` there) let through.

use serde::{Deserialize, Serialize};
use sqlx::any::{Any, AnyTypeInfo};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;

/// The id of an API key, and so the owner of every run, credential, template, job,
/// demonstration and identity made with it. Serialised and stored as the bare string, so
/// rows, JSON answers and URLs are unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    pub fn new(id: impl Into<String>) -> KeyId {
        KeyId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for KeyId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for KeyId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for KeyId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

// Rows decode and statements bind it as the text it is.
impl sqlx::Type<Any> for KeyId {
    fn type_info() -> AnyTypeInfo {
        <String as sqlx::Type<Any>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, Any> for KeyId {
    fn encode_by_ref(&self, buf: &mut <Any as sqlx::Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
        <String as sqlx::Encode<'q, Any>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> sqlx::Decode<'r, Any> for KeyId {
    fn decode(value: <Any as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(KeyId(<String as sqlx::Decode<'r, Any>>::decode(value)?))
    }
}
