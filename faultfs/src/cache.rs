//! The page cache of one file: pure logic, no system call (the backing file is a trait).
//!
//! A [`FileCache`] exists only while its file has something not yet durable: data written
//! since the last fsync (held in whole pages of [`PAGE_BYTES`]) and size changes (truncate,
//! extend by writing past the end). Reads see the cache over the backing file. `flush`
//! writes the dirty state to the backing file (the caller then fsyncs it there); dropping
//! the cache without a flush is the "lose unfsynced" fault: the file is again exactly what
//! the backing file holds, i.e. its content and size as of its last fsync.
//!
//! State (offsets in bytes):
//! - `size`: the file's size as its users see it.
//! - `durable_size`: the backing file's size (as of the cache's creation or last flush).
//! - `zeros_from`: backing bytes at or after this offset are no longer part of the file
//!   (a truncate cut them off; a later extension must read zeros there, not the old bytes).
//!   It is the minimum of `durable_size` and every size truncated to since the last flush.
//! - `pages`: dirty pages, each a full page of the file's content as its users see it.
//!
//! Invariants (checked by [`FileCache::check`] in tests and debug builds):
//! `zeros_from <= size`, `zeros_from <= durable_size`, every page starts before `size`,
//! and every byte of a page at or after `size` is zero (so an extension reads zeros).

use std::collections::BTreeMap;
use std::io;

/// Bytes per cached page.
pub const PAGE_BYTES: u64 = 4096;
/// The largest single write a flush sends to the backing file.
const MAX_FLUSH_WRITE_BYTES: usize = 1024 * 1024;

/// The backing file a cache reads base content from and flushes to.
pub trait Backing {
    /// Reads at `offset`; a short read means end of file.
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `data` at `offset`.
    fn write_all_at(&mut self, data: &[u8], offset: u64) -> io::Result<()>;
    /// Truncates or extends (with zeros) to `size` bytes.
    fn set_len(&mut self, size: u64) -> io::Result<()>;
}

/// What a flush wrote to the backing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushStats {
    pub pages: u64,
    pub bytes: u64,
}

/// The not-yet-durable state of one file.
#[derive(Debug, Clone)]
pub struct FileCache {
    pages: BTreeMap<u64, Box<[u8]>>,
    size: u64,
    durable_size: u64,
    zeros_from: u64,
}

impl FileCache {
    /// A clean cache over a backing file of `durable_size` bytes.
    pub fn new(durable_size: u64) -> FileCache {
        FileCache {
            pages: BTreeMap::new(),
            size: durable_size,
            durable_size,
            zeros_from: durable_size,
        }
    }

