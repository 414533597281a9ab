//! Clock faults: a node's view of the wall clock moves, the machine's does not.
//!
//! # The mechanism: libfaketime, one control file per node
//!
//! When a schedule has a `clock:` fault, every node of the run starts under Debian's
//! libfaketime ([`LIBFAKETIME`], package `libfaketime`, pulled in by `faketime`): its
//! command becomes `/usr/bin/env LD_PRELOAD=... FAKETIME_TIMESTAMP_FILE=<file> ... program
//! args`, so the preload reaches the node itself (and whatever it execs) and nothing else.
//! The file, `<`[`CLOCK_ROOT`]`>/fl-<run id>/<node>.rc`, holds the node's offset in
//! libfaketime's relative syntax (`+0.000`, `+5.000`, `-0.200`); with `FAKETIME_NO_CACHE=1`
//! libfaketime reads it on every wall-clock call, so a new offset takes effect at the node's
//! next call. The controller writes it atomically (a temporary file renamed over it):
//!
//! - `bump: 5s`: the offset becomes +5 s at the fault's start and 0 at its end, so the
//!   node sees its clock leap forward, and leap back when the fault is healed (`-5s` the
//!   other way round);
//! - `strobe: { delta, period }`: a task flips the offset between `+delta` and 0 every
//!   `period` for the fault's window (Jepsen's strobe), then leaves it at 0.
//!
//! Why libfaketime and not a time namespace: a time namespace (Linux 5.6) offsets only
//! CLOCK_MONOTONIC and CLOCK_BOOTTIME, never CLOCK_REALTIME, and its offsets are fixed once
//! the first process enters it; the wall clock is the one that lies in practice (NTP steps,
//! VM migrations, leap smearing), and the one a lease or a TTL trusts by mistake. And
//! `settimeofday` would move the whole machine's clock, every other process's with it.
//!
//! # What moves and what does not
//!
//! - Moved: CLOCK_REALTIME and its relatives read through libc: `clock_gettime(REALTIME)`,
//!   `gettimeofday`, `time`; in Rust `std::time::SystemTime::now()`, in Python `time.time()`.
//! - Not moved: CLOCK_MONOTONIC and CLOCK_BOOTTIME (`FAKETIME_DONT_FAKE_MONOTONIC=1`), so
//!   a Rust `Instant`, tokio's timers, election timeouts and sleeps keep real time. This is
//!   deliberate: a clock fault models a wrong wall clock, and a program right to time its
//!   timeouts monotonically stays right.
//! - Not reached at all: statically linked programs (no dynamic loader, so no preload;
//!   refused when the cluster starts, see [`preload_reaches`]) and Go programs, which read
//!   the time through the vDSO without libc even when dynamically linked (etcd: refused by
//!   the schedule, [`crate::system::System::clock_refusal`]). Setuid programs ignore
//!   LD_PRELOAD too.
//! - libfaketime's shared memory is off (`FAKETIME_DISABLE_SHM=1`), so a node killed with
//!   SIGKILL leaves nothing in `/dev/shm`.
//!
//! Cost: with the file re-read on every call, a wall-clock read costs about 4 us instead of
//! 0.02 us (measured with a C loop of 100k `clock_gettime` calls on a loaded machine); a
//! monotonic read is unchanged. Schedules without clock faults do not preload anything.
//!
//! # Healing
//!
//! Every fault's end writes the offset 0 again; [`Clocks::reset_all`] runs when the
//! cluster heals, and dropping [`Clocks`] stops the strobes and removes the run's
//! directory. After a SIGKILL of the controller its nodes die with it (PR_SET_PDEATHSIG),
//! so a left-over file moves no clock, and `faultline cleanup` removes the directory of
//! every dead controller ([`cleanup_stale_dirs`]).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

/// Debian's libfaketime (package `libfaketime`, installed with `faketime`).
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
/// Where the runs' clock files live, one directory per run (`fl-<run id>`).
pub const CLOCK_ROOT: &str = "/tmp/faultline-clock";
/// The program that sets the preload's environment and execs the node.
pub const ENV_PROGRAM: &str = "/usr/bin/env";

/// Errors of clock control.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error(
        "clock faults need libfaketime at {LIBFAKETIME} (Debian package `faketime`), which was not found"
    )]
    NoLibfaketime,
    #[error(
        "clock faults cannot reach node {id:?}: {program} is not a dynamically linked program, so libfaketime's LD_PRELOAD would be ignored"
    )]
    Static { id: String, program: PathBuf },
    #[error("clock file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("unknown node {0:?}")]
    UnknownNode(String),
}

