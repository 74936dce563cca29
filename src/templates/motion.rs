//! Motion: keyframed properties and the easings between them.
//! Input: a layer's keyframes as the manifest writes them. Output: the value of each
//! property at a moment of the card. Invariant: every property is continuous in time
//! (a spring is corrected to end exactly on its keyframe) and defined before its first
//! and after its last keyframe (held).

use serde::Deserialize;
use serde_json::Value;

/// How a segment between two keyframes moves, named on the later keyframe.
#[derive(Debug, Clone, PartialEq)]
pub enum Easing {
    Linear,
    /// CSS `cubic-bezier(x1, y1, x2, y2)`.
    CubicBezier([f64; 4]),
    /// A damped spring released from the start value towards the end value.
    Spring { stiffness: f64, damping: f64, mass: f64 },
}

impl Easing {
    /// Reads `"linear"`, a named curve, `{"cubic-bezier": [x1, y1, x2, y2]}` or
    /// `{"spring": {"stiffness", "damping", "mass"}}`.
    pub fn parse(value: &Value) -> Result<Easing, String> {
        const NAMED: [(&str, [f64; 4]); 9] = [
            ("ease", [0.25, 0.1, 0.25, 1.0]),
            ("ease-in", [0.42, 0.0, 1.0, 1.0]),
            ("ease-out", [0.0, 0.0, 0.58, 1.0]),
            ("ease-in-out", [0.42, 0.0, 0.58, 1.0]),
            ("ease-out-cubic", [0.33, 1.0, 0.68, 1.0]),
            ("ease-in-out-cubic", [0.65, 0.0, 0.35, 1.0]),
            ("ease-out-quint", [0.22, 1.0, 0.36, 1.0]),
            ("ease-out-expo", [0.16, 1.0, 0.3, 1.0]),
            ("ease-in-cubic", [0.32, 0.0, 0.67, 0.0]),
        ];
        match value {
            Value::String(name) if name == "linear" => Ok(Easing::Linear),
            Value::String(name) => NAMED
                .iter()
                .find(|(n, _)| n == name)
                .map(|&(_, p)| Easing::CubicBezier(p))
                .ok_or_else(|| format!("unknown easing {name:?} (linear, {}, or a cubic-bezier or spring object)", NAMED.map(|(n, _)| n).join(", "))),
            Value::Object(map) if map.len() == 1 && map.contains_key("cubic-bezier") => {
                let points: Vec<f64> = map["cubic-bezier"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
                match points.as_slice() {
                    &[x1, y1, x2, y2] if (0.0..=1.0).contains(&x1) && (0.0..=1.0).contains(&x2) && y1.abs() <= 4.0 && y2.abs() <= 4.0 => {
                        Ok(Easing::CubicBezier([x1, y1, x2, y2]))
                    }
                    _ => Err("cubic-bezier takes four numbers, x1 and x2 within 0..1".into()),
                }
            }
            Value::Object(map) if map.len() == 1 && map.contains_key("spring") => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Spring {
                    stiffness: f64,
                    damping: f64,
                    #[serde(default = "one")]
                    mass: f64,
                }
                fn one() -> f64 {
                    1.0
                }
                let s: Spring = serde_json::from_value(map["spring"].clone()).map_err(|e| format!("spring: {e}"))?;
                let ok = |v: f64, lo: f64, hi: f64| v.is_finite() && v >= lo && v <= hi;
                if !ok(s.stiffness, 1.0, 5000.0) || !ok(s.damping, 0.1, 500.0) || !ok(s.mass, 0.05, 100.0) {
                    return Err("spring: stiffness 1..5000, damping 0.1..500, mass 0.05..100".into());
                }
                Ok(Easing::Spring { stiffness: s.stiffness, damping: s.damping, mass: s.mass })
            }
            _ => Err("an easing is a name, {\"cubic-bezier\": [...]} or {\"spring\": {...}}".into()),
        }
    }

    /// Progress (0 at the start, 1 at the end; a spring overshoots in between) after
    /// fraction `u` of a segment lasting `segment_ms`.
    pub fn progress(&self, u: f64, segment_ms: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        match *self {
            Easing::Linear => u,
            Easing::CubicBezier([x1, y1, x2, y2]) => cubic_bezier(x1, y1, x2, y2, u),
            Easing::Spring { stiffness, damping, mass } => {
                let seconds = segment_ms / 1000.0;
                let at = |t: f64| spring(stiffness, damping, mass, t);
                // What the spring has not settled by the segment's end is taken out
                // gradually, so the next segment starts exactly where this one ends.
                at(u * seconds) + (1.0 - at(seconds)) * u
            }
        }
    }
}

