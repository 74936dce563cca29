//! The shape of the code: modules import only modules listed before them in `src/lib.rs`
//! (the flow of a frame), GStreamer is named only in `encode`, chromiumoxide only in
//! `capture`, no source file passes 500 lines and no function 80 (unless a comment on it
//! says why, with the words "long because").

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// `pub mod NAME;` lines of lib.rs, in order.
fn module_order() -> Vec<String> {
    std::fs::read_to_string(src().join("lib.rs"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ").and_then(|rest| rest.strip_suffix(';')).map(str::to_string))
        .collect()
}

/// The top-level module a file belongs to (`src/capture/driver.rs` → `capture`).
fn module_of(file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src()).ok()?;
    let first = relative.components().next()?.as_os_str().to_string_lossy().to_string();
    Some(first.trim_end_matches(".rs").to_string())
}

/// Code lines only: comments are prose and may name anything.
fn code(text: &str) -> String {
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Modules named as `crate::NAME` or inside `use crate::{NAME, ...}`.
fn imported(text: &str, modules: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            group.split('}').next().unwrap_or("").split(',').map(|n| n.trim().split("::").next().unwrap_or("").trim()).collect()
        } else {
            vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("")]
        };
        for name in names {
            if modules.iter().any(|m| m == name) && !found.iter().any(|f: &String| f == name) {
                found.push(name.to_string());
            }
        }
    }
    found
}

#[test]
fn modules_import_only_what_comes_before_them_in_the_flow() {
    let order = module_order();
    assert!(order.len() > 10, "lib.rs lists the modules: {order:?}");
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(file) else { continue };
        let Some(position) = order.iter().position(|m| *m == module) else { continue };
        let text = code(&std::fs::read_to_string(file).unwrap());
        for name in imported(&text, &order) {
            let other = order.iter().position(|m| *m == name).unwrap();
            if other > position {
                wrong.push(format!("{} ({module}) imports {name}, which comes after it", file.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the flow:\n{}", wrong.join("\n"));
}

#[test]
fn gstreamer_only_in_encode_and_chromiumoxide_only_in_capture() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let module = module_of(file).unwrap_or_default();
        let text = code(&std::fs::read_to_string(file).unwrap());
        if text.contains("gstreamer") && module != "encode" {
            wrong.push(format!("{} names GStreamer", file.display()));
        }
        if text.contains("chromiumoxide") && module != "capture" {
            wrong.push(format!("{} names chromiumoxide", file.display()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn files_and_functions_stay_short() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > 500 {
            wrong.push(format!("{}: {} lines", file.display(), lines.len()));
        }
        for (start, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let is_fn = ["fn ", "pub fn ", "pub(crate) fn ", "pub(super) fn ", "async fn ", "pub async fn ", "pub(crate) async fn ", "pub(super) async fn "]
                .iter()
                .any(|p| trimmed.starts_with(p));
            if !is_fn || line.trim_end().ends_with(';') {
                continue;
            }
            let indent = &line[..line.len() - trimmed.len()];
            let closing = format!("{indent}}}");
            let Some(length) = lines[start..].iter().position(|l| *l == closing) else { continue };
            let explained = lines[..start].iter().rev().take_while(|l| l.trim_start().starts_with("///") || l.trim_start().starts_with("#[")).any(|l| l.contains("long because"));
            if length + 1 > 80 && !explained {
                wrong.push(format!("{}:{}: a function of {} lines", file.display(), start + 1, length + 1));
            }
        }
    }
    assert!(wrong.is_empty(), "too long:\n{}", wrong.join("\n"));
}
