//! The pages' common frame: layout, style, escaping and verdict badges.
//!
//! Every piece of text that comes from the store (names, verdicts, file contents, query
//! values) goes through [`text`] or [`attr`] (html-escape); nothing from the store is ever
//! written into a page raw.

/// Escapes text content.
pub fn text(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

/// Escapes a double-quoted attribute value.
pub fn attr(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// A verdict (or run state) as a coloured badge; unknown words get the neutral colour.
pub fn badge(label: &str) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        verdict_class(label),
        text(label)
    )
}

/// The CSS class of a verdict word: one of a fixed set, never the word itself.
pub fn verdict_class(label: &str) -> &'static str {
    match label {
        "valid" => "valid",
        "invalid" => "invalid",
        "unknown" => "unknown",
        "running" => "running",
        _ => "other",
    }
}

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:24px;align-items:center}
header a{color:#cfd8e6;text-decoration:none}header b{font-size:16px}
main{padding:16px 20px}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002}
th,td{padding:5px 10px;border-bottom:1px solid #e4e7ec;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
a{color:#2357b5}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;color:#fff;background:#7a8394;margin:1px}
.badge.valid{background:#1f8a4c}.badge.invalid{background:#c62f2f}
.badge.unknown{background:#c98a0b}.badge.running{background:#2d6fd6}
td.cell{text-align:center;padding:0}td.cell a{display:block;padding:6px 10px;color:#fff;text-decoration:none}
td.cell.valid{background:#1f8a4c}td.cell.invalid{background:#c62f2f}
td.cell.unknown{background:#c98a0b}td.cell.running{background:#2d6fd6}td.cell.other{background:#7a8394}
form.filters{margin-bottom:12px;display:flex;gap:10px;align-items:center}
pre{background:#fff;padding:10px;overflow:auto;box-shadow:0 1px 2px #0002;max-height:480px}
code.repro{display:block;background:#1d2330;color:#e8edf5;padding:8px 10px;border-radius:4px;overflow:auto}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:10px 0}
.card{background:#fff;padding:8px 14px;box-shadow:0 1px 2px #0002;min-width:90px}
.card .k{font-size:12px;color:#5b6475}.card .v{font-size:20px;font-variant-numeric:tabular-nums}
.pager{margin:10px 0;display:flex;gap:14px}
iframe.report{width:100%;height:1400px;border:1px solid #d5d9e0;background:#fff}
.diff .add{background:#dcf5e3}.diff .del{background:#fbe0e0}
.diff td{font-family:ui-monospace,monospace;white-space:pre;padding:1px 8px;border:none}
svg.live{background:#fff;box-shadow:0 1px 2px #0002;margin-right:12px}
";

/// A whole page: header with the navigation, then `body` (already HTML).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} · faultline</title><style>{STYLE}</style></head><body>\
         <header><b>faultline</b><a href=\"/\">Runs</a><a href=\"/campaigns\">Campaigns</a>\
         <a href=\"/diff\">Diff</a></header><main>{body}</main></body></html>\n",
        text(title)
    )
}

/// `1.5 s`, `2 min 3 s`, `1 h 2 min`.
pub fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else if seconds < 3600.0 {
        format!(
            "{} min {} s",
            (seconds / 60.0) as u64,
            (seconds % 60.0) as u64
        )
    } else {
        format!(
            "{} h {} min",
            (seconds / 3600.0) as u64,
            ((seconds % 3600.0) / 60.0) as u64
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_fixed_classes() {
        assert_eq!(text("<a>&"), "&lt;a&gt;&amp;");
        assert!(attr("\"x").contains("&quot;"));
        assert_eq!(badge("<b>"), "<span class=\"badge other\">&lt;b&gt;</span>");
        assert_eq!(duration(75.0), "1 min 15 s");
    }
}