/// Position of a unit spring (from 0 towards 1, at rest at the start) after `t` seconds.
fn spring(stiffness: f64, damping: f64, mass: f64, t: f64) -> f64 {
    let omega = (stiffness / mass).sqrt();
    let zeta = damping / (2.0 * (stiffness * mass).sqrt());
    if zeta < 1.0 {
        let omega_d = omega * (1.0 - zeta * zeta).sqrt();
        1.0 - (-zeta * omega * t).exp() * ((omega_d * t).cos() + zeta * omega / omega_d * (omega_d * t).sin())
    } else if zeta == 1.0 {
        1.0 - (-omega * t).exp() * (1.0 + omega * t)
    } else {
        let root = (zeta * zeta - 1.0).sqrt();
        let (r1, r2) = (-omega * (zeta - root), -omega * (zeta + root));
        1.0 - (r2 * (r1 * t).exp() - r1 * (r2 * t).exp()) / (r2 - r1)
    }
}

/// CSS cubic-bézier: solves x(s) = u for s by Newton steps with a bisection fallback.
fn cubic_bezier(x1: f64, y1: f64, x2: f64, y2: f64, u: f64) -> f64 {
    let curve = |a: f64, b: f64, s: f64| 3.0 * a * s * (1.0 - s).powi(2) + 3.0 * b * s * s * (1.0 - s) + s.powi(3);
    let slope = |a: f64, b: f64, s: f64| 3.0 * a * (1.0 - s).powi(2) + 6.0 * (b - a) * s * (1.0 - s) + 3.0 * (1.0 - b) * s * s;
    let mut s = u;
    for _ in 0..8 {
        let error = curve(x1, x2, s) - u;
        let d = slope(x1, x2, s);
        if error.abs() < 1e-7 {
            return curve(y1, y2, s);
        }
        if d.abs() < 1e-6 {
            break;
        }
        s = (s - error / d).clamp(0.0, 1.0);
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    s = u;
    for _ in 0..40 {
        if curve(x1, x2, s) < u { lo = s } else { hi = s }
        s = (lo + hi) / 2.0;
    }
    curve(y1, y2, s)
}

/// A length: output pixels of a 1080-pixel video (scaled with the shorter side), or a
/// percentage of the layer's own width (x) or height (y).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Length {
    Units(f64),
    OwnPercent(f64),
}

impl Length {
    pub fn parse(value: &Value) -> Result<Length, String> {
        match value {
            Value::Number(n) => n.as_f64().filter(|v| v.abs() <= 10_000.0).map(Length::Units).ok_or_else(|| "a length is within ±10000".into()),
            Value::String(text) => text
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && v.abs() <= 1000.0)
                .map(Length::OwnPercent)
                .ok_or_else(|| format!("{text:?} is not a length (a number, or a percentage of the layer such as \"100%\")")),
            _ => Err("a length is a number or a percentage string".into()),
        }
    }

    /// In output pixels, given the output's unit and the layer's own extent.
    pub fn pixels(self, unit: f64, own: f64) -> f64 {
        match self {
            Length::Units(v) => v * unit,
            Length::OwnPercent(p) => p / 100.0 * own,
        }
    }
}

/// One keyframe of one property.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyframe<T> {
    pub at_ms: f64,
    pub value: T,
    /// How the segment that ends here moves.
    pub ease: Easing,
}

/// A property's keyframes, sorted by time.
#[derive(Debug, Clone, PartialEq)]
pub struct Track<T> {
    pub keys: Vec<Keyframe<T>>,
}

