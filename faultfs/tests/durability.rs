//! The layer alone, through a real FUSE mount: what was fsynced survives a loss, what
//! was not is gone (content and size revert to the last fsync), reads see unfsynced
//! writes before it, and the namespace semantics of the crate docs (create, mkdir,
//! unlink, rename durable at once; data follows its inode).

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use common::Mounted;

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

fn write_synced(path: &std::path::Path, data: &[u8]) {
    let mut file = File::create(path).expect("create");
    file.write_all(data).expect("write");
    file.sync_all().expect("fsync");
}

#[test]
fn fsynced_data_survives_a_loss_and_unfsynced_data_is_gone() {
    let Some(fs) = Mounted::start() else { return };
    let path = fs.path("data");
    let durable = pattern(1, 5000);
    write_synced(&path, &durable);
    assert_eq!(
        fs::read(fs.backing_path("data")).expect("backing"),
        durable,
        "fsync reached the backing file"
    );

    let file = OpenOptions::new().write(true).open(&path).expect("open");
    file.write_all_at(b"overwritten", 100).expect("overwrite");
    file.write_all_at(&pattern(9, 3000), 5000).expect("extend");
    drop(file);
    let seen = fs::read(&path).expect("read before the loss");
    assert_eq!(seen.len(), 8000, "reads see unfsynced writes");
    assert_eq!(&seen[100..111], b"overwritten");
    assert_eq!(
        fs::read(fs.backing_path("data")).expect("backing"),
        durable,
        "nothing unfsynced reached the backing file"
    );

    let answer = fs.lose_unfsynced();
    assert_eq!(answer.loss.as_ref().expect("loss").files, 1);
    assert_eq!(fs::read(&path).expect("read after the loss"), durable);
    assert_eq!(fs::metadata(&path).expect("stat").len(), 5000);
}

#[test]
fn fdatasync_is_enough_and_a_second_loss_keeps_the_fsynced_state() {
    let Some(fs) = Mounted::start() else { return };
    let path = fs.path("log");
    let mut file = File::create(&path).expect("create");
    file.write_all(b"one\n").expect("write");
    file.sync_data().expect("fdatasync");
    file.write_all(b"two\n").expect("write");
    fs.lose_unfsynced();
    assert_eq!(fs::read(&path).expect("read"), b"one\n");
    fs.lose_unfsynced();
    assert_eq!(fs::read(&path).expect("read"), b"one\n");
}

#[test]
fn truncate_and_extend_are_lost_without_fsync() {
    let Some(fs) = Mounted::start() else { return };
    let path = fs.path("sized");
    let durable = pattern(3, 10_000);
    write_synced(&path, &durable);

    let file = OpenOptions::new().write(true).open(&path).expect("open");
    file.set_len(100).expect("truncate");
    assert_eq!(fs::metadata(&path).expect("stat").len(), 100);
    file.set_len(20_000).expect("extend");
    let seen = fs::read(&path).expect("read");
    assert_eq!(&seen[..100], &durable[..100]);
    assert!(
        seen[100..].iter().all(|&b| b == 0),
        "an extension after a truncate reads zeros"
    );
    fs.lose_unfsynced();
    assert_eq!(fs::read(&path).expect("read after the loss"), durable);

    // O_TRUNC is a size change like any other.
    drop(File::create(&path).expect("create with O_TRUNC"));
    assert_eq!(fs::metadata(&path).expect("stat").len(), 0);
    fs.lose_unfsynced();
    assert_eq!(fs::read(&path).expect("read after the loss"), durable);

    // A fsynced truncate survives.
    let file = OpenOptions::new().write(true).open(&path).expect("open");
    file.set_len(42).expect("truncate");
    file.sync_all().expect("fsync");
    fs.lose_unfsynced();
    assert_eq!(fs::read(&path).expect("read"), &durable[..42]);
}

#[test]
fn several_files_each_keep_exactly_their_own_fsyncs() {
    let Some(fs) = Mounted::start() else { return };
    let names = ["a", "b", "c"];
    for (i, name) in names.iter().enumerate() {
        write_synced(&fs.path(name), &pattern(i as u8, 1000));
    }
    let mut files: Vec<File> = names
        .iter()
        .map(|name| {
            OpenOptions::new()
                .append(true)
                .open(fs.path(name))
                .expect("open")
        })
        .collect();
    for file in &mut files {
        file.write_all(b"unsynced tail").expect("append");
    }
    files[1].sync_all().expect("fsync b");
    fs.lose_unfsynced();
    assert_eq!(fs::read(fs.path("a")).expect("a"), pattern(0, 1000));
    let mut b = pattern(1, 1000);
    b.extend_from_slice(b"unsynced tail");
    assert_eq!(
        fs::read(fs.path("b")).expect("b"),
        b,
        "b was fsynced after its append"
    );
    assert_eq!(fs::read(fs.path("c")).expect("c"), pattern(2, 1000));
}

