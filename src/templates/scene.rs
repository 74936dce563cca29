//! A template's scene made into a card. Input: `scene.svg` (layers are its top-level
//! `<g id>` groups; `data-slot` elements are filled from content and style), the
//! manifest's motion, the values, the images and the output size. Output: a [`Card`]
//! that draws the picture at any moment. Invariant: every layer is drawn by resvg once,
//! when the card is made; a moment only moves, scales, fades, blurs and clips those
//! pictures, so drawing a frame never parses or rasterises SVG.

use super::manifest::{LayerMotion, Manifest};
use super::motion::Track;
use super::slots::{background_markup, fill_placeholders, image_markup, text_markup};
use super::{Image, TemplateError};
use crate::geometry::{PixelRect, Size};
use resvg::usvg;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tiny_skia::{Mask, Pixmap, PixmapPaint, Transform};

/// What a card is made from, besides the template.
pub struct SceneInputs<'a> {
    pub size: Size,
    /// `content` and `style` with the template's defaults filled in, already validated.
    pub content: &'a Map<String, Value>,
    pub style: &'a Map<String, Value>,
    /// Fetched images by the content field that named them (`logoUrl`).
    pub images: &'a HashMap<String, Image>,
    /// The demo's first frame, RGBA at `size`; a neutral stand-in when absent (previews).
    pub first_frame: Option<&'a [u8]>,
}

/// A card ready to draw.
pub struct Card {
    size: Size,
    /// Black under the layers below the first one that moves, drawn once: every
    /// picture of the card starts as a copy of it.
    base: Pixmap,
    /// The layers from the first one that moves on, drawn for every picture.
    layers: Vec<PreparedLayer>,
    duration_ms: f64,
    /// After this moment nothing moves: later frames are the same picture.
    settled_ms: f64,
}

struct PreparedLayer {
    picture: Pixmap,
    /// Where the picture's top-left corner sits at rest, in output pixels.
    left: f64,
    top: f64,
    motion: LayerMotion,
    clip: Option<Mask>,
}

impl Card {
    pub fn size(&self) -> Size {
        self.size
    }

    pub fn duration_ms(&self) -> f64 {
        self.duration_ms
    }

    /// The moment after which every frame is the same.
    pub fn settled_ms(&self) -> f64 {
        self.settled_ms
    }

    /// The card at `t_ms`, RGBA (opaque) at the card's size, into `out`.
    pub fn draw(&self, t_ms: f64, out: &mut [u8]) {
        // The base is opaque, so its premultiplied bytes are the straight ones.
        out.copy_from_slice(self.base.data());
        let mut canvas = tiny_skia::PixmapMut::from_bytes(out, self.size.width, self.size.height).expect("out matches the card's size");
        for layer in &self.layers {
            draw_layer(&mut canvas, layer, t_ms, self.unit());
        }
    }

    /// Brings `out`, which holds this card's picture at an earlier moment, to `t_ms` by
    /// redrawing only `area`: it must hold the covers ([`Card::cover`]) of both moments.
    /// Where a still layer lies above a moving one, the whole picture is drawn (that
    /// layer cannot be drawn twice over what is kept).
    pub fn redraw(&self, t_ms: f64, out: &mut [u8], area: PixelRect) {
        if self.layers.iter().any(|layer| is_still(&layer.motion)) {
            return self.draw(t_ms, out);
        }
        let stride = self.size.width as usize * 4;
        let base = self.base.data();
        for y in area.y as usize..area.bottom() as usize {
            let row = y * stride + area.x as usize * 4..y * stride + area.right() as usize * 4;
            out[row.clone()].copy_from_slice(&base[row]);
        }
        let mut canvas = tiny_skia::PixmapMut::from_bytes(out, self.size.width, self.size.height).expect("out matches the card's size");
        for layer in &self.layers {
            draw_layer(&mut canvas, layer, t_ms, self.unit());
        }
    }

