//! Shared by faultfs's integration tests: a real faultfs mount in a temp dir (the
//! `faultfs` binary as its own process), and the tool check.
//!
//! Tests need `/dev/fuse`, `fusermount3` (Debian's `fuse3`) and root. Without them they
//! fail under `CI=true` and skip locally with a printed reason.

#![allow(dead_code)] // each test binary uses a different part

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faultfs::control::{self, Request, Response};

/// Fails under CI, else prints why the test is skipped.
pub fn tool_missing(reason: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and a required tool is missing: {reason}"
    );
    println!("skipped: {reason}");
}

/// Why FUSE cannot be mounted here, if it cannot.
pub fn fuse_unavailable() -> Option<String> {
    faultfs::mounts::unavailable_reason()
}

/// A mounted faultfs over a fresh backing dir; unmounted (SIGTERM) on drop.
pub struct Mounted {
    pub dir: tempfile::TempDir,
    pub backing: PathBuf,
    pub mount: PathBuf,
    pub control: PathBuf,
    child: Option<Child>,
}

impl Mounted {
    /// Mounts, or returns `None` after `tool_missing` when FUSE is unavailable.
    pub fn start() -> Option<Mounted> {
        Mounted::start_with(256)
    }

    /// As [`Mounted::start`] with another dirty page budget.
    pub fn start_with_budget(max_dirty_mb: u64) -> Option<Mounted> {
        Mounted::start_with(max_dirty_mb)
    }

    fn start_with(max_dirty_mb: u64) -> Option<Mounted> {
        if let Some(reason) = fuse_unavailable() {
            tool_missing(&reason);
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("faultfs-test-")
            .tempdir()
            .expect("temp dir");
        let args = faultfs::daemon::Args {
            backing: dir.path().join("backing"),
            mount: dir.path().join("mount"),
            control: dir.path().join("control.sock"),
            max_dirty_mb,
        };
        std::fs::create_dir(&args.backing).expect("backing dir");
        std::fs::create_dir(&args.mount).expect("mount dir");
        let log = File::create(dir.path().join("faultfs.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_faultfs"))
            .args(args.to_command_args())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn faultfs");
        let faultfs::daemon::Args {
            backing,
            mount,
            control,
            ..
        } = args;
        let mut mounted = Mounted {
            dir,
            backing,
            mount,
            control,
            child: Some(child),
        };
        if let Err(error) = control::wait_ready(&mounted.control, Duration::from_secs(20)) {
            let log =
                std::fs::read_to_string(mounted.dir.path().join("faultfs.log")).unwrap_or_default();
            mounted.stop();
            panic!("faultfs did not come up: {error}\n{log}");
        }
        Some(mounted)
    }

    /// A path inside the mount.
    pub fn path(&self, name: &str) -> PathBuf {
        self.mount.join(name)
    }

    /// The same path in the backing dir.
    pub fn backing_path(&self, name: &str) -> PathBuf {
        self.backing.join(name)
    }

    /// Forgets every unfsynced write; returns the daemon's answer.
    pub fn lose_unfsynced(&self) -> Response {
        control::request(
            &self.control,
            Request::LoseUnfsynced,
            Duration::from_secs(20),
        )
        .expect("lose-unfsynced")
    }

    /// The daemon's counters.
    pub fn status(&self) -> Response {
        control::request(&self.control, Request::Status, Duration::from_secs(20)).expect("status")
    }

    /// The daemon's process id.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Waits for the daemon after a signal was sent to it (SIGKILL after 10 s).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                return child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, wait, and detach whatever mount is left.
    pub fn stop(&mut self) {
        if let Some(child) = &self.child {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            self.wait_exit();
        }
        // The daemon is gone: whatever is mounted under our dir is stale, whether or not
        // it already fails with ENOTCONN (forced, so a slow stat under load cannot keep it).
        faultfs::cleanup_stale_mounts(self.dir.path(), true).expect("cleanup of stale mounts");
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a faultfs mount is at `mount_point`.
pub fn is_mounted(mount_point: &Path) -> bool {
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    faultfs::mounts::parse_mountinfo(&text)
        .iter()
        .any(|m| m.is_faultfs() && m.mount_point == mount_point)
}
