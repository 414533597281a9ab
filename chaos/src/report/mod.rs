//! The run report: `report.html`, one self-contained page written after every run.
//!
//! The page shows each check's verdict, the run's facts (run id, seed, op counts, duration),
//! each check's own section (the checker draws it: [`checker::check::CheckReport::html_section`], e.g. the
//! linearizability counterexample, the bank's availability table, Elle's anomalies as
//! transactions and labelled edges), latency of every op over time, throughput over time
//! and a per-process timeline, each with the fault windows shaded and labelled, the fault
//! and per-function tables, and the schedule as run. Apart from the checks' sections it is
//! derived from the history alone (`checker::history::Op`): nothing else is read.
//!
//! Self-contained means: inline CSS, inline SVG, no JavaScript, no external fonts, images or
//! scripts, so it works offline, from a CI artifact or an e-mail attachment. The file stays
//! small for long runs: at most 4,000 latency points (a stratified sample, with a note on
//! the page), at most 40 timeline rows and 6,000 bars (ops merged below pixel resolution,
//! also noted), throughput in at most 600 buckets. A one-minute run at 200 ops/s (12k ops)
//! gives a page of about 0.55 MB.
//!
//! Dependencies, and why:
//! - `plotters` draws the charts (axes, ticks, log scale, shapes) into SVG strings through
//!   its SVG backend. Its default features pull in `font-kit`, which needs the system's
//!   fontconfig and FreeType, and a bitmap backend we do not use; so it is built with
//!   `default-features = false` and only `svg_backend` (the charts use its basic elements:
//!   circles, rectangles, polygons, paths, text; no series feature is needed). Without a font feature plotters estimates text extents itself (a fixed
//!   em ratio) and the SVG backend writes text as `<text>` elements that the browser sets in
//!   its own fonts: no font file, no system library, builds offline. Label layout is
//!   therefore approximate, which is why axis label areas are generous.
//! - `html-escape` escapes every string that comes from the run (schedule name, check
//!   summaries, fault descriptions, the schedule text) so that a hostile name cannot inject
//!   markup. The checker's explanation fragment is the one exception: it arrives already
//!   rendered and escaped, and is inserted as is.
//!
//! One stylesheet: the page's own rules and the checker's ([`checker::html::STYLE`],
//! every rule scoped under `.lin-check` with `lc-` classes), so no rule of one part styles
//! the other; the page's `pre` rule is the schedule's (`pre.schedule`) alone.

mod charts;
mod demo;
mod facts;
mod sample;

use std::fmt::Display;
use std::path::Path;

use checker::check::HtmlSection;
use checker::history::Op;
pub use checker::html::time_ns_of_line;
use html_escape::encode_text;

pub use demo::{DemoShape, demo_history};
use facts::{FaultWindow, RunFacts, derive_facts, ns_to_s};

/// One check's verdict, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSummary {
    /// The check's name: `linearizable`, `bank`, `set`, `latency`...
    pub check: String,
    /// `valid`, `invalid` or `unknown`.
    pub verdict: String,
    /// One or two sentences: what was checked, or what went wrong.
    pub summary: String,
}

/// Everything the report is made of.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// The schedule's name.
    pub title: String,
    pub seed: u64,
    pub run_id: String,
    pub verdicts: Vec<CheckSummary>,
    /// The whole history, in order.
    pub ops: &'a [Op],
    /// The schedule as run; shown escaped.
    pub schedule_yaml: String,
    /// Each check's own section ([`checker::check::CheckReport::html_section`]: the linearizability
    /// counterexample, the bank's availability table, Elle's anomalies drawn), in the
    /// order of the checks; inserted as is (the checker escaped them).
    pub check_sections: Vec<HtmlSection>,
}

/// The checker's counterexample fragment for an invalid result, with a time axis in ms
/// since the run began: history line `n` is the op of index `n - 1` of `ops` (one record a
/// line, as the recorder writes them); a line that does not match gives positions instead.
pub fn counterexample_html(result: &checker::LinearizabilityResult, ops: &[Op]) -> String {
    checker::html::fragment_timed(result, &time_ns_of_line(ops))
}

