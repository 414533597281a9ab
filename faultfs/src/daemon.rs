//! The mount daemon: mounts a [`FaultFs`] over a backing directory, serves the control
//! socket, and unmounts on SIGTERM, SIGINT or SIGHUP (SIGTERM is also its parent-death
//! signal, so it goes away with the controller that started it).
//!
//! Why a process of its own: a FUSE filesystem whose server is the controller would hang
//! every node touching its data dir the moment the controller stopped (a SIGSTOP, a
//! debugger, a panic while a node waits on a read); a separate process lives and dies on
//! its own. A daemon killed with SIGKILL leaves a dead mount: `mounts::cleanup_stale_mounts`.

use std::io;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use fuser::{Config, MountOption, SessionACL};
use nix::sys::signal::{SigSet, Signal};

use crate::control;
use crate::fs::{FaultFs, State};

/// Command-line arguments of the daemon (`faultfs` binary; the same struct can back a
/// hidden `faultline faultfs` subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The directory whose files the filesystem serves (and writes to on fsync).
    #[arg(long)]
    pub backing: PathBuf,
    /// Where to mount (an existing, empty directory).
    #[arg(long)]
    pub mount: PathBuf,
    /// The control socket's path (created once mounted; removed on exit).
    #[arg(long)]
    pub control: PathBuf,
    /// Dirty page budget of the whole filesystem; past it every cache is written back
    /// without fsync (and then survives a loss). See the crate docs.
    #[arg(long, default_value_t = 256)]
    pub max_dirty_mb: u64,
}

impl Args {
    /// The daemon's command-line arguments for these settings (for whoever spawns it:
    /// the tests, the bench, the controller through its process spawner).
    pub fn to_command_args(&self) -> Vec<std::ffi::OsString> {
        vec![
            "--backing".into(),
            self.backing.clone().into(),
            "--mount".into(),
            self.mount.clone().into(),
            "--control".into(),
            self.control.clone().into(),
            "--max-dirty-mb".into(),
            self.max_dirty_mb.to_string().into(),
        ]
    }
}

/// Failures of the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// Mounts, serves until a termination signal, unmounts. Call from the main thread before
/// any other thread exists (the signal mask is inherited by the threads it starts).
pub fn run(args: &Args) -> Result<(), DaemonError> {
    let signals: SigSet = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP]
        .into_iter()
        .collect();
    signals
        .thread_block()
        .map_err(|e| io_err("blocking signals")(e.into()))?;
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)
        .map_err(|e| io_err("PR_SET_PDEATHSIG")(e.into()))?;
    if nix::unistd::getppid().as_raw() == 1 {
        // The parent died before the death signal was armed.
        tracing::warn!("parent already gone: not mounting");
        return Ok(());
    }

    let backing = args
        .backing
        .canonicalize()
        .map_err(io_err(format!("backing dir {}", args.backing.display())))?;
    // Absolute: fusermount3's auto-unmount helper runs in `/`.
    let mount = args
        .mount
        .canonicalize()
        .map_err(io_err(format!("mount point {}", args.mount.display())))?;
    let state = State::new(&backing, args.max_dirty_mb * 1024 * 1024)
        .map_err(io_err(format!("backing dir {}", backing.display())))?;
    let fs = FaultFs::new(state);
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("faultfs".into()),
        MountOption::Subtype("faultfs".into()),
        MountOption::DefaultPermissions,
    ];
    config.acl = SessionACL::All;
    let session = fuser::spawn_mount(fs.clone(), &mount, &config)
        .map_err(io_err(format!("mounting on {}", mount.display())))?;
    let notifier = session.notifier();

    if args.control.exists() {
        std::fs::remove_file(&args.control)
            .map_err(io_err(format!("stale socket {}", args.control.display())))?;
    }
    let listener = UnixListener::bind(&args.control)
        .map_err(io_err(format!("control socket {}", args.control.display())))?;
    std::thread::Builder::new()
        .name("faultfs-control".into())
        .spawn(move || control::serve(listener, fs, notifier))
        .map_err(io_err("control thread"))?;
    tracing::info!(backing = %backing.display(), mount = %mount.display(), control = %args.control.display(), "mounted");

    let signal = signals
        .wait()
        .map_err(|e| io_err("waiting for a signal")(e.into()))?;
    tracing::info!(?signal, "unmounting");
    let _ = std::fs::remove_file(&args.control);
    match session.umount_and_join() {
        Ok(()) => Ok(()),
        Err(error) => {
            // Busy (a process still has a file or its cwd inside): detach lazily, so the
            // mount leaves the namespace now; our exit ends the connection for the rest.
            tracing::warn!(%error, "unmount failed: detaching lazily");
            nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH)
                .map_err(|e| io_err(format!("unmounting {} ({error})", mount.display()))(e.into()))
        }
    }
}
