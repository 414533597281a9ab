//! The runs page (`/`): every run, newest first, filtered by verdict and schedule name,
//! fifty to a page.
//!
//! Only the runs on the page have their `results.json` read, unless a verdict filter is
//! given: then every run of the chosen schedules is classified, through the summary cache,
//! so that a second filtered request reads nothing but directory names.

use std::collections::BTreeSet;
use std::path::Path;

use super::html::{attr, badge, duration, page, text};
use super::index::{RunRef, RunState, SummaryCache, list_runs};
use super::paths::encode_query_value;

/// Rows per page.
pub const RUNS_PER_PAGE: usize = 50;

/// The filters of the runs page, from its query string.
#[derive(Debug, Default, Clone)]
pub struct RunsQuery {
    /// valid, invalid, unknown, running, interrupted, unreadable; empty for any.
    pub verdict: String,
    /// A schedule name; empty for any.
    pub name: String,
    /// 1-based.
    pub page: usize,
}

impl RunsQuery {
    pub fn from_pairs(pairs: &[(String, String)]) -> RunsQuery {
        let mut q = RunsQuery {
            page: 1,
            ..RunsQuery::default()
        };
        for (k, v) in pairs {
            match k.as_str() {
                "verdict" => q.verdict = v.clone(),
                "name" => q.name = v.clone(),
                "page" => q.page = v.parse().unwrap_or(1).max(1),
                _ => {}
            }
        }
        q
    }

    fn href(&self, page: usize) -> String {
        format!(
            "/?verdict={}&name={}&page={page}",
            encode_query_value(&self.verdict),
            encode_query_value(&self.name)
        )
    }
}

const VERDICTS: [&str; 6] = [
    "valid",
    "invalid",
    "unknown",
    "running",
    "interrupted",
    "unreadable",
];

/// Renders the runs page.
pub fn runs_page(root: &Path, cache: &SummaryCache, query: &RunsQuery) -> String {
    let all = list_runs(root);
    let names: BTreeSet<&str> = all.iter().map(|r| r.name.as_str()).collect();
    let by_name: Vec<&RunRef> = all
        .iter()
        .filter(|r| query.name.is_empty() || r.name == query.name)
        .collect();
    let start = (query.page - 1).saturating_mul(RUNS_PER_PAGE);
    let (total, rows): (usize, Vec<(&RunRef, RunState)>) = if query.verdict.is_empty() {
        let rows = by_name
            .iter()
            .skip(start)
            .take(RUNS_PER_PAGE)
            .map(|r| (*r, cache.state(&r.dir(root))))
            .collect();
        (by_name.len(), rows)
    } else {
        let matching: Vec<(&RunRef, RunState)> = by_name
            .iter()
            .map(|r| (*r, cache.state(&r.dir(root))))
            .filter(|(_, s)| s.label() == query.verdict)
            .collect();
        let total = matching.len();
        (
            total,
            matching
                .into_iter()
                .skip(start)
                .take(RUNS_PER_PAGE)
                .collect(),
        )
    };

    let mut body = String::new();
    body.push_str("<h1>Runs</h1><form class=\"filters\" method=\"get\" action=\"/\">");
    body.push_str("<label>verdict <select name=\"verdict\"><option value=\"\">any</option>");
    for v in VERDICTS {
        let selected = if v == query.verdict { " selected" } else { "" };
        body.push_str(&format!("<option{selected}>{v}</option>"));
    }
    body.push_str(
        "</select></label><label>schedule <select name=\"name\"><option value=\"\">any</option>",
    );
    for n in &names {
        let selected = if *n == query.name { " selected" } else { "" };
        body.push_str(&format!(
            "<option value=\"{}\"{selected}>{}</option>",
            attr(n),
            text(n)
        ));
    }
    body.push_str("</select></label><button type=\"submit\">Filter</button></form>");
    let pages = total.div_ceil(RUNS_PER_PAGE).max(1);
    body.push_str(&format!(
        "<p id=\"count\">{total} runs{}, page {} of {pages}</p>",
        if query.verdict.is_empty() && query.name.is_empty() {
            String::new()
        } else {
            " match".to_string()
        },
        query.page
    ));
    body.push_str(
        "<table id=\"runs\"><tr><th>schedule</th><th>seed</th><th>started (UTC)</th>\
         <th>duration</th><th>verdict</th><th>checks</th><th>ops</th>\
         <th>nemesis events</th><th>run</th></tr>",
    );
    for (run, state) in &rows {
        let (dur, checks, ops, faults) = match state {
            RunState::Finished(s) => (
                duration(s.duration_s),
                s.checks
                    .iter()
                    .map(|(c, v)| format!("{}&nbsp;{}", text(c), badge(v)))
                    .collect::<Vec<_>>()
                    .join(" "),
                s.ops.to_string(),
                s.nemesis_events.to_string(),
            ),
            RunState::InProgress => ("…".into(), String::new(), "…".into(), "…".into()),
            RunState::Unreadable(why) => ("".into(), text(why), "".into(), "".into()),
        };
        body.push_str(&format!(
            "<tr class=\"run\" data-verdict=\"{}\"><td>{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td class=\"num\">{dur}</td><td class=\"verdict\">{}</td><td>{checks}</td>\
             <td class=\"num\">{ops}</td><td class=\"num\">{faults}</td>\
             <td><a href=\"{}\">{}</a></td></tr>",
            attr(state.label()),
            text(&run.name),
            run.seed().map(|s| s.to_string()).unwrap_or_default(),
            text(&run.started()),
            badge(state.label()),
            attr(&run.href()),
            text(&run.run),
        ));
    }
    body.push_str("</table><div class=\"pager\">");
    if query.page > 1 {
        body.push_str(&format!(
            "<a rel=\"prev\" href=\"{}\">← newer</a>",
            attr(&query.href(query.page - 1))
        ));
    }
    if query.page < pages {
        body.push_str(&format!(
            "<a rel=\"next\" href=\"{}\">older →</a>",
            attr(&query.href(query.page + 1))
        ));
    }
    body.push_str("</div>");
    page("Runs", &body)
}
