//! Each anomaly of an [`ElleResult`] drawn in inline SVG: its transactions as nodes and,
//! for a cycle, every edge as an arrow labelled with its type and why it exists (the
//! explanation's text, wrapped), for the run report and `faultline check --checker elle
//! --html`.
//!
//! The layout is a ladder, read top to bottom: the cycle's transactions in order, each a
//! box with its line, process and micro-ops beside it, an arrow from each to the next with
//! the edge's explanation beside it, and the first transaction drawn again (dashed) at the
//! bottom, where the last edge closes the cycle. A non-cycle anomaly (an aborted read, an
//! internal inconsistency, ...) draws its transactions without edges, under its text.
//! Anti-dependency (`rw`) edges are red, the others dark.
//!
//! Style: [`crate::html::STYLE`]'s conventions (`lc-` classes under `.lin-check`, the
//! `svg.lc-picture` text rules); all text goes through `html-escape`; no markers or ids,
//! so that any number of drawings can share a page.

use std::fmt::Write;

use html_escape::encode_text;

use super::check::{AnomalyReport, ElleResult, TxnRef};

const WIDTH_PX: f64 = 1100.0;
const NODE_X_PX: f64 = 16.0;
const NODE_W_PX: f64 = 56.0;
const NODE_H_PX: f64 = 26.0;
const TEXT_X_PX: f64 = 92.0;
const LINE_PX: f64 = 15.0;
const TOP_PX: f64 = 8.0;
/// The shortest arrow between two transactions.
const EDGE_MIN_PX: f64 = 44.0;
/// Characters of the 11 px monospace labels per wrapped line (the width beside the boxes).
const WRAP_CHARS: usize = 140;
/// Lines kept of one label; the rest is in the label's tooltip and the text below.
const LABEL_LINES_MAX: usize = 6;
/// Anomaly examples drawn; the others are counted.
pub const DRAWN_ANOMALIES_MAX: usize = 12;

/// The drawings of `result`'s anomaly examples, inside one `.lin-check` block (empty of
/// drawings when none was found).
pub fn fragment(result: &ElleResult) -> String {
    let mut out = String::from("<div class=\"lin-check\">\n");
    if result.anomalies.is_empty() {
        out.push_str("<p class=\"lc-more\">No anomaly found.</p>\n");
    }
    for anomaly in result.anomalies.iter().take(DRAWN_ANOMALIES_MAX) {
        out.push_str(&anomaly_html(anomaly));
    }
    let more = result.anomalies.len().saturating_sub(DRAWN_ANOMALIES_MAX);
    if more > 0 {
        let _ = writeln!(
            out,
            "<p class=\"lc-more\">{more} more {} not drawn here (all are in the text and the JSON).</p>",
            if more == 1 { "example" } else { "examples" }
        );
    }
    out.push_str("</div>\n");
    out
}

/// One anomaly: its type, a sentence, the drawing, and its text.
fn anomaly_html(anomaly: &AnomalyReport) -> String {
    let mut out = String::new();
    let words = if anomaly.cycle.is_empty() {
        anomaly.text.lines().next().unwrap_or_default().to_string()
    } else {
        let mut chain = anomaly
            .cycle
            .first()
            .map(|e| e.from.clone())
            .unwrap_or_default();
        for edge in &anomaly.cycle {
            let _ = write!(chain, " -{}-> {}", edge.kind, edge.to);
        }
        format!("A cycle of {} transactions: {chain}", anomaly.cycle.len())
    };
    let _ = writeln!(
        out,
        "<h3 class=\"lc-key\">{}</h3>\n<p class=\"lc-words\">{}</p>",
        encode_text(&anomaly.kind.to_string()),
        encode_text(&words)
    );
    out.push_str(&svg(anomaly));
    let _ = writeln!(
        out,
        "<details class=\"lc-details\"><summary>The explanation as text</summary><pre class=\"lc-text\">{}</pre></details>",
        encode_text(&anomaly.text)
    );
    out
}