#[test]
fn large_writes_spanning_many_pages_at_unaligned_offsets() {
    let Some(fs) = Mounted::start() else { return };
    let path = fs.path("big");
    let first = pattern(5, 3 * 1024 * 1024 + 123);
    let mut file = File::create(&path).expect("create");
    file.seek(SeekFrom::Start(777)).expect("seek");
    file.write_all(&first).expect("write");
    file.sync_data().expect("fdatasync");
    let second = pattern(77, 1024 * 1024 + 5);
    file.write_all_at(&second, 4096 * 100 + 1)
        .expect("overwrite");
    drop(file);

    let mut expected = vec![0u8; 777];
    expected.extend_from_slice(&first);
    let mut overwritten = expected.clone();
    overwritten[4096 * 100 + 1..4096 * 100 + 1 + second.len()].copy_from_slice(&second);
    assert!(
        fs::read(&path).expect("read") == overwritten,
        "reads see the overwrite"
    );
    fs.lose_unfsynced();
    assert!(
        fs::read(&path).expect("read") == expected,
        "the fsynced content is back"
    );
}

#[test]
fn o_append_keeps_the_fsynced_prefix_and_appends_after_it_again() {
    let Some(fs) = Mounted::start() else { return };
    let path = fs.path("appended");
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open");
    let mut durable = Vec::new();
    for i in 0..50 {
        let record = format!("record {i}\n");
        file.write_all(record.as_bytes()).expect("append");
        if i % 10 == 9 && i < 40 {
            file.sync_data().expect("fdatasync");
            durable = fs::read(fs.backing_path("appended")).expect("backing");
        }
    }
    assert!(fs::read(&path).expect("read").ends_with(b"record 49\n"));
    fs.lose_unfsynced();
    assert_eq!(fs::read(&path).expect("read"), durable);
    assert!(durable.ends_with(b"record 39\n"));
    // The still-open O_APPEND handle appends at the reverted end.
    file.write_all(b"after\n").expect("append");
    file.sync_data().expect("fdatasync");
    let mut expected = durable.clone();
    expected.extend_from_slice(b"after\n");
    assert_eq!(fs::read(&path).expect("read"), expected);
}

#[test]
fn an_open_handle_reads_the_reverted_content_after_a_loss() {
    let Some(fs) = Mounted::start() else { return };
    let path = fs.path("open");
    write_synced(&path, b"durable content");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("open");
    file.write_all_at(b"LOST", 0).expect("write");
    let mut seen = String::new();
    file.read_to_string(&mut seen).expect("read");
    assert_eq!(seen, "LOSTble content");
    fs.lose_unfsynced();
    let mut buf = vec![0u8; 15];
    file.read_exact_at(&mut buf, 0)
        .expect("read after the loss");
    assert_eq!(
        buf, b"durable content",
        "the kernel's page cache was invalidated"
    );
}