/// Renders the whole page.
pub fn render_report(input: &ReportInput) -> String {
    let facts = derive_facts(input.ops);
    let axis = charts::TimeAxis::new(&facts);
    let mut page = String::with_capacity(256 * 1024);
    page.push_str(&head(&input.title));
    page.push_str("<body><main>\n");
    page.push_str(&header(input, &facts));
    page.push_str(&stat_cards(&facts));
    page.push_str(&checks_section(&input.verdicts));
    for section in &input.check_sections {
        page.push_str(&format!(
            "<section><h2>{}</h2>\n<div class=\"explanation\">{}</div></section>\n",
            text(&section.title),
            section.body_html
        ));
    }
    let legend = legend(&facts.faults);
    let sections = [
        (
            "Latency",
            "Each dot is one completed op: x is when it was invoked, y how long it took \
             (for an info op, how long until the client gave up). Ops still in flight at the \
             end have no latency and appear only in the timeline.",
            charts::latency_chart(&facts, &axis),
        ),
        (
            "Throughput",
            "Completed ops per second, stacked by outcome.",
            charts::throughput_chart(&facts, &axis),
        ),
        (
            "Timeline",
            "One row per client thread (a thread takes a fresh process id after an \
          unknown outcome); each bar an op from invoke to completion.",
            charts::timeline_chart(&facts, &axis),
        ),
    ];
    for (title, caption, chart) in sections {
        page.push_str(&chart_section(title, caption, &legend, chart));
    }
    page.push_str(&faults_section(&facts.faults));
    page.push_str(&functions_section(&facts));
    page.push_str(&warnings_section(&facts));
    page.push_str(&schedule_section(&input.schedule_yaml));
    page.push_str(&format!(
        "<footer>faultline {} · times are seconds since the run began · this page is \
         self-contained: no network, no scripts</footer>\n</main></body></html>\n",
        env!("CARGO_PKG_VERSION")
    ));
    page
}

/// Renders the page and writes it to `path` through a temporary file and a rename, so that
/// a reader (or a crash) never sees half a page.
pub fn write_report(path: &Path, input: &ReportInput) -> std::io::Result<()> {
    let page = render_report(input);
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, page)?;
    std::fs::rename(&temporary, path)
}

fn text(value: &str) -> String {
    encode_text(value).into_owned()
}

/// The CSS class of a verdict badge; anything unexpected is shown neutral.
fn verdict_class(verdict: &str) -> &'static str {
    match verdict {
        "valid" => "valid",
        "invalid" => "invalid",
        "unknown" => "unknown",
        _ => "other",
    }
}

/// Invalid beats unknown beats valid; no check at all is its own state.
fn overall_verdict(verdicts: &[CheckSummary]) -> &'static str {
    let any = |v: &str| verdicts.iter().any(|c| c.verdict == v);
    if verdicts.is_empty() {
        "no checks"
    } else if any("invalid") {
        "invalid"
    } else if verdicts.iter().all(|c| c.verdict == "valid") {
        "valid"
    } else {
        "unknown"
    }
}

