//! `/v1/identities`: named logins a demonstration signs in with before the person arrives
//! (`identity_id`), and that its task's replays sign in with. Input: a caller and a
//! request. Output: identity objects. Invariant: the password is sealed (AES-256-GCM)
//! before it is stored and never answered; neither is the username, which only the
//! browser needs.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{JsonBody, check_id};
use super::validate;
use super::views::ListView;
use crate::db::{self, Identity, IdentityStatus};
use crate::options::FieldError;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Map, Value};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/identities", post(create_identity).get(list_identities))
        .route("/v1/identities/", post(create_identity).get(list_identities))
        .route("/v1/identities/{id}", get(read_identity).delete(delete_identity))
}

/// What an identity answers: never its username or password.
#[derive(Serialize)]
struct IdentityView<'a> {
    id: &'a str,
    name: &'a str,
    source: &'a str,
    status: &'static str,
    created_at: &'a str,
    updated_at: &'a str,
}

impl<'a> From<&'a Identity> for IdentityView<'a> {
    fn from(i: &'a Identity) -> IdentityView<'a> {
        IdentityView { id: &i.id, name: &i.name, source: &i.source, status: i.status.as_str(), created_at: &i.created_at, updated_at: &i.updated_at }
    }
}

/// The one login of `credentials`: `[{"type": "username_password", "username", "password"}]`.
fn check_login(value: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<(String, String)> {
    let mut error = |field: &str, message: &str| errors.push(FieldError { field: field.into(), message: message.into() });
    let list = match value {
        None | Some(Value::Null) => {
            error("credentials", "is required: [{\"type\": \"username_password\", \"username\", \"password\"}]");
            return None;
        }
        Some(Value::Array(list)) if list.len() == 1 => list,
        Some(Value::Array(_)) => {
            error("credentials", "must hold exactly one login (type username_password)");
            return None;
        }
        Some(_) => {
            error("credentials", "must be an array");
            return None;
        }
    };
    let Some(login) = list[0].as_object() else {
        error("credentials[0]", "must be an object");
        return None;
    };
    let mut found = Vec::new();
    match login.get("type") {
        Some(Value::String(kind)) if kind == "username_password" => {}
        Some(Value::String(_)) => found.push(FieldError { field: "credentials[0].type".into(), message: "only username_password is supported".into() }),
        _ => found.push(FieldError { field: "credentials[0].type".into(), message: "is required (username_password)".into() }),
    }
    let username = validate::string(login, "username", "credentials[0].username", 1, 320, &mut found);
    let password = password(login, &mut found);
    let whole = found.is_empty();
    errors.extend(found);
    match (username, password) {
        (Some(username), Some(password)) if whole => Some((username.trim().to_string(), password)),
        _ => None,
    }
}

/// The password exactly as given (spaces are part of a password), 1 to 1024 characters.
fn password(login: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    const FIELD: &str = "credentials[0].password";
    match login.get("password") {
        Some(Value::String(p)) if !p.is_empty() && p.chars().count() <= 1024 => Some(p.clone()),
        Some(Value::String(_)) => {
            errors.push(FieldError { field: FIELD.into(), message: "must be 1 to 1024 characters".into() });
            None
        }
        None | Some(Value::Null) => {
            errors.push(FieldError { field: FIELD.into(), message: "is required".into() });
            None
        }
        Some(_) => {
            errors.push(FieldError { field: FIELD.into(), message: "must be a string".into() });
            None
        }
    }
}

async fn create_identity(State(state): State<AppState>, Caller(key): Caller, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let map = validate::object(&body)?;
    let mut errors = Vec::new();
    let name = validate::string(map, "name", "name", 1, 200, &mut errors);
    let source = validate::string(map, "source", "source", 1, validate::MAX_URL_CHARS, &mut errors);
    // The password is typed only on the login page's host (or below it), so the host
    // must be one site's, never a public suffix.
    let domain = source.as_deref().and_then(|url| {
        validate::http_url(url, &state.services.config.targets)
            .and_then(|host| super::credentials::check_domain(&host))
            .map_err(|message| errors.push(FieldError { field: "source".into(), message }))
            .ok()
    });
    let login = check_login(map.get("credentials"), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let (username, password) = login.expect("checked");
    let sealer = state.services.sealer.as_ref().ok_or_else(|| {
        ApiError::field("credentials[0].password", "this server has no secret key (DEMOREEL_SECRET_KEY or --secret-key-file), so it cannot store passwords")
    })?;
    let now = db::now();
    let identity = Identity {
        id: db::new_id(),
        owner: key.id,
        name: name.expect("checked").trim().to_string(),
        source: source.expect("checked"),
        domain: domain.expect("checked"),
        username,
        password_sealed: sealer.seal(&password),
        status: IdentityStatus::Unverified,
        created_at: now.clone(),
        updated_at: now,
    };
    state.services.db.insert_identity(&identity).await?;
    Ok((StatusCode::CREATED, axum::Json(IdentityView::from(&identity))).into_response())
}

async fn list_identities(State(state): State<AppState>, Caller(key): Caller) -> Result<Response, ApiError> {
    let list = state.services.db.identities(&key.id).await?;
    Ok(axum::Json(ListView { data: list.iter().map(IdentityView::from).collect(), next_cursor: None }).into_response())
}

async fn read_identity(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "identity")?;
    let identity = state.services.db.identity(&key.id, &id).await?.ok_or(ApiError::NotFound("identity"))?;
    Ok(axum::Json(IdentityView::from(&identity)).into_response())
}

async fn delete_identity(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "identity")?;
    if state.services.db.delete_identity(&key.id, &id).await? { Ok(StatusCode::NO_CONTENT.into_response()) } else { Err(ApiError::NotFound("identity")) }
}