    /// The part of the picture the layers drawn per picture cover at `t_ms` (`None`
    /// when none shows): outside it, the picture is the base. Two pictures differ at
    /// most inside the union of their covers.
    pub fn cover(&self, t_ms: f64) -> Option<PixelRect> {
        let unit = self.unit();
        let covers = self.layers.iter().filter_map(|layer| {
            let place = placement(layer, t_ms, unit)?;
            let (w, h) = (layer.picture.width() as f32 + 2.0 * place.pad as f32, layer.picture.height() as f32 + 2.0 * place.pad as f32);
            let area = tiny_skia::Rect::from_xywh(0.0, 0.0, w, h)?.transform(place.transform)?;
            // A pixel more on each side: bilinear filtering reaches into the next one.
            let area = (area.left() as f64 - 1.0, area.top() as f64 - 1.0, area.right() as f64 + 1.0, area.bottom() as f64 + 1.0);
            PixelRect::covering(area, self.size)
        });
        covers.reduce(PixelRect::union)
    }

    fn unit(&self) -> f64 {
        self.size.width.min(self.size.height) as f64 / 1080.0
    }
}

/// A layer not animated at all: it can be drawn once, into the base.
fn is_still(motion: &LayerMotion) -> bool {
    motion.opacity.is_none() && motion.x.is_none() && motion.y.is_none() && motion.scale.is_none() && motion.blur.is_none()
}

/// Where and how a layer shows at one moment.
struct Placement {
    opacity: f64,
    blur_px: f64,
    /// The picture's growth on each side when blurred.
    pad: f64,
    transform: Transform,
}

/// The layer's placement at `t`, `None` while it is invisible.
fn placement(layer: &PreparedLayer, t: f64, unit: f64) -> Option<Placement> {
    let m = &layer.motion;
    let opacity = m.opacity.as_ref().map_or(1.0, |k| k.at(t)).clamp(0.0, 1.0);
    let scale = m.scale.as_ref().map_or(1.0, |k| k.at(t)).max(0.0);
    if opacity < 0.002 || scale < 0.001 {
        return None;
    }
    let (w, h) = (layer.picture.width() as f64, layer.picture.height() as f64);
    let dx = m.x.as_ref().map_or(0.0, |k| k.at(t, unit, w));
    let dy = m.y.as_ref().map_or(0.0, |k| k.at(t, unit, h));
    let blur_px = m.blur.as_ref().map_or(0.0, |k| k.at(t)) * unit;
    let pad = if blur_px >= MIN_BLUR_PX { blur_pad(blur_px) as f64 } else { 0.0 };
    // Scale about the layer's centre at rest, then move.
    let transform = Transform::from_translate((layer.left + dx + w / 2.0) as f32, (layer.top + dy + h / 2.0) as f32)
        .pre_scale(scale as f32, scale as f32)
        .pre_translate((-w / 2.0 - pad) as f32, (-h / 2.0 - pad) as f32);
    Some(Placement { opacity, blur_px, pad, transform })
}

/// Blurs smaller than this many pixels are not drawn as blurs.
const MIN_BLUR_PX: f64 = 0.35;

fn draw_layer(canvas: &mut tiny_skia::PixmapMut, layer: &PreparedLayer, t: f64, unit: f64) {
    let Some(place) = placement(layer, t, unit) else { return };
    let blurred;
    let picture = if place.blur_px >= MIN_BLUR_PX {
        blurred = blur(&layer.picture, place.blur_px);
        blurred.as_ref()
    } else {
        layer.picture.as_ref()
    };
    let transform = place.transform;
    let still = transform.is_translate() && transform.tx.fract() == 0.0 && transform.ty.fract() == 0.0;
    let paint = PixmapPaint {
        opacity: place.opacity as f32,
        blend_mode: tiny_skia::BlendMode::SourceOver,
        quality: if still { tiny_skia::FilterQuality::Nearest } else { tiny_skia::FilterQuality::Bilinear },
    };
    canvas.draw_pixmap(0, 0, picture, &paint, transform, layer.clip.as_ref());
}

/// How far a blur of `radius` pixels reaches: three box passes of its box radius.
fn blur_pad(radius: f64) -> usize {
    ((radius * 0.6).round() as usize).max(1) * 3
}