/// The offset file of one node, and whether a strobe may still write it.
struct NodeClock {
    path: PathBuf,
    /// Held while writing; `true` once the strobe writing this file was stopped.
    write: Arc<Mutex<bool>>,
    strobe: Option<JoinHandle<()>>,
}

/// The clock files of one run's nodes. See the module docs.
pub struct Clocks {
    dir: PathBuf,
    nodes: BTreeMap<String, NodeClock>,
}

/// libfaketime's relative offset syntax for `offset_ms`: `+5.000`, `-0.200`.
pub fn offset_spec(offset_ms: i64) -> String {
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let magnitude = offset_ms.unsigned_abs();
    format!("{sign}{}.{:03}", magnitude / 1000, magnitude % 1000)
}

fn write_offset(path: &Path, offset_ms: i64) -> Result<(), ClockError> {
    let temporary = path.with_extension("rc.tmp");
    let io_error = |source| ClockError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&temporary, format!("{}\n", offset_spec(offset_ms))).map_err(io_error)?;
    std::fs::rename(&temporary, path).map_err(io_error)
}

/// Whether `program` loads libraries through a dynamic loader (an ELF with a PT_INTERP
/// header, or a script, whose interpreter is dynamically linked on any usual system):
/// statically linked ELF programs ignore LD_PRELOAD.
pub fn preload_reaches(program: &Path) -> io::Result<bool> {
    let bytes = std::fs::read(program)?;
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Ok(true);
    }
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let (Some(header_size), Some(count)) = (u16_at(0x36), u16_at(0x38)) else {
        return Ok(false);
    };
    let Some(offset) = bytes
        .get(0x20..0x28)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    else {
        return Ok(false);
    };
    const PT_INTERP: u32 = 3;
    Ok((0..usize::from(count)).any(|i| {
        let at = offset + i * usize::from(header_size);
        bytes
            .get(at..at + 4)
            .is_some_and(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) == PT_INTERP)
    }))
}

impl Clocks {
    /// Creates the run's directory with an offset-0 file per node.
    pub fn create(run_id: &str, ids: &[String]) -> Result<Clocks, ClockError> {
        if !Path::new(LIBFAKETIME).exists() {
            return Err(ClockError::NoLibfaketime);
        }
        let dir = Path::new(CLOCK_ROOT).join(format!("fl-{run_id}"));
        std::fs::create_dir_all(&dir).map_err(|source| ClockError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut clocks = Clocks {
            dir,
            nodes: BTreeMap::new(),
        };
        for id in ids {
            let path = clocks.dir.join(format!("{id}.rc"));
            write_offset(&path, 0)?;
            clocks.nodes.insert(
                id.clone(),
                NodeClock {
                    path,
                    write: Arc::new(Mutex::new(false)),
                    strobe: None,
                },
            );
        }
        Ok(clocks)
    }

    /// The run's directory of clock files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn node(&mut self, id: &str) -> Result<&mut NodeClock, ClockError> {
        self.nodes
            .get_mut(id)
            .ok_or_else(|| ClockError::UnknownNode(id.to_string()))
    }

    /// Node `id`'s command under libfaketime: `env VAR=... program args...`.
    pub fn wrap(
        &self,
        id: &str,
        program: PathBuf,
        args: Vec<String>,
    ) -> Result<(PathBuf, Vec<String>), ClockError> {
        let node = self
            .nodes
            .get(id)
            .ok_or_else(|| ClockError::UnknownNode(id.to_string()))?;
        if !preload_reaches(&program).unwrap_or(true) {
            return Err(ClockError::Static {
                id: id.to_string(),
                program,
            });
        }
        let mut wrapped = vec![
            format!("LD_PRELOAD={LIBFAKETIME}"),
            format!("FAKETIME_TIMESTAMP_FILE={}", node.path.display()),
            "FAKETIME_NO_CACHE=1".to_string(),
            "FAKETIME_DONT_FAKE_MONOTONIC=1".to_string(),
            "FAKETIME_DISABLE_SHM=1".to_string(),
            program.display().to_string(),
        ];
        wrapped.extend(args);
        Ok((PathBuf::from(ENV_PROGRAM), wrapped))
    }