const STYLE: &str = r#"
:root { --ink:#1f2430; --muted:#5c6370; --line:#e3e6eb; --bg:#f5f6f8; --card:#fff;
  --ok:#1a7f37; --fail:#c62828; --info:#b35900; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width:1280px; margin:0 auto; padding:28px 32px 40px; }
header { display:flex; flex-wrap:wrap; align-items:center; gap:12px 24px; margin-bottom:18px; }
header .titles { flex:1 1 480px; min-width:0; }
.eyebrow { text-transform:uppercase; letter-spacing:.08em; font-size:12px; color:var(--muted); }
h1 { margin:2px 0 6px; font-size:28px; overflow-wrap:anywhere; }
h2 { font-size:18px; margin:0 0 6px; }
.meta { color:var(--muted); font-size:14px; }
.meta code { color:var(--ink); }
.overall { font-size:20px; font-weight:700; padding:10px 22px; border-radius:10px; color:#fff;
  text-transform:uppercase; letter-spacing:.05em; }
.badge { display:inline-block; min-width:76px; text-align:center; font-weight:600; font-size:13px;
  padding:2px 10px; border-radius:999px; color:#fff; text-transform:uppercase; }
.valid { background:var(--ok); } .invalid { background:var(--fail); }
.unknown { background:var(--info); } .other, .no-checks { background:#7a808c; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(140px, 1fr)); gap:12px;
  margin:0 0 18px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:10px 14px; }
.card .k { font-size:12px; color:var(--muted); text-transform:uppercase; letter-spacing:.05em; }
.card .v { font-size:24px; font-weight:650; font-variant-numeric:tabular-nums; }
.card.ok .v { color:var(--ok); } .card.info .v { color:var(--info); }
.card .by { font-size:12px; color:var(--muted); overflow-wrap:anywhere; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px;
  padding:16px 18px; margin:0 0 18px; }
.caption { color:var(--muted); font-size:14px; margin:0 0 8px; }
.note { color:var(--muted); font-size:13px; font-style:italic; margin:6px 0 0; }
.legend { display:flex; flex-wrap:wrap; gap:6px 16px; font-size:13px; margin:0 0 6px; color:var(--muted); }
.legend i { display:inline-block; width:11px; height:11px; border-radius:3px; margin-right:5px;
  vertical-align:-1px; }
.legend i.shade { opacity:.35; border:1px solid rgba(0,0,0,.25); }
figure { margin:0; }
svg { display:block; max-width:100%; height:auto; }
svg text { font-family:system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
table { border-collapse:collapse; width:100%; font-size:14px; }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:12px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; }
details summary { cursor:pointer; font-weight:600; font-size:16px; }
pre.schedule { background:#1f2430; color:#e6e9ef; padding:14px 16px; border-radius:8px; overflow:auto;
  font:13px/1.45 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.explanation { overflow:auto; }
td .details { color:var(--muted); font-size:12px; overflow-wrap:anywhere; }
.error { color:var(--fail); font-weight:600; }
footer { color:var(--muted); font-size:12px; text-align:center; margin-top:24px; }
"#;

fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · faultline report</title><style>{STYLE}{}</style></head>\n",
        text(title),
        checker::html::STYLE,
    )
}

fn header(input: &ReportInput, facts: &RunFacts) -> String {
    let overall = overall_verdict(&input.verdicts);
    format!(
        "<header><div class=\"titles\"><div class=\"eyebrow\">faultline run report</div>\
         <h1>{}</h1><div class=\"meta\">run <code>{}</code> · seed <code>{}</code> · \
         {:.1} s · {} · {}</div></div>\
         <div class=\"overall {}\">{}</div></header>\n",
        text(&input.title),
        text(&input.run_id),
        input.seed,
        facts.duration_s(),
        client_processes(facts),
        plural(
            facts.nemesis_events as u64,
            "nemesis event",
            "nemesis events"
        ),
        overall.replace(' ', "-"),
        overall,
    )
}

/// `1 op`, `2 ops`, with thousands grouped.
fn plural(count: u64, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        thousands(count),
        if count == 1 { one } else { many }
    )
}

/// How many client processes, and why there are more than client threads: a thread takes
/// a new process id after an op with an unknown outcome, and each final read has its own.
fn client_processes(facts: &RunFacts) -> String {
    let all = plural(
        facts.client_processes as u64,
        "client process",
        "client processes",
    );
    let finals = facts.final_read_processes;
    let workload = facts.client_processes - finals;
    let renewed = if facts.counts.info > 0 {
        " (a thread takes a new id after an unknown outcome)"
    } else {
        ""
    };
    match finals {
        0 if renewed.is_empty() => all,
        0 => format!("{all}{renewed}"),
        _ => format!(
            "{all}: {workload} in the workload{renewed}, {}",
            plural(finals as u64, "final read", "final reads")
        ),
    }
}

