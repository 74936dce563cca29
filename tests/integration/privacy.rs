//! Reading every frame for secrets, as a viewer could: tesseract over every frame of a
//! video or GIF, and the tokens that leak (anything with an `@`, any four digits in a row
//! of a one-time code). Sampling frames would hide a leak that lasts one frame, so every
//! frame is read, though not all of it: the first frame whole, then in each frame the
//! rows that differ from the frame before (full width with a margin, so each changed
//! line is read whole). What did not change was read when it last did.

use std::path::{Path, PathBuf};

/// One picture of a sequence: width, height, RGBA.
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// A channel difference under this is the codec's noise, not a change.
const CHANGED: u8 = 40;
/// Rows read around a change, so the lines it touches are read whole.
const MARGIN_ROWS: u32 = 28;

/// The bands of rows (start, end) where `now` differs from `before`, merged and widened.
fn changed_bands(before: &Picture, now: &Picture) -> Vec<(u32, u32)> {
    let row_bytes = now.width as usize * 4;
    let changed_rows: Vec<u32> = (0..now.height)
        .filter(|&y| {
            let range = y as usize * row_bytes..(y as usize + 1) * row_bytes;
            before.rgba[range.clone()].iter().zip(&now.rgba[range]).any(|(a, b)| a.abs_diff(*b) > CHANGED)
        })
        .collect();
    let mut bands: Vec<(u32, u32)> = Vec::new();
    for y in changed_rows {
        let (start, end) = (y.saturating_sub(MARGIN_ROWS), (y + MARGIN_ROWS + 1).min(now.height));
        match bands.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => bands.push((start, end)),
        }
    }
    bands
}

/// Writes the parts of every picture to read as PNGs in `dir`: the first whole, then the
/// changed bands of each next one.
fn parts_to_read(pictures: impl IntoIterator<Item = Picture>, dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut parts = Vec::new();
    let mut before: Option<Picture> = None;
    for (index, now) in pictures.into_iter().enumerate() {
        let bands = match &before {
            Some(before) if before.width == now.width && before.height == now.height => changed_bands(before, &now),
            _ => vec![(0, now.height)],
        };
        for (start, end) in bands {
            let row_bytes = now.width as usize * 4;
            let crop = &now.rgba[start as usize * row_bytes..end as usize * row_bytes];
            let path = dir.join(format!("{name}-{index:05}-{start}.png"));
            image::save_buffer(&path, crop, now.width, end - start, image::ExtendedColorType::Rgba8).unwrap();
            parts.push(path);
        }
        before = Some(now);
    }
    parts
}

/// Every frame of an MP4.
pub fn mp4_pictures(video: &Path) -> Vec<Picture> {
    let mut pictures = Vec::new();
    demoreel::encode::decode::decode(video, |frame| pictures.push(Picture { width: frame.size.width, height: frame.size.height, rgba: frame.rgba })).unwrap();
    pictures
}

/// Every frame of a GIF as shown: each stored frame drawn over the picture before it
/// (frames store only what changed), then disposed of as it says.
pub fn gif_pictures(path: &Path) -> Vec<Picture> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(std::fs::File::open(path).unwrap()).unwrap();
    let (width, height) = (decoder.width() as u32, decoder.height() as u32);
    let mut canvas = vec![0u8; (width * height * 4) as usize];
    let mut pictures = Vec::new();
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        let (left, top, w) = (frame.left as u32, frame.top as u32, frame.width as u32);
        let before = canvas.clone();
        for (i, pixel) in frame.buffer.chunks_exact(4).enumerate() {
            let (x, y) = (left + i as u32 % w, top + i as u32 / w);
            if pixel[3] > 0 && x < width && y < height {
                let at = ((y * width + x) * 4) as usize;
                canvas[at..at + 4].copy_from_slice(pixel);
            }
        }
        pictures.push(Picture { width, height, rgba: canvas.clone() });
        match frame.dispose {
            gif::DisposalMethod::Previous => canvas = before,
            gif::DisposalMethod::Background => {
                for y in top..(top + frame.height as u32).min(height) {
                    for x in left..(left + w).min(width) {
                        let at = ((y * width + x) * 4) as usize;
                        canvas[at..at + 4].fill(0);
                    }
                }
            }
            _ => {}
        }
    }
    pictures
}

/// All the text tesseract reads in every frame (see the module's header), two
/// tesseracts at a time (one per core), each reading a list of parts.
pub fn read_every_frame(pictures: impl IntoIterator<Item = Picture>, dir: &Path, name: &str) -> String {
    let parts = parts_to_read(pictures, dir, name);
    assert!(!parts.is_empty());
    let halves: Vec<&[PathBuf]> = parts.chunks(parts.len().div_ceil(2)).collect();
    let children: Vec<_> = halves
        .iter()
        .enumerate()
        .map(|(n, half)| {
            let list = dir.join(format!("{name}-list-{n}.txt"));
            std::fs::write(&list, half.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join("\n")).unwrap();
            std::process::Command::new("tesseract")
                .arg(&list)
                .arg("stdout")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("tesseract (scripts/setup.sh installs it)")
        })
        .collect();
    let text: String = children.into_iter().map(|c| String::from_utf8_lossy(&c.wait_with_output().unwrap().stdout).to_string()).collect();
    for part in parts {
        let _ = std::fs::remove_file(part);
    }
    text
}

