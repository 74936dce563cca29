//! The intro templates a key may use: the built-in ones and the key's own uploads.
//! Input: a key and a reference (`name` or `name@version`), or the files of a new upload.
//! Output: a loaded [`Template`], the listing the API answers, or what a delete did.
//! Invariant: a built-in name cannot be uploaded, so a name means one template to every
//! key that sees it; a loaded upload is exactly its stored version (stored versions
//! never change, so the loaded copy is kept by row id); a version a run that has not
//! ended may still draw is never deleted.

use crate::db::{Database, DbError, KeyId, StoredTemplate, TemplateNeed};
use crate::options::FieldError;
use crate::run_spec::IntroSpec;
use crate::templates::{Template, TemplateError};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Versions one key may keep, over all its template names.
pub const MAX_VERSIONS_PER_KEY: usize = 100;
/// Loaded uploads kept in memory (each holds its scene and assets).
const CACHED_UPLOADS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// No template by that reference for this key; the text says what is known.
    #[error("{0}")]
    Unknown(String),
    /// An upload that is not a template: each fault names its file and field.
    #[error("the template is not valid")]
    Invalid(Vec<FieldError>),
    /// The key keeps as many versions as it may.
    #[error("this key keeps {0} template versions, the most it may; delete some first")]
    Full(usize),
    /// A delete of a version that runs still need.
    #[error("{0}")]
    Pinned(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("loading a stored template: {0}")]
    Stored(String),
}

/// `name` or `name@version`; `None` for a version that is not a whole number.
pub fn parse_reference(reference: &str) -> Option<(&str, Option<u32>)> {
    match reference.split_once('@') {
        Some((name, version)) => Some((name, Some(version.parse().ok()?))),
        None => Some((reference, None)),
    }
}

/// The template `reference` names for `owner`: a built-in one, else the owner's upload
/// (its latest version when none is given).
pub async fn resolve(db: &dyn Database, owner: &KeyId, reference: &str) -> Result<Arc<Template>, LibraryError> {
    let unknown = || LibraryError::Unknown(format!("no template {reference:?} (GET /v1/templates lists them)"));
    let (name, version) = parse_reference(reference).ok_or_else(unknown)?;
    if is_builtin_name(name) {
        return crate::templates::find_builtin(reference).ok_or_else(unknown);
    }
    // Rows without their files first: a version already loaded is not read again (a
    // preview per keystroke would otherwise fetch and decode the assets each time).
    let rows = db.template_versions(owner, Some(name)).await?;
    let row = match version {
        Some(version) => rows.iter().find(|row| row.version == version),
        None => rows.last(),
    };
    load(db, row.ok_or_else(unknown)?).await
}

fn is_builtin_name(name: &str) -> bool {
    crate::templates::builtin().iter().any(|t| t.manifest.name == name)
}

fn cache() -> &'static Mutex<HashMap<String, Arc<Template>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Template>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn remember(id: &str, template: &Arc<Template>) {
    let mut cache = cache().lock().unwrap();
    if cache.len() >= CACHED_UPLOADS {
        // Any one goes: a miss costs one load, and a bound matters more than a policy.
        if let Some(key) = cache.keys().next().cloned() {
            cache.remove(&key);
        }
    }
    cache.insert(id.to_string(), template.clone());
}

/// A stored version (`row`, listed without its files) made into a template: its files
/// are read and drawn once per process and row.
async fn load(db: &dyn Database, row: &StoredTemplate) -> Result<Arc<Template>, LibraryError> {
    if let Some(template) = cache().lock().unwrap().get(&row.id) {
        return Ok(template.clone());
    }
    let gone = || LibraryError::Unknown(format!("the template {}@{} was deleted", row.name, row.version));
    let stored = db.template(&row.owner, &row.name, Some(row.version)).await?.ok_or_else(gone)?;
    let id = stored.id.clone();
    let template = tokio::task::spawn_blocking(move || -> Result<Template, TemplateError> {
        let mut template = Template::from_files(&stored.files)?;
        template.manifest.version = stored.version;
        Ok(template)
    })
    .await
    .map_err(|e| LibraryError::Stored(e.to_string()))?
    .map_err(|e| LibraryError::Stored(e.to_string()))?;
    let template = Arc::new(template);
    remember(&id, &template);
    Ok(template)
}

