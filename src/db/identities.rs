//! Identities: named logins (a username and a sealed password for one site) that a
//! demonstration signs in with before the person arrives and that its task replays with.
//! Input: identities the api checked, and the outcome of each sign-in that used one.
//! Output: the rows, read back by owner. Invariant: the password is stored only sealed
//! and leaves this module only as the sealed bytes (opened by the one who signs in).

use super::sql::SqlDatabase;
use super::{Credential, DbResult, KeyId};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Whether the identity's last sign-in worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityStatus {
    /// Saved, never used yet.
    Unverified,
    /// The last sign-in with it got past the password.
    Verified,
    /// The last sign-in with it did not.
    LoginFailed,
}

impl IdentityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityStatus::Unverified => "unverified",
            IdentityStatus::Verified => "verified",
            IdentityStatus::LoginFailed => "login_failed",
        }
    }

    fn parse(text: &str) -> IdentityStatus {
        match text {
            "verified" => IdentityStatus::Verified,
            "login_failed" => IdentityStatus::LoginFailed,
            _ => IdentityStatus::Unverified,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub id: String,
    pub owner: KeyId,
    pub name: String,
    /// The login page (an http or https URL).
    pub source: String,
    /// The host of `source`: the password is typed only on it or its subdomains.
    pub domain: String,
    pub username: String,
    /// AES-256-GCM nonce + ciphertext of the password (see `crate::secrets`).
    pub password_sealed: Vec<u8>,
    pub status: IdentityStatus,
    pub created_at: String,
    pub updated_at: String,
}

impl Identity {
    /// The identity as the login the act loop signs in with.
    pub fn as_credential(&self) -> Credential {
        Credential {
            id: self.id.clone(),
            owner: self.owner.clone(),
            label: self.name.clone(),
            domain: self.domain.clone(),
            email: self.username.clone(),
            password_sealed: Some(self.password_sealed.clone()),
            is_default: false,
            created_at: self.created_at.clone(),
        }
    }
}

#[async_trait::async_trait]
pub trait IdentityRepo: Send + Sync {
    async fn insert_identity(&self, identity: &Identity) -> DbResult<()>;
    /// The key's identities, newest first.
    async fn identities(&self, owner: &KeyId) -> DbResult<Vec<Identity>>;
    async fn identity(&self, owner: &KeyId, id: &str) -> DbResult<Option<Identity>>;
    async fn delete_identity(&self, owner: &KeyId, id: &str) -> DbResult<bool>;
    /// Records how the latest sign-in with the identity went.
    async fn set_identity_status(&self, id: &str, status: IdentityStatus, now: &str) -> DbResult<()>;
}

fn identity_from(row: &AnyRow) -> Identity {
    Identity {
        id: row.get("id"),
        owner: row.get("owner"),
        name: row.get("name"),
        source: row.get("source"),
        domain: row.get("domain"),
        username: row.get("username"),
        password_sealed: row.get("password_sealed"),
        status: IdentityStatus::parse(&row.get::<String, _>("status")),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

#[async_trait::async_trait]
impl IdentityRepo for SqlDatabase {
    async fn insert_identity(&self, i: &Identity) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO identities (id, owner, name, source, domain, username, password_sealed, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&i.id)
        .bind(&i.owner)
        .bind(&i.name)
        .bind(&i.source)
        .bind(&i.domain)
        .bind(&i.username)
        .bind(&i.password_sealed)
        .bind(i.status.as_str())
        .bind(&i.created_at)
        .bind(&i.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn identities(&self, owner: &KeyId) -> DbResult<Vec<Identity>> {
        let rows = sqlx::query("SELECT * FROM identities WHERE owner = $1 ORDER BY created_at DESC, id DESC").bind(owner).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(identity_from).collect())
    }

    async fn identity(&self, owner: &KeyId, id: &str) -> DbResult<Option<Identity>> {
        let row = sqlx::query("SELECT * FROM identities WHERE owner = $1 AND id = $2").bind(owner).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(identity_from))
    }

    async fn delete_identity(&self, owner: &KeyId, id: &str) -> DbResult<bool> {
        let done = sqlx::query("DELETE FROM identities WHERE owner = $1 AND id = $2").bind(owner).bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_identity_status(&self, id: &str, status: IdentityStatus, now: &str) -> DbResult<()> {
        sqlx::query("UPDATE identities SET status = $1, updated_at = $2 WHERE id = $3").bind(status.as_str()).bind(now).bind(id).execute(&self.pool).await?;
        Ok(())
    }
}
