//! One run's page (`/run/<name>/<run>`): its verdicts and counts, its files to view or
//! download, its node logs, the command that reproduces it, and its report in a frame.
//!
//! A run still in progress (no `results.json` yet) shows live counters instead, rendered
//! on the server from the history read so far and then refreshed every second by a few
//! lines of plain JavaScript polling `live.json`, which also draws the growing throughput
//! and latency charts; when the run finishes the page reloads into its finished form.

use std::path::Path;

use super::html::{attr, badge, duration, page, text};
use super::index::{RunRef, RunState, SummaryCache, list_runs};
use super::live::LiveRuns;
use super::paths::plain_segment;

/// The files of a run that may be fetched, besides `nodes/<id>.log`.
pub const RUN_FILES: [&str; 4] = [
    "report.html",
    "schedule.yaml",
    "results.json",
    "history.jsonl",
];
/// Node logs listed on the page, at most.
pub const NODE_LOGS_MAX: usize = 256;

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=,".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The exact command that runs this schedule with this seed again.
pub fn reproduce_command(store_root: &Path, run: &RunRef) -> String {
    let schedule = run.dir(store_root).join("schedule.yaml");
    let mut cmd = format!(
        "faultline run {}",
        shell_word(&schedule.display().to_string())
    );
    if let Some(seed) = run.seed() {
        cmd.push_str(&format!(" --seed {seed}"));
    }
    cmd.push_str(&format!(
        " --store {}",
        shell_word(&store_root.display().to_string())
    ));
    cmd
}

/// The previous run of the same schedule, for the "diff against" link.
fn previous_run(root: &Path, run: &RunRef) -> Option<RunRef> {
    let mut same: Vec<RunRef> = list_runs(root)
        .into_iter()
        .filter(|r| r.name == run.name)
        .collect();
    same.sort_by(|a, b| b.run.cmp(&a.run));
    let at = same.iter().position(|r| r == run)?;
    same.get(at + 1).cloned()
}

fn node_logs(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("nodes")) else {
        return Vec::new();
    };
    let mut logs: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| plain_segment(n) && n.ends_with(".log"))
        .take(NODE_LOGS_MAX)
        .collect();
    logs.sort();
    logs
}

fn card(id: &str, key: &str, value: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\" id=\"{id}\">{}</div></div>",
        text(key),
        text(value)
    )
}

const LIVE_JS: &str = r##"
(function(){
  const url = location.pathname.replace(/\/$/, '') + '/live.json';
  function chart(id, pts, idx, unit){
    const svg = document.getElementById(id); if(!svg) return;
    const w = 420, h = 140, n = pts.length;
    const max = Math.max(1, ...pts.map(p => p[idx]));
    const xs = n > 1 ? (w - 40) / (n - 1) : 0;
    const line = pts.map((p, i) => (30 + i * xs).toFixed(1) + ',' + (h - 20 - (h - 40) * p[idx] / max).toFixed(1)).join(' ');
    svg.innerHTML = '<text x="4" y="14" font-size="11">' + unit + ' (max ' + max.toFixed(1) + ')</text>' +
      '<line x1="30" y1="' + (h-20) + '" x2="' + (w-10) + '" y2="' + (h-20) + '" stroke="#999"/>' +
      '<polyline fill="none" stroke="#2d6fd6" stroke-width="1.5" points="' + line + '"/>';
    svg.setAttribute('data-points', n);
  }
  function set(id, v){ const e = document.getElementById(id); if(e) e.textContent = v; }
  async function tick(){
    try {
      const r = await fetch(url, {cache: 'no-store'});
      if (r.ok) {
        const s = await r.json();
        if (s.finished) { location.reload(); return; }
        set('live-elapsed', s.elapsed_s.toFixed(1) + ' s');
        set('live-ops', s.ops_per_s.toFixed(1));
        set('live-ok', s.ok); set('live-fail', s.fail); set('live-info', s.info);
        set('live-faults', s.active_faults.length ? s.active_faults.join(', ') : 'none');
        chart('chart-throughput', s.series, 1, 'completions/s');
        chart('chart-latency', s.series, 2, 'mean latency ms');
      }
    } catch (e) { set('live-status', 'cannot reach the server: ' + e); }
    setTimeout(tick, 1000);
  }
  tick();
})();
"##;

