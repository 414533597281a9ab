//! Operation generators: the deterministic stream of invocations a run sends.
//!
//! A generator is a seeded, single-threaded source of [`Invocation`]s. The driver shares one
//! generator between all its logical threads behind a mutex, so the *sequence* of operations
//! is a pure function of the configuration and the seed (ChaCha8, portable across machines);
//! only which thread sends which operation, and when, depends on timing.
//!
//! Generators never look at outcomes. That keeps them deterministic, and it is enough for the
//! checkers: every value a generator writes is unique per key, so a read names the one write
//! it observed.
//!
//! - [`RegisterGenerator`]: `read`, `write` and `cas` on `keys` keys named `k0`, `k1`, ...
//!   Values written (by `write`, or as a cas's new value) come from a per-key counter
//!   starting at 1, so they are unique per key. A cas compares against one of the last few
//!   values the generator assigned to that key (the freshest writes, which a recent read has
//!   the best chance to have seen) and sets a fresh value. History values follow DESIGN.md:
//!   `read` null, `write` v, `cas` `[from, to]`.
//! - [`SetGenerator`]: `add` of unique integers (one counter over all keys) to `keys` keys
//!   named `s0`, `s1`, ..., optionally mixed with `read`s (value null) that see the whole set.
//!
//! - [`AppendGenerator`]: the kv-append model's `append` and `get` on `keys` keys named
//!   `a0`, `a1`, ...: each append adds a token ` N` (a space and an integer unique over all
//!   keys) to the key's string, so a token read twice is an append applied twice, and a
//!   token missing after it was acknowledged is a lost append. Reads are `get` (value null).
//!
//! - [`crate::txn::TxnGenerator`]: Elle's `list-append` and `rw-register` transactions
//!   (`f: txn`), in their own module.
//!
//! All give [`Generator::final_reads`]: one read per key (`get` for appends), for the final
//! phase after the faults have healed.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::Invocation;
use crate::txn::{TxnConfig, TxnGenerator, TxnKind};

/// How many of a key's most recently assigned values a cas may compare against.
pub const CAS_RECENT_VALUES: usize = 3;

/// The largest number of keys a generator accepts: keeps per-key state bounded.
pub const MAX_KEYS: usize = 100_000;

/// A deterministic source of operations.
pub trait Generator: Send {
    /// The next operation to send. Generators are infinite: the driver decides when to stop.
    fn next_invocation(&mut self) -> Invocation;

    /// One `read` per key, for the final phase of a run.
    fn final_reads(&self) -> Vec<Invocation>;
}

impl<G: Generator + ?Sized> Generator for Box<G> {
    fn next_invocation(&mut self) -> Invocation {
        (**self).next_invocation()
    }

    fn final_reads(&self) -> Vec<Invocation> {
        (**self).final_reads()
    }
}

/// A configuration a generator refuses.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GeneratorError {
    #[error("a workload needs between 1 and {MAX_KEYS} keys, got {0}")]
    KeyCount(usize),
    #[error("the register mix read/write/cas weights must not all be zero")]
    EmptyMix,
    #[error("the read percentage must be at most 100, got {0}")]
    ReadPercent(u32),
    #[error("a transaction's longest length must be between 1 and {max}, got {0}", max = crate::txn::MAX_TXN_LENGTH)]
    TxnLength(usize),
    #[error("the key skew must be between 0 and {max}, got {0}", max = crate::txn::MAX_SKEW)]
    Skew(String),
}

/// Which workload to generate, as a schedule names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WorkloadSpec {
    Register(RegisterConfig),
    Set(SetConfig),
    Append(AppendConfig),
    /// Elle's list-append transactions ([`crate::txn`]).
    ListAppend(TxnConfig),
    /// Elle's rw-register transactions ([`crate::txn`]).
    RwRegister(TxnConfig),
}