/// Checks `files` as a template and stores them as the next version of its name; the
/// version the manifest gives is replaced by the one the service assigns.
pub async fn upload(db: &dyn Database, owner: &KeyId, mut files: HashMap<String, Vec<u8>>) -> Result<Arc<Template>, LibraryError> {
    let kept = db.template_versions(owner, None).await?.len();
    if kept >= MAX_VERSIONS_PER_KEY {
        return Err(LibraryError::Full(kept));
    }
    // Authors need not number their uploads: the service does.
    if let Some(manifest) = files.get_mut("manifest.json")
        && let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(manifest)
        && !map.contains_key("version")
    {
        map.insert("version".into(), json!(1));
        *manifest = serde_json::to_vec(&Value::Object(map)).expect("a JSON object serialises");
    }
    // One upload is checked at a time: drawing a hostile scene costs one core, never the
    // machine (the renders and the API keep the other).
    static CHECKING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let _turn = CHECKING.acquire().await.map_err(|e| LibraryError::Stored(e.to_string()))?;
    let checked_files = files.clone();
    let checked = tokio::task::spawn_blocking(move || Template::from_files(&checked_files))
        .await
        .map_err(|e| LibraryError::Stored(e.to_string()))?
        .map_err(|e| LibraryError::Invalid(vec![upload_field_error(&e)]))?;
    let name = checked.manifest.name.clone();
    if is_builtin_name(&name) {
        return Err(LibraryError::Invalid(vec![FieldError {
            field: "files.manifest.json".into(),
            message: format!("name: {name:?} is a built-in template; an upload needs a name of its own"),
        }]));
    }
    let stored = db.insert_template(owner, &name, &checked.manifest.description, &files, &crate::db::now()).await?;
    let mut template = checked;
    template.manifest.version = stored.version;
    let template = Arc::new(template);
    remember(&stored.id, &template);
    Ok(template)
}

/// A template's fault as the field of an upload: `files.manifest.json` with the
/// manifest's own field in the message, `files.scene.svg` with its line, and so on.
fn upload_field_error(error: &TemplateError) -> FieldError {
    match error {
        TemplateError::Manifest { field, reason } => FieldError { field: "files.manifest.json".into(), message: format!("{field}: {reason}") },
        TemplateError::Scene { file, reason } => FieldError { field: format!("files.{file}"), message: reason.clone() },
        TemplateError::Files(text) => match text.split_once(": ") {
            Some((file, reason)) if !file.contains(' ') => FieldError { field: format!("files.{file}"), message: reason.to_string() },
            _ => FieldError { field: "files".into(), message: text.clone() },
        },
    }
}

/// What `GET /v1/templates` answers for `owner`: the built-in templates, then the
/// latest version of each of the owner's with the numbers of all its versions.
pub async fn list(db: &dyn Database, owner: &KeyId) -> Result<Vec<Value>, LibraryError> {
    let mut listed: Vec<Value> = crate::templates::builtin().iter().map(|t| t.describe("built-in")).collect();
    let versions = db.template_versions(owner, None).await?;
    // Rows come by name then version: each name's last row is its latest.
    let mut by_name: Vec<(&StoredTemplate, Vec<u32>)> = Vec::new();
    for row in &versions {
        match by_name.last_mut() {
            Some((latest, numbers)) if latest.name == row.name => {
                *latest = row;
                numbers.push(row.version);
            }
            _ => by_name.push((row, vec![row.version])),
        }
    }
    for (latest, numbers) in by_name {
        let template = match load(db, latest).await {
            Ok(template) => template,
            // Deleted since it was listed: it is not there any more.
            Err(LibraryError::Unknown(_)) => continue,
            Err(other) => return Err(other),
        };
        let mut described = template.describe("own");
        described["versions"] = json!(numbers);
        listed.push(described);
    }
    Ok(listed)
}

/// What a delete did: the versions removed, and those kept because runs need them.
#[derive(Debug, serde::Serialize)]
pub struct Deleted {
    pub name: String,
    pub deleted: Vec<u32>,
    pub kept: Vec<Value>,
}

