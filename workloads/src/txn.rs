//! Transactional generators (issue 13): `list-append` and `rw-register`, as Jepsen's
//! `jepsen.tests.cycle.append` and `wr` generate them, for the Elle check.
//!
//! Every operation is one `txn` (no `key`: its keys are inside) whose value is a list of 1
//! to `max_txn_length` micro-ops, each on a key drawn from a skewed distribution:
//!
//! - list-append: `["append", k, v]` or `["r", k, null]` (the read's list is filled in by
//!   the client on `ok`);
//! - rw-register: `["w", k, v]` or `["r", k, null]`.
//!
//! Half the micro-ops are reads (`read_percent`, default 50, as Jepsen draws `:r` or
//! `:append` with equal odds). Keys are the integers `0..keys`, as in Jepsen's histories.
//! Values come from one counter over all keys starting at 1, so an appended or written
//! value is unique per key (the inference needs it: a read names the one write it saw).
//!
//! # Hot keys
//!
//! Key `i` is drawn with probability proportional to `1 / (i + 1)^skew` (a Zipf law;
//! `skew: 0` is uniform, the default 1 makes key 0 about `keys / ln(keys)` times as likely
//! as an average key), so a few hot keys see most of the contention, where isolation bugs
//! show, while the rest keep the lists short. Jepsen's generator draws keys from an
//! exponential distribution over a sliding window of active keys and retires a key after
//! `max-writes-per-key` writes; faultline keeps one fixed key set instead, so that the final
//! phase (chosen before the run starts, [`Generator::final_reads`]) reads every key the run
//! wrote. Lists therefore grow with the run: about `rate * duration * (1 - read share) *
//! mean txn length` elements over all keys.
//!
//! The weights are integers (cumulative, drawn with one `random_range`), so a seed gives
//! the same sequence on every machine.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::Invocation;
use crate::generator::{Generator, GeneratorError, MAX_KEYS};

/// The longest transaction a generator accepts (micro-ops per txn).
pub const MAX_TXN_LENGTH: usize = 64;

/// The largest key skew accepted (a Zipf exponent).
pub const MAX_SKEW: f64 = 8.0;

/// Scale of the integer key weights: key 0 weighs this much.
const WEIGHT_SCALE: f64 = 1e9;

/// The shape of a list-append or rw-register workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TxnConfig {
    pub keys: usize,
    /// Micro-ops per transaction: 1 to this, uniformly.
    pub max_txn_length: usize,
    /// Percentage of micro-ops that are reads.
    pub read_percent: u32,
    /// The Zipf exponent of the key distribution (see the module docs).
    pub skew: f64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            keys: 8,
            max_txn_length: 4,
            read_percent: 50,
            skew: 1.0,
        }
    }
}

/// Which micro-ops write: `append` (list-append) or `w` (rw-register).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnKind {
    ListAppend,
    RwRegister,
}

impl TxnKind {
    /// The micro-op function that writes.
    pub fn write_f(self) -> &'static str {
        match self {
            TxnKind::ListAppend => "append",
            TxnKind::RwRegister => "w",
        }
    }
}

/// The `f` of every transactional operation.
pub const TXN_F: &str = "txn";

/// A transaction of `micro_ops` (`[f, k, v]` arrays).
pub fn txn(micro_ops: Vec<Value>) -> Invocation {
    Invocation {
        f: TXN_F.to_string(),
        key: None,
        value: Value::Array(micro_ops),
    }
}

/// Cumulative integer weights of a Zipf law over `keys` keys.
fn zipf_cumulative(keys: usize, skew: f64) -> Vec<u64> {
    let mut total = 0u64;
    (0..keys)
        .map(|i| {
            let weight = (WEIGHT_SCALE / ((i + 1) as f64).powf(skew)).round().max(1.0);
            total += weight as u64;
            total
        })
        .collect()
}

/// List-append or rw-register transactions; see the module docs.
#[derive(Debug, Clone)]
pub struct TxnGenerator {
    rng: ChaCha8Rng,
    kind: TxnKind,
    keys: usize,
    max_txn_length: usize,
    read_percent: u32,
    /// `cumulative[i]`: the weights of keys `0..=i`.
    cumulative: Vec<u64>,
    /// The last value written (values start at 1), unique over all keys.
    last_value: u64,
}

impl TxnGenerator {
    pub fn new(kind: TxnKind, config: &TxnConfig, seed: u64) -> Result<Self, GeneratorError> {
        if config.keys == 0 || config.keys > MAX_KEYS {
            return Err(GeneratorError::KeyCount(config.keys));
        }
        if config.read_percent > 100 {
            return Err(GeneratorError::ReadPercent(config.read_percent));
        }
        if config.max_txn_length == 0 || config.max_txn_length > MAX_TXN_LENGTH {
            return Err(GeneratorError::TxnLength(config.max_txn_length));
        }
        if !(0.0..=MAX_SKEW).contains(&config.skew) {
            return Err(GeneratorError::Skew(config.skew.to_string()));
        }
        Ok(TxnGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            kind,
            keys: config.keys,
            max_txn_length: config.max_txn_length,
            read_percent: config.read_percent,
            cumulative: zipf_cumulative(config.keys, config.skew),
            last_value: 0,
        })
    }

    fn key(&mut self) -> usize {
        let total = *self.cumulative.last().expect("at least one key");
        let pick = self.rng.random_range(0..total);
        let key = self.cumulative.partition_point(|&c| c <= pick);
        debug_assert!(key < self.keys);
        key
    }

    fn micro_op(&mut self) -> Value {
        let key = self.key();
        if self.rng.random_range(0..100u32) < self.read_percent {
            return json!(["r", key, null]);
        }
        self.last_value += 1;
        json!([self.kind.write_f(), key, self.last_value])
    }
}