/// Renders the page of `run`, whose directory `dir` is known to be inside the store.
pub fn run_page(
    root: &Path,
    run: &RunRef,
    dir: &Path,
    cache: &SummaryCache,
    live: &LiveRuns,
) -> String {
    let state = cache.state(dir);
    let mut body = format!(
        "<h1>{} <small>{}</small> {}</h1><p>seed {} · started {} UTC</p>",
        text(&run.name),
        text(&run.run),
        badge(state.label()),
        run.seed().map(|s| s.to_string()).unwrap_or_default(),
        text(&run.started())
    );
    match &state {
        RunState::Finished(s) => {
            body.push_str("<div class=\"cards\">");
            for (k, v) in [
                ("duration", duration(s.duration_s)),
                ("ops", s.ops.to_string()),
                ("ok", s.ok.to_string()),
                ("fail", s.fail.to_string()),
                ("info", s.info.to_string()),
                ("nemesis events", s.nemesis_events.to_string()),
                ("p99 latency", format!("{:.1} ms", s.latency_ms_p99)),
            ] {
                body.push_str(&card(&format!("stat-{}", k.replace(' ', "-")), k, &v));
            }
            body.push_str("</div><table id=\"checks\"><tr><th>check</th><th>verdict</th></tr>");
            for (c, v) in &s.checks {
                body.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td></tr>",
                    text(c),
                    badge(v)
                ));
            }
            body.push_str("</table>");
        }
        RunState::InProgress => {
            let view = live.poll(dir, false).ok();
            let get = |k: &str| view.as_ref().map(|v| v[k].to_string()).unwrap_or_default();
            let faults = view
                .as_ref()
                .and_then(|v| v["active_faults"].as_array().cloned())
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(str::to_string))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "none".to_string());
            body.push_str("<h2>In progress</h2><p id=\"live-status\">updated every second from history.jsonl</p><div class=\"cards\">");
            body.push_str(&card(
                "live-elapsed",
                "elapsed",
                &format!("{} s", get("elapsed_s")),
            ));
            body.push_str(&card("live-ops", "ops/s", &get("ops_per_s")));
            body.push_str(&card("live-ok", "ok", &get("ok")));
            body.push_str(&card("live-fail", "fail", &get("fail")));
            body.push_str(&card("live-info", "info", &get("info")));
            body.push_str(&card("live-faults", "active faults", &faults));
            body.push_str(
                "</div><svg class=\"live\" id=\"chart-throughput\" width=\"420\" height=\"140\"></svg>\
                 <svg class=\"live\" id=\"chart-latency\" width=\"420\" height=\"140\"></svg>",
            );
            body.push_str(&format!("<script>{LIVE_JS}</script>"));
        }
        RunState::Unreadable(why) => {
            body.push_str(&format!("<p>{}</p>", text(why)));
        }
    }
    body.push_str(&format!(
        "<h2>Reproduce</h2><code class=\"repro\" id=\"reproduce\">{}</code>",
        text(&reproduce_command(root, run))
    ));
    body.push_str("<h2>Files</h2><ul id=\"files\">");
    let base = run.href();
    for f in RUN_FILES {
        if dir.join(f).is_file() {
            body.push_str(&format!(
                "<li><a href=\"{b}/files/{f}\">{f}</a> · <a href=\"{b}/files/{f}?download=1\">download</a></li>",
                b = attr(&base)
            ));
        }
    }
    body.push_str("</ul><h2>Node logs</h2><ul id=\"logs\">");
    for log in node_logs(dir) {
        body.push_str(&format!(
            "<li><a href=\"{b}/files/nodes/{l}\">{t}</a></li>",
            b = attr(&base),
            l = attr(&log),
            t = text(&log)
        ));
    }
    body.push_str("</ul>");
    if let Some(prev) = previous_run(root, run) {
        body.push_str(&format!(
            "<p><a id=\"diff-previous\" href=\"/diff?a={}/{}&amp;b={}/{}\">schedule diff against the previous run of {}</a></p>",
            attr(&prev.name),
            attr(&prev.run),
            attr(&run.name),
            attr(&run.run),
            text(&run.name)
        ));
    }
    if dir.join("report.html").is_file() {
        body.push_str(&format!(
            "<h2>Report</h2><iframe class=\"report\" id=\"report\" src=\"{}/files/report.html\"></iframe>",
            attr(&base)
        ));
    }
    page(&format!("{} {}", run.name, run.run), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduce_quotes_what_needs_it() {
        let run = RunRef {
            name: "s".into(),
            run: "20250101T000000-seed9".into(),
        };
        assert_eq!(
            reproduce_command(Path::new("/tmp/my store"), &run),
            "faultline run '/tmp/my store/s/20250101T000000-seed9/schedule.yaml' --seed 9 --store '/tmp/my store'"
        );
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