impl WorkloadSpec {
    /// The generator for this workload and seed.
    pub fn generator(&self, seed: u64) -> Result<Box<dyn Generator>, GeneratorError> {
        Ok(match self {
            WorkloadSpec::Register(config) => Box::new(RegisterGenerator::new(config, seed)?),
            WorkloadSpec::Set(config) => Box::new(SetGenerator::new(config, seed)?),
            WorkloadSpec::Append(config) => Box::new(AppendGenerator::new(config, seed)?),
            WorkloadSpec::ListAppend(config) => {
                Box::new(TxnGenerator::new(TxnKind::ListAppend, config, seed)?)
            }
            WorkloadSpec::RwRegister(config) => {
                Box::new(TxnGenerator::new(TxnKind::RwRegister, config, seed)?)
            }
        })
    }
}

/// The register workload's shape. Weights are relative (50/30/20 means 50% reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegisterConfig {
    pub keys: usize,
    pub read_weight: u32,
    pub write_weight: u32,
    pub cas_weight: u32,
}

impl Default for RegisterConfig {
    fn default() -> Self {
        RegisterConfig {
            keys: 8,
            read_weight: 50,
            write_weight: 30,
            cas_weight: 20,
        }
    }
}

/// The set workload's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SetConfig {
    pub keys: usize,
    /// Percentage of operations during the run that are reads (the rest are adds).
    pub read_percent: u32,
}

impl Default for SetConfig {
    fn default() -> Self {
        SetConfig {
            keys: 1,
            read_percent: 0,
        }
    }
}

/// The append workload's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppendConfig {
    pub keys: usize,
    /// Percentage of operations during the run that are `get`s (the rest are appends).
    pub read_percent: u32,
}

impl Default for AppendConfig {
    fn default() -> Self {
        AppendConfig {
            keys: 8,
            read_percent: 40,
        }
    }
}

fn check_key_count(keys: usize) -> Result<(), GeneratorError> {
    if keys == 0 || keys > MAX_KEYS {
        return Err(GeneratorError::KeyCount(keys));
    }
    Ok(())
}

fn invocation(f: &str, key: String, value: Value) -> Invocation {
    Invocation {
        f: f.to_string(),
        key: Some(key),
        value,
    }
}

fn reads_of(keys: &[String]) -> Vec<Invocation> {
    keys.iter()
        .map(|key| invocation("read", key.clone(), Value::Null))
        .collect()
}

/// Per-key state of the register workload: the values it handed out most recently.
#[derive(Debug, Clone, Default)]
struct RegisterKeyState {
    /// The last value assigned (0: none yet). The next one is `last_assigned + 1`.
    last_assigned: u64,
}

impl RegisterKeyState {
    fn fresh_value(&mut self) -> u64 {
        self.last_assigned += 1;
        self.last_assigned
    }

    /// A value among the last [`CAS_RECENT_VALUES`] assigned, `None` before any write.
    fn recent_value(&self, rng: &mut ChaCha8Rng) -> Option<u64> {
        if self.last_assigned == 0 {
            return None;
        }
        let window = self.last_assigned.min(CAS_RECENT_VALUES as u64);
        Some(self.last_assigned - rng.random_range(0..window))
    }
}

/// `read` / `write` / `cas` on a fixed set of keys; see the module docs.
#[derive(Debug, Clone)]
pub struct RegisterGenerator {
    rng: ChaCha8Rng,
    keys: Vec<String>,
    key_states: Vec<RegisterKeyState>,
    read_weight: u32,
    write_weight: u32,
    total_weight: u32,
}