impl Generator for TxnGenerator {
    fn next_invocation(&mut self) -> Invocation {
        let length = self.rng.random_range(1..=self.max_txn_length as u64) as usize;
        let micro_ops = (0..length).map(|_| self.micro_op()).collect();
        txn(micro_ops)
    }

    /// One read-only transaction per key.
    fn final_reads(&self) -> Vec<Invocation> {
        (0..self.keys)
            .map(|key| txn(vec![json!(["r", key, null])]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;

    fn generate(kind: TxnKind, config: &TxnConfig, seed: u64, n: usize) -> Vec<Invocation> {
        let mut generator = TxnGenerator::new(kind, config, seed).expect("valid config");
        (0..n).map(|_| generator.next_invocation()).collect()
    }

    fn micro_ops(inv: &Invocation) -> &[Value] {
        assert_eq!(inv.f, "txn");
        assert_eq!(inv.key, None);
        inv.value.as_array().expect("a txn's value is a list")
    }

    #[test]
    fn written_values_are_unique_per_key_for_both_kinds() {
        for kind in [TxnKind::ListAppend, TxnKind::RwRegister] {
            let txns = generate(kind, &TxnConfig::default(), 7, 5_000);
            let mut seen = HashSet::new();
            let mut writes = 0;
            for inv in &txns {
                for op in micro_ops(inv) {
                    let [f, k, v] = op.as_array().expect("[f, k, v]").as_slice() else {
                        panic!("a micro-op is three long: {op}");
                    };
                    match f.as_str() {
                        Some("r") => assert!(v.is_null(), "an invoke's read is null: {op}"),
                        Some(w) if w == kind.write_f() => {
                            writes += 1;
                            assert!(seen.insert((k.clone(), v.clone())), "{op} written twice");
                        }
                        other => panic!("unexpected micro-op {other:?} for {kind:?}"),
                    }
                }
            }
            assert!(writes > 4_000, "{writes} writes");
        }
    }

    #[test]
    fn lengths_span_one_to_the_maximum_and_reads_are_about_half() {
        let txns = generate(TxnKind::ListAppend, &TxnConfig::default(), 3, 4_000);
        let lengths: HashSet<usize> = txns.iter().map(|t| micro_ops(t).len()).collect();
        assert_eq!(lengths, (1..=4).collect());
        let all: Vec<&Value> = txns.iter().flat_map(|t| micro_ops(t)).collect();
        let reads = all.iter().filter(|op| op[0] == "r").count();
        let share = reads as f64 / all.len() as f64;
        assert!((0.45..0.55).contains(&share), "read share {share}");
    }

    /// Zipf with exponent 1 over 8 keys: key 0 has 1 / H(8) = 36.8% of the draws, key 7
    /// 4.6%; the counts must follow within a few percent, and skew 0 must be uniform.
    #[test]
    fn keys_follow_the_zipf_skew() {
        let count = |skew: f64| {
            let config = TxnConfig {
                skew,
                ..TxnConfig::default()
            };
            let mut counts = BTreeMap::new();
            for inv in generate(TxnKind::RwRegister, &config, 11, 20_000) {
                for op in micro_ops(&inv) {
                    *counts.entry(op[1].as_u64().expect("integer key")).or_insert(0u64) += 1;
                }
            }
            let total: u64 = counts.values().sum();
            counts
                .into_iter()
                .map(|(k, c)| (k, c as f64 / total as f64))
                .collect::<BTreeMap<u64, f64>>()
        };
        let skewed = count(1.0);
        assert_eq!(skewed.len(), 8);
        let harmonic: f64 = (1..=8).map(|i| 1.0 / i as f64).sum();
        for (k, share) in &skewed {
            let expected = 1.0 / ((k + 1) as f64 * harmonic);
            assert!(
                (share - expected).abs() < 0.01,
                "key {k}: {share} vs {expected}"
            );
        }
        let uniform = count(0.0);
        for (k, share) in &uniform {
            assert!((share - 0.125).abs() < 0.01, "key {k}: {share}");
        }
    }

    #[test]
    fn same_seed_same_sequence_and_final_reads_cover_every_key() {
        let config = TxnConfig::default();
        let a = generate(TxnKind::ListAppend, &config, 5, 200);
        assert_eq!(a, generate(TxnKind::ListAppend, &config, 5, 200));
        assert_ne!(a, generate(TxnKind::ListAppend, &config, 6, 200));
        let generator = TxnGenerator::new(TxnKind::ListAppend, &config, 5).expect("valid");
        let reads = generator.final_reads();
        assert_eq!(reads.len(), 8);
        for (key, inv) in reads.iter().enumerate() {
            assert_eq!(inv.value, json!([["r", key, null]]));
        }
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = |config: TxnConfig| TxnGenerator::new(TxnKind::ListAppend, &config, 1).err();
        let base = TxnConfig::default();
        assert_eq!(
            bad(TxnConfig {
                keys: 0,
                ..base.clone()
            }),
            Some(GeneratorError::KeyCount(0))
        );
        assert_eq!(
            bad(TxnConfig {
                max_txn_length: 0,
                ..base.clone()
            }),
            Some(GeneratorError::TxnLength(0))
        );
        assert_eq!(
            bad(TxnConfig {
                read_percent: 101,
                ..base.clone()
            }),
            Some(GeneratorError::ReadPercent(101))
        );
        assert!(
            bad(TxnConfig {
                skew: -1.0,
                ..base
            })
            .is_some()
        );
    }
}
