//! `demoreel templates …`: the template author's loop on one machine. Input: a built-in
//! template's name or a template folder, content and style as JSON, a moment. Output: the
//! list, a template's description, a preview file (PNG of a moment, or the whole card as
//! MP4 or GIF by the file's extension), a check naming file and field, or a preview
//! re-made whenever a file of the folder changes; over the API, a folder uploaded as a
//! new version of the key's own template, and own versions deleted.

use crate::egress::TargetPolicy;
use crate::geometry::Size;
use crate::produce::preview;
use crate::render::intro::IntroRequest;
use crate::templates::{Image, ImageFormat, Template};
use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Subcommand, Debug)]
pub enum TemplatesCommand {
    /// Lists the built-in templates.
    List,
    /// Prints a template (a name or a folder): description, duration, schemas, defaults.
    Show { template: String },
    /// Renders a preview of a template (a name or a folder).
    Preview {
        template: String,
        #[command(flatten)]
        preview: PreviewArgs,
    },
    /// Checks a template folder: the manifest, the scene, the assets; names file and field.
    Validate { dir: PathBuf },
    /// Re-renders the preview whenever a file of the template folder changes.
    Watch {
        dir: PathBuf,
        #[command(flatten)]
        preview: PreviewArgs,
    },
    /// Uploads a template folder to a server as a new version of the key's own template.
    Upload {
        dir: PathBuf,
        #[command(flatten)]
        client: super::client::ClientArgs,
    },
    /// Prints a link that opens the authoring page (/studio) as the key, for --minutes.
    Studio {
        #[arg(long, default_value_t = 30)]
        minutes: u64,
        #[command(flatten)]
        client: super::client::ClientArgs,
    },
    /// Deletes the key's own template versions (all, or --version) that no unfinished run uses.
    Delete {
        name: String,
        #[arg(long)]
        version: Option<u32>,
        #[command(flatten)]
        client: super::client::ClientArgs,
    },
}

/// What a preview shows and where it goes (`preview` and `watch` alike).
#[derive(clap::Args, Debug)]
pub struct PreviewArgs {
    /// `content` as JSON; the template's example when absent.
    #[arg(long)]
    content: Option<String>,
    /// `style` as JSON; the template's defaults fill what is absent.
    #[arg(long)]
    style: Option<String>,
    /// The moment to show, in milliseconds (PNG output).
    #[arg(long, default_value_t = 1500.0)]
    at: f64,
    #[arg(long, default_value = "1920x1080", value_parser = super::local::parse_size)]
    size: Size,
    /// An image file to use for every image field instead of fetching its URL.
    #[arg(long)]
    logo: Option<PathBuf>,
    /// Where to write: `.png` (one moment), `.mp4` or `.gif` (the whole card).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(command: TemplatesCommand) -> Result<()> {
    match command {
        TemplatesCommand::List => {
            for t in crate::templates::builtin() {
                let m = &t.manifest;
                println!("{:<52} v{:<3} {:>5} ms  {}", m.name, m.version, m.duration_ms, m.description);
            }
            Ok(())
        }
        TemplatesCommand::Show { template } => {
            let template = load(&template)?;
            println!("{}", serde_json::to_string_pretty(&template.describe("built-in"))?);
            Ok(())
        }
        TemplatesCommand::Validate { dir } => {
            let template = Template::from_dir(&dir).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
            println!("{}: {} is valid ({} ms, layers drawn at 1920×1080 and 1080×1920)", dir.display(), template.manifest.reference(), template.manifest.duration_ms);
            Ok(())
        }
        TemplatesCommand::Preview { template, preview } => preview_once(&load(&template)?, &preview),
        TemplatesCommand::Watch { dir, preview } => watch(&dir, &preview),
        TemplatesCommand::Upload { dir, client } => super::runtime()?.block_on(upload(&dir, &client)),
        TemplatesCommand::Delete { name, version, client } => super::runtime()?.block_on(delete(&name, version, &client)),
        TemplatesCommand::Studio { minutes, client } => super::runtime()?.block_on(studio_link(minutes, &client)),
    }
}

