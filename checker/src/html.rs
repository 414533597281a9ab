//! A self-contained HTML page for a check result: the verdict and, for each explained
//! invalid key, the fact that makes it impossible in words and each process's ops on that
//! key drawn as bars over time in inline SVG, with the longest linearizable prefix (green,
//! numbered in linearization order), the culprit (red) and the ops the words name
//! (outlined) marked. Only a window around the culprit is drawn, so the page stays small
//! on any history. All text goes through `html-escape`.
//!
//! Style: every class is `lc-` prefixed and every rule is scoped under `.lin-check`, and
//! every rule that sets a background also sets the text colour, so the fragment looks the
//! same inside a page with its own stylesheet (the run report) and nothing of it leaks
//! out. [`STYLE`] is the one stylesheet: [`render`] puts it in its page's head; a page that
//! embeds [`fragment`]s includes it once.

use std::collections::BTreeMap;
use std::fmt::Write;

use html_escape::encode_text;

use crate::explain::{Bar, Explanation, Mark};
use crate::verdict::LinearizabilityResult;

const WIDTH_PX: f64 = 1100.0;
const LEFT_PX: f64 = 96.0;
const RIGHT_PX: f64 = 12.0;
const TOP_PX: f64 = 8.0;
const ROW_PX: f64 = 24.0;
const BAR_PX: f64 = 17.0;
const AXIS_PX: f64 = 40.0;
/// Width of one character of the 11 px monospace labels.
const CHAR_PX: f64 = 6.7;
/// The narrowest bar drawn, so that a short op stays visible.
const MIN_BAR_PX: f64 = 4.0;

/// The fragment's stylesheet, scoped under `.lin-check`.
pub const STYLE: &str = "\
.lin-check{color:#1f2430;background:#fff;font-family:system-ui,sans-serif}\
.lin-check.lc-summary{margin:0 0 10px;color:#1f2430}\
.lin-check h3.lc-key{font-size:16px;margin:16px 0 6px;color:#1f2430}\
.lin-check .lc-words{margin:0 0 10px;padding:8px 12px;border-left:4px solid #b3261e;\
background:#fbeceb;color:#1f2430;font-size:15px;line-height:1.5}\
.lin-check pre.lc-text{background:#f3f4f6;color:#1f2430;padding:10px 12px;border-radius:6px;\
overflow:auto;font:12px/1.45 ui-monospace,\"DejaVu Sans Mono\",monospace;margin:6px 0 0}\
.lin-check details.lc-details summary{cursor:pointer;color:#1f2430;font-size:14px;font-weight:600}\
.lin-check .lc-legend{font-size:13px;color:#3d4450;margin:0 0 4px}\
.lin-check .lc-legend span{display:inline-block;margin-right:14px}\
.lin-check .lc-legend i{display:inline-block;width:11px;height:11px;border-radius:2px;\
margin-right:5px;vertical-align:-1px}\
.lin-check .lc-more{color:#3d4450;font-size:14px;margin:12px 0 0}\
.lin-check svg.lc-picture{display:block;max-width:100%;height:auto;background:#fff}\
.lin-check svg.lc-picture text{font:11px ui-monospace,\"DejaVu Sans Mono\",monospace;fill:#1f2430}\
.lin-check svg.lc-picture text.lc-on-culprit{fill:#fff}\
.lin-check svg.lc-picture text.lc-axis-label{fill:#3d4450}\
.lin-check .lc-lin{fill:#8fd19e}.lin-check i.lc-lin{background:#8fd19e}\
.lin-check .lc-culprit{fill:#b3261e}.lin-check i.lc-culprit{background:#b3261e}\
.lin-check .lc-other{fill:#d5d8dc}.lin-check i.lc-other{background:#d5d8dc}\
.lin-check .lc-open{fill-opacity:.45;stroke:#5c6370;stroke-dasharray:4 2}\
.lin-check .lc-named{stroke:#1f2430;stroke-width:2.5}\
.lin-check i.lc-named{background:#fff;border:2.5px solid #1f2430;box-sizing:border-box}\
.lin-check .lc-axis{stroke:#5c6370;stroke-width:1}\
.lin-check .lc-grid{stroke:#e3e6eb;stroke-width:1}\
.lin-check .lc-txn{fill:#e8eefc;stroke:#1f2430;stroke-width:1.5}\
.lin-check .lc-txn-again{fill:#fff;stroke-dasharray:4 2}\
.lin-check svg.lc-picture text.lc-txn-name{font-weight:700}\
.lin-check svg.lc-picture text.lc-txn-facts{fill:#3d4450}\
.lin-check .lc-edge{stroke:#1f2430;stroke-width:1.5}.lin-check .lc-arrow{fill:#1f2430}\
.lin-check .lc-edge.lc-edge-rw{stroke:#b3261e}.lin-check .lc-arrow.lc-edge-rw{fill:#b3261e}\
.lin-check p.lc-caption{color:#3d4450;background:#fff;font-size:14px;margin:0 0 8px}\
.lin-check .lc-error{color:#b3261e;background:#fff;font-weight:600}\
.lin-check table.lc-table{border-collapse:collapse;width:100%;font-size:14px}\
.lin-check table.lc-table th,.lin-check table.lc-table td{text-align:left;padding:6px 10px;\
border-bottom:1px solid #e3e6eb;vertical-align:top;color:#1f2430;background:#fff}\
.lin-check table.lc-table th{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#3d4450}\
.lin-check table.lc-table .lc-num{text-align:right;font-variant-numeric:tabular-nums}";