    /// Stops node `id`'s strobe, if any, and sets its offset.
    pub fn set_offset(&mut self, id: &str, offset_ms: i64) -> Result<(), ClockError> {
        let node = self.node(id)?;
        if let Some(strobe) = node.strobe.take() {
            strobe.abort();
        }
        let mut stopped = node.write.lock().unwrap_or_else(|p| p.into_inner());
        *stopped = true;
        write_offset(&node.path, offset_ms)
    }

    /// Flips node `id`'s offset between `+delta` and 0 every `period` until the next
    /// [`Clocks::set_offset`] or [`Clocks::reset_all`] of it. Needs a tokio runtime.
    pub fn start_strobe(
        &mut self,
        id: &str,
        delta: Duration,
        period: Duration,
    ) -> Result<(), ClockError> {
        self.set_offset(id, 0)?;
        let node = self.node(id)?;
        let write = Arc::new(Mutex::new(false));
        node.write = write.clone();
        let path = node.path.clone();
        let delta_ms = i64::try_from(delta.as_millis()).unwrap_or(i64::MAX);
        node.strobe = Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut ahead = false;
            loop {
                ticks.tick().await;
                ahead = !ahead;
                let stopped = write.lock().unwrap_or_else(|p| p.into_inner());
                if *stopped {
                    return;
                }
                if let Err(error) = write_offset(&path, if ahead { delta_ms } else { 0 }) {
                    tracing::error!(%error, "strobing a clock");
                }
            }
        }));
        Ok(())
    }

    /// Every node's offset back to 0, strobes stopped. Reports the first error after
    /// trying every node.
    pub fn reset_all(&mut self) -> Result<(), ClockError> {
        let ids: Vec<String> = self.nodes.keys().cloned().collect();
        let mut outcome = Ok(());
        for id in ids {
            if let Err(error) = self.set_offset(&id, 0)
                && outcome.is_ok()
            {
                outcome = Err(error);
            }
        }
        outcome
    }
}

impl Drop for Clocks {
    fn drop(&mut self) {
        for node in self.nodes.values_mut() {
            if let Some(strobe) = node.strobe.take() {
                strobe.abort();
            }
            *node.write.lock().unwrap_or_else(|p| p.into_inner()) = true;
        }
        if let Err(error) = std::fs::remove_dir_all(&self.dir)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::error!(%error, dir = %self.dir.display(), "removing the clock files");
        }
    }
}

/// Removes the clock directories (`fl-<run id>` under `root`) whose controller is dead
/// (all of them with `force`); returns their names. `is_stale` says whether a name's
/// controller is gone.
pub fn cleanup_stale_dirs(root: &Path, is_stale: impl Fn(&str) -> bool) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("fl-") && is_stale(&name) {
            std::fs::remove_dir_all(entry.path())?;
            removed.push(name);
        }
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_written_in_libfaketimes_relative_syntax() {
        assert_eq!(offset_spec(0), "+0.000");
        assert_eq!(offset_spec(5_000), "+5.000");
        assert_eq!(offset_spec(-200), "-0.200");
        assert_eq!(offset_spec(-90_500), "-90.500");
    }

    #[test]
    fn dynamic_programs_and_scripts_take_the_preload() {
        assert!(preload_reaches(Path::new("/bin/sh")).unwrap());
        let script = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(script.path(), "#!/bin/sh\necho\n").unwrap();
        assert!(preload_reaches(script.path()).unwrap());
        // A minimal static ELF: the header only, no program headers at all.
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[0x36] = 56;
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &elf).unwrap();
        assert!(!preload_reaches(file.path()).unwrap());
    }

    #[test]
    fn cleanup_removes_only_the_stale_run_directories() {
        let root = tempfile::tempdir().unwrap();
        for name in ["fl-1x0", "fl-2x0", "other"] {
            std::fs::create_dir(root.path().join(name)).unwrap();
        }
        let removed = cleanup_stale_dirs(root.path(), |name| name == "fl-1x0").unwrap();
        assert_eq!(removed, vec!["fl-1x0".to_string()]);
        assert!(root.path().join("fl-2x0").exists());
        assert!(root.path().join("other").exists());
        assert_eq!(
            cleanup_stale_dirs(&root.path().join("absent"), |_| true).unwrap(),
            Vec::<String>::new()
        );
    }
}
