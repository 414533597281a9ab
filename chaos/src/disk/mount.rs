//! Every node's data dir on faultfs: one daemon per node, started, asked to lose what was not
//! fsynced, and unmounted.
//!
//! Node `id`'s data dir `data/<id>` is the mount point; the files really live in the
//! backing dir `data/<id>.disk` (kept as evidence with the rest of `data/` when a run is not
//! valid). The control socket is `$TMPDIR/fl-<run id>-<id>.faultfs.sock` (a Unix socket path
//! must stay under 108 bytes, which a store path may not); its `fl-<run id>` prefix lets
//! `faultline cleanup` tell a dead controller's sockets ([`crate::cleanup`]).
//!
//! Each daemon is `faultline faultfs ...` ([`super::FaultfsProgram`]), started through a
//! [`Supervisor`] of its own (the one process spawner; its own process group, so Ctrl-C on
//! the terminal goes to the controller only). The daemon replaces the spawner's
//! parent-death SIGKILL by SIGTERM, on which it unmounts: when the controller is killed with
//! SIGKILL its daemons unmount themselves (lazily when a dying node still holds a file).
//!
//! [`Faultfs::unmount_all`] (from [`crate::cluster::Cluster::shutdown`], after the nodes
//! were killed; and from `Drop`, which also runs on a panic) sends SIGTERM, waits up to
//! [`UNMOUNT_TIMEOUT_MS`] for the daemon to exit, SIGKILLs it if it did not, and then
//! detaches whatever faultfs mount is still at or under the mount point, so that no mount
//! is left behind whatever the daemon did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde::Serialize;

use super::{DiskError, FaultfsProgram, io_error};
use crate::supervisor::{NodeControl, NodeSpec, NodeState, Supervisor};

/// How long a daemon may take to mount (its control socket answering).
pub const MOUNT_TIMEOUT_MS: u64 = 10_000;
/// How long a daemon may take to unmount and exit after SIGTERM.
pub const UNMOUNT_TIMEOUT_MS: u64 = 5_000;
/// How long a `lose-unfsynced` request may take.
pub const CONTROL_TIMEOUT_MS: u64 = 10_000;
/// Each daemon's dirty page budget (see the faultfs crate: past it, data is written back
/// without fsync and survives a loss, which the loss report's `writeback_bytes` shows).
pub const MAX_DIRTY_MB: u64 = 256;

/// What one `lose-unfsynced` forgot (the nemesis event's value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LossReport {
    /// Files whose unfsynced data or size was forgotten.
    pub files: u64,
    /// Dirty bytes forgotten.
    pub dirty_bytes: u64,
    /// Bytes the daemon had to write back without fsync since it mounted (its dirty budget
    /// was exceeded): those survived the loss, so a non-zero value means a weakened fault.
    pub writeback_bytes: u64,
}

struct Daemon {
    mount: PathBuf,
    control: PathBuf,
    log: PathBuf,
}

/// The faultfs mounts of one cluster. See the module docs.
pub struct Faultfs {
    daemons: BTreeMap<String, Daemon>,
    supervisor: Supervisor,
}

fn daemon_id(node: &str) -> String {
    format!("faultfs-{node}")
}

impl Faultfs {
    /// Mounts `data_root/<id>` over `data_root/<id>.disk` for every node id, with daemon
    /// logs in `log_dir/faultfs-<id>.log`; returns once every mount is up.
    pub fn mount(
        program: &FaultfsProgram,
        run_id: &str,
        ids: &[String],
        data_root: &Path,
        log_dir: &Path,
    ) -> Result<Faultfs, DiskError> {
        let supervisor = Supervisor::new().map_err(|source| DiskError::Daemon {
            id: "<spawner>".into(),
            source,
        })?;
        let mut faultfs = Faultfs {
            daemons: BTreeMap::new(),
            supervisor,
        };
        for id in ids {
            let mount = data_root.join(id);
            let backing = data_root.join(format!("{id}.disk"));
            // Absolute and resolved, as /proc/self/mountinfo names it (for the unmount).
            let mount = create_private_dir(&mount)?;
            let backing = create_private_dir(&backing)?;
            let control = std::env::temp_dir().join(format!("fl-{run_id}-{id}.faultfs.sock"));
            let log = log_dir.join(format!("{}.log", daemon_id(id)));
            let settings = faultfs::daemon::Args {
                backing,
                mount: mount.clone(),
                control: control.clone(),
                max_dirty_mb: MAX_DIRTY_MB,
            };
            let mut args = program.args_prefix.clone();
            for arg in settings.to_command_args() {
                args.push(arg.into_string().map_err(|arg| DiskError::Io {
                    context: format!("faultfs argument {arg:?}"),
                    source: std::io::Error::other("not UTF-8"),
                })?);
            }
            // Registered before it starts, so that a failure below still unmounts it.
            faultfs.daemons.insert(
                id.clone(),
                Daemon {
                    mount,
                    control,
                    log: log.clone(),
                },
            );
            faultfs
                .supervisor
                .start(NodeSpec {
                    id: daemon_id(id),
                    program: program.program.clone(),
                    args,
                    log_path: log,
                    netns: None,
                })
                .map_err(|source| DiskError::Daemon {
                    id: id.clone(),
                    source,
                })?;
        }
        for id in ids {
            faultfs.wait_mounted(id)?;
        }
        Ok(faultfs)
    }