/// The time of a line of faultline's own `history.jsonl` read back as `ops`: history line
/// `n` is the op of index `n - 1` (one record a line, as the recorder writes them); a line
/// that does not match gives `None`, and the picture falls back to positions.
pub fn time_ns_of_line(ops: &[crate::history::Op]) -> impl Fn(u32) -> Option<u64> + '_ {
    move |line: u32| {
        let index = u64::from(line).checked_sub(1)?;
        let op = ops.get(usize::try_from(index).ok()?)?;
        (op.index == index).then_some(op.time_ns)
    }
}

/// Renders the page; `title` is usually the history's file name. Times are drawn as
/// positions in the history.
pub fn render(result: &LinearizabilityResult, title: &str) -> String {
    render_timed(result, title, &|_| None)
}

/// [`render`] with a time axis (see [`fragment_timed`]).
pub fn render_timed(
    result: &LinearizabilityResult,
    title: &str,
    time_ns_of_line: &dyn Fn(u32) -> Option<u64>,
) -> String {
    let mut page = String::with_capacity(16 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}: {}</h1>\n",
        encode_text(title),
        encode_text(title),
        result.verdict,
    );
    let _ = writeln!(
        page,
        "<p class=\"lin-check lc-summary\">{}</p>",
        encode_text(&result.summary_line())
    );
    page.push_str(&fragment_timed(result, time_ns_of_line));
    page.push_str("</body></html>\n");
    page
}

/// The page's body part alone (the summary line is the embedding page's to show), for
/// embedding in a larger self-contained report (which includes [`STYLE`] once). Times are
/// drawn as positions in the history.
pub fn fragment(result: &LinearizabilityResult) -> String {
    fragment_timed(result, &|_| None)
}

/// [`fragment`] with a time axis: `time_ns_of_line` gives the time (ns since the run
/// began) of a history line; where it has none, the picture falls back to positions.
pub fn fragment_timed(
    result: &LinearizabilityResult,
    time_ns_of_line: &dyn Fn(u32) -> Option<u64>,
) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<div class=\"lin-check\">\n");
    let mut explained = 0;
    for explanation in result.explanations() {
        explained += 1;
        let heading = if explanation.key.is_empty() {
            "The history (no keys)".to_string()
        } else {
            format!("Key {}", explanation.key)
        };
        let _ = writeln!(
            out,
            "<h3 class=\"lc-key\">{}</h3>\n<p class=\"lc-words\">{}</p>",
            encode_text(&heading),
            encode_text(&explanation.in_words)
        );
        out.push_str(&svg(explanation, time_ns_of_line));
        let _ = writeln!(
            out,
            "<details class=\"lc-details\"><summary>What the search found</summary><pre class=\"lc-text\">{}</pre></details>",
            encode_text(&explanation.to_text())
        );
    }
    let unexplained = result.keys_invalid.saturating_sub(explained);
    if unexplained > 0 {
        let _ = writeln!(
            out,
            "<p class=\"lc-more\">{} more invalid {} not explained here.</p>",
            unexplained,
            if unexplained == 1 { "key" } else { "keys" }
        );
    }
    out.push_str("</div>\n");
    out
}

/// Where each bar lies on the x axis, in one unit: ms since the run began, or positions.
struct Span {
    start: f64,
    end: Option<f64>,
}

fn spans(bars: &[Bar], time_ns_of_line: &dyn Fn(u32) -> Option<u64>) -> (Vec<Span>, bool) {
    let ms = |line: u32| time_ns_of_line(line).map(|ns| ns as f64 / 1e6);
    let timed: Option<Vec<Span>> = bars
        .iter()
        .map(|bar| {
            let start = ms(bar.summary.invoke_line)?;
            let end = match bar.summary.complete_line {
                Some(line) => Some(ms(line)?),
                None => None,
            };
            Some(Span { start, end })
        })
        .collect();
    match timed {
        Some(spans) => (spans, true),
        None => (
            bars.iter()
                .map(|bar| Span {
                    start: f64::from(bar.start),
                    end: bar.end.map(f64::from),
                })
                .collect(),
            false,
        ),
    }
}