/// `cas-mismatch 1,584, not-leader 36`: completions per error, most frequent first (the
/// run's terminal line and the report's cards).
pub fn by_error(counts: &std::collections::BTreeMap<String, u64>) -> String {
    let mut sorted: Vec<(&String, &u64)> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    sorted
        .iter()
        .map(|(error, count)| format!("{error} {}", thousands(**count)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn stat_cards(facts: &RunFacts) -> String {
    let counts = facts.counts;
    let completed = counts.ok + counts.fail + counts.info;
    let rate = if facts.duration_s() > 0.0 {
        format!("{:.0}", completed as f64 / facts.duration_s())
    } else {
        "–".to_string()
    };
    // A fail is an ordinary answer (a cas that did not match, a node that is not the
    // leader); an unknown outcome is what a fault leaves behind: only that is coloured.
    let alarming = |count: u64| if count > 0 { "info" } else { "" };
    let cards: [(&str, &str, String, String); 8] = [
        (
            "",
            "duration",
            format!("{:.1} s", facts.duration_s()),
            String::new(),
        ),
        (
            "",
            "ops invoked",
            thousands(counts.invoked()),
            String::new(),
        ),
        ("ok", "ok", thousands(counts.ok), String::new()),
        (
            "",
            "fail",
            thousands(counts.fail),
            text(&by_error(&facts.fail_by_error)),
        ),
        (
            alarming(counts.info),
            "info",
            thousands(counts.info),
            text(&by_error(&facts.info_by_error)),
        ),
        (
            alarming(counts.in_flight),
            "in flight",
            thousands(counts.in_flight),
            String::new(),
        ),
        ("", "completed ops/s", rate, String::new()),
        ("", "faults", facts.faults.len().to_string(), String::new()),
    ];
    let mut html = String::from("<div class=\"cards\">");
    for (class, key, value, by) in cards {
        let by = if by.is_empty() {
            by
        } else {
            format!("<div class=\"by\">{by}</div>")
        };
        html.push_str(&format!(
            "<div class=\"card {class}\"><div class=\"k\">{key}</div><div class=\"v\">{value}</div>{by}</div>"
        ));
    }
    html.push_str("</div>\n");
    html
}

fn checks_section(verdicts: &[CheckSummary]) -> String {
    let mut html = String::from("<section><h2>Checks</h2>\n");
    if verdicts.is_empty() {
        html.push_str("<p class=\"caption\">No check ran on this history.</p></section>\n");
        return html;
    }
    html.push_str("<table><tr><th>check</th><th>verdict</th><th>summary</th></tr>\n");
    for check in verdicts {
        html.push_str(&format!(
            "<tr><td><strong>{}</strong></td><td><span class=\"badge {}\">{}</span></td><td>{}</td></tr>\n",
            text(&check.check),
            verdict_class(&check.verdict),
            text(&check.verdict),
            text(&check.summary),
        ));
    }
    html.push_str("</table></section>\n");
    html
}

/// The colour key shared by the charts: outcomes, then each kind of fault present.
fn legend(faults: &[FaultWindow]) -> String {
    let mut html = String::from("<div class=\"legend\">");
    let outcomes = [
        (charts::OK_COLOUR, "ok"),
        (charts::FAIL_COLOUR, "fail"),
        (charts::INFO_COLOUR, "info / in flight"),
    ];
    for (colour, name) in outcomes {
        html.push_str(&format!(
            "<span><i style=\"background:{}\"></i>{name}</span>",
            charts::hex(colour)
        ));
    }
    let mut kinds: Vec<&str> = faults.iter().map(|f| f.fault.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        html.push_str(&format!(
            "<span><i class=\"shade\" style=\"background:{}\"></i>{} window</span>",
            charts::hex(charts::fault_colour(kind)),
            text(kind)
        ));
    }
    html.push_str("</div>");
    html
}

fn chart_section(title: &str, caption: &str, legend: &str, chart: charts::Chart) -> String {
    let figure = match chart.svg {
        Ok(svg) => svg,
        Err(error) => format!(
            "<p class=\"error\">This chart could not be drawn: {}</p>",
            text(&error)
        ),
    };
    let note = chart
        .note
        .map(|note| format!("<p class=\"note\">{}</p>", text(&note)))
        .unwrap_or_default();
    format!(
        "<section><h2>{title}</h2><p class=\"caption\">{caption}</p>{legend}\
         <figure>{figure}</figure>{note}</section>\n"
    )
}

/// `12344` -> `12,344`.
fn thousands(count: u64) -> String {
    let digits = count.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (at, digit) in digits.chars().enumerate() {
        if at > 0 && (digits.len() - at).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

fn seconds(ns: u64) -> String {
    format!("{:.2}", ns_to_s(ns))
}

fn faults_section(faults: &[FaultWindow]) -> String {
    let mut html = String::from("<section><h2>Faults</h2>\n");
    if faults.is_empty() {
        html.push_str("<p class=\"caption\">No fault was injected.</p></section>\n");
        return html;
    }
    html.push_str(
        "<table><tr><th>id</th><th>fault</th><th>what</th><th class=\"num\">start (s)</th>\
         <th class=\"num\">stop (s)</th><th class=\"num\">length (s)</th></tr>\n",
    );
    for fault in faults {
        let stop = if fault.open_at_end {
            format!("{} (not stopped)", seconds(fault.stop_ns))
        } else {
            seconds(fault.stop_ns)
        };
        html.push_str(&format!(
            "<tr><td>{}</td><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td>\
             <td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
            fault.id.map(|id| id.to_string()).unwrap_or_else(|| "–".to_string()),
            charts::hex(charts::fault_colour(&fault.fault)),
            text(&fault.fault),
            fault_what(fault),
            seconds(fault.start_ns),
            stop,
            seconds(fault.stop_ns - fault.start_ns),
        ));
    }
    html.push_str("</table></section>\n");
    html
}

/// The fault's description, and below it, smaller, the details the label leaves out.
fn fault_what(fault: &FaultWindow) -> String {
    if fault.details.is_empty() {
        return text(&fault.description);
    }
    format!(
        "{}<div class=\"details\">{}</div>",
        text(&fault.description),
        text(&fault.details)
    )
}

fn optional_ms(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |ms| format!("{ms:.1}"))
}

fn functions_section(facts: &RunFacts) -> String {
    let mut html = String::from("<section><h2>Operations by function</h2>\n");
    if facts.functions.is_empty() {
        html.push_str("<p class=\"caption\">The history has no client operation.</p></section>\n");
        return html;
    }
    html.push_str(
        "<table><tr><th>f</th><th class=\"num\">ok</th><th class=\"num\">fail</th>\
         <th class=\"num\">info</th><th class=\"num\">in flight</th><th class=\"num\">p50 (ms)</th>\
         <th class=\"num\">p99 (ms)</th><th class=\"num\">max (ms)</th></tr>\n",
    );
    for stats in &facts.functions {
        let cells: [&dyn Display; 7] = [
            &thousands(stats.counts.ok),
            &thousands(stats.counts.fail),
            &thousands(stats.counts.info),
            &thousands(stats.counts.in_flight),
            &optional_ms(stats.latency_ms_p50),
            &optional_ms(stats.latency_ms_p99),
            &optional_ms(stats.latency_ms_max),
        ];
        html.push_str(&format!("<tr><td><strong>{}</strong></td>", text(&stats.f)));
        for cell in cells {
            html.push_str(&format!("<td class=\"num\">{cell}</td>"));
        }
        html.push_str("</tr>\n");
    }
    html.push_str(
        "</table><p class=\"note\">Latency over ok ops (nearest-rank percentiles, as in results.json).</p></section>\n",
    );
    html
}

fn warnings_section(facts: &RunFacts) -> String {
    if facts.warnings_total == 0 {
        return String::new();
    }
    let mut html = format!(
        "<section><h2>History warnings ({})</h2><p class=\"caption\">Records the report could \
         not pair; the charts skip or approximate them as noted.</p><ul>",
        facts.warnings_total
    );
    for warning in &facts.warnings {
        html.push_str(&format!("<li>{}</li>", text(warning)));
    }
    if facts.warnings_total > facts.warnings.len() {
        html.push_str(&format!(
            "<li>… and {} more.</li>",
            facts.warnings_total - facts.warnings.len()
        ));
    }
    html.push_str("</ul></section>\n");
    html
}

fn schedule_section(schedule_yaml: &str) -> String {
    format!(
        "<section><details><summary>Schedule as run</summary><pre class=\"schedule\">{}</pre></details></section>\n",
        text(schedule_yaml)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_344), "12,344");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn overall_verdict_is_the_worst() {
        let check = |verdict: &str| CheckSummary {
            check: "c".to_string(),
            verdict: verdict.to_string(),
            summary: String::new(),
        };
        assert_eq!(overall_verdict(&[]), "no checks");
        assert_eq!(
            overall_verdict(&[check("valid"), check("unknown")]),
            "unknown"
        );
        assert_eq!(
            overall_verdict(&[check("unknown"), check("invalid")]),
            "invalid"
        );
        assert_eq!(overall_verdict(&[check("valid"), check("valid")]), "valid");
        assert_eq!(overall_verdict(&[check("weird")]), "unknown");
    }
}