    /// The file's size as its users see it.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes of memory held by dirty pages.
    pub fn dirty_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE_BYTES
    }

    /// Whether anything differs from the backing file (a clean cache can be discarded).
    pub fn is_dirty(&self) -> bool {
        !self.pages.is_empty() || self.size != self.durable_size || self.zeros_from != self.size
    }

    /// Reads up to `len` bytes at `offset` (fewer at the end of the file).
    pub fn read(&self, backing: &mut dyn Backing, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let end = offset.saturating_add(len as u64).min(self.size);
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut out = vec![0u8; (end - offset) as usize];
        let mut position = offset;
        while position < end {
            let page = position / PAGE_BYTES;
            let page_end = ((page + 1) * PAGE_BYTES).min(end);
            let chunk = &mut out[(position - offset) as usize..(page_end - offset) as usize];
            match self.pages.get(&page) {
                Some(bytes) => {
                    let start = (position - page * PAGE_BYTES) as usize;
                    chunk.copy_from_slice(&bytes[start..start + chunk.len()]);
                }
                None => self.read_base(backing, chunk, position)?,
            }
            position = page_end;
        }
        Ok(out)
    }

    /// Fills `buf` with the uncached content at `offset`: backing bytes before
    /// `zeros_from`, zeros after (`buf` arrives zeroed).
    fn read_base(&self, backing: &mut dyn Backing, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if offset >= self.zeros_from {
            return Ok(());
        }
        let wanted = ((self.zeros_from - offset) as usize).min(buf.len());
        let mut filled = 0;
        while filled < wanted {
            let n = backing.read_at(&mut buf[filled..wanted], offset + filled as u64)?;
            if n == 0 {
                break; // the backing file is shorter than we knew: the rest reads as zeros
            }
            filled += n;
        }
        Ok(())
    }

    /// Writes `data` at `offset`, extending the file if it ends past the end.
    pub fn write(&mut self, backing: &mut dyn Backing, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EFBIG))?;
        let mut position = offset;
        while position < end {
            let page = position / PAGE_BYTES;
            let page_start = page * PAGE_BYTES;
            let page_end = (page_start + PAGE_BYTES).min(end);
            if !self.pages.contains_key(&page) {
                let mut bytes = vec![0u8; PAGE_BYTES as usize].into_boxed_slice();
                // Base content only up to the current size: bytes past it must read zeros.
                let base_len = self.size.saturating_sub(page_start).min(PAGE_BYTES) as usize;
                self.read_base(backing, &mut bytes[..base_len], page_start)?;
                self.pages.insert(page, bytes);
            }
            let bytes = self.pages.get_mut(&page).expect("page inserted above");
            let from = (position - offset) as usize;
            let to = (page_end - offset) as usize;
            let start = (position - page_start) as usize;
            bytes[start..start + (to - from)].copy_from_slice(&data[from..to]);
            position = page_end;
        }
        self.size = self.size.max(end);
        self.debug_check();
        Ok(())
    }

    /// Truncates or extends the file to `size` bytes (an extension reads zeros).
    pub fn set_size(&mut self, size: u64) {
        if size < self.size {
            self.zeros_from = self.zeros_from.min(size);
            let first_gone = size.div_ceil(PAGE_BYTES);
            self.pages.retain(|&page, _| page < first_gone);
            let partial = size / PAGE_BYTES;
            if let Some(bytes) = self.pages.get_mut(&partial) {
                let cut = (size - partial * PAGE_BYTES) as usize;
                bytes[cut..].fill(0);
            }
        }
        self.size = size;
        self.debug_check();
    }

    /// Writes the dirty state to the backing file: cut it where a truncate cut the file,
    /// write the dirty pages (clipped to the size), set the final size. The caller fsyncs
    /// the backing file afterwards and then discards this cache (it is clean).
    pub fn flush(&mut self, backing: &mut dyn Backing) -> io::Result<FlushStats> {
        if self.zeros_from < self.durable_size {
            backing.set_len(self.zeros_from)?;
        }
        let mut stats = FlushStats::default();
        // Consecutive pages go out as one write of at most MAX_FLUSH_WRITE_BYTES.
        let mut run: Vec<u8> = Vec::new();
        let mut run_start = 0u64;
        for (&page, bytes) in &self.pages {
            let start = page * PAGE_BYTES;
            let len = (self.size - start).min(PAGE_BYTES) as usize;
            let contiguous = run_start + run.len() as u64 == start;
            if !run.is_empty() && (!contiguous || run.len() + len > MAX_FLUSH_WRITE_BYTES) {
                backing.write_all_at(&run, run_start)?;
                run.clear();
            }
            if run.is_empty() {
                run_start = start;
            }
            run.extend_from_slice(&bytes[..len]);
            stats.pages += 1;
            stats.bytes += len as u64;
        }
        if !run.is_empty() {
            backing.write_all_at(&run, run_start)?;
        }
        backing.set_len(self.size)?;
        *self = FileCache::new(self.size);
        Ok(stats)
    }

    /// Checks the invariants of the module doc; the error names the first one broken.
    pub fn check(&self) -> Result<(), String> {
        if self.zeros_from > self.size || self.zeros_from > self.durable_size {
            return Err(format!(
                "zeros_from {} beyond size {} or durable size {}",
                self.zeros_from, self.size, self.durable_size
            ));
        }
        for (&page, bytes) in &self.pages {
            let start = page * PAGE_BYTES;
            if start >= self.size {
                return Err(format!("page {page} starts at or past size {}", self.size));
            }
            let valid = (self.size - start).min(PAGE_BYTES) as usize;
            if bytes[valid..].iter().any(|&b| b != 0) {
                return Err(format!(
                    "page {page} holds non-zero bytes past size {}",
                    self.size
                ));
            }
        }
        Ok(())
    }

    fn debug_check(&self) {
        debug_assert_eq!(self.check(), Ok(()));
    }
}

#[cfg(test)]
mod tests;