/// `text` cut into lines of at most [`WRAP_CHARS`] characters, at spaces where possible.
fn wrap(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let fits = line.chars().count() + 1 + word.chars().count() <= WRAP_CHARS;
        if !line.is_empty() && !fits {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.chars().count() > WRAP_CHARS {
            let cut: String = line.chars().take(WRAP_CHARS).collect();
            let rest: String = line.chars().skip(WRAP_CHARS).collect();
            lines.push(cut);
            line = rest;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Text lines starting at baseline `y`, one [`LINE_PX`] apart.
fn text_lines(out: &mut String, class: &str, x: f64, y: f64, lines: &[String]) {
    for (i, line) in lines.iter().enumerate() {
        let _ = write!(
            out,
            "<text class=\"{class}\" x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
            y + i as f64 * LINE_PX,
            encode_text(line)
        );
    }
}

/// A transaction's box at `y` (its top), with its name inside and its facts beside it.
fn node(out: &mut String, txn: &TxnRef, y: f64, again: bool) -> f64 {
    let facts = if again {
        vec![format!("{} again: the cycle closes", txn.name)]
    } else {
        wrap(&format!(
            "line {}, process {}, {:?}: {}",
            txn.line, txn.process, txn.status, txn.ops
        ))
    };
    let class = if again {
        "lc-txn lc-txn-again"
    } else {
        "lc-txn"
    };
    let _ = write!(
        out,
        "<g class=\"lc-node\"><title>{}</title><rect class=\"{class}\" x=\"{NODE_X_PX:.1}\" y=\"{y:.1}\" width=\"{NODE_W_PX:.1}\" height=\"{NODE_H_PX:.1}\" rx=\"4\"/>\
         <text class=\"lc-txn-name\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></g>",
        encode_text(&facts.join(" ")),
        NODE_X_PX + NODE_W_PX / 2.0,
        y + NODE_H_PX / 2.0 + 4.0,
        encode_text(&txn.name),
    );
    text_lines(out, "lc-txn-facts", TEXT_X_PX, y + 17.0, &facts);
    (NODE_H_PX).max(facts.len() as f64 * LINE_PX + 6.0)
}

fn svg(anomaly: &AnomalyReport) -> String {
    let mut body = String::new();
    let mut y = TOP_PX;
    let by_name = |name: &str| anomaly.txns.iter().find(|t| t.name == name);
    if anomaly.cycle.is_empty() {
        for txn in &anomaly.txns {
            y += node(&mut body, txn, y, false) + 10.0;
        }
    } else {
        for (i, edge) in anomaly.cycle.iter().enumerate() {
            let from = by_name(&edge.from);
            let height = match from {
                Some(txn) => node(&mut body, txn, y, false),
                None => NODE_H_PX,
            };
            let top = y + height.max(NODE_H_PX);
            let mut label = wrap(&format!("{}: {}", edge.kind, edge.why));
            let cut = label.len() > LABEL_LINES_MAX;
            label.truncate(LABEL_LINES_MAX);
            if cut && let Some(last) = label.last_mut() {
                last.push_str(" …");
            }
            let length = EDGE_MIN_PX.max(label.len() as f64 * LINE_PX + 16.0);
            let x = NODE_X_PX + NODE_W_PX / 2.0;
            let (y0, y1) = (top + 2.0, top + length - 2.0);
            let rw = if edge.kind == "rw" { " lc-edge-rw" } else { "" };
            let _ = write!(
                body,
                "<g class=\"lc-edge-group\"><title>{} -{}-&gt; {}: {}</title>\
                 <line class=\"lc-edge{rw}\" x1=\"{x:.1}\" y1=\"{y0:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
                 <polygon class=\"lc-arrow{rw}\" points=\"{:.1},{:.1} {:.1},{:.1} {x:.1},{y1:.1}\"/>",
                encode_text(&edge.from),
                encode_text(edge.kind),
                encode_text(&edge.to),
                encode_text(&edge.why),
                y1 - 7.0,
                x - 5.0,
                y1 - 8.0,
                x + 5.0,
                y1 - 8.0,
            );
            text_lines(
                &mut body,
                "lc-edge-label",
                TEXT_X_PX,
                top + (length - label.len() as f64 * LINE_PX) / 2.0 + 11.0,
                &label,
            );
            body.push_str("</g>");
            y = top + length;
            if i + 1 == anomaly.cycle.len()
                && let Some(first) = by_name(&anomaly.cycle[0].from)
            {
                y += node(&mut body, first, y, true);
            }
        }
        y += 6.0;
    }
    format!(
        "<svg class=\"lc-picture lc-anomaly\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH_PX:.0} {y:.0}\" width=\"{WIDTH_PX:.0}\" height=\"{y:.0}\" role=\"img\" aria-label=\"{}\">{body}</svg>\n",
        encode_text(&anomaly.kind.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrapping_keeps_every_character_and_the_width() {
        let text =
            "T1 appended 3 to key 256 right after T3's 4, as read by the transaction on line 11 "
                .repeat(5)
                + &"x".repeat(300);
        let lines = wrap(&text);
        assert!(lines.iter().all(|l| l.chars().count() <= super::WRAP_CHARS));
        let joined: String = lines.concat();
        let spaces = |s: &str| s.chars().filter(|c| *c != ' ').count();
        assert_eq!(spaces(&joined), spaces(&text));
    }
}
