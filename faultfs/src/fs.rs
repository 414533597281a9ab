//! The FUSE adapter: a passthrough over a backing directory, file data through
//! [`FileCache`] (see `cache.rs`), everything else straight to the backing directory.
//!
//! Inodes: an inode's number is its backing file's (`st_ino`), so `stat` and `readdir`
//! agree; each inode the kernel knows holds an `O_PATH` descriptor of its backing file
//! (as libfuse's `passthrough_ll` does), so renames never need path bookkeeping and
//! namespace operations are `*at` calls relative to the parent's descriptor. Inodes are
//! keyed by the backing `(st_dev, st_ino)`, so hard links share one inode and one cache.
//! An inode with a dirty cache stays in the table after the kernel forgets it (its
//! descriptor pins the backing inode, so its number cannot be reused by another file).
//!
//! Durability model (the crate docs state it for users):
//! - file data and size (write, truncate, extension) stay in the cache until an fsync or
//!   fdatasync of that file, which writes them to the backing file and fsyncs it there;
//! - namespace operations (create, mkdir, mknod, symlink, link, unlink, rmdir, rename) and
//!   metadata (mode, owner, times) go to the backing directory at once and are not
//!   undone by a loss, as if metadata were journaled synchronously; `fsyncdir` fsyncs the
//!   backing directory and changes nothing else;
//! - a file whose last link is removed (unlink, rename over it) loses its cache once no
//!   handle is open on it;
//! - [`State::lose_unfsynced`] forgets every cache: each file is again what its backing
//!   file holds, its content and size as of its last fsync (or as it was when the
//!   filesystem was mounted);
//! - if the dirty pages of all files exceed the configured budget, every cache is written
//!   back to its backing file without an fsync (a kernel's writeback under memory
//!   pressure): from then on that data survives a loss. Counted in the status.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirEntryExt, FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use serde::{Deserialize, Serialize};

use crate::cache::{Backing, FileCache};

/// How long the kernel may cache attributes and names. Every change goes through this
/// filesystem, and a loss invalidates the kernel's caches of the files it touched.
const TTL: Duration = Duration::from_secs(1);
const ROOT_INO: u64 = 1;
/// Inode numbers handed out when the backing one cannot be used (far above real ones).
const FALLBACK_INO_START: u64 = 1 << 62;

/// The backing file's identity.
type Key = (u64, u64);

/// Counters reported by the control channel's `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Files with unfsynced data or size right now.
    pub dirty_files: u64,
    /// Memory held by their dirty pages.
    pub dirty_bytes: u64,
    /// Bytes written to backing files by an fsync since the mount.
    pub fsynced_bytes: u64,
    /// Bytes written back without fsync because the dirty budget was exceeded.
    pub writeback_bytes: u64,
    /// Files whose unfsynced state was forgotten by `lose_unfsynced`, since the mount.
    pub lost_files: u64,
    /// Dirty page bytes forgotten by `lose_unfsynced`, since the mount.
    pub lost_bytes: u64,
}

/// What one `lose_unfsynced` forgot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loss {
    pub files: u64,
    pub dirty_bytes: u64,
    /// The inodes whose kernel caches must be invalidated (done by the caller, unlocked).
    #[serde(skip)]
    pub inodes: Vec<u64>,
}

struct Inode {
    /// `O_PATH` descriptor of the backing file.
    fd: OwnedFd,
    key: Key,
    nlookup: u64,
    open_handles: u64,
    /// Read-write (or read-only) descriptor of a regular file, opened on first data use.
    file: Option<File>,
}

/// The whole mutable state, behind one lock (the session runs one request at a time;
/// the control channel takes the same lock).
pub struct State {
    root: PathBuf,
    inodes: HashMap<u64, Inode>,
    by_key: HashMap<Key, u64>,
    next_ino: u64,
    caches: HashMap<u64, FileCache>,
    handles: HashMap<u64, u64>,
    dirs: HashMap<u64, Vec<(u64, FileType, OsString)>>,
    next_fh: u64,
    max_dirty_bytes: u64,
    stats: Stats,
}

