//! The schedule diff (`/diff?a=<name>/<run>&b=<name>/<run>`): two runs' `schedule.yaml`,
//! line by line (a longest-common-subsequence diff).
//!
//! Schedules are small; each side is read up to [`SCHEDULE_BYTES_MAX`] and
//! [`DIFF_LINES_MAX`] lines, so the table the diff needs stays bounded.

use std::path::Path;

use super::html::{attr, page, text};
use super::index::read_bounded;
use super::paths::{PathRefusal, resolve_in_store};

pub const SCHEDULE_BYTES_MAX: u64 = 1 << 20;
pub const DIFF_LINES_MAX: usize = 2_000;

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// The line diff of `a` into `b`.
pub fn diff_lines<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<DiffLine<'a>> {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(n + m);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(DiffLine::Same(a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
            out.push(DiffLine::Removed(a[i]));
            i += 1;
        } else {
            out.push(DiffLine::Added(b[j]));
            j += 1;
        }
    }
    out
}

/// A run named in the query, as `<name>/<run>`, and its schedule text.
fn schedule_of(root: &Path, spec: &str) -> Result<String, PathRefusal> {
    let (name, run) = spec.split_once('/').ok_or(PathRefusal::BadRequest)?;
    let path = resolve_in_store(root, &[name, run, "schedule.yaml"])?;
    match read_bounded(&path, SCHEDULE_BYTES_MAX) {
        Ok(Some(text)) => Ok(text),
        Ok(None) => Err(PathRefusal::BadRequest),
        Err(_) => Err(PathRefusal::NotFound),
    }
}

/// Renders the diff page; without both runs, the form that asks for them.
pub fn diff_page(root: &Path, a: &str, b: &str) -> Result<String, PathRefusal> {
    let form = format!(
        "<form class=\"filters\" method=\"get\" action=\"/diff\">\
         <label>a <input name=\"a\" size=\"50\" value=\"{}\" placeholder=\"name/run\"></label>\
         <label>b <input name=\"b\" size=\"50\" value=\"{}\" placeholder=\"name/run\"></label>\
         <button type=\"submit\">Diff</button></form>",
        attr(a),
        attr(b)
    );
    if a.is_empty() || b.is_empty() {
        return Ok(page(
            "Schedule diff",
            &format!("<h1>Schedule diff</h1>{form}"),
        ));
    }
    let (left, right) = (schedule_of(root, a)?, schedule_of(root, b)?);
    let la: Vec<&str> = left.lines().take(DIFF_LINES_MAX).collect();
    let lb: Vec<&str> = right.lines().take(DIFF_LINES_MAX).collect();
    let mut rows = String::new();
    let (mut added, mut removed) = (0, 0);
    for line in diff_lines(&la, &lb) {
        let (class, sign, l) = match line {
            DiffLine::Same(l) => ("same", ' ', l),
            DiffLine::Removed(l) => {
                removed += 1;
                ("del", '-', l)
            }
            DiffLine::Added(l) => {
                added += 1;
                ("add", '+', l)
            }
        };
        rows.push_str(&format!(
            "<tr class=\"{class}\"><td>{sign}</td><td>{}</td></tr>",
            text(l)
        ));
    }
    let body = format!(
        "<h1>Schedule diff</h1>{form}<p id=\"diff-summary\">{} → {}: {added} lines added, {removed} removed</p>\
         <table class=\"diff\" id=\"diff\">{rows}</table>",
        text(a),
        text(b)
    );
    Ok(page("Schedule diff", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff() {
        let a = ["name: x", "seed: 1", "duration: 5s"];
        let b = ["name: x", "seed: 2", "duration: 5s", "checks: []"];
        assert_eq!(
            diff_lines(&a, &b),
            vec![
                DiffLine::Same("name: x"),
                DiffLine::Removed("seed: 1"),
                DiffLine::Added("seed: 2"),
                DiffLine::Same("duration: 5s"),
                DiffLine::Added("checks: []"),
            ]
        );
    }
}
