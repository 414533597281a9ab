//! faultfs: a FUSE passthrough filesystem that keeps file data in a page cache of its own
//! until the file is fsynced, and forgets everything unfsynced on command, as lazyfs's
//! clear-cache does. The fault it models: a machine that crashes (power loss, kernel
//! panic) loses what its page cache held; a process kill alone loses nothing.
//!
//! # Semantics
//!
//! - File data and size (write, truncate, extension by writing past the end) stay in
//!   faultfs's cache. Reads see them. `fsync` or `fdatasync` of the file writes its dirty
//!   pages and size to the backing file and fsyncs the backing file; only then are they
//!   safe. `close` promises nothing.
//! - Namespace operations (create, mkdir, mknod, symlink, link, unlink, rmdir, rename)
//!   and metadata (mode, owner, times) are applied to the backing directory at once and
//!   survive a loss, as if the metadata were journaled synchronously. Directory fsync
//!   fsyncs the backing directory and has no other effect. So a file created and renamed
//!   but never fsynced survives a loss under its new name, with its last fsynced
//!   content: empty if it never was. This is the harsh POSIX reading (no ext4
//!   `auto_da_alloc` flush on rename): a store that writes a temp file, renames it over
//!   the old one and fsyncs only the directory finds an empty file after a loss.
//! - A file's cache belongs to its inode (hard links share it; a rename carries it). A
//!   file whose last link is removed drops its cache once no handle is open on it.
//! - "lose unfsynced" (control request `lose-unfsynced`) forgets every cache at once:
//!   each file's content and size are again those of its last fsync (or of the mount).
//!   The kernel's own caches of those files are invalidated before the answer is sent.
//! - Memory is bounded: past `--max-dirty-mb` of dirty pages (all files), every cache is
//!   written back to its backing file without fsync, as a kernel's writeback would do,
//!   and that data survives later losses; the status counts it (`writeback_bytes`).
//! - Not modelled: torn writes (a write is kept or lost as a whole page set, never cut
//!   at a byte), reordering of writes within one file's unfsynced data (all of it is lost
//!   together), `fallocate` (answered "not supported", so callers fall back to writing),
//!   xattrs (not supported), shared writable mmap is served but its writes are as
//!   durable as `write`s.
//!
//! # Layout
//!
//! - `cache.rs`: the page cache of one file, pure logic over a `Backing` trait, unit
//!   tested against a model.
//! - `fs.rs`: the fuser adapter (inodes as `O_PATH` descriptors, the cache per inode).
//! - `control.rs`: the Unix socket request/response channel and its client.
//! - `daemon.rs`: the process: mount, signals, parent-death signal, unmount.
//! - `mounts.rs`: [`mounts::cleanup_stale_mounts`] for `faultline cleanup`.

pub mod cache;
pub mod control;
pub mod daemon;
pub mod fs;
pub mod mounts;

pub use mounts::cleanup_stale_mounts;
