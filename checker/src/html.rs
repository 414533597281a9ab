//! A self-contained HTML page for a check result: the verdict and, for an invalid one,
//! each process's ops on the failing key drawn as bars over time in inline SVG, with the
//! longest linearizable prefix (green, numbered in linearization order) and the culprit
//! (red) marked. Only a window around the culprit is drawn, so the page stays small on
//! any history. All text goes through `html-escape`.

use std::collections::BTreeMap;
use std::fmt::Write;

use html_escape::encode_text;

use crate::explain::{Explanation, Mark, Timeline};
use crate::verdict::CheckResult;

const WIDTH_PX: f64 = 1100.0;
const LEFT_PX: f64 = 110.0;
const ROW_PX: f64 = 26.0;
const BAR_PX: f64 = 18.0;

/// Renders the page; `title` is usually the history's file name.
pub fn render(result: &CheckResult, title: &str) -> String {
    let mut page = String::with_capacity(16 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n<h1>{}: {}</h1>\n",
        encode_text(title),
        encode_text(title),
        result.verdict,
    );
    page.push_str(&fragment(result));
    page.push_str("</body></html>\n");
    page
}

/// The page's body part alone (summary, explanation, timeline, its own `<style>`), for
/// embedding in a larger self-contained report.
pub fn fragment(result: &CheckResult) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<section class=\"lin-check\">\n<style>{STYLE}</style>\n<p>{}</p>\n",
        encode_text(&result.summary_line())
    );
    if let Some(explanation) = &result.explanation {
        out.push_str("<pre>");
        out.push_str(&encode_text(&explanation.to_text()));
        out.push_str("</pre>\n");
        out.push_str(&svg(explanation));
    }
    out.push_str("</section>\n");
    out
}

const STYLE: &str = ".lin-check{font-family:sans-serif}.lin-check pre{background:#f6f6f6;padding:.8em}\
.lin-check svg text{font-size:11px;font-family:monospace}.lin{fill:#8fd19e}.culprit{fill:#e35d5d}\
.other{fill:#cfcfcf}.open{fill-opacity:.45;stroke:#777;stroke-dasharray:4 2}\
.legend span{display:inline-block;padding:0 .6em;margin-right:.5em}";

fn svg(explanation: &Explanation) -> String {
    let timeline = &explanation.timeline;
    let rows = process_rows(timeline);
    let (min, max) = x_range(timeline);
    let span = (max - min).max(1) as f64;
    let x = |p: u32| LEFT_PX + (p.saturating_sub(min)) as f64 / span * (WIDTH_PX - LEFT_PX - 10.0);
    let height = rows.len() as f64 * ROW_PX + 30.0;
    let mut out = String::new();
    let _ = write!(
        out,
        "<p class=\"legend\"><span class=\"lin\" style=\"background:#8fd19e\">linearized prefix (#order)</span>\
<span style=\"background:#e35d5d\">cannot be linearized</span><span style=\"background:#cfcfcf\">other</span>\
 dashed: outcome unknown. {} ops of this key not drawn.</p>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH_PX}\" height=\"{height}\">\n",
        timeline.omitted
    );
    for (process, row) in &rows {
        let y = *row as f64 * ROW_PX + 20.0;
        let _ = writeln!(
            out,
            "<text x=\"4\" y=\"{}\">process {process}</text>",
            y + 13.0
        );
    }
    for bar in &timeline.bars {
        let y = rows[&bar.summary.process] as f64 * ROW_PX + 20.0;
        let x0 = x(bar.start);
        let x1 = bar.end.map_or(WIDTH_PX - 10.0, x).max(x0 + 3.0);
        let (class, label) = match bar.mark {
            Mark::Linearized(i) => ("lin", format!("#{} {}", i + 1, bar.summary.op)),
            Mark::Culprit => ("culprit", format!("✗ {}", bar.summary.op)),
            Mark::Other => ("other", bar.summary.op.clone()),
        };
        let open = if bar.end.is_none() { " open" } else { "" };
        let _ = writeln!(
            out,
            "<g><title>{}</title><rect class=\"{class}{open}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR_PX}\" rx=\"3\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            encode_text(&format!(
                "process {}: {} (line {})",
                bar.summary.process, bar.summary.op, bar.summary.invoke_line
            )),
            x1 - x0,
            x0 + 2.0,
            y + 13.0,
            encode_text(&clip_label(&label, x1 - x0)),
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Text that fits a bar of this width (about 6.6 px a character).
fn clip_label(label: &str, width_px: f64) -> String {
    let max_chars = (width_px / 6.6) as usize;
    if label.chars().count() <= max_chars {
        label.to_string()
    } else if max_chars > 1 {
        let cut: String = label.chars().take(max_chars - 1).collect();
        format!("{cut}…")
    } else {
        String::new()
    }
}

fn process_rows(timeline: &Timeline) -> BTreeMap<u64, usize> {
    let mut rows: BTreeMap<u64, usize> = timeline
        .bars
        .iter()
        .map(|b| (b.summary.process, 0))
        .collect();
    for (i, row) in rows.values_mut().enumerate() {
        *row = i;
    }
    rows
}

fn x_range(timeline: &Timeline) -> (u32, u32) {
    let min = timeline.bars.iter().map(|b| b.start).min().unwrap_or(0);
    let max = timeline
        .bars
        .iter()
        .map(|b| b.end.unwrap_or(b.start))
        .max()
        .unwrap_or(min);
    (min, max.max(min + 1))
}