    fn daemon(&self, id: &str) -> Result<&Daemon, DiskError> {
        self.daemons
            .get(id)
            .ok_or_else(|| DiskError::NotMountedNode(id.to_string()))
    }

    /// Waits until the daemon of `id` answers on its control socket (it binds the socket
    /// only once mounted), failing at once if it exits.
    fn wait_mounted(&mut self, id: &str) -> Result<(), DiskError> {
        let deadline = Instant::now() + Duration::from_millis(MOUNT_TIMEOUT_MS);
        let control = self.daemon(id)?.control.clone();
        while Instant::now() < deadline {
            let status = faultfs::control::request(
                &control,
                faultfs::control::Request::Status,
                Duration::from_millis(CONTROL_TIMEOUT_MS),
            );
            if status.is_ok() {
                return Ok(());
            }
            let state =
                self.supervisor
                    .state(&daemon_id(id))
                    .map_err(|source| DiskError::Daemon {
                        id: id.to_string(),
                        source,
                    })?;
            if matches!(state, NodeState::Exited(_)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let daemon = self.daemon(id)?;
        Err(DiskError::NotMounted {
            id: id.to_string(),
            mount: daemon.mount.clone(),
            timeout_ms: MOUNT_TIMEOUT_MS,
            log: daemon.log.clone(),
        })
    }

    /// The mount point of node `id`'s data dir.
    pub fn mount_point(&self, id: &str) -> Option<&Path> {
        self.daemons.get(id).map(|d| d.mount.as_path())
    }

    /// Forgets everything node `id` wrote and did not fsync. Call with the node stopped:
    /// the answer comes once faultfs's and the kernel's caches of the files are dropped.
    pub fn lose_unfsynced(&self, id: &str) -> Result<LossReport, DiskError> {
        let daemon = self.daemon(id)?;
        let response = faultfs::control::request(
            &daemon.control,
            faultfs::control::Request::LoseUnfsynced,
            Duration::from_millis(CONTROL_TIMEOUT_MS),
        )
        .map_err(io_error(format!("lose-unfsynced of {id}'s faultfs")))?;
        let loss = response.loss.unwrap_or_default();
        Ok(LossReport {
            files: loss.files,
            dirty_bytes: loss.dirty_bytes,
            writeback_bytes: response.stats.writeback_bytes,
        })
    }

    /// Unmounts every node's data dir (see the module docs); reports the first error after
    /// trying all. Call after the nodes were killed.
    pub fn unmount_all(&mut self) -> Result<(), DiskError> {
        let ids: Vec<String> = self.daemons.keys().cloned().collect();
        let mut first_error = None;
        for id in ids {
            if let Err(error) = self.unmount(&id) {
                tracing::warn!(node = %id, %error, "unmounting faultfs failed");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn unmount(&mut self, id: &str) -> Result<(), DiskError> {
        let Some(daemon) = self.daemons.remove(id) else {
            return Ok(());
        };
        let sup_id = daemon_id(id);
        let daemon_error = |source| DiskError::Daemon {
            id: id.to_string(),
            source,
        };
        if let Some(pid) = self.supervisor.pid(&sup_id) {
            // ESRCH: it is gone already (it is reaped below).
            let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_millis(UNMOUNT_TIMEOUT_MS);
            loop {
                let state = self.supervisor.state(&sup_id).map_err(daemon_error)?;
                if matches!(state, NodeState::Exited(_) | NodeState::Down) {
                    break;
                }
                if Instant::now() >= deadline {
                    tracing::warn!(node = %id, "faultfs daemon did not exit after SIGTERM: SIGKILL");
                    self.supervisor.kill(&sup_id).map_err(daemon_error)?;
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        // Whatever the daemon managed, no mount stays (its daemon is gone: force).
        faultfs::cleanup_stale_mounts(&daemon.mount, true)
            .map_err(io_error(format!("detaching {}", daemon.mount.display())))?;
        match std::fs::remove_file(&daemon.control) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(format!("removing {}", daemon.control.display()))(
                e,
            )),
        }
    }
}

impl Drop for Faultfs {
    fn drop(&mut self) {
        if let Err(error) = self.unmount_all() {
            tracing::error!(%error, "dropping the faultfs mounts: not every one was unmounted");
        }
    }
}

/// Creates `dir` (mode 700, as databases want their data) and returns its canonical path.
fn create_private_dir(dir: &Path) -> Result<PathBuf, DiskError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(io_error(format!("creating {}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io_error(format!("chmod 700 {}", dir.display())))?;
    dir.canonicalize()
        .map_err(io_error(format!("resolving {}", dir.display())))
}