impl RegisterGenerator {
    pub fn new(config: &RegisterConfig, seed: u64) -> Result<Self, GeneratorError> {
        check_key_count(config.keys)?;
        let total_weight = config
            .read_weight
            .saturating_add(config.write_weight)
            .saturating_add(config.cas_weight);
        if total_weight == 0 {
            return Err(GeneratorError::EmptyMix);
        }
        Ok(RegisterGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            keys: (0..config.keys).map(|i| format!("k{i}")).collect(),
            key_states: vec![RegisterKeyState::default(); config.keys],
            read_weight: config.read_weight,
            write_weight: config.write_weight,
            total_weight,
        })
    }

    fn write(&mut self, key_index: usize) -> Invocation {
        let value = self.key_states[key_index].fresh_value();
        invocation("write", self.keys[key_index].clone(), json!(value))
    }

    /// A cas from a recent value to a fresh one; a write when nothing was written yet
    /// (a cas from the absent value could never succeed and would only add noise).
    fn cas(&mut self, key_index: usize) -> Invocation {
        let Some(from) = self.key_states[key_index].recent_value(&mut self.rng) else {
            return self.write(key_index);
        };
        let to = self.key_states[key_index].fresh_value();
        invocation("cas", self.keys[key_index].clone(), json!([from, to]))
    }
}

impl Generator for RegisterGenerator {
    fn next_invocation(&mut self) -> Invocation {
        let key_index = self.rng.random_range(0..self.keys.len() as u64) as usize;
        let pick = self.rng.random_range(0..self.total_weight);
        if pick < self.read_weight {
            invocation("read", self.keys[key_index].clone(), Value::Null)
        } else if pick < self.read_weight + self.write_weight {
            self.write(key_index)
        } else {
            self.cas(key_index)
        }
    }

    fn final_reads(&self) -> Vec<Invocation> {
        reads_of(&self.keys)
    }
}

/// `add` of unique integers to a few keys, optionally mixed with reads; see the module docs.
#[derive(Debug, Clone)]
pub struct SetGenerator {
    rng: ChaCha8Rng,
    keys: Vec<String>,
    read_percent: u32,
    /// The last element added (elements start at 1), unique over all keys.
    last_element: u64,
}

impl SetGenerator {
    pub fn new(config: &SetConfig, seed: u64) -> Result<Self, GeneratorError> {
        check_key_count(config.keys)?;
        if config.read_percent > 100 {
            return Err(GeneratorError::ReadPercent(config.read_percent));
        }
        Ok(SetGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            keys: (0..config.keys).map(|i| format!("s{i}")).collect(),
            read_percent: config.read_percent,
            last_element: 0,
        })
    }
}

impl Generator for SetGenerator {
    fn next_invocation(&mut self) -> Invocation {
        let key = self.keys[self.rng.random_range(0..self.keys.len() as u64) as usize].clone();
        if self.rng.random_range(0..100u32) < self.read_percent {
            return invocation("read", key, Value::Null);
        }
        self.last_element += 1;
        invocation("add", key, json!(self.last_element))
    }

    fn final_reads(&self) -> Vec<Invocation> {
        reads_of(&self.keys)
    }
}

/// `append` of unique tokens and `get` on a few keys; see the module docs.
#[derive(Debug, Clone)]
pub struct AppendGenerator {
    rng: ChaCha8Rng,
    keys: Vec<String>,
    read_percent: u32,
    /// The last token number appended (tokens start at 1), unique over all keys.
    last_token: u64,
}

impl AppendGenerator {
    pub fn new(config: &AppendConfig, seed: u64) -> Result<Self, GeneratorError> {
        check_key_count(config.keys)?;
        if config.read_percent > 100 {
            return Err(GeneratorError::ReadPercent(config.read_percent));
        }
        Ok(AppendGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            keys: (0..config.keys).map(|i| format!("a{i}")).collect(),
            read_percent: config.read_percent,
            last_token: 0,
        })
    }
}

impl Generator for AppendGenerator {
    fn next_invocation(&mut self) -> Invocation {
        let key = self.keys[self.rng.random_range(0..self.keys.len() as u64) as usize].clone();
        if self.rng.random_range(0..100u32) < self.read_percent {
            return Invocation::get(key);
        }
        self.last_token += 1;
        Invocation::append(key, format!(" {}", self.last_token))
    }

    fn final_reads(&self) -> Vec<Invocation> {
        self.keys.iter().map(Invocation::get).collect()
    }
}
