//! Finding and removing faultfs mounts left behind by a daemon that could not unmount
//! (for `faultline cleanup` after a SIGKILL of the controller).
//!
//! A faultfs mount has the source `faultfs` and the filesystem type `fuse` (mounted by
//! root directly) or `fuse.faultfs` (mounted through `fusermount3`) in
//! `/proc/self/mountinfo`. The daemon unmounts on SIGTERM, SIGINT and SIGHUP (SIGTERM is
//! its parent-death signal); a daemon killed with SIGKILL leaves its mount behind, dead
//! ("Transport endpoint is not connected"). [`cleanup_stale_mounts`] detaches those
//! lazily, and keeps the mounts whose daemon still answers (another controller's run)
//! unless forced. (fuser's `auto_unmount`, a `fusermount3` helper that unmounts when the
//! daemon dies, did not unmount on this machine's kernel and fuse3, so it is not used.)

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// The mount source (`fsname`) of every faultfs mount.
pub const SOURCE: &str = "faultfs";

/// One line of mountinfo, the fields we need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub source: String,
}

impl MountEntry {
    /// Whether this is a faultfs mount.
    pub fn is_faultfs(&self) -> bool {
        self.source == SOURCE && (self.fs_type == "fuse" || self.fs_type == "fuse.faultfs")
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/*/mountinfo` text; lines it cannot read are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let separator = fields.iter().position(|&f| f == "-")?;
            let mount_point = fields.get(4)?;
            let fs_type = fields.get(separator + 1)?;
            let source = fields.get(separator + 2)?;
            Some(MountEntry {
                mount_point: PathBuf::from(unescape(mount_point)),
                fs_type: unescape(fs_type),
                source: unescape(source),
            })
        })
        .collect()
}

/// The faultfs mounts at or under `prefix`, deepest first.
pub fn faultfs_mounts_under(text: &str, prefix: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = parse_mountinfo(text)
        .into_iter()
        .filter(|m| m.is_faultfs() && m.mount_point.starts_with(prefix))
        .map(|m| m.mount_point)
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// Why faultfs cannot be mounted on this machine, if it cannot: no `/dev/fuse`, no
/// `fusermount3` on PATH (Debian's `fuse3`), or not root. For tests that need a mount.
pub fn unavailable_reason() -> Option<String> {
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse does not exist".into());
    }
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join("fusermount3").exists()))
        .unwrap_or(false);
    if !found {
        return Some("fusermount3 not found (Debian package fuse3)".into());
    }
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    None
}

/// The faultfs mount points at or under `prefix` now, deepest first (from
/// `/proc/self/mountinfo`).
pub fn mounted_under(prefix: &Path) -> io::Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(faultfs_mounts_under(&text, prefix))
}

/// What [`cleanup_stale_mounts`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountCleanup {
    /// Mount points detached.
    pub detached: Vec<PathBuf>,
    /// Mount points left alone because their daemon still answers.
    pub kept_live: Vec<PathBuf>,
}

/// How long a mount point may take to answer `stat` before it counts as live (a daemon
/// that is alive but stopped never answers; only a dead one fails at once).
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the daemon behind `mount_point` is gone: `stat` fails with ENOTCONN.
fn is_dead(mount_point: &Path) -> bool {
    let (tx, rx) = mpsc::channel();
    let path = mount_point.to_path_buf();
    // A stat of a stopped daemon's mount blocks: the thread is left behind then.
    let spawned = std::thread::Builder::new()
        .name("faultfs-liveness".into())
        .spawn(move || {
            let dead = std::fs::metadata(&path)
                .err()
                .and_then(|e| e.raw_os_error())
                == Some(libc::ENOTCONN);
            let _ = tx.send(dead);
        });
    spawned.is_ok() && rx.recv_timeout(LIVENESS_TIMEOUT).unwrap_or(false)
}

/// Lazily unmounts every faultfs mount at or under `prefix` whose daemon is dead (all of
/// them with `force`): `umount2(MNT_DETACH)`, or `fusermount3 -u -z` when not permitted.
pub fn cleanup_stale_mounts(prefix: &Path, force: bool) -> io::Result<MountCleanup> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut report = MountCleanup::default();
    for mount_point in faultfs_mounts_under(&text, prefix) {
        if force || is_dead(&mount_point) {
            detach(&mount_point)?;
            report.detached.push(mount_point);
        } else {
            report.kept_live.push(mount_point);
        }
    }
    Ok(report)
}

fn detach(mount_point: &Path) -> io::Result<()> {
    match nix::mount::umount2(mount_point, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EPERM) => {
            let status = Command::new("fusermount3")
                .arg("-u")
                .arg("-z")
                .arg(mount_point)
                .status()?;
            if status.success() {
                Ok(())
            } else {
                Err(io::Error::other(format!(
                    "fusermount3 -u -z {}: {status}",
                    mount_point.display()
                )))
            }
        }
        Err(errno) => Err(io::Error::new(
            io::Error::from(errno).kind(),
            format!("umount2 {}: {errno}", mount_point.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
90 22 0:50 / /tmp/run/n1\\040data rw,nosuid,nodev,relatime shared:40 - fuse.faultfs faultfs rw,user_id=0,group_id=0,allow_other
91 22 0:51 / /tmp/run/n1/inner rw shared:41 - fuse faultfs rw
94 22 0:54 / /tmp/run/n2 rw shared:44 - fuse other rw
92 22 0:52 / /tmp/run/other rw shared:42 - fuse.sshfs host: rw
93 22 0:53 / /tmp/elsewhere rw shared:43 - fuse.faultfs faultfs rw
bad line
";

    #[test]
    fn mountinfo_fields_and_escapes() {
        let entries = parse_mountinfo(SAMPLE);
        assert_eq!(entries.len(), 6);
        assert_eq!(entries[1].mount_point, PathBuf::from("/tmp/run/n1 data"));
        assert!(entries[1].is_faultfs() && entries[2].is_faultfs());
        assert!(!entries[3].is_faultfs(), "another fuse filesystem");
        assert_eq!(entries[4].fs_type, "fuse.sshfs");
    }

    #[test]
    fn only_faultfs_mounts_under_the_prefix_deepest_first() {
        assert_eq!(
            faultfs_mounts_under(SAMPLE, Path::new("/tmp/run")),
            vec![
                PathBuf::from("/tmp/run/n1/inner"),
                PathBuf::from("/tmp/run/n1 data")
            ]
        );
        assert!(faultfs_mounts_under(SAMPLE, Path::new("/nowhere")).is_empty());
    }
}
