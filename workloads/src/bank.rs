//! The bank workload's generator: transfers between random accounts and reads of every
//! balance, for the two-phase-commit bank ([`crate::client::bank`]).
//!
//! Each op is a `read` (value `null`; about `read_percent` of them) or a `transfer` of a
//! random amount in `1..=max_amount` between two distinct random accounts `a0..a{N-1}`, with
//! value `{"from":"a3","to":"a7","amount":5,"txn":"t17"}` (DESIGN.md's transfer value plus
//! the transaction id the bank needs; the checker ignores the extra field). Transaction ids
//! `t1, t2, ...` come from one counter, so they are unique within a run, and the whole
//! sequence is a pure function of the config and the seed (ChaCha8), like every generator.
//! Amounts are small against usual balances, but some transfers do overdraw an account:
//! the bank must abort those, and the checker would see a negative balance otherwise.
//!
//! [`Generator::final_reads`] is one read of every balance.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::client::Invocation;
use crate::generator::Generator;

/// The most accounts the generator accepts (the bank's schedules allow as many).
pub const MAX_ACCOUNTS: usize = 10_000;

/// A configuration the bank generator refuses.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BankGeneratorError {
    #[error("a bank workload needs between 2 and {MAX_ACCOUNTS} accounts, got {0}")]
    AccountCount(usize),
    #[error("the bank read percentage must be at most 100, got {0}")]
    ReadPercent(u32),
    #[error("the largest transfer amount must be at least 1")]
    MaxAmount,
}

/// The bank workload's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankConfig {
    /// Accounts `a0..a{accounts-1}`, as the bank names them.
    pub accounts: usize,
    /// Percentage of operations that are reads of every balance.
    pub read_percent: u32,
    /// Transfers move `1..=max_amount`.
    pub max_amount: u64,
}

impl Default for BankConfig {
    fn default() -> Self {
        BankConfig {
            accounts: 8,
            read_percent: 25,
            max_amount: 20,
        }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct BankGenerator {
    rng: ChaCha8Rng,
    accounts: Vec<String>,
    read_percent: u32,
    max_amount: u64,
    /// The last transaction id handed out (ids start at 1).
    last_txn: u64,
}

impl BankGenerator {
    pub fn new(config: &BankConfig, seed: u64) -> Result<Self, BankGeneratorError> {
        if !(2..=MAX_ACCOUNTS).contains(&config.accounts) {
            return Err(BankGeneratorError::AccountCount(config.accounts));
        }
        if config.read_percent > 100 {
            return Err(BankGeneratorError::ReadPercent(config.read_percent));
        }
        if config.max_amount == 0 {
            return Err(BankGeneratorError::MaxAmount);
        }
        Ok(BankGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            accounts: (0..config.accounts).map(|i| format!("a{i}")).collect(),
            read_percent: config.read_percent,
            max_amount: config.max_amount,
            last_txn: 0,
        })
    }

    fn transfer(&mut self) -> Invocation {
        let count = self.accounts.len() as u64;
        let from = self.rng.random_range(0..count);
        // A second draw among the others: never a transfer to the same account.
        let to = (from + 1 + self.rng.random_range(0..count - 1)) % count;
        let amount = self.rng.random_range(1..=self.max_amount);
        self.last_txn += 1;
        Invocation {
            f: "transfer".into(),
            key: None,
            value: json!({
                "from": self.accounts[from as usize],
                "to": self.accounts[to as usize],
                "amount": amount,
                "txn": format!("t{}", self.last_txn),
            }),
        }
    }
}

fn read_all() -> Invocation {
    Invocation {
        f: "read".into(),
        key: None,
        value: Value::Null,
    }
}

impl Generator for BankGenerator {
    fn next_invocation(&mut self) -> Invocation {
        if self.rng.random_range(0..100u32) < self.read_percent {
            return read_all();
        }
        self.transfer()
    }

    fn final_reads(&self) -> Vec<Invocation> {
        vec![read_all()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(seed: u64, count: usize) -> Vec<Invocation> {
        let mut generator = BankGenerator::new(&BankConfig::default(), seed).unwrap();
        (0..count).map(|_| generator.next_invocation()).collect()
    }

    #[test]
    fn transfers_are_between_distinct_known_accounts_with_unique_ids() {
        let all = ops(3, 2000);
        let transfers: Vec<&Invocation> = all.iter().filter(|op| op.f == "transfer").collect();
        let reads = all.iter().filter(|op| op.f == "read").count();
        assert!(
            (300..700).contains(&reads),
            "about a quarter reads: {reads}"
        );
        let mut ids = std::collections::BTreeSet::new();
        for op in &transfers {
            let v = &op.value;
            assert_ne!(v["from"], v["to"], "{v}");
            for side in ["from", "to"] {
                let account = v[side].as_str().unwrap();
                let index: usize = account[1..].parse().unwrap();
                assert!(account.starts_with('a') && index < 8, "{v}");
            }
            assert!((1..=20).contains(&v["amount"].as_i64().unwrap()), "{v}");
            assert!(ids.insert(v["txn"].as_str().unwrap().to_string()), "{v}");
        }
        assert_eq!(ops(3, 50), ops(3, 50), "same seed, same ops");
        assert_ne!(ops(3, 50), ops(4, 50));
    }

    #[test]
    fn bad_configs_are_refused_and_final_reads_read_everything() {
        let refused = |config: BankConfig| BankGenerator::new(&config, 1).unwrap_err();
        let base = BankConfig::default();
        assert_eq!(
            refused(BankConfig {
                accounts: 1,
                ..base.clone()
            }),
            BankGeneratorError::AccountCount(1)
        );
        assert_eq!(
            refused(BankConfig {
                read_percent: 101,
                ..base.clone()
            }),
            BankGeneratorError::ReadPercent(101)
        );
        assert_eq!(
            refused(BankConfig {
                max_amount: 0,
                ..base.clone()
            }),
            BankGeneratorError::MaxAmount
        );
        let generator = BankGenerator::new(&base, 1).unwrap();
        assert_eq!(generator.final_reads(), vec![read_all()]);
    }
}