/// A blurred copy of `picture` (premultiplied RGBA), grown by the blur's reach
/// ([`blur_pad`]) on every side; three box passes each way approximate a Gaussian of
/// `radius` pixels.
fn blur(picture: &Pixmap, radius: f64) -> Pixmap {
    let pad = blur_pad(radius);
    let box_radius = pad / 3;
    let (w, h) = (picture.width() as usize + 2 * pad, picture.height() as usize + 2 * pad);
    let mut grown = Pixmap::new(w as u32, h as u32).expect("a non-empty layer");
    grown.draw_pixmap(pad as i32, pad as i32, picture.as_ref(), &PixmapPaint::default(), Transform::identity(), None);
    let mut data: Vec<u16> = grown.data().iter().map(|&v| v as u16).collect();
    for _ in 0..3 {
        box_pass(&mut data, w, h, box_radius, 4, w * 4);
        box_pass(&mut data, h, w, box_radius, w * 4, 4);
    }
    for (dst, src) in grown.data_mut().iter_mut().zip(&data) {
        *dst = (*src).min(255) as u8;
    }
    // Premultiplied colour may not exceed alpha after rounding.
    for px in grown.data_mut().chunks_exact_mut(4) {
        let a = px[3];
        for c in &mut px[..3] {
            *c = (*c).min(a);
        }
    }
    grown
}

/// One running-sum box pass along lines of `len` samples `step` apart, lines
/// `line_step` apart (rows or columns), every channel.
fn box_pass(data: &mut [u16], len: usize, lines: usize, radius: usize, step: usize, line_step: usize) {
    let window = (2 * radius + 1) as u32;
    let mut line = vec![0u16; len];
    for l in 0..lines {
        for channel in 0..4 {
            let at = |i: usize| l * line_step + i * step + channel;
            for (i, v) in line.iter_mut().enumerate() {
                *v = data[at(i)];
            }
            let mut sum: u32 = 0;
            let get = |i: isize| if i < 0 || i as usize >= len { 0 } else { line[i as usize] as u32 };
            for i in -(radius as isize)..=(radius as isize) {
                sum += get(i);
            }
            for i in 0..len {
                data[at(i)] = ((sum + window / 2) / window) as u16;
                sum += get(i as isize + radius as isize + 1);
                sum -= get(i as isize - radius as isize);
            }
        }
    }
}

/// The scene's layers (its top-level `<g id>` groups, in paint order), after checking the
/// root's size and that every layer the manifest moves exists.
fn layers_of(document: &usvg::roxmltree::Document<'_>, manifest: &Manifest, size: Size) -> Result<Vec<String>, TemplateError> {
    let scene = |reason: String| TemplateError::Scene { file: "scene.svg".into(), reason };
    let root = document.root_element();
    if root.tag_name().name() != "svg" {
        return Err(scene("the root element is <svg>".into()));
    }
    let (w, h) = (size.width.to_string(), size.height.to_string());
    if root.attribute("width") != Some(w.as_str()) || root.attribute("height") != Some(h.as_str()) {
        return Err(scene("<svg> needs width=\"{{width}}\" height=\"{{height}}\" viewBox=\"0 0 {{width}} {{height}}\"".into()));
    }
    // The layers: top-level groups with an id, in paint order.
    let mut layer_ids: Vec<String> = Vec::new();
    for child in root.children().filter(|n| n.is_element()) {
        match (child.tag_name().name(), child.attribute("id")) {
            ("defs" | "style" | "title" | "desc" | "metadata", _) => {}
            ("g", Some(id)) if !layer_ids.iter().any(|l| l == id) => layer_ids.push(id.to_string()),
            (tag, _) => return Err(scene(format!("line {}: top-level <{tag}> outside a layer: put it in a <g id=\"…\"> of its own", line_of(document, child)))),
        }
    }
    for id in manifest.layers.keys() {
        if !layer_ids.contains(id) {
            return Err(TemplateError::Manifest { field: format!("layers.{id}"), reason: "no top-level <g> of scene.svg has this id".into() });
        }
    }
    Ok(layer_ids)
}

