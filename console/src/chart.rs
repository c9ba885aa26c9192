//! The page's small chart as inline SVG: open connections and throughput
//! over the samples of the history. The page's script redraws the same two
//! lines from `/status`; without JavaScript this server-drawn one stays.

use std::fmt::Write as _;

use crate::human;
use crate::model::Sample;

/// The chart's drawing area, in SVG user units.
pub const WIDTH: f64 = 600.0;
/// The chart's drawing area, in SVG user units.
pub const HEIGHT: f64 = 140.0;

/// Open connections at each sample.
pub fn active(history: &[Sample]) -> Vec<f64> {
    history.iter().map(|s| s.active.max(0) as f64).collect()
}

/// Bytes per second between consecutive samples (one fewer than samples).
pub fn throughput(history: &[Sample]) -> Vec<f64> {
    history
        .windows(2)
        .filter_map(|pair| match pair {
            [a, b] => {
                let dt = b.at.saturating_sub(a.at).max(1) as f64;
                Some(b.bytes.saturating_sub(a.bytes) as f64 / dt)
            }
            _ => None,
        })
        .collect()
}

/// The `points` attribute of a polyline drawing `values` across the chart,
/// scaled so the largest reaches the top (a flat line at the bottom when
/// all are zero; a single value is drawn flat across).
pub fn points(values: &[f64]) -> String {
    if let [only] = values {
        return points(&[*only, *only]);
    }
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let steps = values.len().saturating_sub(1).max(1) as f64;
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        let x = WIDTH * i as f64 / steps;
        let y = if max > 0.0 {
            HEIGHT - HEIGHT * v / max
        } else {
            HEIGHT
        };
        if !out.is_empty() {
            out.push(' ');
        }
        let _ = write!(out, "{x:.1},{y:.1}");
    }
    out
}

/// The whole `<svg>` element.
pub fn svg(history: &[Sample]) -> String {
    let active = active(history);
    let rate = throughput(history);
    let max_active = active.iter().copied().fold(0.0_f64, f64::max);
    let max_rate = rate.iter().copied().fold(0.0_f64, f64::max);
    format!(
        "<svg id=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"open connections and throughput\">\
         <line class=\"grid\" x1=\"0\" y1=\"{mid}\" x2=\"{WIDTH}\" y2=\"{mid}\"/>\
         <polyline id=\"chart-rate\" class=\"rate\" points=\"{}\"/>\
         <polyline id=\"chart-active\" class=\"active\" points=\"{}\"/></svg>\
         <p class=\"legend\"><span class=\"item\"><span class=\"key active\"></span>open \
         connections, peak <b id=\"chart-active-max\">{}</b></span> <span class=\"item\">\
         <span class=\"key rate\"></span>throughput, peak <b id=\"chart-rate-max\">{}/s</b>\
         </span></p>",
        points(&rate),
        points(&active),
        max_active as u64,
        human::bytes(max_rate as u64),
        mid = HEIGHT / 2.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: u64, active: i64, bytes: u64) -> Sample {
        Sample {
            at,
            active,
            bytes,
            ..Sample::default()
        }
    }

    #[test]
    fn scales_to_the_peak() {
        let h = [sample(0, 0, 0), sample(5, 2, 5000), sample(10, 1, 5000)];
        assert_eq!(throughput(&h), [1000.0, 0.0]);
        assert_eq!(points(&active(&h)), "0.0,140.0 300.0,0.0 600.0,70.0");
        assert_eq!(points(&[0.0, 0.0]), "0.0,140.0 600.0,140.0");
        assert_eq!(points(&[]), "");
        assert_eq!(points(&[3.0]), "0.0,0.0 600.0,0.0");
        let svg = svg(&h);
        assert!(
            svg.contains("peak <b id=\"chart-active-max\">2</b>"),
            "{svg}"
        );
        assert!(svg.contains("1000 B/s"), "{svg}");
    }
}