/// The addresses a page shows, split at the `@` into their letters and digits: read
/// from its recording without masking (every whole address OCR finds), plus any the test
/// typed. OCR reads a masked field's discs and icons as `e@`, `@®` or `eee@e@0060800`;
/// a leak is told from that noise by being part of a real address.
pub struct Known {
    locals: Vec<String>,
    domains: Vec<String>,
    /// The local parts the test typed, as typed (lower case): shown while being typed,
    /// before their `@`, they are a leak too.
    typed_locals: Vec<String>,
}

fn alnum(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

impl Known {
    pub fn from(text: &str, typed: &[&str]) -> Known {
        let whole = |w: &&str| {
            let Some((local, domain)) = w.split_once('@') else { return false };
            alnum(local).len() >= 2 && domain.contains('.') && alnum(domain).len() >= 4
        };
        let addresses: Vec<&str> = text.split_whitespace().filter(whole).chain(typed.iter().copied()).collect();
        let (locals, domains) = addresses.iter().map(|a| a.split_once('@').unwrap()).map(|(l, d)| (alnum(l), alnum(d))).unzip();
        let typed_locals = typed.iter().filter_map(|a| a.split_once('@')).map(|(local, _)| local.to_lowercase()).collect();
        Known { locals, domains, typed_locals }
    }

    /// Whether `word` (with no `@`) shows a typed address's local part before its `@`
    /// was typed: the whole local part, or a start of it of four characters or more that
    /// reaches past its first separator (`alex.mo`; `Alex` alone is a name, not a leak).
    fn shows_typed_local(&self, word: &str) -> bool {
        let word = word.trim_matches(|c: char| matches!(c, '"' | '\'' | '(' | ')' | '[' | ']' | ',' | ':' | ';')).to_lowercase();
        self.typed_locals.iter().any(|local| {
            let whole = alnum(local).len() >= 4 && alnum(&word).contains(&alnum(local));
            let start = word.len() >= 4 && local.starts_with(&word) && word.chars().any(|c| !c.is_ascii_alphanumeric());
            whole || start
        })
    }

    pub fn len(&self) -> usize {
        self.locals.len()
    }

    /// Whether `word` (holding an `@`) shows three characters of a known address right
    /// next to its `@`: the end of a local part or the start of a domain.
    fn shows_part_of(&self, word: &str) -> bool {
        let (before, after) = word.split_once('@').unwrap();
        let local = alnum(before);
        let domain = alnum(after.split('@').next().unwrap_or(""));
        let local_end = (local.len() >= 3).then(|| &local[local.len() - 3..]);
        let domain_start = (domain.len() >= 3).then(|| &domain[..3]);
        local_end.is_some_and(|end| self.locals.iter().any(|l| l.contains(end))) || domain_start.is_some_and(|start| self.domains.iter().any(|d| d.contains(start)))
    }
}

/// What in `text` would leak: every word holding an `@` (with `known`, only those showing
/// part of a known address: a whole one, or any part of one next to its `@`), and every
/// four digits in a row of `code` (read with the spaces a spaced-out code field puts
/// between digits removed).
pub fn leaks(text: &str, known: Option<&Known>, code: Option<&str>) -> Vec<String> {
    let leaks_address = |w: &&str| match (w.contains('@'), known) {
        (true, None) => true,
        (true, Some(known)) => known.shows_part_of(w),
        (false, Some(known)) => known.shows_typed_local(w),
        (false, None) => false,
    };
    let mut found: Vec<String> = text.split_whitespace().filter(leaks_address).map(str::to_string).collect();
    if let Some(code) = code {
        let mut joined = String::new();
        for line in text.lines() {
            let chars: Vec<char> = line.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                let between_digits = c.is_whitespace()
                    && chars[..i].iter().rev().find(|c| !c.is_whitespace()).is_some_and(char::is_ascii_digit)
                    && chars[i..].iter().find(|c| !c.is_whitespace()).is_some_and(char::is_ascii_digit);
                if !between_digits {
                    joined.push(*c);
                }
            }
            joined.push('\n');
        }
        let digits: Vec<char> = code.chars().collect();
        for run in digits.windows(4) {
            let run: String = run.iter().collect();
            if joined.contains(&run) {
                found.push(format!("code digits {run}"));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn leaks_finds_parts_of_addresses_and_runs_of_the_code() {
    let text = "Owner alex.mo\nalex.morgan@example.c and @example.com\nCode 4 8 2 9 13 then 2026";
    assert_eq!(leaks(text, None, Some("482913")), ["@example.com", "alex.morgan@example.c", "code digits 2913", "code digits 4829", "code digits 8291"]);
    assert!(leaks("Projects 12 Team members", None, Some("482913")).is_empty());
    let known = Known::from("Owner alex.morgan@example.com, ada@orbit.test", &["new.owner@orbit.test"]);
    assert_eq!(known.len(), 3);
    let masked = "eee@e@0060800 @® e@ French@n@] newowner@d ada@| @orbit.te rgan@";
    assert_eq!(leaks(masked, Some(&known), None), ["@orbit.te", "ada@|", "newowner@d", "rgan@"]);
    // A typed address before its `@`: its local part whole, or a start past the separator.
    let typing = "New owner: new.ow Inviting (new.owner) newowner New news eeeeeee";
    assert_eq!(leaks(typing, Some(&known), None), ["(new.owner)", "new.ow", "newowner"]);
}
