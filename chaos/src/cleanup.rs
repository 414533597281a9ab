//! Cleaning up after a controller that could not clean up itself, and shutdown signals.
//!
//! Node processes never outlive the controller (`PR_SET_PDEATHSIG`, see
//! [`crate::supervisor`]), but network namespaces do: a controller killed with SIGKILL
//! leaves its `fl-<runid>-*` namespaces (and the nft tables inside them) behind.
//! [`cleanup_stale`] (the `faultline cleanup` command) removes them. A run id is
//! `<controller pid in hex>x<seq>` ([`crate::cluster::new_run_id`]), so leftovers of a
//! controller that is still alive are recognised and kept unless `force` is given.
//! Host-namespace nft tables named `fl-*` are removed too, should any exist, and so are
//! the clock files of clock faults ([`crate::clock`]; they move no clock once their nodes
//! are dead, but they are the controller's leftovers).
//!
//! faultfs mounts (every data dir of a `lose_unfsynced` schedule, [`crate::disk::mount`])
//! unmount themselves when the controller dies (their daemon's parent-death signal is
//! SIGTERM); a daemon killed with SIGKILL leaves a dead mount, which `cleanup_stale`
//! detaches wherever it is (a mount whose daemon still answers is kept, even with `force`:
//! it belongs to a live run, perhaps another user's), and removes the control sockets of
//! dead controllers.
//!
//! [`ShutdownSignals`] catches Ctrl-C (SIGINT) and SIGTERM, so that the runner can heal
//! every fault and shut the cluster down instead of dying with faults in place.

use std::time::Duration;

use crate::supervisor::{SupervisorError, run_tool};

const TOOL_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`cleanup_stale`] removed and kept.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanupReport {
    /// Namespaces deleted.
    pub namespaces_removed: Vec<String>,
    /// Host nft tables deleted (`family name`).
    pub nft_tables_removed: Vec<String>,
    /// faultline namespaces kept because their controller is still running.
    pub kept_live: Vec<String>,
    /// faultfs mounts detached because their daemon is dead.
    pub mounts_detached: Vec<String>,
    /// faultfs mounts kept because their daemon still answers.
    pub mounts_kept_live: Vec<String>,
    /// faultfs control sockets (`$TMPDIR/fl-<run id>-<node>.faultfs.sock`) of dead
    /// controllers, removed.
    pub sockets_removed: Vec<String>,
    /// Clock-fault directories (`fl-<run id>` under [`crate::clock::CLOCK_ROOT`]) deleted.
    pub clock_dirs_removed: Vec<String>,
}

/// Errors of cleanup.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("cleanup needs root to remove namespaces (effective uid {0})")]
    NotRoot(u32),
    #[error(transparent)]
    Tool(#[from] SupervisorError),
    #[error("faultfs mounts: {0}")]
    Mounts(std::io::Error),
    #[error("removing clock files under /tmp/faultline-clock: {0}")]
    ClockFiles(std::io::Error),
}