/// Checks the folder here first (the same check the server makes), then uploads it:
/// text files as text, assets as base64.
async fn upload(dir: &Path, args: &super::client::ClientArgs) -> Result<()> {
    use base64::Engine;
    let files = crate::templates::files_of_folder(dir).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
    Template::from_files(&files).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
    let encoded: serde_json::Map<String, Value> = files
        .into_iter()
        .map(|(name, bytes)| {
            let value = if name.starts_with("assets/") {
                serde_json::json!({"base64": base64::engine::general_purpose::STANDARD.encode(&bytes)})
            } else {
                Value::String(String::from_utf8_lossy(&bytes).into_owned())
            };
            (name, value)
        })
        .collect();
    let client = super::client::Client::new(args)?;
    let (_, stored) = client.call(reqwest::Method::POST, "/v1/templates", Some(serde_json::json!({"files": encoded}))).await?;
    client.print(&stored, |t| format!("uploaded {}", t["reference"].as_str().unwrap_or("?")));
    Ok(())
}

/// A link to the authoring page that works without typing the key, until it expires.
async fn studio_link(minutes: u64, args: &super::client::ClientArgs) -> Result<()> {
    let client = super::client::Client::new(args)?;
    let (_, link) = client.call(reqwest::Method::POST, "/v1/templates/studio-link", Some(serde_json::json!({"minutes": minutes}))).await?;
    client.print(&link, |l| format!("{}\n(works until {})", l["url"].as_str().unwrap_or("?"), l["expires_at"].as_str().unwrap_or("?")));
    Ok(())
}

async fn delete(name: &str, version: Option<u32>, args: &super::client::ClientArgs) -> Result<()> {
    let client = super::client::Client::new(args)?;
    let query = version.map(|v| format!("?version={v}")).unwrap_or_default();
    let (_, outcome) = client.call(reqwest::Method::DELETE, &format!("/v1/templates/{name}{query}"), None).await?;
    client.print(&outcome, |o| format!("deleted versions {} of {name}; kept (in use) {}", o["deleted"], o["kept"]));
    Ok(())
}

/// A built-in template by name (or `name@version`), or the folder at that path.
fn load(template: &str) -> Result<Arc<Template>> {
    let path = Path::new(template);
    if path.is_dir() {
        return Template::from_dir(path).map(Arc::new).map_err(|e| anyhow!("{}: {e}", path.display()));
    }
    crate::templates::find_builtin(template).ok_or_else(|| {
        let known: Vec<String> = crate::templates::builtin().iter().map(|t| t.manifest.name.clone()).collect();
        anyhow!("{template:?} is neither a template folder nor a built-in template (known: {})", known.join(", "))
    })
}

/// The intro card `options.intro` asks `demoreel render` for: a built-in template by
/// name or a template folder, its `content` and `style` checked (errors name
/// `options.intro.…`), its images fetched as for a preview.
pub(super) fn intro_request(intro: &Value) -> Result<IntroRequest> {
    let name = intro.get("template").and_then(Value::as_str).ok_or_else(|| anyhow!("options.intro.template: is required (a built-in template's name or a template folder)"))?;
    let template = load(name).map_err(|e| anyhow!("options.intro.template: {e}"))?;
    let values = template.check_values(intro.get("content"), intro.get("style"), "options.intro").map_err(|errors| {
        anyhow!("invalid intro:\n{}", errors.iter().map(|e| format!("  {}: {}", e.field, e.message)).collect::<Vec<_>>().join("\n"))
    })?;
    let images = images_for(&template, &values, None)?;
    Ok(IntroRequest { template, values, images })
}

