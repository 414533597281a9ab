//! The progress line of a run: elapsed time, ops/s, ok/fail/info counts, active faults.
//!
//! On a terminal it is an indicatif bar redrawn a few times a second; otherwise (CI logs,
//! pipes) a plain line every [`PLAIN_EVERY`], so that logs stay readable.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;
use workloads::stats::LiveStats;

use crate::nemesis::ActiveFaults;

/// How often the plain (non-terminal) progress line is printed.
pub const PLAIN_EVERY: Duration = Duration::from_secs(10);
const BAR_TICK: Duration = Duration::from_millis(250);

/// A running progress display; [`Progress::finish`] stops it.
pub struct Progress {
    task: Option<JoinHandle<()>>,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts the display (`enabled` false: nothing is shown).
    pub fn start(
        enabled: bool,
        run_length: Duration,
        stats: Arc<LiveStats>,
        active: ActiveFaults,
    ) -> Progress {
        if !enabled {
            return Progress {
                task: None,
                bar: None,
            };
        }
        let terminal = std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(run_length.as_secs().max(1));
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar
        });
        let task_bar = bar.clone();
        let task = tokio::spawn(async move {
            let every = if task_bar.is_some() {
                BAR_TICK
            } else {
                PLAIN_EVERY
            };
            let mut ticker = tokio::time::interval(every);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let line = status_line(&stats, &active);
                match &task_bar {
                    Some(bar) => {
                        bar.set_position(stats.snapshot().elapsed_ms / 1000);
                        bar.set_message(line);
                    }
                    None => eprintln!("{line}"),
                }
            }
        });
        Progress {
            task: Some(task),
            bar,
        }
    }

    /// Stops the display and clears the bar.
    pub fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

fn status_line(stats: &LiveStats, active: &ActiveFaults) -> String {
    let snap = stats.snapshot();
    let faults = active.lock().unwrap_or_else(|p| p.into_inner()).join("; ");
    format!(
        "{:>5.1}s {:>5} ops/s  ok {} fail {} info {}  faults: {}",
        snap.elapsed_ms as f64 / 1000.0,
        snap.completions_last_second,
        snap.oks,
        snap.fails,
        snap.infos,
        if faults.is_empty() { "none" } else { &faults }
    )
}