/// The controller pid encoded in a faultline namespace or table name (`fl-<pid hex>x<seq>...`).
pub fn controller_pid_of(name: &str) -> Option<u32> {
    let run_id = name.strip_prefix("fl-")?;
    let (pid_hex, _) = run_id.split_once('x')?;
    u32::from_str_radix(pid_hex, 16).ok()
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether a leftover named `name` belongs to a dead controller (or `force` is set).
fn is_stale(name: &str, force: bool) -> bool {
    force || controller_pid_of(name).is_none_or(|pid| !process_alive(pid))
}

/// Removes namespaces and host nft tables whose names start with `fl-` and whose controller
/// is gone (all of them with `force`). Without `ip` there can be no namespaces of ours and
/// without `nft` no tables: both are skipped then.
pub fn cleanup_stale(force: bool) -> Result<CleanupReport, CleanupError> {
    let uid = nix::unistd::geteuid().as_raw();
    if uid != 0 {
        return Err(CleanupError::NotRoot(uid));
    }
    let mut report = CleanupReport::default();
    let mounts = faultfs::cleanup_stale_mounts(std::path::Path::new("/"), false)
        .map_err(CleanupError::Mounts)?;
    report.mounts_detached = mounts
        .detached
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    report.mounts_kept_live = mounts
        .kept_live
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    report.sockets_removed = remove_stale_sockets(&std::env::temp_dir(), force)?;
    if let Ok(listing) = run_tool("ip", &["netns", "list"], None, TOOL_TIMEOUT) {
        for name in namespace_names(&listing) {
            if !name.starts_with("fl-") {
                continue;
            }
            if is_stale(&name, force) {
                run_tool("ip", &["netns", "del", &name], None, TOOL_TIMEOUT)?;
                report.namespaces_removed.push(name);
            } else {
                report.kept_live.push(name);
            }
        }
    }
    if let Ok(listing) = run_tool("nft", &["list", "tables"], None, TOOL_TIMEOUT) {
        for (family, name) in nft_table_names(&listing) {
            if name.starts_with("fl-") && is_stale(&name, force) {
                run_tool(
                    "nft",
                    &["delete", "table", &family, &name],
                    None,
                    TOOL_TIMEOUT,
                )?;
                report.nft_tables_removed.push(format!("{family} {name}"));
            }
        }
    }
    report.clock_dirs_removed =
        crate::clock::cleanup_stale_dirs(std::path::Path::new(crate::clock::CLOCK_ROOT), |name| {
            is_stale(name, force)
        })
        .map_err(CleanupError::ClockFiles)?;
    Ok(report)
}

/// Removes `fl-<run id>-<node>.faultfs.sock` files in `dir` whose controller is gone.
fn remove_stale_sockets(dir: &std::path::Path, force: bool) -> Result<Vec<String>, CleanupError> {
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(CleanupError::Mounts(e)),
    };
    for entry in entries {
        let entry = entry.map_err(CleanupError::Mounts)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("fl-") && name.ends_with(".faultfs.sock") && is_stale(&name, force) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed.push(entry.path().display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CleanupError::Mounts(e)),
            }
        }
    }
    Ok(removed)
}

/// Names from `ip netns list` output (`name` or `name (id: 3)` per line).
fn namespace_names(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// (family, name) pairs from `nft list tables` output (`table inet name` per line).
fn nft_table_names(listing: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("table"), Some(family), Some(name)) => {
                    Some((family.to_string(), name.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

/// SIGINT (Ctrl-C) and SIGTERM, caught from the moment of [`ShutdownSignals::install`]
/// (install before anything that must be undone is started, so no signal is missed).
pub struct ShutdownSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Replaces the default (dying) action of SIGINT and SIGTERM. Needs a tokio runtime.
    pub fn install() -> std::io::Result<ShutdownSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves when either signal arrives; returns its name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_controller_pid_in_names() {
        assert_eq!(controller_pid_of("fl-1a2bx0-n1"), Some(0x1a2b));
        assert_eq!(controller_pid_of("fl-1a2bx3-hub"), Some(0x1a2b));
        assert_eq!(controller_pid_of("fl-1a2bx3"), Some(0x1a2b));
        assert_eq!(controller_pid_of("other-ns"), None);
        assert_eq!(controller_pid_of("fl-nopid"), None);
    }

    #[test]
    fn leftovers_of_a_live_controller_are_kept() {
        let me = format!("fl-{:x}x0-n1", std::process::id());
        assert!(!is_stale(&me, false));
        assert!(is_stale(&me, true));
        // pid 0x7fffffff does not exist.
        assert!(is_stale("fl-7fffffffx0-n1", false));
    }

    #[test]
    fn parses_tool_listings() {
        assert_eq!(
            namespace_names("fl-1x0-n1 (id: 3)\nfl-1x0-hub\n"),
            vec!["fl-1x0-n1", "fl-1x0-hub"]
        );
        assert_eq!(
            nft_table_names("table inet filter\ntable ip fl-1x0\n"),
            vec![
                ("inet".to_string(), "filter".to_string()),
                ("ip".to_string(), "fl-1x0".to_string())
            ]
        );
    }
}