fn preview_once(template: &Arc<Template>, args: &PreviewArgs) -> Result<()> {
    let PreviewArgs { content, style, at, size, logo, out } = args;
    let (at, size, out) = (*at, *size, out.as_path());
    let parse = |text: Option<&str>, what: &str| -> Result<Option<Value>> { text.map(|t| serde_json::from_str(t).with_context(|| format!("--{what} is not JSON"))).transpose() };
    let content = parse(content.as_deref(), "content")?.or_else(|| Some(Value::Object(template.example().content)));
    let style = parse(style.as_deref(), "style")?;
    let values = template.check_values(content.as_ref(), style.as_ref(), "").map_err(|errors| {
        anyhow!("{}", errors.iter().map(|e| format!("--{}: {}", e.field.trim_start_matches('.'), e.message)).collect::<Vec<_>>().join("\n"))
    })?;
    let images = images_for(template, &values, logo.as_deref())?;
    let request = IntroRequest { template: template.clone(), values, images };
    let extension = out.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    match extension.as_str() {
        "png" => {
            let bytes = preview::png(&request, size, at)?;
            crate::files::write_atomic(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
        }
        "mp4" => preview::mp4(&request, size, 30, out)?,
        "gif" => preview::gif(&request, size, 12, 960, out)?,
        _ => bail!("--out {}: the extension says what to write: .png, .mp4 or .gif", out.display()),
    }
    println!("{}", out.display());
    Ok(())
}

/// The image of every image field: `--logo` when given, else the URL fetched (on the
/// author's own machine, every address is allowed), else the stand-in logo.
fn images_for(template: &Template, values: &crate::templates::Values, logo: Option<&Path>) -> Result<HashMap<String, Image>> {
    let stand_in = Image { bytes: Arc::new(crate::templates::STAND_IN_LOGO.as_bytes().to_vec()), kind: ImageFormat::Svg };
    let given = match logo {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("--logo {}", path.display()))?;
            let kind = ImageFormat::sniff(&bytes).ok_or_else(|| anyhow!("--logo {}: not a PNG, JPEG or SVG", path.display()))?;
            Some(Image { bytes: Arc::new(bytes), kind })
        }
        None => None,
    };
    let everywhere = TargetPolicy::parse("0.0.0.0/0 ::/0", "local preview").map_err(|e| anyhow!(e))?;
    let mut images = HashMap::new();
    for field in &template.image_fields {
        let image = match (&given, values.content.get(field).and_then(Value::as_str)) {
            (Some(image), _) => image.clone(),
            (None, Some(url)) if !url.contains("example.com") => super::runtime()?
                .block_on(crate::templates::fetch::image(url, &everywhere))
                .map_err(|e| anyhow!("{field}: {e}"))?,
            _ => stand_in.clone(),
        };
        images.insert(field.clone(), image);
    }
    Ok(images)
}

/// The author's loop: a preview now, and again after every change of a file of `dir`
/// (polled twice a second: no watcher service needed, and editors that replace files
/// are seen too). A broken template prints its error and waits for the next change.
fn watch(dir: &Path, args: &PreviewArgs) -> Result<()> {
    let mut seen = None;
    loop {
        let stamp = folder_stamp(dir);
        if seen.as_ref() != Some(&stamp) {
            seen = Some(stamp);
            let started = std::time::Instant::now();
            match Template::from_dir(dir).map_err(|e| anyhow!("{}: {e}", dir.display())).and_then(|t| preview_once(&Arc::new(t), args)) {
                Ok(()) => eprintln!("rendered in {} ms; watching {} (Ctrl-C stops)", started.elapsed().as_millis(), dir.display()),
                Err(error) => eprintln!("error: {error:#}"),
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Names, sizes and modification times of the folder's files.
fn folder_stamp(dir: &Path) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut stamp = Vec::new();
    for folder in [dir.to_path_buf(), dir.join("assets")] {
        if let Ok(entries) = std::fs::read_dir(&folder) {
            for entry in entries.flatten() {
                if let Ok(meta) = entry.metadata() {
                    stamp.push((entry.path(), meta.len(), meta.modified().ok()));
                }
            }
        }
    }
    stamp.sort();
    stamp
}
