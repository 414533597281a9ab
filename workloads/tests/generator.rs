//! Generators: determinism for a seed, unique values per key, the mix, final reads.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use workloads::client::Invocation;
use workloads::generator::{
    AppendConfig, AppendGenerator, Generator, GeneratorError, RegisterConfig, RegisterGenerator,
    SetConfig, SetGenerator, WorkloadSpec,
};

fn take(generator: &mut dyn Generator, n: usize) -> Vec<Invocation> {
    (0..n).map(|_| generator.next_invocation()).collect()
}

#[test]
fn same_seed_same_sequence_other_seed_other_sequence() {
    for spec in [
        WorkloadSpec::Register(RegisterConfig::default()),
        WorkloadSpec::Set(SetConfig {
            keys: 3,
            read_percent: 10,
        }),
    ] {
        let a = take(spec.generator(7).unwrap().as_mut(), 5_000);
        let b = take(spec.generator(7).unwrap().as_mut(), 5_000);
        let c = take(spec.generator(8).unwrap().as_mut(), 5_000);
        assert_eq!(a, b, "{spec:?}");
        assert_ne!(a, c, "{spec:?}");
    }
}

/// The first ops for seed 7 never change: a seed must mean the same run on every machine
/// and every build (ChaCha8 is portable). If this fails, the stream changed.
#[test]
fn seed_seven_register_stream_is_pinned() {
    let mut generator = RegisterGenerator::new(&RegisterConfig::default(), 7).unwrap();
    let first: Vec<String> = take(&mut generator, 12)
        .iter()
        .map(|i| format!("{} {} {}", i.f, i.key.as_deref().unwrap(), i.value))
        .collect();
    let again: Vec<String> = take(
        &mut RegisterGenerator::new(&RegisterConfig::default(), 7).unwrap(),
        12,
    )
    .iter()
    .map(|i| format!("{} {} {}", i.f, i.key.as_deref().unwrap(), i.value))
    .collect();
    assert_eq!(first, again);
    assert_eq!(
        first, PINNED_SEED_SEVEN,
        "the seed-7 stream changed: {first:#?}"
    );
}

/// Recorded from this implementation (rand_chacha 0.10 ChaCha8, rand 0.10 `random_range`).
const PINNED_SEED_SEVEN: [&str; 12] = [
    "read k1 null",
    "write k2 1",
    "read k5 null",
    "read k6 null",
    "read k0 null",
    "read k2 null",
    "read k7 null",
    "read k5 null",
    "write k4 1",
    "read k3 null",
    "cas k4 [1,2]",
    "read k5 null",
];

#[test]
fn register_values_are_unique_per_key_and_cas_compares_recent_values() {
    let mut generator = RegisterGenerator::new(&RegisterConfig::default(), 1).unwrap();
    let mut assigned: HashMap<String, Vec<u64>> = HashMap::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for invocation in take(&mut generator, 100_000) {
        let key = invocation.key.clone().expect("register ops are keyed");
        assert!(key.starts_with('k'));
        *counts.entry(invocation.f.clone()).or_default() += 1;
        let values = assigned.entry(key).or_default();
        match invocation.f.as_str() {
            "read" => assert_eq!(invocation.value, Value::Null),
            "write" => values.push(invocation.value.as_u64().unwrap()),
            "cas" => {
                let from = invocation.value[0].as_u64().unwrap();
                let to = invocation.value[1].as_u64().unwrap();
                let recent = &values[values.len().saturating_sub(3)..];
                assert!(
                    recent.contains(&from),
                    "cas from {from} not among recent {recent:?}"
                );
                values.push(to);
            }
            other => panic!("unexpected f {other}"),
        }
    }
    assert_eq!(assigned.len(), 8, "all keys used");
    for (key, values) in &assigned {
        let unique: HashSet<_> = values.iter().collect();
        assert_eq!(
            unique.len(),
            values.len(),
            "duplicate value written to {key}"
        );
    }
    // The default 50/30/20 mix (a cas before any write becomes a write: only 8 times).
    let share = |f: &str| counts[f] as f64 / 100_000.0;
    assert!((share("read") - 0.5).abs() < 0.02, "{counts:?}");
    assert!((share("write") - 0.3).abs() < 0.02, "{counts:?}");
    assert!((share("cas") - 0.2).abs() < 0.02, "{counts:?}");
}