/// Makes the card: fills the slots, draws each layer once, and times its motion.
pub fn make_card(manifest: &Manifest, scene_svg: &str, assets: &Arc<HashMap<String, Vec<u8>>>, inputs: &SceneInputs<'_>) -> Result<Card, TemplateError> {
    let scene = |reason: String| TemplateError::Scene { file: "scene.svg".into(), reason };
    let filled = fill_placeholders(scene_svg, inputs).map_err(scene)?;
    let document = usvg::roxmltree::Document::parse_with_options(&filled, usvg::roxmltree::ParsingOptions { allow_dtd: false, ..Default::default() })
        .map_err(|e| scene(format!("not well-formed XML: {e}")))?;
    let layer_ids = layers_of(&document, manifest, inputs.size)?;
    let unit = inputs.size.width.min(inputs.size.height) as f64 / 1080.0;
    let mut splices: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut line_counts: HashMap<String, usize> = HashMap::new();
    let mut frame_layer: Option<String> = None;
    for node in document.descendants().filter(|n| n.is_element() && n.attribute("data-slot").is_some()) {
        let slot = node.attribute("data-slot").unwrap_or_default();
        let layer = top_level_id(node).ok_or_else(|| scene(format!("line {}: data-slot {slot:?} outside a layer", line_of(&document, node))))?;
        let at = |m: String| scene(format!("line {}: <{} data-slot=\"{slot}\">: {m}", line_of(&document, node), node.tag_name().name()));
        let markup = match (slot, node.tag_name().name()) {
            ("first-frame", _) => {
                frame_layer = Some(layer.clone());
                String::new()
            }
            (_, "text") => {
                let value = inputs.content.get(slot).or_else(|| inputs.style.get(slot)).and_then(Value::as_str).unwrap_or_default();
                let (markup, lines) = text_markup(node, value, &layer, inputs.size, unit).map_err(at)?;
                line_counts.insert(layer.clone(), lines);
                markup
            }
            (_, "image") => match inputs.images.get(slot) {
                Some(image) => image_markup(node, image),
                None => String::new(),
            },
            (_, "rect") => {
                let value = inputs.style.get(slot).or_else(|| inputs.content.get(slot)).ok_or_else(|| at(format!("no style or content field {slot:?}")))?;
                background_markup(node, value).map_err(at)?
            }
            (_, tag) => return Err(at(format!("slots are <text>, <image> and <rect>, not <{tag}>"))),
        };
        splices.push((node.range(), markup));
    }
    let mut spliced = filled.clone();
    splices.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    for (range, markup) in splices {
        spliced.replace_range(range, &markup);
    }
    let options = sealed_options(assets);
    let tree = usvg::Tree::from_str(&spliced, &options).map_err(|e| scene(format!("resvg: {e}")))?;

    let mut layers = Vec::new();
    let mut settled_ms: f64 = 0.0;
    for id in &layer_ids {
        let motion = manifest.layers.get(id).cloned().unwrap_or_default();
        if frame_layer.as_deref() == Some(id.as_str()) {
            let picture = first_frame_picture(inputs).map_err(scene)?;
            settled_ms = settled_ms.max(motion.end_ms(1));
            layers.push(PreparedLayer { picture, left: 0.0, top: 0.0, clip: None, motion });
            continue;
        }
        let lines = line_counts.get(id).copied();
        let parts: Vec<(String, LayerMotion)> = match (lines, motion.line_stagger_ms) {
            (Some(n), Some(stagger)) => (0..n).map(|i| (format!("{id}.line{i}"), delayed(&motion, stagger * i as f64))).collect(),
            _ => vec![(id.clone(), motion.clone())],
        };
        settled_ms = settled_ms.max(motion.end_ms(lines.unwrap_or(1)));
        for (node_id, motion) in parts {
            let Some(node) = tree.node_by_id(&node_id) else { continue };
            let Some((picture, left, top)) = draw_node(node) else { continue };
            let clip = motion.clip.then(|| clip_mask(inputs.size, left, top, picture.width(), picture.height(), unit)).flatten();
            layers.push(PreparedLayer { picture, left, top, motion, clip });
        }
    }
    let base = base_of(&mut layers, inputs.size, unit).ok_or_else(|| scene("the card has no pixels".into()))?;
    Ok(Card { size: inputs.size, base, layers, duration_ms: manifest.duration_ms as f64, settled_ms })
}

