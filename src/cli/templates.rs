//! `demoreel templates …`: the template author's loop on one machine. Input: a built-in
//! template's name or a template folder, content and style as JSON, a moment. Output: the
//! list, a template's description, a preview file (PNG of a moment, or the whole card as
//! MP4 or GIF by the file's extension), a check naming file and field, or a preview
//! re-made whenever a file of the folder changes.

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
    },
    /// Checks a template folder: the manifest, the scene, the assets; names file and field.
    Validate { dir: PathBuf },
    /// Re-renders the preview whenever a file of the template folder changes.
    Watch {
        dir: PathBuf,
        #[arg(long)]
        content: Option<String>,
        #[arg(long)]
        style: Option<String>,
        #[arg(long, default_value_t = 1500.0)]
        at: f64,
        #[arg(long, default_value = "1920x1080", value_parser = super::local::parse_size)]
        size: Size,
        #[arg(long)]
        logo: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
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
        TemplatesCommand::Preview { template, content, style, at, size, logo, out } => {
            let template = Arc::new(load(&template)?);
            preview_once(&template, content.as_deref(), style.as_deref(), at, size, logo.as_deref(), &out)
        }
        TemplatesCommand::Watch { dir, content, style, at, size, logo, out } => watch(&dir, content.as_deref(), style.as_deref(), at, size, logo.as_deref(), &out),
    }
}

/// A built-in template by name (or `name@version`), or the folder at that path.
fn load(template: &str) -> Result<Template> {
    let path = Path::new(template);
    if path.is_dir() {
        return Template::from_dir(path).map_err(|e| anyhow!("{}: {e}", path.display()));
    }
    let dir = crate::project_dir().join("templates").join(template.split('@').next().unwrap_or_default());
    if crate::templates::find_builtin(template).is_none() || !dir.is_dir() {
        let known: Vec<String> = crate::templates::builtin().iter().map(|t| t.manifest.name.clone()).collect();
        bail!("{template:?} is neither a template folder nor a built-in template (known: {})", known.join(", "));
    }
    Template::from_dir(&dir).map_err(|e| anyhow!("{}: {e}", dir.display()))
}

fn preview_once(template: &Arc<Template>, content: Option<&str>, style: Option<&str>, at: f64, size: Size, logo: Option<&Path>, out: &Path) -> Result<()> {
    let parse = |text: Option<&str>, what: &str| -> Result<Option<Value>> { text.map(|t| serde_json::from_str(t).with_context(|| format!("--{what} is not JSON"))).transpose() };
    let content = parse(content, "content")?.or_else(|| Some(Value::Object(template.example().content)));
    let style = parse(style, "style")?;
    let values = template.check_values(content.as_ref(), style.as_ref(), "").map_err(|errors| {
        anyhow!("{}", errors.iter().map(|e| format!("--{}: {}", e.field.trim_start_matches('.'), e.message)).collect::<Vec<_>>().join("\n"))
    })?;
    let images = images_for(template, &values, logo)?;
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
fn watch(dir: &Path, content: Option<&str>, style: Option<&str>, at: f64, size: Size, logo: Option<&Path>, out: &Path) -> Result<()> {
    let mut seen = None;
    loop {
        let stamp = folder_stamp(dir);
        if seen.as_ref() != Some(&stamp) {
            seen = Some(stamp);
            let started = std::time::Instant::now();
            match Template::from_dir(dir).map_err(|e| anyhow!("{}: {e}", dir.display())).and_then(|t| preview_once(&Arc::new(t), content, style, at, size, logo, out)) {
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