impl<T: Copy> Track<T> {
    /// Reads `[{"at": ms, "value": v, "ease": e}, ...]`; `at` must not decrease.
    pub fn parse(value: &Value, read: impl Fn(&Value) -> Result<T, String>) -> Result<Track<T>, String> {
        let list = value.as_array().filter(|a| !a.is_empty() && a.len() <= 64).ok_or("keyframes are a list of 1 to 64 {\"at\", \"value\", \"ease\"}")?;
        let mut keys: Vec<Keyframe<T>> = Vec::new();
        for (i, key) in list.iter().enumerate() {
            let here = |m: String| format!("[{i}]: {m}");
            let map = key.as_object().ok_or_else(|| here("a keyframe is an object".into()))?;
            if let Some(unknown) = map.keys().find(|k| !["at", "value", "ease"].contains(&k.as_str())) {
                return Err(here(format!("unknown key {unknown:?}")));
            }
            let at_ms = map.get("at").and_then(Value::as_f64).filter(|v| (0.0..=60_000.0).contains(v)).ok_or_else(|| here("at: milliseconds from the card's start, 0..60000".into()))?;
            if keys.last().is_some_and(|k| k.at_ms > at_ms) {
                return Err(here("at: keyframes go forward in time".into()));
            }
            let value = read(map.get("value").ok_or_else(|| here("value is required".into()))?).map_err(|m| here(format!("value: {m}")))?;
            let ease = match map.get("ease") {
                Some(e) => Easing::parse(e).map_err(|m| here(format!("ease: {m}")))?,
                None => Easing::CubicBezier([0.25, 0.1, 0.25, 1.0]),
            };
            keys.push(Keyframe { at_ms, value, ease });
        }
        Ok(Track { keys })
    }

    /// The segment at `t_ms`: (from, to, eased progress); held before and after.
    fn segment(&self, t_ms: f64) -> (T, T, f64) {
        let first = &self.keys[0];
        if t_ms <= first.at_ms {
            return (first.value, first.value, 0.0);
        }
        for pair in self.keys.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if t_ms < b.at_ms {
                let span = b.at_ms - a.at_ms;
                let u = if span <= 0.0 { 1.0 } else { (t_ms - a.at_ms) / span };
                return (a.value, b.value, b.ease.progress(u, span));
            }
        }
        let last = self.keys[self.keys.len() - 1].value;
        (last, last, 1.0)
    }

    /// When the last keyframe is reached.
    pub fn end_ms(&self) -> f64 {
        self.keys.last().map_or(0.0, |k| k.at_ms)
    }

    /// The same keys, `delay_ms` later.
    pub fn delayed(&self, delay_ms: f64) -> Track<T> {
        Track { keys: self.keys.iter().map(|k| Keyframe { at_ms: k.at_ms + delay_ms, ..k.clone() }).collect() }
    }
}

impl Track<f64> {
    pub fn at(&self, t_ms: f64) -> f64 {
        let (a, b, p) = self.segment(t_ms);
        a + (b - a) * p
    }
}

impl Track<Length> {
    /// In output pixels at `t_ms`.
    pub fn at(&self, t_ms: f64, unit: f64, own: f64) -> f64 {
        let (a, b, p) = self.segment(t_ms);
        let (a, b) = (a.pixels(unit, own), b.pixels(unit, own));
        a + (b - a) * p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_curves_start_and_end_on_their_keyframes() {
        for name in ["linear", "ease", "ease-out-cubic", "ease-in-out"] {
            let e = Easing::parse(&json!(name)).unwrap();
            assert!(e.progress(0.0, 500.0).abs() < 1e-6, "{name}");
            assert!((e.progress(1.0, 500.0) - 1.0).abs() < 1e-6, "{name}");
            assert!(e.progress(0.5, 500.0) > 0.0 && e.progress(0.5, 500.0) < 1.0, "{name}");
        }
        // ease-out is ahead of linear half-way.
        assert!(Easing::parse(&json!("ease-out-cubic")).unwrap().progress(0.5, 500.0) > 0.7);
    }

    #[test]
    fn an_underdamped_spring_overshoots_then_ends_exactly() {
        let spring = Easing::parse(&json!({"spring": {"stiffness": 180, "damping": 12}})).unwrap();
        let peak = (0..=100).map(|i| spring.progress(i as f64 / 100.0, 1200.0)).fold(0.0, f64::max);
        assert!(peak > 1.05, "peak {peak}");
        assert!((spring.progress(1.0, 1200.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn tracks_hold_before_and_after_and_reject_time_going_back() {
        let track = Track::parse(&json!([{"at": 100, "value": 0}, {"at": 300, "value": 1, "ease": "linear"}]), |v| v.as_f64().ok_or("number".into())).unwrap();
        assert_eq!(track.at(0.0), 0.0);
        assert!((track.at(200.0) - 0.5).abs() < 1e-9);
        assert_eq!(track.at(900.0), 1.0);
        let back = Track::parse(&json!([{"at": 300, "value": 0}, {"at": 100, "value": 1}]), |v| v.as_f64().ok_or("number".into()));
        assert!(back.unwrap_err().starts_with("[1]: at"));
        assert!(Easing::parse(&json!("bouncy")).unwrap_err().contains("unknown easing"));
    }
}
