//! The engine's in-memory copy of the Raft log: the entries after a compaction point
//! (`offset`), whose index and term are remembered so that the AppendEntries consistency
//! check still works right after it. The storage layer mirrors this on disk.

use std::collections::VecDeque;

use super::types::Entry;

/// Entries `offset+1 ..= last_index()`, contiguous.
#[derive(Debug, Clone, Default)]
pub struct Log {
    offset: u64,
    offset_term: u64,
    entries: VecDeque<Entry>,
}

impl Log {
    /// A log whose entries up to `offset` (of term `offset_term`) were compacted away.
    /// `entries` must start at `offset + 1` and be contiguous.
    pub fn new(offset: u64, offset_term: u64, entries: Vec<Entry>) -> Log {
        debug_assert!(
            entries
                .iter()
                .enumerate()
                .all(|(i, e)| e.index == offset + 1 + i as u64)
        );
        Log {
            offset,
            offset_term,
            entries: entries.into(),
        }
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn offset_term(&self) -> u64 {
        self.offset_term
    }

    pub fn last_index(&self) -> u64 {
        self.offset + self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.entries.back().map_or(self.offset_term, |e| e.term)
    }

    /// The term of the entry at `index`, if it is known (the offset's term counts).
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.offset {
            return Some(self.offset_term);
        }
        self.entry(index).map(|e| e.term)
    }

    pub fn entry(&self, index: u64) -> Option<&Entry> {
        if index <= self.offset {
            return None;
        }
        self.entries.get((index - self.offset - 1) as usize)
    }

    /// Entries `from ..= to` (clamped to what the log holds), at most `max` of them.
    pub fn slice(&self, from: u64, to: u64, max: usize) -> Vec<Entry> {
        let from = from.max(self.offset + 1);
        let to = to.min(self.last_index());
        if from > to {
            return Vec::new();
        }
        let start = (from - self.offset - 1) as usize;
        let count = ((to - from + 1) as usize).min(max);
        self.entries.range(start..start + count).cloned().collect()
    }

    /// Removes the entries at `index` and after.
    pub fn truncate_from(&mut self, index: u64) {
        let keep = index.saturating_sub(self.offset + 1) as usize;
        self.entries.truncate(keep);
    }

    /// Appends one entry; its index must be `last_index() + 1`.
    pub fn push(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
        self.entries.push_back(entry);
    }

    /// The first index of the run of entries that have `term` and end at or before `index`
    /// (the follower's conflict hint of section 5.3).
    pub fn first_index_of_term_run(&self, index: u64, term: u64) -> u64 {
        let mut first = index;
        while first > self.offset + 1 && self.term_at(first - 1) == Some(term) {
            first -= 1;
        }
        first
    }

    /// The last index whose entry has `term`, if any (the leader's side of the hint).
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.term == term)
            .map(|e| e.index)
    }

    /// Drops entries up to and including `index` (which must be in the log).
    pub fn compact_to(&mut self, index: u64) {
        let Some(term) = self.term_at(index) else {
            return;
        };
        if index <= self.offset {
            return;
        }
        let drop = (index - self.offset) as usize;
        self.entries.drain(..drop);
        self.offset = index;
        self.offset_term = term;
    }

    /// Replaces everything with an empty log after a snapshot at (`index`, `term`).
    pub fn reset(&mut self, index: u64, term: u64) {
        self.entries.clear();
        self.offset = index;
        self.offset_term = term;
    }

    /// All entries after the offset.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::types::Payload;

    fn log_with_terms(terms: &[u64]) -> Log {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, &term)| Entry {
                term,
                index: i as u64 + 1,
                payload: Payload::Noop,
            })
            .collect();
        Log::new(0, 0, entries)
    }

    #[test]
    fn term_lookup_and_bounds() {
        let log = log_with_terms(&[1, 1, 2]);
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.last_term(), 2);
        assert_eq!(log.term_at(0), Some(0));
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(4), None);
    }

    #[test]
    fn compaction_keeps_offset_term() {
        let mut log = log_with_terms(&[1, 1, 2, 3]);
        log.compact_to(2);
        assert_eq!(log.offset(), 2);
        assert_eq!(log.term_at(2), Some(1));
        assert_eq!(log.term_at(1), None);
        assert_eq!(log.slice(1, 10, 10).len(), 2);
        assert_eq!(log.last_index(), 4);
    }

    #[test]
    fn term_run_hints() {
        let log = log_with_terms(&[1, 2, 2, 2, 3]);
        assert_eq!(log.first_index_of_term_run(4, 2), 2);
        assert_eq!(log.last_index_of_term(2), Some(4));
        assert_eq!(log.last_index_of_term(7), None);
    }

    #[test]
    fn truncate_and_push() {
        let mut log = log_with_terms(&[1, 1, 1]);
        log.truncate_from(2);
        assert_eq!(log.last_index(), 1);
        log.push(Entry {
            term: 2,
            index: 2,
            payload: Payload::Noop,
        });
        assert_eq!(log.term_at(2), Some(2));
    }
}
