//! `faultline serve` in a real browser (Debian's headless chromium), on a real run that
//! `faultline run --serve` serves while it goes and after it ended:
//!
//! - live: the run's page, loaded twice a few seconds apart, shows more `ok` completions
//!   the second time, and its throughput chart was drawn by the page's JavaScript from
//!   `live.json` (the svg has points); with the first load, the runs page's verdict
//!   filter, as the browser loads the URL its form submits, keeps the run under `running`;
//! - finished (the same process still serving): the filter now keeps it under `valid` and
//!   drops it under `running`; the run page loaded its report into the frame (the frame's
//!   script read the report's height, which it can only do once the report is there), the
//!   report itself, rendered by chromium, has its latency and throughput charts as SVG
//!   with data drawn in them; the reproduce line is the exact command, the run's
//!   `--node-arg` flags included; the runs page's first-anomaly column says `—` (none);
//! - the campaigns grid links the run; the diff of the run's schedule against itself is
//!   empty;
//! - screenshots of the runs, live run, finished run, campaigns and diff pages are PNGs of
//!   the size asked for with many colours and no colour covering the page (not blank).
//!   Set `FAULTLINE_SCREENSHOTS_DIR` to keep them.
//!
//! Finally SIGINT stops the server and `faultline run` exits with the run's code (0).
//! Under `CI=true` a missing chromium fails the test; locally it skips with a reason.

mod serve_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use serve_support::{
    Served, assert_not_blank, chromium_available, dump_dom, get, screenshot, screenshot_dir,
    tag_of_id, text_content_of_id, text_of_id,
};

/// Long enough for two live loads and the filter checks while it runs, even with a slow
/// chromium on a loaded machine; a partition and a pause so that faults show live.
const LIVE: &str = "name: serve-live
seed: 3
system: { kind: raft, nodes: 3 }
duration: 16s
workload: { kind: register, keys: 3, clients: 4, rate: 40/s, timeout: 1s }
nemesis:
  - every: 4s
    from: 1s
    one_of: [partition, pause]
    target: random
    for: 2s
final: { heal: true, quiesce: 500ms, final_reads: true }
checks: [linearizable, latency]
";

/// Extra node arguments (harmless: the default heartbeat), to see them in the reproduce line.
const NODE_ARGS: [&str; 2] = ["--node-arg=--heartbeat-ms", "--node-arg=50"];

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;