/// Takes the layers under the first one that moves out of `layers` and draws them over
/// black: they look the same in every picture of the card.
fn base_of(layers: &mut Vec<PreparedLayer>, size: Size, unit: f64) -> Option<Pixmap> {
    let moving_from = layers.iter().position(|layer| !is_still(&layer.motion)).unwrap_or(layers.len());
    let mut base = Pixmap::new(size.width, size.height)?;
    base.fill(tiny_skia::Color::BLACK);
    for layer in layers.drain(..moving_from) {
        draw_layer(&mut base.as_mut(), &layer, 0.0, unit);
    }
    Some(base)
}

fn delayed(motion: &LayerMotion, delay: f64) -> LayerMotion {
    let d = |t: &Option<Track<f64>>| t.as_ref().map(|t| t.delayed(delay));
    LayerMotion {
        opacity: d(&motion.opacity),
        scale: d(&motion.scale),
        blur: d(&motion.blur),
        x: motion.x.as_ref().map(|t| t.delayed(delay)),
        y: motion.y.as_ref().map(|t| t.delayed(delay)),
        clip: motion.clip,
        line_stagger_ms: None,
    }
}

/// Draws one node at its place, into a picture snapped to whole pixels.
fn draw_node(node: &usvg::Node) -> Option<(Pixmap, f64, f64)> {
    let bbox = node.abs_layer_bounding_box()?;
    let (left, top) = (bbox.x().floor() as f64, bbox.y().floor() as f64);
    let (fx, fy) = (bbox.x() - left as f32, bbox.y() - top as f32);
    let mut picture = Pixmap::new((bbox.width() + fx).ceil() as u32 + 1, (bbox.height() + fy).ceil() as u32 + 1)?;
    resvg::render_node(node, Transform::from_translate(fx, fy), &mut picture.as_mut())?;
    Some((picture, left, top))
}

/// A mask that shows only the layer's own resting box (a little taller, so descenders
/// and antialiasing survive).
fn clip_mask(size: Size, left: f64, top: f64, width: u32, height: u32, unit: f64) -> Option<Mask> {
    let mut mask = Mask::new(size.width, size.height)?;
    let grow = 2.0 * unit;
    let rect = tiny_skia::Rect::from_xywh(left as f32, (top - grow) as f32, width as f32, (height as f64 + 2.0 * grow) as f32)?;
    let path = tiny_skia::PathBuilder::from_rect(rect);
    mask.fill_path(&path, tiny_skia::FillRule::Winding, true, Transform::identity());
    Some(mask)
}

/// The demo's first frame as a layer picture, or a neutral product-like stand-in.
fn first_frame_picture(inputs: &SceneInputs<'_>) -> Result<Pixmap, String> {
    let size = inputs.size;
    let int_size = tiny_skia::IntSize::from_wh(size.width, size.height).ok_or("empty size")?;
    let rgba = match inputs.first_frame {
        Some(rgba) => {
            let expected = size.width as usize * size.height as usize * 4;
            if rgba.len() != expected {
                return Err(format!("the first frame has {} bytes, not {expected}", rgba.len()));
            }
            rgba.to_vec()
        }
        None => stand_in_page(size)?,
    };
    // Opaque RGBA is already premultiplied.
    let mut opaque = rgba;
    opaque.chunks_exact_mut(4).for_each(|px| px[3] = 255);
    Pixmap::from_vec(opaque, int_size).ok_or("bad frame size".into())
}

