//! The overhead of faultfs against the plain disk under it (the same directory, once
//! through the mount and once directly): fsyncs per second of 4 KiB appends each followed
//! by fdatasync, and MB/s of 8 MiB sequential writes (64 KiB each) with one fdatasync at
//! the end and without. Wall-clock numbers: say whether the machine was loaded.
//!
//! `cargo bench -p faultfs --bench overhead`. Needs /dev/fuse and root (the daemon is
//! the crate's `faultfs` binary); skips with a message otherwise.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SMALL_BYTES: usize = 4096;
const SEQ_BYTES: usize = 8 * 1024 * 1024;
const CHUNK_BYTES: usize = 64 * 1024;
/// The 4 KiB appends wrap around after this many bytes so the file stays bounded.
const WRAP_BYTES: u64 = 64 * 1024 * 1024;

struct Daemon {
    child: Child,
    root: PathBuf,
    mount: PathBuf,
    backing: PathBuf,
}

impl Daemon {
    fn start() -> Option<Daemon> {
        if !Path::new("/dev/fuse").exists() || !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: faultfs benches need /dev/fuse and root");
            return None;
        }
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("faultfs-bench-{}", std::process::id()));
        let backing = root.join("backing");
        let mount = root.join("mount");
        std::fs::create_dir_all(&backing).expect("backing dir");
        std::fs::create_dir_all(&mount).expect("mount dir");
        let args = faultfs::daemon::Args {
            backing: backing.clone(),
            mount: mount.clone(),
            control: root.join("control.sock"),
            max_dirty_mb: 256,
        };
        let child = Command::new(env!("CARGO_BIN_EXE_faultfs"))
            .args(args.to_command_args())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn faultfs");
        faultfs::control::wait_ready(&args.control, Duration::from_secs(20))
            .expect("faultfs ready");
        Some(Daemon {
            child,
            root,
            mount,
            backing,
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        faultfs::cleanup_stale_mounts(&self.root, false).expect("cleanup");
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn bench_fsync(c: &mut Criterion, daemon: &Daemon) {
    let mut group = c.benchmark_group("append_4k_fdatasync");
    group.throughput(Throughput::Elements(1));
    for (name, dir) in [("plain", &daemon.backing), ("faultfs", &daemon.mount)] {
        let file = File::create(dir.join(format!("fsync-{name}"))).expect("create");
        let block = vec![0x5au8; SMALL_BYTES];
        let mut offset = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                file.write_all_at(&block, offset).expect("write");
                file.sync_data().expect("fdatasync");
                offset = (offset + SMALL_BYTES as u64) % WRAP_BYTES;
            })
        });
    }
    group.finish();
}

fn bench_sequential(c: &mut Criterion, daemon: &Daemon, fsync: bool) {
    let label = if fsync {
        "seq_write_8m_fdatasync"
    } else {
        "seq_write_8m_no_sync"
    };
    let mut group = c.benchmark_group(label);
    group.throughput(Throughput::Bytes(SEQ_BYTES as u64));
    for (name, dir) in [("plain", &daemon.backing), ("faultfs", &daemon.mount)] {
        let path = dir.join(format!("{label}-{name}"));
        let chunk = vec![0xa5u8; CHUNK_BYTES];
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut file = OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .open(&path)
                    .expect("open");
                for _ in 0..SEQ_BYTES / CHUNK_BYTES {
                    file.write_all(&chunk).expect("write");
                }
                if fsync {
                    file.sync_data().expect("fdatasync");
                }
            })
        });
        // Without fsync the faultfs cache keeps growing across iterations' files only
        // up to one file (O_TRUNC drops the old pages); sync it away between groups.
        File::open(&path).expect("open").sync_all().expect("fsync");
    }
    group.finish();
}

fn overhead(c: &mut Criterion) {
    let Some(daemon) = Daemon::start() else {
        return;
    };
    bench_fsync(c, &daemon);
    bench_sequential(c, &daemon, true);
    bench_sequential(c, &daemon, false);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = overhead
}
criterion_main!(benches);
