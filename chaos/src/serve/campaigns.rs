//! The campaigns page (`/campaigns`): the store as a schedules x seeds grid.
//!
//! A campaign leaves no record of its own in the store besides its runs (and the JUnit
//! file), and each (schedule, seed) pair is an independent run, possibly written by many
//! machines into one shared store. So the grid is built the way `faultline campaign`
//! resumes: for every pair, its newest run; a cell is coloured by that run's verdict and
//! links to it, with the number of older runs of the pair beside it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::html::{attr, page, text, verdict_class};
use super::index::{RunRef, SummaryCache, list_runs};

/// Seed columns shown per page; beyond it the grid says how many were left out.
pub const SEEDS_MAX: usize = 500;

/// Renders the grid.
pub fn campaigns_page(root: &Path, cache: &SummaryCache) -> String {
    // Newest first, so the first run seen of a pair is its newest.
    let mut newest: BTreeMap<(String, u64), (RunRef, usize)> = BTreeMap::new();
    let mut seeds = BTreeSet::new();
    for run in list_runs(root) {
        let Some(seed) = run.seed() else { continue };
        seeds.insert(seed);
        newest
            .entry((run.name.clone(), seed))
            .and_modify(|(_, n)| *n += 1)
            .or_insert((run, 1));
    }
    let names: BTreeSet<&str> = newest.keys().map(|(n, _)| n.as_str()).collect();
    let shown: Vec<u64> = seeds.iter().copied().take(SEEDS_MAX).collect();
    let mut body = String::from(
        "<h1>Campaigns</h1><p>Each cell is the newest run of a (schedule, seed) pair, \
         coloured by its verdict; ×N counts the pair's runs.</p>",
    );
    if seeds.len() > shown.len() {
        body.push_str(&format!(
            "<p>{} seeds; the first {SEEDS_MAX} are shown.</p>",
            seeds.len()
        ));
    }
    body.push_str("<table id=\"grid\"><tr><th>schedule \\ seed</th>");
    for s in &shown {
        body.push_str(&format!("<th>{s}</th>"));
    }
    body.push_str("<th>invalid</th></tr>");
    for name in names {
        let mut row = String::new();
        let mut invalid = 0;
        for seed in &shown {
            match newest.get(&(name.to_string(), *seed)) {
                Some((run, count)) => {
                    let state = cache.state(&run.dir(root));
                    let label = state.label();
                    invalid += usize::from(label == "invalid");
                    let times = if *count > 1 {
                        format!(" ×{count}")
                    } else {
                        String::new()
                    };
                    row.push_str(&format!(
                        "<td class=\"cell {}\" title=\"{}\"><a href=\"{}\">{}{times}</a></td>",
                        verdict_class(label),
                        attr(&format!("{} seed {seed}: {label}", run.name)),
                        attr(&run.href()),
                        text(label)
                    ));
                }
                None => row.push_str("<td></td>"),
            }
        }
        body.push_str(&format!(
            "<tr><th>{}</th>{row}<td class=\"num\">{invalid}</td></tr>",
            text(name)
        ));
    }
    body.push_str("</table>");
    page("Campaigns", &body)
}