fn cvt(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn proc_path(fd: RawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{fd}"))
}

fn fstatat(dir: RawFd, name: &OsStr) -> io::Result<libc::stat> {
    let name = cstr(name)?;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid C string and out pointer; the kernel fills `st` on success.
    cvt(unsafe {
        libc::fstatat(
            dir,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: initialized by the successful call above.
    Ok(unsafe { st.assume_init() })
}

fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: out pointer to a stat buffer; filled on success.
    cvt(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: initialized by the successful call above.
    Ok(unsafe { st.assume_init() })
}

fn openat(dir: RawFd, name: &OsStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    let name = cstr(name)?;
    // SAFETY: valid C string; a non-negative result is a descriptor we now own.
    let fd = cvt(unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    // SAFETY: `fd` was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn kind_of(mode: libc::mode_t) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        libc::S_IFSOCK => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

fn time(seconds: i64, nanos: i64) -> SystemTime {
    if seconds >= 0 {
        UNIX_EPOCH + Duration::new(seconds as u64, nanos as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
            + Duration::from_nanos(nanos as u64)
    }
}

fn attr(ino: u64, st: &libc::stat, size: u64) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512).max(st.st_blocks as u64),
        atime: time(st.st_atime, st.st_atime_nsec),
        mtime: time(st.st_mtime, st.st_mtime_nsec),
        ctime: time(st.st_ctime, st.st_ctime_nsec),
        crtime: UNIX_EPOCH,
        kind: kind_of(st.st_mode),
        perm: (st.st_mode & 0o7777) as u16,
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev as u32,
        blksize: 4096,
        flags: 0,
    }
}

/// A backing file as the cache sees it.
struct FileBacking<'a>(&'a File);

impl Backing for FileBacking<'_> {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_all_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(data, offset)
    }
    fn set_len(&mut self, size: u64) -> io::Result<()> {
        self.0.set_len(size)
    }
}

impl State {
    /// State over the backing directory `root`.
    pub fn new(root: &Path, max_dirty_bytes: u64) -> io::Result<State> {
        let root_name = cstr(root.as_os_str())?;
        // SAFETY: valid C string; the descriptor is owned below.
        let fd = cvt(unsafe {
            libc::open(
                root_name.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        })?;
        // SAFETY: just opened, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let st = fstat(fd.as_raw_fd())?;
        let key = (st.st_dev, st.st_ino);
        let root_inode = Inode {
            fd,
            key,
            nlookup: u64::MAX / 2,
            open_handles: 0,
            file: None,
        };
        Ok(State {
            root: root.to_path_buf(),
            inodes: HashMap::from([(ROOT_INO, root_inode)]),
            by_key: HashMap::from([(key, ROOT_INO)]),
            next_ino: FALLBACK_INO_START,
            caches: HashMap::new(),
            handles: HashMap::new(),
            dirs: HashMap::new(),
            next_fh: 1,
            max_dirty_bytes,
            stats: Stats::default(),
        })
    }

    fn inode(&self, ino: u64) -> io::Result<&Inode> {
        self.inodes
            .get(&ino)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ESTALE))
    }

    fn fd(&self, ino: u64) -> io::Result<RawFd> {
        Ok(self.inode(ino)?.fd.as_raw_fd())
    }

    fn attr_of(&self, ino: u64, st: &libc::stat) -> FileAttr {
        let size = self
            .caches
            .get(&ino)
            .map_or(st.st_size as u64, FileCache::size);
        attr(ino, st, size)
    }

    fn getattr(&self, ino: u64) -> io::Result<FileAttr> {
        let st = fstat(self.fd(ino)?)?;
        Ok(self.attr_of(ino, &st))
    }

    /// Looks `name` up in `parent` and counts one kernel reference to its inode.
    fn lookup(&mut self, parent: u64, name: &OsStr) -> io::Result<FileAttr> {
        let parent_fd = self.fd(parent)?;
        let st = fstatat(parent_fd, name)?;
        let key = (st.st_dev, st.st_ino);
        if let Some(&ino) = self.by_key.get(&key) {
            self.inodes
                .get_mut(&ino)
                .expect("by_key and inodes agree")
                .nlookup += 1;
            return Ok(self.attr_of(ino, &st));
        }
        let fd = openat(parent_fd, name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
        let st = fstat(fd.as_raw_fd())?;
        let key = (st.st_dev, st.st_ino);
        // The backing inode number, so that `stat` and `readdir` agree on `st_ino`; a
        // number taken (the root's 1, or another device's file) gets one from the top half.
        let ino = if st.st_ino != ROOT_INO && !self.inodes.contains_key(&st.st_ino) {
            st.st_ino
        } else {
            let ino = self.next_ino;
            self.next_ino += 1;
            ino
        };
        self.inodes.insert(
            ino,
            Inode {
                fd,
                key,
                nlookup: 1,
                open_handles: 0,
                file: None,
            },
        );
        let previous = self.by_key.insert(key, ino);
        assert!(previous.is_none(), "backing inode {key:?} registered twice");
        Ok(self.attr_of(ino, &st))
    }

    fn forget(&mut self, ino: u64, nlookup: u64) {
        if let Some(inode) = self.inodes.get_mut(&ino) {
            inode.nlookup = inode.nlookup.saturating_sub(nlookup);
        }
        self.maybe_evict(ino);
    }

    /// Drops an inode nobody refers to any more (the kernel, a handle, a dirty cache).
    fn maybe_evict(&mut self, ino: u64) {
        let Some(inode) = self.inodes.get_mut(&ino) else {
            return;
        };
        if inode.open_handles == 0 && !self.caches.contains_key(&ino) {
            inode.file = None;
            if ino != ROOT_INO && inode.nlookup == 0 {
                let key = inode.key;
                self.inodes.remove(&ino);
                self.by_key.remove(&key);
            }
        }
    }

    /// The data descriptor of a regular file, opened on first use.
    fn file(&mut self, ino: u64) -> io::Result<&File> {
        let inode = self
            .inodes
            .get_mut(&ino)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ESTALE))?;
        if inode.file.is_none() {
            let path = proc_path(inode.fd.as_raw_fd());
            let file = File::options()
                .read(true)
                .write(true)
                .open(&path)
                .or_else(|_| File::open(&path))?;
            inode.file = Some(file);
        }
        Ok(inode.file.as_ref().expect("opened above"))
    }

    /// The cache of `ino`, created clean over the backing file's current size.
    fn cache(&mut self, ino: u64) -> io::Result<(&mut FileCache, &File)> {
        self.file(ino)?;
        let inode = self.inodes.get(&ino).expect("file() checked the inode");
        let file = inode.file.as_ref().expect("file() opened it");
        let cache = match self.caches.entry(ino) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                self.stats.dirty_files += 1;
                entry.insert(FileCache::new(file.metadata()?.len()))
            }
        };
        Ok((cache, file))
    }

    fn read(&mut self, ino: u64, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        if let Some(cache) = self.caches.get(&ino) {
            let file = self
                .inode(ino)?
                .file
                .as_ref()
                .expect("a cached inode keeps its file");
            return cache.read(&mut FileBacking(file), offset, len);
        }
        let file = self.file(ino)?;
        let mut out = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            let n = file.read_at(&mut out[filled..], offset + filled as u64)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        out.truncate(filled);
        Ok(out)
    }

    fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> io::Result<()> {
        let (cache, file) = self.cache(ino)?;
        let before = cache.dirty_bytes();
        cache.write(&mut FileBacking(file), offset, data)?;
        let after = cache.dirty_bytes();
        self.stats.dirty_bytes = self.stats.dirty_bytes + after - before;
        if self.stats.dirty_bytes > self.max_dirty_bytes {
            tracing::warn!(
                dirty_bytes = self.stats.dirty_bytes,
                max_dirty_bytes = self.max_dirty_bytes,
                "dirty budget exceeded: writing every cache back without fsync"
            );
            self.write_back_all()?;
        }
        Ok(())
    }

    fn set_size(&mut self, ino: u64, size: u64) -> io::Result<()> {
        let (cache, _) = self.cache(ino)?;
        let before = cache.dirty_bytes();
        cache.set_size(size);
        let after = cache.dirty_bytes();
        self.stats.dirty_bytes = self.stats.dirty_bytes + after - before;
        Ok(())
    }

    /// Writes the cache of `ino` (if any) to its backing file; the cache is gone after.
    fn flush_cache(&mut self, ino: u64) -> io::Result<u64> {
        let Some(mut cache) = self.caches.remove(&ino) else {
            return Ok(0);
        };
        let dirty = cache.dirty_bytes();
        let file = self
            .inode(ino)?
            .file
            .as_ref()
            .expect("a cached inode keeps its file");
        match cache.flush(&mut FileBacking(file)) {
            Ok(stats) => {
                self.stats.dirty_bytes -= dirty;
                self.stats.dirty_files -= 1;
                Ok(stats.bytes)
            }
            Err(error) => {
                self.caches.insert(ino, cache);
                Err(error)
            }
        }
    }

    fn fsync(&mut self, ino: u64, datasync: bool) -> io::Result<()> {
        let bytes = self.flush_cache(ino)?;
        self.stats.fsynced_bytes += bytes;
        let file = self.file(ino)?;
        if datasync {
            file.sync_data()?;
        } else {
            file.sync_all()?;
        }
        self.maybe_evict(ino);
        Ok(())
    }

    fn write_back_all(&mut self) -> io::Result<()> {
        let inodes: Vec<u64> = self.caches.keys().copied().collect();
        for ino in inodes {
            let bytes = self.flush_cache(ino)?;
            self.stats.writeback_bytes += bytes;
            self.maybe_evict(ino);
        }
        Ok(())
    }

    /// Forgets every unfsynced write and size change (the fault).
    pub fn lose_unfsynced(&mut self) -> Loss {
        let mut loss = Loss::default();
        for (ino, cache) in std::mem::take(&mut self.caches) {
            loss.files += 1;
            loss.dirty_bytes += cache.dirty_bytes();
            loss.inodes.push(ino);
        }
        for &ino in &loss.inodes {
            self.maybe_evict(ino);
        }
        self.stats.dirty_files = 0;
        self.stats.dirty_bytes = 0;
        self.stats.lost_files += loss.files;
        self.stats.lost_bytes += loss.dirty_bytes;
        loss
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// After an unlink or a rename over `key`: a file with no link left and no open
    /// handle has no data to keep.
    fn forget_data_if_gone(&mut self, key: Option<Key>) {
        let Some(&ino) = key.and_then(|key| self.by_key.get(&key)) else {
            return;
        };
        let inode = &self.inodes[&ino];
        let gone = fstat(inode.fd.as_raw_fd())
            .map(|st| st.st_nlink == 0)
            .unwrap_or(false);
        if gone && inode.open_handles == 0 {
            if let Some(cache) = self.caches.remove(&ino) {
                self.stats.dirty_bytes -= cache.dirty_bytes();
                self.stats.dirty_files -= 1;
            }
            self.maybe_evict(ino);
        }
    }

    fn key_at(&self, dir: u64, name: &OsStr) -> Option<Key> {
        let st = fstatat(self.fd(dir).ok()?, name).ok()?;
        Some((st.st_dev, st.st_ino))
    }

    fn chown_new(&self, parent: u64, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
        if uid == 0 && gid == 0 {
            return Ok(());
        }
        let name = cstr(name)?;
        // SAFETY: valid descriptor and C string.
        cvt(unsafe {
            libc::fchownat(
                self.fd(parent)?,
                name.as_ptr(),
                uid,
                gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        Ok(())
    }

    fn open(&mut self, ino: u64) -> io::Result<u64> {
        self.inode(ino)?;
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, ino);
        self.inodes
            .get_mut(&ino)
            .expect("checked above")
            .open_handles += 1;
        Ok(fh)
    }

    fn release(&mut self, fh: u64) {
        let Some(ino) = self.handles.remove(&fh) else {
            return;
        };
        let key = self.inodes.get_mut(&ino).map(|inode| {
            inode.open_handles -= 1;
            inode.key
        });
        self.forget_data_if_gone(key);
        self.maybe_evict(ino);
    }

    #[allow(clippy::too_many_arguments)]
    fn setattr(
        &mut self,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
    ) -> io::Result<FileAttr> {
        let fd = self.fd(ino)?;
        let path = cstr(proc_path(fd).as_os_str())?;
        if let Some(mode) = mode {
            // SAFETY: valid C string (the magic link resolves to the backing file).
            cvt(unsafe { libc::chmod(path.as_ptr(), mode & 0o7777) })?;
        }
        if uid.is_some() || gid.is_some() {
            let empty = c"";
            // SAFETY: valid descriptor; AT_EMPTY_PATH acts on the descriptor itself.
            cvt(unsafe {
                libc::fchownat(
                    fd,
                    empty.as_ptr(),
                    uid.unwrap_or(u32::MAX),
                    gid.unwrap_or(u32::MAX),
                    libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
                )
            })?;
        }
        if atime.is_some() || mtime.is_some() {
            let spec = |t: Option<TimeOrNow>| match t {
                None => libc::timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_OMIT,
                },
                Some(TimeOrNow::Now) => libc::timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_NOW,
                },
                Some(TimeOrNow::SpecificTime(t)) => {
                    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
                    libc::timespec {
                        tv_sec: d.as_secs() as libc::time_t,
                        tv_nsec: d.subsec_nanos() as libc::c_long,
                    }
                }
            };
            let times = [spec(atime), spec(mtime)];
            // SAFETY: valid C string and a two-element timespec array.
            cvt(unsafe { libc::utimensat(libc::AT_FDCWD, path.as_ptr(), times.as_ptr(), 0) })?;
        }
        if let Some(size) = size {
            self.set_size(ino, size)?;
        }
        self.getattr(ino)
    }

    fn create(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
        uid: u32,
        gid: u32,
    ) -> io::Result<(FileAttr, u64)> {
        let parent_fd = self.fd(parent)?;
        let file = File::from(openat(
            parent_fd,
            name,
            libc::O_CREAT | libc::O_RDWR | (flags & libc::O_EXCL),
            mode as libc::mode_t,
        )?);
        self.chown_new(parent, name, uid, gid)?;
        let attr = self.lookup(parent, name)?;
        let ino = attr.ino.0;
        let inode = self.inodes.get_mut(&ino).expect("looked up above");
        if inode.file.is_none() {
            inode.file = Some(file);
        }
        if flags & libc::O_TRUNC != 0 {
            self.set_size(ino, 0)?;
        }
        let fh = self.open(ino)?;
        Ok((self.getattr(ino)?, fh))
    }

    fn mkdir(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> io::Result<FileAttr> {
        let c_name = cstr(name)?;
        // SAFETY: valid descriptor and C string.
        cvt(unsafe { libc::mkdirat(self.fd(parent)?, c_name.as_ptr(), mode as libc::mode_t) })?;
        self.chown_new(parent, name, uid, gid)?;
        self.lookup(parent, name)
    }

    fn mknod(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        rdev: u32,
        uid: u32,
        gid: u32,
    ) -> io::Result<FileAttr> {
        let c_name = cstr(name)?;
        // SAFETY: valid descriptor and C string.
        cvt(unsafe {
            libc::mknodat(
                self.fd(parent)?,
                c_name.as_ptr(),
                mode as libc::mode_t,
                rdev as libc::dev_t,
            )
        })?;
        self.chown_new(parent, name, uid, gid)?;
        self.lookup(parent, name)
    }

    fn symlink(
        &mut self,
        parent: u64,
        name: &OsStr,
        target: &Path,
        uid: u32,
        gid: u32,
    ) -> io::Result<FileAttr> {
        let c_name = cstr(name)?;
        let c_target = cstr(target.as_os_str())?;
        // SAFETY: valid descriptor and C strings.
        cvt(unsafe { libc::symlinkat(c_target.as_ptr(), self.fd(parent)?, c_name.as_ptr()) })?;
        self.chown_new(parent, name, uid, gid)?;
        self.lookup(parent, name)
    }

    fn link(&mut self, ino: u64, new_parent: u64, new_name: &OsStr) -> io::Result<FileAttr> {
        let source = cstr(proc_path(self.fd(ino)?).as_os_str())?;
        let c_name = cstr(new_name)?;
        // SAFETY: valid C strings and descriptor; the magic link names the backing file.
        cvt(unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                source.as_ptr(),
                self.fd(new_parent)?,
                c_name.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        })?;
        self.lookup(new_parent, new_name)
    }

    fn unlink(&mut self, parent: u64, name: &OsStr, flags: libc::c_int) -> io::Result<()> {
        let key = self.key_at(parent, name);
        let c_name = cstr(name)?;
        // SAFETY: valid descriptor and C string.
        cvt(unsafe { libc::unlinkat(self.fd(parent)?, c_name.as_ptr(), flags) })?;
        self.forget_data_if_gone(key);
        Ok(())
    }

    fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        flags: u32,
    ) -> io::Result<()> {
        let victim = self.key_at(new_parent, new_name);
        let c_name = cstr(name)?;
        let c_new = cstr(new_name)?;
        // SAFETY: valid descriptors and C strings.
        cvt(unsafe {
            libc::renameat2(
                self.fd(parent)?,
                c_name.as_ptr(),
                self.fd(new_parent)?,
                c_new.as_ptr(),
                flags,
            )
        })?;
        self.forget_data_if_gone(victim);
        Ok(())
    }

    fn readlink(&self, ino: u64) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; libc::PATH_MAX as usize];
        let empty = c"";
        // SAFETY: valid descriptor; buffer of the given length.
        let n = unsafe {
            libc::readlinkat(
                self.fd(ino)?,
                empty.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(n as usize);
        Ok(buf)
    }

    fn opendir(&mut self, ino: u64) -> io::Result<u64> {
        let fd = self.fd(ino)?;
        let st = fstat(fd)?;
        let mut entries = vec![
            (st.st_ino, FileType::Directory, OsString::from(".")),
            (st.st_ino, FileType::Directory, OsString::from("..")),
        ];
        for entry in std::fs::read_dir(proc_path(fd))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let kind = if kind.is_dir() {
                FileType::Directory
            } else if kind.is_symlink() {
                FileType::Symlink
            } else if kind.is_file() {
                FileType::RegularFile
            } else {
                kind_of(entry.metadata()?.mode() as libc::mode_t)
            };
            entries.push((entry.ino(), kind, entry.file_name()));
        }
        let fh = self.next_fh;
        self.next_fh += 1;
        self.dirs.insert(fh, entries);
        Ok(fh)
    }

    fn fsyncdir(&mut self, ino: u64) -> io::Result<()> {
        File::open(proc_path(self.fd(ino)?))?.sync_all()
    }

    fn statfs(&self) -> io::Result<libc::statvfs> {
        let path = cstr(self.root.as_os_str())?;
        let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: valid C string and out pointer.
        cvt(unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) })?;
        // SAFETY: initialized by the successful call.
        Ok(unsafe { st.assume_init() })
    }
}