/// A neutral, product-like page (RGBA at `size`): what previews show where a run shows
/// its demo's first frame. The last few sizes are kept: previews ask for one size often.
pub fn stand_in_page(size: Size) -> Result<Vec<u8>, String> {
    static KEPT: std::sync::OnceLock<std::sync::Mutex<Vec<(Size, Arc<Vec<u8>>)>>> = std::sync::OnceLock::new();
    let kept = KEPT.get_or_init(Default::default);
    if let Some((_, page)) = kept.lock().unwrap().iter().find(|(s, _)| *s == size) {
        return Ok(page.to_vec());
    }
    let page = Arc::new(draw_stand_in_page(size)?);
    let mut kept = kept.lock().unwrap();
    if kept.len() == 4 {
        kept.remove(0);
    }
    kept.push((size, page.clone()));
    Ok(page.to_vec())
}

fn draw_stand_in_page(size: Size) -> Result<Vec<u8>, String> {
    let (w, h) = (size.width as f64, size.height as f64);
    let bar = |x: f64, y: f64, bw: f64, bh: f64, fill: &str| format!(r#"<rect x="{}" y="{}" width="{}" height="{}" rx="{}" fill="{fill}"/>"#, x * w, y * h, bw * w, bh * h, 0.006 * w.min(h));
    let mut svg = format!(r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}"><rect width="100%" height="100%" fill="#F3F4F6"/>"##);
    svg += &bar(0.0, 0.0, 1.0, 0.08, "#FFFFFF");
    svg += &bar(0.0, 0.08, 0.18, 0.92, "#E5E7EB");
    for i in 0..5 {
        svg += &bar(0.025, 0.14 + i as f64 * 0.07, 0.12, 0.03, "#D1D5DB");
    }
    for i in 0..3 {
        svg += &bar(0.22 + i as f64 * 0.255, 0.14, 0.235, 0.26, "#FFFFFF");
    }
    svg += &bar(0.22, 0.45, 0.745, 0.48, "#FFFFFF");
    svg += "</svg>";
    let tree = usvg::Tree::from_str(&svg, &crate::fonts::svg_options()).map_err(|e| e.to_string())?;
    let mut picture = Pixmap::new(size.width, size.height).ok_or("empty size")?;
    resvg::render(&tree, Transform::identity(), &mut picture.as_mut());
    Ok(picture.take())
}

fn top_level_id(node: usvg::roxmltree::Node<'_, '_>) -> Option<String> {
    let mut current = node;
    loop {
        let parent = current.parent_element()?;
        if parent.parent_element().is_none() {
            return (current.tag_name().name() == "g").then(|| current.attribute("id").map(str::to_string)).flatten();
        }
        current = parent;
    }
}

fn line_of(document: &usvg::roxmltree::Document<'_>, node: usvg::roxmltree::Node<'_, '_>) -> u32 {
    document.text_pos_at(node.range().start).row
}

/// usvg options for a template's scene: the pinned fonts, and images only from data URLs
/// (PNG, JPEG, SVG by their bytes) or the template's own files. Never the disk or the
/// network.
pub fn sealed_options(assets: &Arc<HashMap<String, Vec<u8>>>) -> usvg::Options<'static> {
    let assets = assets.clone();
    let mut options = crate::fonts::svg_options();
    options.resources_dir = None;
    options.image_href_resolver = usvg::ImageHrefResolver {
        resolve_data: Box::new(|_mime: &str, data: Arc<Vec<u8>>, opts: &usvg::Options| image_kind(data, opts)),
        resolve_string: Box::new(move |href: &str, opts: &usvg::Options| assets.get(href).and_then(|bytes| image_kind(Arc::new(bytes.clone()), opts))),
    };
    options
}

fn image_kind(data: Arc<Vec<u8>>, opts: &usvg::Options) -> Option<usvg::ImageKind> {
    match super::ImageFormat::sniff(&data)? {
        super::ImageFormat::Png => Some(usvg::ImageKind::PNG(data)),
        super::ImageFormat::Jpeg => Some(usvg::ImageKind::JPEG(data)),
        super::ImageFormat::Svg => usvg::Tree::from_data_nested(&data, opts).ok().map(usvg::ImageKind::SVG),
    }
}