#[test]
fn register_mix_is_configurable() {
    let config = RegisterConfig {
        keys: 2,
        read_weight: 0,
        write_weight: 1,
        cas_weight: 0,
    };
    let mut generator = RegisterGenerator::new(&config, 3).unwrap();
    assert!(take(&mut generator, 1_000).iter().all(|i| i.f == "write"));
    let empty = RegisterConfig {
        read_weight: 0,
        write_weight: 0,
        cas_weight: 0,
        ..config
    };
    assert_eq!(
        RegisterGenerator::new(&empty, 3).unwrap_err(),
        GeneratorError::EmptyMix
    );
    let no_keys = RegisterConfig {
        keys: 0,
        ..RegisterConfig::default()
    };
    assert_eq!(
        RegisterGenerator::new(&no_keys, 3).unwrap_err(),
        GeneratorError::KeyCount(0)
    );
}

#[test]
fn set_adds_unique_elements_and_reads_when_asked() {
    let config = SetConfig {
        keys: 3,
        read_percent: 20,
    };
    let mut generator = SetGenerator::new(&config, 5).unwrap();
    let mut elements = HashSet::new();
    let mut reads = 0;
    for invocation in take(&mut generator, 10_000) {
        assert!(invocation.key.as_deref().unwrap().starts_with('s'));
        match invocation.f.as_str() {
            "add" => assert!(elements.insert(invocation.value.as_u64().unwrap())),
            "read" => reads += 1,
            other => panic!("unexpected f {other}"),
        }
    }
    assert!(
        (1_700..2_300).contains(&reads),
        "about 20% reads, got {reads}"
    );
    let only_adds = SetGenerator::new(&SetConfig::default(), 5).unwrap();
    let mut only_adds = only_adds;
    assert!(
        take(&mut only_adds, 1_000)
            .iter()
            .all(|i| i.f == "add" && i.key.as_deref() == Some("s0"))
    );
    assert_eq!(
        SetGenerator::new(
            &SetConfig {
                keys: 1,
                read_percent: 101
            },
            0
        )
        .unwrap_err(),
        GeneratorError::ReadPercent(101)
    );
}

#[test]
fn final_reads_are_one_read_per_key() {
    let register = RegisterGenerator::new(
        &RegisterConfig {
            keys: 4,
            ..RegisterConfig::default()
        },
        0,
    )
    .unwrap();
    let keys: Vec<_> = register
        .final_reads()
        .into_iter()
        .map(|i| {
            assert_eq!((i.f.as_str(), &i.value), ("read", &Value::Null));
            i.key.unwrap()
        })
        .collect();
    assert_eq!(keys, ["k0", "k1", "k2", "k3"]);
    let set = SetGenerator::new(
        &SetConfig {
            keys: 2,
            read_percent: 0,
        },
        0,
    )
    .unwrap();
    let keys: Vec<_> = set
        .final_reads()
        .into_iter()
        .map(|i| i.key.unwrap())
        .collect();
    assert_eq!(keys, ["s0", "s1"]);
}

#[test]
fn workload_spec_reads_from_json_with_defaults() {
    let spec: WorkloadSpec = serde_json::from_str(r#"{"kind":"register","keys":3}"#).unwrap();
    assert_eq!(
        spec,
        WorkloadSpec::Register(RegisterConfig {
            keys: 3,
            ..RegisterConfig::default()
        })
    );
    let spec: WorkloadSpec = serde_json::from_str(r#"{"kind":"set"}"#).unwrap();
    assert_eq!(spec, WorkloadSpec::Set(SetConfig::default()));
    assert!(serde_json::from_str::<WorkloadSpec>(r#"{"kind":"register","kyes":3}"#).is_err());
}

#[test]
fn append_tokens_are_unique_over_all_keys_and_reads_are_gets() {
    let config = AppendConfig {
        keys: 4,
        read_percent: 30,
    };
    let mut generator = AppendGenerator::new(&config, 3).unwrap();
    let ops = take(&mut generator, 4_000);
    let mut tokens = HashSet::new();
    let mut gets = 0;
    for op in &ops {
        match op.f.as_str() {
            "get" => {
                gets += 1;
                assert_eq!(op.value, Value::Null);
            }
            "append" => {
                let token = op.value.as_str().expect("append values are strings");
                assert!(
                    token.starts_with(' '),
                    "tokens are space-separated: {token:?}"
                );
                assert!(tokens.insert(token.to_string()), "token {token:?} repeats");
            }
            other => panic!("unexpected function {other}"),
        }
        assert!(op.key.as_deref().unwrap().starts_with('a'));
    }
    assert!((1000..1400).contains(&gets), "about 30% gets, got {gets}");
    let finals = generator.final_reads();
    assert_eq!(finals.len(), 4);
    assert!(finals.iter().all(|op| op.f == "get"));
    assert!(
        AppendGenerator::new(
            &AppendConfig {
                keys: 1,
                read_percent: 101
            },
            1
        )
        .is_err()
    );
}