/// The filesystem the session serves: the shared state.
#[derive(Clone)]
pub struct FaultFs {
    state: Arc<Mutex<State>>,
}

impl FaultFs {
    /// A filesystem over `state`.
    pub fn new(state: State) -> FaultFs {
        FaultFs {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// The state, for the control channel.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn errno(error: io::Error) -> Errno {
    Errno::from(error)
}

/// Answers a request that names a new or looked-up inode.
fn reply_entry(reply: ReplyEntry, result: io::Result<FileAttr>) {
    match result {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(errno(e)),
    }
}

/// Answers a request with no payload.
fn reply_empty(reply: ReplyEmpty, result: io::Result<()>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(errno(e)),
    }
}

impl Filesystem for FaultFs {
    fn destroy(&mut self) {
        tracing::info!("unmounted");
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        reply_entry(reply, self.lock().lookup(parent.0, name));
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.lock().forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.lock().getattr(ino.0) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        match self
            .lock()
            .setattr(ino.0, mode, uid, gid, size, atime, mtime)
        {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.lock().readlink(ino.0) {
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        reply_entry(
            reply,
            self.lock()
                .mknod(parent.0, name, mode, rdev, req.uid(), req.gid()),
        );
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply_entry(
            reply,
            self.lock()
                .mkdir(parent.0, name, mode, req.uid(), req.gid()),
        );
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.lock().unlink(parent.0, name, 0));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(
            reply,
            self.lock().unlink(parent.0, name, libc::AT_REMOVEDIR),
        );
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        reply_entry(
            reply,
            self.lock()
                .symlink(parent.0, link_name, target, req.uid(), req.gid()),
        );
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply_empty(
            reply,
            self.lock()
                .rename(parent.0, name, newparent.0, newname, flags.bits()),
        );
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply_entry(reply, self.lock().link(ino.0, newparent.0, newname));
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut state = self.lock();
        let result = state.open(ino.0).and_then(|fh| {
            if flags.0 & libc::O_TRUNC != 0 {
                state.set_size(ino.0, 0)?;
            }
            Ok(fh)
        });
        match result {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.lock().read(ino.0, offset, size as usize) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.lock().write(ino.0, offset, data) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) promises nothing about durability: the data stays in the cache.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.lock().release(fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.lock().fsync(ino.0, datasync));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.lock().opendir(ino.0) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let state = self.lock();
        let Some(entries) = state.dirs.get(&fh.0) else {
            reply.error(Errno::EBADF);
            return;
        };
        for (index, (ino, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), index as u64 + 1, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.lock().dirs.remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.lock().fsyncdir(ino.0));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.lock().statfs() {
            Ok(st) => reply.statfs(
                st.f_blocks,
                st.f_bfree,
                st.f_bavail,
                st.f_files,
                st.f_ffree,
                st.f_bsize as u32,
                st.f_namemax as u32,
                st.f_frsize as u32,
            ),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: fuser::ReplyXattr,
    ) {
        // No extended attributes; the kernel stops asking after this answer.
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: fuser::ReplyXattr) {
        reply.error(Errno::ENOSYS);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        // The mount uses `default_permissions`: the kernel checks access itself.
        reply.ok();
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        match self
            .lock()
            .create(parent.0, name, mode, flags, req.uid(), req.gid())
        {
            Ok((attr, fh)) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(fh),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(errno(e)),
        }
    }
}
