//! `/v1/agent/credentials`: saved logins for target apps. Input: a caller and a request.
//! Output: credential objects. Invariant: a password is sealed (AES-256-GCM) before it is
//! stored and never answered, neither as text nor as ciphertext.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{JsonBody, check_id};
use super::validate;
use super::views::{CredentialView, ListView};
use crate::db::{self, ApiKey, Credential};
use crate::options::FieldError;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/agent/credentials", post(create_credential).get(list_credentials))
        .route("/v1/agent/credentials/{id}", patch(update_credential).delete(delete_credential))
        .route("/v1/agent/credentials/{id}/set-default", post(set_default_credential))
}

/// A site's own host name, lower-cased: never a public suffix.
pub(super) fn check_domain(text: &str) -> Result<String, String> {
    let domain = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !ok {
        return Err("must be a hostname such as app.example.com".into());
    }
    // A login for `com` or `github.io` would be typed into every site under it.
    if psl::suffix_str(&domain) == Some(domain.as_str()) {
        return Err(format!("{domain} is a public suffix (like com or co.uk), shared by unrelated sites; give the site's own domain"));
    }
    Ok(domain)
}

fn check_email(text: &str) -> Result<(), String> {
    let ok = text.split_once('@').is_some_and(|(user, host)| !user.is_empty() && !host.is_empty()) && text.chars().count() <= 320;
    if ok { Ok(()) } else { Err("must be an e-mail address".into()) }
}

fn seal_password(state: &AppState, password: &str) -> Result<Vec<u8>, ApiError> {
    let sealer = state.services.sealer.as_ref().ok_or_else(|| {
        ApiError::field("password", "this server has no secret key (DEMOREEL_SECRET_KEY or --secret-key-file), so it cannot store passwords")
    })?;
    Ok(sealer.seal(password))
}

async fn create_credential(State(state): State<AppState>, Caller(key): Caller, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let map = validate::object(&body)?;
    let mut errors = Vec::new();
    let label = validate::string(map, "label", "label", 1, 200, &mut errors);
    let domain = validate::string(map, "domain", "domain", 1, 253, &mut errors).and_then(|d| {
        check_domain(&d).map_err(|message| errors.push(FieldError { field: "domain".into(), message })).ok()
    });
    let email = validate::string(map, "email", "email", 1, 320, &mut errors);
    if let Some(e) = &email
        && let Err(message) = check_email(e)
    {
        errors.push(FieldError { field: "email".into(), message });
    }
    let password = validate::string(map, "password", "password", 0, 1024, &mut errors).filter(|p| !p.is_empty());
    let is_default = validate::boolean(map, "is_default", false, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let password_sealed = password.as_deref().map(|p| seal_password(&state, p)).transpose()?;
    let credential = Credential {
        id: db::new_id(),
        owner: key.id,
        label: label.expect("checked"),
        domain: domain.expect("checked"),
        email: email.expect("checked"),
        password_sealed,
        is_default,
        created_at: db::now(),
    };
    state.services.db.insert_credential(&credential).await?;
    Ok((StatusCode::CREATED, axum::Json(CredentialView::from(&credential))).into_response())
}

async fn list_credentials(State(state): State<AppState>, Caller(key): Caller) -> Result<Response, ApiError> {
    let list = state.services.db.credentials(&key.id).await?;
    Ok(axum::Json(ListView { data: list.iter().map(CredentialView::from).collect(), next_cursor: None }).into_response())
}

async fn own_credential(state: &AppState, key: &ApiKey, id: &str) -> Result<Credential, ApiError> {
    check_id(id, "credential")?;
    state.services.db.credential(&key.id, id).await?.ok_or(ApiError::NotFound("credential"))
}

async fn update_credential(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let mut credential = own_credential(&state, &key, &id).await?;
    let map = validate::object(&body)?;
    let mut errors = Vec::new();
    if map.contains_key("label") {
        if let Some(label) = validate::string(map, "label", "label", 1, 200, &mut errors) {
            credential.label = label;
        }
    }
    let mut domain_moved = false;
    if map.contains_key("domain") {
        match validate::string(map, "domain", "domain", 1, 253, &mut errors).map(|d| check_domain(&d)) {
            Some(Ok(domain)) => {
                domain_moved = domain != credential.domain;
                credential.domain = domain;
            }
            Some(Err(message)) => errors.push(FieldError { field: "domain".into(), message }),
            None => {}
        }
    }
    if map.contains_key("email") {
        if let Some(email) = validate::string(map, "email", "email", 1, 320, &mut errors) {
            match check_email(&email) {
                Ok(()) => credential.email = email,
                Err(message) => errors.push(FieldError { field: "email".into(), message }),
            }
        }
    }
    match map.get("is_default") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => credential.is_default = *b,
        Some(_) => errors.push(FieldError { field: "is_default".into(), message: "must be true or false".into() }),
    }
    let new_password = match map.get("password") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(_) => validate::string(map, "password", "password", 1, 1024, &mut errors).map(Some),
    };
    // A saved password serves the domain it was given for: moving it elsewhere would walk
    // it out to whoever owns the new domain.
    if domain_moved && credential.password_sealed.is_some() && new_password.is_none() {
        errors.push(FieldError { field: "password".into(), message: "is required again when the domain changes (or null to drop it)".into() });
    }
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    if let Some(password) = new_password {
        credential.password_sealed = password.as_deref().map(|p| seal_password(&state, p)).transpose()?;
    }
    state.services.db.update_credential(&credential).await?;
    Ok(axum::Json(CredentialView::from(&credential)).into_response())
}

async fn set_default_credential(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "credential")?;
    let credential = state.services.db.set_default_credential(&key.id, &id).await?.ok_or(ApiError::NotFound("credential"))?;
    Ok(axum::Json(CredentialView::from(&credential)).into_response())
}

async fn delete_credential(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "credential")?;
    if state.services.db.delete_credential(&key.id, &id).await? { Ok(StatusCode::NO_CONTENT.into_response()) } else { Err(ApiError::NotFound("credential")) }
}