/// About `count` round tick values (1, 2 or 5 times a power of ten apart) in `[low, high]`.
fn ticks(low: f64, high: f64, count: usize) -> Vec<f64> {
    let raw = (high - low) / count.max(1) as f64;
    if raw <= 0.0 || !raw.is_finite() {
        return vec![low];
    }
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * power);
    let mut tick = (low / step).ceil() * step;
    let mut out = Vec::new();
    while tick <= high + step * 1e-9 && out.len() <= 2 * count {
        out.push(tick);
        tick += step;
    }
    out
}

fn svg(explanation: &Explanation, time_ns_of_line: &dyn Fn(u32) -> Option<u64>) -> String {
    let timeline = &explanation.timeline;
    let rows = process_rows(&timeline.bars);
    let (spans, timed) = spans(&timeline.bars, time_ns_of_line);
    let low = spans.iter().map(|s| s.start).fold(f64::INFINITY, f64::min);
    let high = spans
        .iter()
        .map(|s| s.end.unwrap_or(s.start))
        .fold(f64::NEG_INFINITY, f64::max);
    let (low, high) = match (low.is_finite(), high > low) {
        (true, true) => (low, high),
        (true, false) => (low, low + 1.0),
        (false, _) => (0.0, 1.0),
    };
    let plot_px = WIDTH_PX - LEFT_PX - RIGHT_PX;
    let x = |v: f64| LEFT_PX + (v - low) / (high - low) * plot_px;
    let plot_bottom = TOP_PX + rows.len() as f64 * ROW_PX;
    let height = plot_bottom + AXIS_PX;
    let named: Vec<u32> = explanation
        .named_ops
        .iter()
        .map(|op| op.invoke_line)
        .collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "<p class=\"lc-legend\"><span><i class=\"lc-lin\"></i>in the longest linearizable prefix (#order)</span>\
<span><i class=\"lc-culprit\"></i>cannot be linearized</span><span><i class=\"lc-other\"></i>other</span>\
<span><i class=\"lc-named\"></i>named in the words above</span><span>dashed: outcome unknown</span>\
<span>{} {} of this key not drawn; hover a bar for its op</span></p>\n\
<svg class=\"lc-picture\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH_PX}\" height=\"{height}\" viewBox=\"0 0 {WIDTH_PX} {height}\">\n",
        timeline.omitted,
        if timeline.omitted == 1 { "op" } else { "ops" }
    );
    // The axis: grid lines, ticks and their labels, and what the unit is.
    let ticks = ticks(low, high, 8);
    // As many decimals as the tick step needs (none from a step of 1 up).
    let step = match ticks.as_slice() {
        [a, b, ..] => b - a,
        _ => 1.0,
    };
    let decimals = (-step.log10().floor()).clamp(0.0, 9.0) as usize;
    for tick in ticks {
        let tx = x(tick);
        let _ = writeln!(
            out,
            "<line class=\"lc-grid\" x1=\"{tx:.1}\" y1=\"{TOP_PX}\" x2=\"{tx:.1}\" y2=\"{plot_bottom:.1}\"/>\
<line class=\"lc-axis\" x1=\"{tx:.1}\" y1=\"{plot_bottom:.1}\" x2=\"{tx:.1}\" y2=\"{:.1}\"/>\
<text class=\"lc-axis-label\" x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{tick:.decimals$}</text>",
            plot_bottom + 4.0,
            plot_bottom + 16.0,
        );
    }
    let _ = writeln!(
        out,
        "<line class=\"lc-axis\" x1=\"{LEFT_PX}\" y1=\"{plot_bottom:.1}\" x2=\"{:.1}\" y2=\"{plot_bottom:.1}\"/>\
<text class=\"lc-axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        WIDTH_PX - RIGHT_PX,
        LEFT_PX + plot_px / 2.0,
        plot_bottom + 33.0,
        if timed {
            "ms since the run began"
        } else {
            "position in the history (the history has no times)"
        }
    );
    for (process, row) in &rows {
        let y = TOP_PX + *row as f64 * ROW_PX;
        let _ = writeln!(
            out,
            "<text x=\"4\" y=\"{:.1}\">process {process}</text>",
            y + 13.0
        );
    }
    // Each row's bars left to right, so that a label may use the room up to the next bar.
    let mut order: Vec<usize> = (0..timeline.bars.len()).collect();
    order.sort_by(|&a, &b| {
        let row = |i: usize| rows[&timeline.bars[i].summary.process];
        row(a)
            .cmp(&row(b))
            .then(spans[a].start.total_cmp(&spans[b].start))
    });
    for (at, &i) in order.iter().enumerate() {
        let bar = &timeline.bars[i];
        let span = &spans[i];
        let row = rows[&bar.summary.process];
        let y = TOP_PX + row as f64 * ROW_PX + (ROW_PX - BAR_PX) / 2.0;
        let x0 = x(span.start);
        let x1 = span.end.map_or(WIDTH_PX - RIGHT_PX, x).max(x0 + MIN_BAR_PX);
        let next_x = order
            .get(at + 1)
            .filter(|&&j| rows[&timeline.bars[j].summary.process] == row)
            .map_or(WIDTH_PX, |&j| x(spans[j].start));
        let (class, label, short) = match bar.mark {
            Mark::Linearized(n) => (
                "lc-lin",
                format!("#{} {}", n + 1, bar.summary.op),
                format!("#{}", n + 1),
            ),
            Mark::Culprit => ("lc-culprit", format!("✗ {}", bar.summary.op), "✗".into()),
            Mark::Other => ("lc-other", bar.summary.op.clone(), String::new()),
        };
        let open = if span.end.is_none() { " lc-open" } else { "" };
        let is_named = named.contains(&bar.summary.invoke_line);
        let named_class = if is_named { " lc-named" } else { "" };
        let title = hover_text(bar, span, timed);
        let _ = write!(
            out,
            "<g><title>{}</title><rect class=\"{class}{open}{named_class}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR_PX}\" rx=\"3\"/>",
            encode_text(&title),
            x1 - x0,
        );
        let text_y = y + 12.5;
        let inside = |text: &str| text.chars().count() as f64 * CHAR_PX + 6.0 <= x1 - x0;
        let beside = |text: &str| text.chars().count() as f64 * CHAR_PX + 8.0 <= next_x - x1;
        // Inside the bar when it fits (dark on green and grey, white on red); else after
        // it, on the background, when the row is free up to the next bar; else the short
        // form, else nothing (the hover text has it all).
        let on_bar = if bar.mark == Mark::Culprit {
            " class=\"lc-on-culprit\""
        } else {
            ""
        };
        let placed = [label.as_str(), short.as_str()]
            .into_iter()
            .filter(|text| !text.is_empty())
            .find_map(|text| {
                if inside(text) && span.end.is_some() {
                    Some((text, x0 + 3.0, on_bar))
                } else if beside(text) {
                    Some((text, x1 + 4.0, ""))
                } else {
                    None
                }
            });
        if let Some((text, tx, text_class)) = placed {
            let _ = write!(
                out,
                "<text{text_class} x=\"{tx:.1}\" y=\"{text_y:.1}\">{}</text>",
                encode_text(text)
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

/// Everything about one bar, for its hover text.
fn hover_text(bar: &Bar, span: &Span, timed: bool) -> String {
    let lines = match bar.summary.complete_line {
        Some(end) => format!("lines {}-{}", bar.summary.invoke_line, end),
        None => format!("line {}, outcome unknown", bar.summary.invoke_line),
    };
    let when = match (timed, span.end) {
        (true, Some(end)) => format!(", {:.1}-{:.1} ms", span.start, end),
        (true, None) => format!(", from {:.1} ms", span.start),
        (false, _) => String::new(),
    };
    let mark = match bar.mark {
        Mark::Linearized(n) => format!("; #{} in the longest linearizable prefix", n + 1),
        Mark::Culprit => "; cannot be linearized".to_string(),
        Mark::Other => String::new(),
    };
    format!(
        "process {}: {} ({lines}{when}){mark}",
        bar.summary.process, bar.summary.op
    )
}

fn process_rows(bars: &[Bar]) -> BTreeMap<u64, usize> {
    let mut rows: BTreeMap<u64, usize> = bars.iter().map(|b| (b.summary.process, 0)).collect();
    for (i, row) in rows.values_mut().enumerate() {
        *row = i;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::ticks;

    #[test]
    fn ticks_are_round_and_inside_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(1234.0, 1871.0, 8);
        assert!(t.iter().all(|&v| (1234.0..=1871.0).contains(&v)), "{t:?}");
        assert!(t.iter().all(|v| v % 100.0 == 0.0), "{t:?}");
        assert_eq!(ticks(5.0, 5.0, 8), vec![5.0]);
    }
}
