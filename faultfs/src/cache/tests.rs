//! Unit tests of the page cache against a model: the file's content as its users see it
//! (a `Vec`) and its durable content (what the backing file must hold after a flush, and
//! what the file reverts to when the cache is dropped).

use super::*;
use proptest::prelude::*;

/// An in-memory backing file.
#[derive(Debug, Clone, Default)]
struct MemFile(Vec<u8>);

impl Backing for MemFile {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = (offset as usize).min(self.0.len());
        let n = buf.len().min(self.0.len() - start);
        buf[..n].copy_from_slice(&self.0[start..start + n]);
        Ok(n)
    }
    fn write_all_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        let end = offset as usize + data.len();
        if self.0.len() < end {
            self.0.resize(end, 0);
        }
        self.0[offset as usize..end].copy_from_slice(data);
        Ok(())
    }
    fn set_len(&mut self, size: u64) -> io::Result<()> {
        self.0.resize(size as usize, 0);
        Ok(())
    }
}

fn read_all(cache: &FileCache, backing: &mut MemFile) -> Vec<u8> {
    cache
        .read(backing, 0, cache.size() as usize + 10)
        .expect("read")
}

#[test]
fn unflushed_writes_are_visible_then_lost_on_drop() {
    let mut backing = MemFile(b"durable".to_vec());
    let mut cache = FileCache::new(7);
    cache.write(&mut backing, 7, b" and more").expect("write");
    assert_eq!(read_all(&cache, &mut backing), b"durable and more");
    assert_eq!(
        backing.0, b"durable",
        "the backing file is untouched before a flush"
    );
    drop(cache);
    let cache = FileCache::new(backing.0.len() as u64);
    assert_eq!(read_all(&cache, &mut backing), b"durable");
}

#[test]
fn flush_writes_pages_and_size() {
    let mut backing = MemFile(vec![1; 10_000]);
    let mut cache = FileCache::new(10_000);
    cache.write(&mut backing, 4090, &[2; 20]).expect("write");
    cache.set_size(5000);
    let stats = cache.flush(&mut backing).expect("flush");
    assert_eq!(stats.pages, 2, "the write spans two pages");
    let mut expected = vec![1; 5000];
    expected[4090..4110].fill(2);
    assert_eq!(backing.0, expected);
    assert!(!cache.is_dirty());
}

#[test]
fn truncate_then_extend_reads_zeros_not_the_old_bytes() {
    let mut backing = MemFile(vec![7; 9000]);
    let mut cache = FileCache::new(9000);
    cache.set_size(100);
    cache.set_size(9000);
    let content = read_all(&cache, &mut backing);
    assert_eq!(&content[..100], &[7; 100][..]);
    assert!(content[100..].iter().all(|&b| b == 0));
    cache.flush(&mut backing).expect("flush");
    assert_eq!(backing.0, content);
}

#[test]
fn a_write_past_the_end_leaves_a_zero_hole() {
    let mut backing = MemFile(b"ab".to_vec());
    let mut cache = FileCache::new(2);
    cache.write(&mut backing, 10_000, b"z").expect("write");
    let content = read_all(&cache, &mut backing);
    assert_eq!(content.len(), 10_001);
    assert_eq!(&content[..2], b"ab");
    assert!(content[2..10_000].iter().all(|&b| b == 0));
    assert_eq!(
        cache.dirty_bytes(),
        PAGE_BYTES,
        "only the written page is held"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Write { offset: u64, len: usize, byte: u8 },
    SetSize(u64),
    Read { offset: u64, len: usize },
    Flush,
    Drop,
}

fn op() -> impl Strategy<Value = Op> {
    let offset = prop_oneof![0u64..64, 4000u64..4200, 0u64..20_000];
    prop_oneof![
        4 => (offset.clone(), 0usize..9000, any::<u8>())
            .prop_map(|(offset, len, byte)| Op::Write { offset, len, byte }),
        2 => (0u64..20_000).prop_map(Op::SetSize),
        2 => (offset, 0usize..9000).prop_map(|(offset, len)| Op::Read { offset, len }),
        1 => Just(Op::Flush),
        1 => Just(Op::Drop),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Reads always show the latest writes and sizes; a flush makes the backing file equal
    /// to them; a drop reverts the file to the last flushed content and size.
    #[test]
    fn the_cache_behaves_like_its_model(
        initial in proptest::collection::vec(any::<u8>(), 0..10_000),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let mut backing = MemFile(initial.clone());
        let mut cache = FileCache::new(initial.len() as u64);
        let mut current = initial.clone();
        let mut durable = initial.clone();
        for op in ops {
            match op {
                Op::Write { offset, len, byte } => {
                    let data = vec![byte; len];
                    cache.write(&mut backing, offset, &data).expect("write");
                    let end = offset as usize + len;
                    if current.len() < end {
                        current.resize(end, 0);
                    }
                    current[offset as usize..end].copy_from_slice(&data);
                }
                Op::SetSize(size) => {
                    cache.set_size(size);
                    current.resize(size as usize, 0);
                }
                Op::Read { offset, len } => {
                    let got = cache.read(&mut backing, offset, len).expect("read");
                    let start = (offset as usize).min(current.len());
                    let end = (offset as usize + len).min(current.len());
                    prop_assert_eq!(got, current[start..end].to_vec());
                }
                Op::Flush => {
                    cache.flush(&mut backing).expect("flush");
                    prop_assert_eq!(&backing.0, &current);
                    prop_assert!(!cache.is_dirty());
                    durable = current.clone();
                }
                Op::Drop => {
                    cache = FileCache::new(backing.0.len() as u64);
                    current = backing.0.clone();
                }
            }
            prop_assert_eq!(&backing.0, &durable, "only a flush changes the backing file");
            prop_assert_eq!(cache.check(), Ok(()));
            prop_assert_eq!(cache.size(), current.len() as u64);
            prop_assert_eq!(read_all(&cache, &mut backing), current.clone());
        }
    }
}