/// Deletes `owner`'s versions of `name` (one, or all) that no unfinished run or job may
/// still draw. Asking for one pinned version is refused ([`LibraryError::Pinned`]). The
/// pin check and the delete are one step under the key's lock, the lock a new run or job
/// that names the template takes to check it is still there.
pub async fn delete(db: &dyn Database, owner: &KeyId, name: &str, version: Option<u32>) -> Result<Deleted, LibraryError> {
    let pins = |unfinished: &[(String, Value)], latest: Option<u32>| pins(unfinished, name, latest);
    let outcome = db.delete_unpinned_template_versions(owner, name, version, &crate::db::now(), &pins).await?;
    if outcome.deleted.is_empty() && outcome.kept.is_empty() {
        let what = version.map_or(format!("{name:?}"), |v| format!("\"{name}@{v}\""));
        return Err(LibraryError::Unknown(format!("this key has no template {what}")));
    }
    if let (Some(_), Some((number, users))) = (version, outcome.kept.first()) {
        return Err(LibraryError::Pinned(format!("{name}@{number} is used by runs that have not ended: {}", users.join(", "))));
    }
    let kept = outcome.kept.into_iter().map(|(number, users)| json!({"version": number, "pinned_by": users})).collect();
    Ok(Deleted { name: name.to_string(), deleted: outcome.deleted, kept })
}

/// The versions of `name` that the unfinished runs and jobs (`unfinished`: id and
/// options) may still draw, with their ids: one that names no version draws the latest.
fn pins(unfinished: &[(String, Value)], name: &str, latest: Option<u32>) -> HashMap<u32, Vec<String>> {
    let mut pins: HashMap<u32, Vec<String>> = HashMap::new();
    for (id, options) in unfinished {
        // Only the intro is read: the rest of the options (sealed steps) is not this
        // check's business.
        let Some(intro) = IntroSpec::parse(options.get("intro"), "options.intro", &mut Vec::new()) else { continue };
        let Some((used, version)) = parse_reference(&intro.template) else { continue };
        if let (true, Some(number)) = (used == name, version.or(latest)) {
            pins.entry(number).or_default().push(id.clone());
        }
    }
    pins
}

/// What a new run or job that draws `reference` needs to find still stored as it is
/// stored: an uploaded template (a built-in one is always there).
pub fn stored_need(reference: &str) -> Option<TemplateNeed> {
    let (name, version) = parse_reference(reference)?;
    (!is_builtin_name(name)).then(|| TemplateNeed { name: name.to_string(), version })
}

/// Why an intro cannot be made: intros are best effort, so callers report it and go on.
#[derive(Debug, Clone)]
pub struct IntroUnavailable {
    /// The template as far as it was known: `name@version` once resolved, else the name
    /// asked for.
    pub template: String,
    /// Whether `template` is a resolved `name@version` (a run's plan records it then).
    pub resolved: bool,
    pub reason: String,
}

impl std::fmt::Display for IntroUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.template, self.reason)
    }
}

/// The intro `intro` (a run's or a job's `options.intro`) asks for, ready to draw: its
/// template resolved for `owner`, its values checked, its images fetched under `targets`.
pub async fn prepare_intro(db: &dyn Database, owner: &KeyId, intro: &IntroSpec, targets: &crate::egress::TargetPolicy) -> Result<crate::render::intro::IntroRequest, IntroUnavailable> {
    let name = intro.template.as_str();
    let template = resolve(db, owner, name)
        .await
        .map_err(|error| IntroUnavailable { template: name.to_string(), resolved: false, reason: error.to_string() })?;
    let unavailable = |reason: String| IntroUnavailable { template: template.manifest.reference(), resolved: true, reason };
    let values = template
        .check_values(intro.content.as_ref(), intro.style.as_ref(), "options.intro")
        .map_err(|errors| unavailable(errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ")))?;
    let images = crate::templates::fetch::images(&template.image_fields, &values.content, targets).await.map_err(unavailable)?;
    Ok(crate::render::intro::IntroRequest { template, values, images })
}