/// The run directory `faultline run` created, once its history has some ops.
fn wait_for_history(store: &Path) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = std::fs::canonicalize(store.join("latest")).ok();
        if let Some(run) = run {
            let lines = std::fs::read_to_string(run.join("history.jsonl"))
                .map(|h| h.lines().filter(|l| l.contains("\"ok\"")).count())
                .unwrap_or(0);
            if lines >= 20 {
                return run;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no run with 20 ok ops in its history after 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ok_count(dom: &str) -> u64 {
    let text = text_of_id(dom, "live-ok").unwrap_or_else(|| {
        panic!(
            "the run page is not the live one: the run ended before the page loaded \
             (a very slow chromium?): {dom}"
        )
    });
    text.parse()
        .unwrap_or_else(|e| panic!("live-ok is {text:?}: {e}"))
}

fn lists(dom: &str, run_name: &str) -> bool {
    dom.contains(&format!("{run_name}</a>"))
}

#[test]
fn a_live_run_and_its_finished_pages_in_chromium() {
    if !chromium_available() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("live.yaml"), LIVE).expect("write schedule");
    let shots = screenshot_dir(work.path());
    let mut args = vec![
        "run",
        "live.yaml",
        "--store",
        "store",
        "--quiet",
        "--serve",
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend(NODE_ARGS);
    let started = Instant::now();
    let mut served = Served::start(&args, work.path());
    let store = work.path().join("store");
    let run = wait_for_history(&store);
    let run_name = run.file_name().unwrap().to_string_lossy().into_owned();
    let page = served.url(&format!("/run/serve-live/{run_name}"));

    // Live: two loads, counters up; the chart drawn by the script. With the first, the
    // filter as its form submits it (a GET of these fields) keeps the run under `running`.
    println!("at {:.1} s: history", started.elapsed().as_secs_f64());
    let running_url = served.url("/?verdict=running&name=serve-live");
    let (first, running) = std::thread::scope(|scope| {
        let running = scope.spawn(|| dump_dom(&running_url));
        let first = dump_dom(&page);
        (first, running.join().expect("a chromium load"))
    });
    let ok_first = ok_count(&first);
    for field in ["<select name=\"verdict\">", "<select name=\"name\">"] {
        assert!(running.contains(field), "the filter form has {field}");
    }
    println!(
        "at {:.1} s: first load and filter",
        started.elapsed().as_secs_f64()
    );
    let second = dump_dom(&page);
    let ok_second = ok_count(&second);
    assert!(
        ok_second > ok_first,
        "ok completions went from {ok_first} to {ok_second} between two loads"
    );
    assert!(
        lists(&running, &run_name),
        "running keeps the live run: {running}"
    );
    let chart = tag_of_id(&second, "chart-throughput").expect("the throughput chart");
    let points: u64 = chart
        .split("data-points=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the script did not draw the chart: {chart}"));
    assert!(points >= 1, "{chart}");
    assert!(second.contains("<polyline"), "the chart has its line");
    // A picture of the live page, if the run still goes (timing: not asserted on).
    let live_png = shots.join("live.png");
    screenshot(&page, &live_png, WIDTH, HEIGHT);
    assert_not_blank(&live_png, WIDTH, HEIGHT);
    if run.join("results.json").exists() {
        println!("the run ended around the live screenshot: live.png may show it finished");
    }
    println!("at {:.1} s: live done", started.elapsed().as_secs_f64());

    // Finished: the same process keeps serving. Every page at once (chromium is slow to
    // start, not to render), then the assertions.
    served
        .wait_for_line("the run is over", Duration::from_secs(120))
        .expect("the run ended and the server stayed up");
    println!("at {:.1} s: run over", started.elapsed().as_secs_f64());
    let diff = format!("/diff?a=serve-live/{run_name}&b=serve-live/{run_name}");
    let dom_urls = [
        served.url("/?verdict=valid&name=serve-live"),
        served.url("/?verdict=running"),
        page.clone(),
        format!("{page}/files/report.html"),
        served.url("/campaigns"),
        served.url(&diff),
    ];
    let shots_of = [
        ("runs", served.url("/")),
        ("run", page.clone()),
        ("campaigns", served.url("/campaigns")),
        ("diff", served.url(&diff)),
    ];
    let doms: Vec<String> = std::thread::scope(|scope| {
        let dom_loads: Vec<_> = dom_urls
            .iter()
            .map(|url| scope.spawn(move || dump_dom(url)))
            .collect();
        let shot_loads: Vec<_> = shots_of
            .iter()
            .map(|(name, url)| {
                let png = shots.join(format!("{name}.png"));
                scope.spawn(move || screenshot(url, &png, WIDTH, HEIGHT))
            })
            .collect();
        for h in shot_loads {
            h.join().expect("a chromium screenshot");
        }
        dom_loads
            .into_iter()
            .map(|h| h.join().expect("a chromium load"))
            .collect()
    });
    println!(
        "at {:.1} s: post-run loads",
        started.elapsed().as_secs_f64()
    );
    for (name, _) in &shots_of {
        assert_not_blank(&shots.join(format!("{name}.png")), WIDTH, HEIGHT);
    }
    let [valid, running, finished, report, campaigns, diff] = &doms[..] else {
        unreachable!("six loads")
    };

    assert!(lists(valid, &run_name), "valid keeps the finished run");
    assert_eq!(
        text_of_id(valid, "count"),
        Some("1 run matches, page 1 of 1")
    );
    assert!(
        valid.contains("first anomaly</th>") && valid.contains("<td class=\"num anomaly\">—</td>"),
        "the first-anomaly column says none for a valid run"
    );
    assert!(!lists(running, &run_name), "running drops the finished run");

    let frame = tag_of_id(finished, "report").expect("the report frame");
    assert!(
        frame.contains("data-loaded=\"true\""),
        "the report loaded into its frame: {frame}"
    );
    let reproduce = text_content_of_id(finished, "reproduce").expect("the reproduce line");
    let schedule = run.join("schedule.yaml");
    let store_root = std::fs::canonicalize(&store).unwrap();
    assert_eq!(
        reproduce,
        format!(
            "faultline run {} --seed 3 --store {} {}",
            schedule.display(),
            store_root.display(),
            NODE_ARGS.join(" ")
        )
    );
    assert!(schedule.is_file(), "the reproduce line's schedule exists");
    assert_eq!(text_of_id(finished, "stat-first-anomaly"), Some("none"));

    let figures: Vec<&str> = report
        .split("<figure>")
        .skip(1)
        .filter(|f| f.trim_start().starts_with("<svg"))
        .collect();
    assert!(
        figures.len() >= 2,
        "the report has its latency and throughput charts: {} svg figures",
        figures.len()
    );
    for f in &figures[..2] {
        let drawn = f.matches("<circle").count()
            + f.matches("<rect").count()
            + f.matches("<polyline").count()
            + f.matches("<path").count();
        assert!(drawn > 10, "a chart with data drawn in it: {drawn} shapes");
    }
    for heading in ["Latency", "Throughput"] {
        assert!(
            report.contains(&format!("<h2>{heading}</h2>")),
            "the report has its {heading} section"
        );
    }
    assert!(
        campaigns.contains(&run_name),
        "the campaigns grid links the run"
    );
    let summary = text_of_id(diff, "diff-summary").expect("the diff summary");
    assert!(
        summary.ends_with("0 lines added, 0 removed"),
        "a run against itself: {summary}"
    );
    let (status, _) = get(&served.addr, "/campaigns");
    assert_eq!(status, 200);

    kill(Pid::from_raw(served.child.id() as i32), Signal::SIGINT).expect("SIGINT");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = served.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "faultline run did not exit on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0), "the valid run's exit code");
}