#[test]
fn namespace_operations_are_durable_at_once_and_data_follows_its_inode() {
    let Some(fs) = Mounted::start() else { return };
    // create + data, no fsync: the file stays, empty.
    fs::write(fs.path("new"), b"never fsynced").expect("write");
    // mkdir and a file inside with fsynced data.
    fs::create_dir(fs.path("dir")).expect("mkdir");
    write_synced(&fs.path("dir/kept"), b"kept");
    // unlink of a fsynced file.
    write_synced(&fs.path("doomed"), b"doomed");
    fs::remove_file(fs.path("doomed")).expect("unlink");
    // rename of a fsynced file, then unfsynced data written to it under its new name.
    write_synced(&fs.path("old-name"), b"renamed");
    fs::rename(fs.path("old-name"), fs.path("new-name")).expect("rename");
    let mut f = OpenOptions::new()
        .append(true)
        .open(fs.path("new-name"))
        .expect("open");
    f.write_all(b" plus unfsynced").expect("append");
    drop(f);
    // The atomic-replace idiom: temp file, fsync, rename over the target.
    write_synced(&fs.path("target"), b"old version");
    write_synced(&fs.path("target.tmp"), b"new version");
    fs::rename(fs.path("target.tmp"), fs.path("target")).expect("rename over");
    File::open(&fs.mount)
        .expect("open dir")
        .sync_all()
        .expect("fsync dir");
    // The same idiom without the file fsync: the harsh reading, an empty target.
    write_synced(&fs.path("careless"), b"old version");
    fs::write(fs.path("careless.tmp"), b"new version").expect("write");
    fs::rename(fs.path("careless.tmp"), fs.path("careless")).expect("rename over");

    fs.lose_unfsynced();

    assert_eq!(fs::read(fs.path("new")).expect("new exists"), b"");
    assert!(fs::metadata(fs.path("dir")).expect("dir exists").is_dir());
    assert_eq!(fs::read(fs.path("dir/kept")).expect("kept"), b"kept");
    assert!(!fs.path("doomed").exists(), "an unlink is not undone");
    assert!(!fs.path("old-name").exists());
    assert_eq!(fs::read(fs.path("new-name")).expect("renamed"), b"renamed");
    assert_eq!(fs::read(fs.path("target")).expect("target"), b"new version");
    assert!(!fs.path("target.tmp").exists());
    assert_eq!(fs::read(fs.path("careless")).expect("careless"), b"");
    let mut names: Vec<String> = fs::read_dir(&fs.mount)
        .expect("readdir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    assert_eq!(names, ["careless", "dir", "new", "new-name", "target"]);
    for entry in fs::read_dir(&fs.mount).expect("readdir") {
        let entry = entry.expect("entry");
        let st_ino = std::os::unix::fs::MetadataExt::ino(&entry.metadata().expect("stat"));
        assert_eq!(
            std::os::unix::fs::DirEntryExt::ino(&entry),
            st_ino,
            "readdir and stat agree"
        );
    }
}

#[test]
fn an_unlinked_file_drops_its_cache_and_a_new_file_of_the_same_name_starts_clean() {
    let Some(fs) = Mounted::start() else { return };
    fs::write(fs.path("f"), vec![7u8; 10_000]).expect("write");
    assert!(fs.status().stats.dirty_bytes > 0);
    fs::remove_file(fs.path("f")).expect("unlink");
    assert_eq!(
        fs.status().stats.dirty_files,
        0,
        "the unlinked file's cache is gone"
    );
    write_synced(&fs.path("f"), b"fresh");
    fs.lose_unfsynced();
    assert_eq!(fs::read(fs.path("f")).expect("read"), b"fresh");
}

#[test]
fn hard_links_share_one_cache() {
    let Some(fs) = Mounted::start() else { return };
    write_synced(&fs.path("a"), b"durable");
    fs::hard_link(fs.path("a"), fs.path("b")).expect("link");
    fs::write(fs.path("b"), b"through b").expect("write");
    assert_eq!(fs::read(fs.path("a")).expect("a"), b"through b");
    File::open(fs.path("a"))
        .expect("open")
        .sync_all()
        .expect("fsync via a");
    fs.lose_unfsynced();
    assert_eq!(fs::read(fs.path("b")).expect("b"), b"through b");
}

#[test]
fn past_the_dirty_budget_data_is_written_back_and_survives() {
    let Some(fs) = Mounted::start_with_budget(1) else {
        return;
    };
    let mut file = File::create(fs.path("big")).expect("create");
    file.write_all(&pattern(4, 3 * 1024 * 1024)).expect("write");
    drop(file);
    let stats = fs.status().stats;
    assert!(
        stats.writeback_bytes >= 1024 * 1024,
        "written back: {stats:?}"
    );
    assert!(
        stats.dirty_bytes <= 1024 * 1024 + 4096,
        "budget kept: {stats:?}"
    );
    fs.lose_unfsynced();
    let after = fs::read(fs.path("big")).expect("read");
    assert!(after.len() as u64 >= stats.writeback_bytes.min(3 * 1024 * 1024) - 4096);
    assert!(
        after == pattern(4, after.len()),
        "what was written back is intact"
    );
}

#[test]
fn sigterm_unmounts_and_a_sigkilled_daemon_leaves_a_mount_cleanup_removes() {
    let Some(mut fs) = Mounted::start() else {
        return;
    };
    assert!(common::is_mounted(&fs.mount));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(fs.pid()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    assert!(fs.wait_exit().success());
    assert!(!common::is_mounted(&fs.mount), "SIGTERM unmounted");

    let Some(mut fs) = Mounted::start() else {
        return;
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(fs.pid()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL");
    fs.wait_exit();
    assert!(
        common::is_mounted(&fs.mount),
        "a SIGKILLed daemon cannot unmount"
    );
    let report = faultfs::cleanup_stale_mounts(fs.dir.path(), false).expect("cleanup");
    assert_eq!(report.detached, vec![fs.mount.clone()]);
    assert!(!common::is_mounted(&fs.mount));

    let Some(live) = Mounted::start() else {
        return;
    };
    let report = faultfs::cleanup_stale_mounts(live.dir.path(), false).expect("cleanup");
    assert_eq!(
        report.kept_live,
        vec![live.mount.clone()],
        "a live daemon's mount is kept"
    );
    assert!(report.detached.is_empty());
    assert!(common::is_mounted(&live.mount));
}
