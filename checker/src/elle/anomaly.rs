//! Anomaly types, consistency models, and which models each anomaly rules out.
//!
//! The mapping follows Elle's `elle.consistency-model` (Kingsbury & Alvaro, VLDB 2020,
//! section 5 and its model graph; the anomaly definitions are Adya's, "Weak Consistency",
//! 1999, with Cerone et al.'s INT axiom for `internal`). Elle derives it from three graphs
//! (anomaly implications, model implications, and the anomalies each model proscribes
//! directly); here the result is written down as a table: for each anomaly the *weakest*
//! models it rules out ([`AnomalyKind::rules_out`]). Every model implying one of them is
//! ruled out too ([`Model::implies`], [`ruled_out_by`]). The table was re-derived from
//! Elle's three graphs (`implied-anomalies`, `models`, `direct-proscribed-anomalies` in
//! jepsen-io/elle `src/elle/consistency_model.clj`, commit ccdee6f) and matches them for
//! every entry but `garbage-read`, which Elle gives no boundary (see its entry); the unit
//! test `table_matches_elle` pins every entry.
//!
//! All read-write edges here are on items (no predicates), so our G-single, G-nonadjacent
//! and G2-item are Elle's `G-single-item`, `G-nonadjacent-item` and `G2-item`.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A consistency model (Elle's friendly names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Model {
    ReadUncommitted,
    ReadCommitted,
    MonotonicAtomicView,
    CursorStability,
    RepeatableRead,
    ReadAtomic,
    UpdateAtomic,
    ParallelSnapshotIsolation,
    SnapshotIsolation,
    Serializable,
    StrongSessionReadUncommitted,
    StrongSessionReadCommitted,
    StrongReadUncommitted,
    StrongReadCommitted,
    StrongSessionSnapshotIsolation,
    StrongSnapshotIsolation,
    StrongSessionSerializable,
    StrictSerializable,
}

impl Model {
    pub const ALL: [Model; 18] = [
        Model::ReadUncommitted,
        Model::ReadCommitted,
        Model::MonotonicAtomicView,
        Model::CursorStability,
        Model::RepeatableRead,
        Model::ReadAtomic,
        Model::UpdateAtomic,
        Model::ParallelSnapshotIsolation,
        Model::SnapshotIsolation,
        Model::Serializable,
        Model::StrongSessionReadUncommitted,
        Model::StrongSessionReadCommitted,
        Model::StrongReadUncommitted,
        Model::StrongReadCommitted,
        Model::StrongSessionSnapshotIsolation,
        Model::StrongSnapshotIsolation,
        Model::StrongSessionSerializable,
        Model::StrictSerializable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Model::ReadUncommitted => "read-uncommitted",
            Model::ReadCommitted => "read-committed",
            Model::MonotonicAtomicView => "monotonic-atomic-view",
            Model::CursorStability => "cursor-stability",
            Model::RepeatableRead => "repeatable-read",
            Model::ReadAtomic => "read-atomic",
            Model::UpdateAtomic => "update-atomic",
            Model::ParallelSnapshotIsolation => "parallel-snapshot-isolation",
            Model::SnapshotIsolation => "snapshot-isolation",
            Model::Serializable => "serializable",
            Model::StrongSessionReadUncommitted => "strong-session-read-uncommitted",
            Model::StrongSessionReadCommitted => "strong-session-read-committed",
            Model::StrongReadUncommitted => "strong-read-uncommitted",
            Model::StrongReadCommitted => "strong-read-committed",
            Model::StrongSessionSnapshotIsolation => "strong-session-snapshot-isolation",
            Model::StrongSnapshotIsolation => "strong-snapshot-isolation",
            Model::StrongSessionSerializable => "strong-session-serializable",
            Model::StrictSerializable => "strict-serializable",
        }
    }

    /// The models this one implies directly (a history satisfying `self` satisfies them):
    /// the transitive reduction of Elle's model graph restricted to these models.
    pub fn implies(self) -> &'static [Model] {
        use Model::*;
        match self {
            ReadUncommitted => &[],
            ReadCommitted => &[ReadUncommitted],
            MonotonicAtomicView => &[ReadCommitted],
            CursorStability => &[ReadCommitted],
            RepeatableRead => &[MonotonicAtomicView, CursorStability],
            ReadAtomic => &[MonotonicAtomicView],
            UpdateAtomic => &[ReadAtomic],
            ParallelSnapshotIsolation => &[UpdateAtomic],
            SnapshotIsolation => &[CursorStability, ParallelSnapshotIsolation],
            Serializable => &[RepeatableRead, SnapshotIsolation],
            StrongSessionReadUncommitted => &[ReadUncommitted],
            StrongSessionReadCommitted => &[ReadCommitted, StrongSessionReadUncommitted],
            StrongReadUncommitted => &[StrongSessionReadUncommitted],
            StrongReadCommitted => &[StrongSessionReadCommitted, StrongReadUncommitted],
            StrongSessionSnapshotIsolation => &[SnapshotIsolation, StrongSessionReadCommitted],
            StrongSnapshotIsolation => &[StrongReadCommitted, StrongSessionSnapshotIsolation],
            StrongSessionSerializable => &[Serializable, StrongSessionSnapshotIsolation],
            StrictSerializable => &[StrongSnapshotIsolation, StrongSessionSerializable],
        }
    }

    /// True when a history satisfying `self` satisfies `other` (reflexive).
    pub fn implies_model(self, other: Model) -> bool {
        self == other || self.implies().iter().any(|m| m.implies_model(other))
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Model {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let canonical = match s {
            "PL-1" => "read-uncommitted",
            "PL-2" => "read-committed",
            "PL-2.99" => "repeatable-read",
            "PL-3" | "conflict-serializable" => "serializable",
            "PL-SI" | "si" => "snapshot-isolation",
            "PL-SS" | "strong-serializable" => "strict-serializable",
            other => other,
        };
        Model::ALL
            .into_iter()
            .find(|m| m.name() == canonical)
            .ok_or_else(|| {
                let names: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "unknown consistency model {s:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

impl<'de> serde::Deserialize<'de> for Model {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Every model ruled out by the given weakest ones: they and every model implying them,
/// in [`Model::ALL`] order.
pub fn ruled_out_by(weakest: impl IntoIterator<Item = Model>) -> Vec<Model> {
    let weakest: Vec<Model> = weakest.into_iter().collect();
    Model::ALL
        .into_iter()
        .filter(|m| weakest.iter().any(|w| m.implies_model(*w)))
        .collect()
}

/// The minimal elements of a set of ruled-out models (none implies another in the set).
pub fn weakest_of(models: &[Model]) -> Vec<Model> {
    models
        .iter()
        .copied()
        .filter(|m| !models.iter().any(|o| o != m && m.implies_model(*o)))
        .collect()
}

/// The base class of a dependency cycle, by its data edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum CycleClass {
    /// Write-write edges only.
    G0,
    /// Write-write and write-read edges, at least one write-read.
    G1c,
    /// Exactly one read-write (anti-dependency) edge.
    GSingle,
    /// Two or more read-write edges, no two adjacent.
    GNonadjacent,
    /// Two or more read-write edges, some adjacent.
    G2Item,
}

/// Whether a cycle needs process or real-time order edges to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Variant {
    /// Data dependencies alone.
    Data,
    /// Data dependencies and process order (at least one process edge).
    Process,
    /// Data dependencies, process and real-time order (at least one real-time edge).
    Realtime,
}

/// An anomaly type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyKind {
    Cycle(CycleClass, Variant),
    /// Aborted read: a committed transaction observed a failed one's write.
    G1a,
    /// Intermediate read: a transaction observed a state another one overwrote itself.
    G1b,
    /// A read inconsistent with the transaction's own earlier reads and writes (INT).
    Internal,
    /// Two committed transactions read the same version of a key and both wrote it.
    LostUpdate,
    /// A read saw an appended element more than once.
    DuplicateElements,
    /// Two reads of a key neither of which is a prefix of the other.
    IncompatibleOrder,
    /// A committed write built on a failed transaction's write.
    DirtyUpdate,
    /// A transaction read a value it only wrote later.
    FutureRead,
    /// A read saw a value no transaction wrote.
    GarbageRead,
    /// The inferred version order of a register has a cycle.
    CyclicVersions,
}

impl AnomalyKind {
    /// Every anomaly type, cycles in search order (data, then process, then real time).
    pub fn all() -> Vec<AnomalyKind> {
        let mut all = Vec::new();
        for variant in [Variant::Data, Variant::Process, Variant::Realtime] {
            for class in CycleClass::ALL {
                all.push(AnomalyKind::Cycle(class, variant));
            }
        }
        all.extend([
            AnomalyKind::G1a,
            AnomalyKind::G1b,
            AnomalyKind::Internal,
            AnomalyKind::LostUpdate,
            AnomalyKind::DuplicateElements,
            AnomalyKind::IncompatibleOrder,
            AnomalyKind::DirtyUpdate,
            AnomalyKind::FutureRead,
            AnomalyKind::GarbageRead,
            AnomalyKind::CyclicVersions,
        ]);
        all
    }

    pub fn name(self) -> String {
        match self {
            AnomalyKind::Cycle(class, variant) => {
                let base = class.name();
                match variant {
                    Variant::Data => base.to_string(),
                    Variant::Process => format!("{base}-process"),
                    Variant::Realtime => format!("{base}-realtime"),
                }
            }
            AnomalyKind::G1a => "G1a".into(),
            AnomalyKind::G1b => "G1b".into(),
            AnomalyKind::Internal => "internal".into(),
            AnomalyKind::LostUpdate => "lost-update".into(),
            AnomalyKind::DuplicateElements => "duplicate-elements".into(),
            AnomalyKind::IncompatibleOrder => "incompatible-order".into(),
            AnomalyKind::DirtyUpdate => "dirty-update".into(),
            AnomalyKind::FutureRead => "future-read".into(),
            AnomalyKind::GarbageRead => "garbage-read".into(),
            AnomalyKind::CyclicVersions => "cyclic-versions".into(),
        }
    }

    /// The weakest models this anomaly rules out (Elle's `:not` boundary).
    pub fn rules_out(self) -> &'static [Model] {
        use Model::*;
        match self {
            AnomalyKind::Cycle(class, variant) => match (class, variant) {
                (CycleClass::G0, Variant::Data) => &[ReadUncommitted],
                (CycleClass::G0, Variant::Process) => &[StrongSessionReadUncommitted],
                (CycleClass::G0, Variant::Realtime) => &[StrongReadUncommitted],
                (CycleClass::G1c, Variant::Data) => &[ReadCommitted],
                (CycleClass::G1c, Variant::Process) => &[StrongSessionReadCommitted],
                (CycleClass::G1c, Variant::Realtime) => &[StrongReadCommitted],
                (CycleClass::GSingle | CycleClass::GNonadjacent, Variant::Data) => {
                    &[RepeatableRead, SnapshotIsolation]
                }
                (CycleClass::GSingle | CycleClass::GNonadjacent, Variant::Process) => {
                    &[StrongSessionSnapshotIsolation]
                }
                (CycleClass::GSingle | CycleClass::GNonadjacent, Variant::Realtime) => {
                    &[StrongSnapshotIsolation]
                }
                (CycleClass::G2Item, Variant::Data) => &[RepeatableRead],
                (CycleClass::G2Item, Variant::Process) => &[StrongSessionSerializable],
                (CycleClass::G2Item, Variant::Realtime) => &[StrictSerializable],
            },
            AnomalyKind::G1a
            | AnomalyKind::G1b
            | AnomalyKind::IncompatibleOrder
            | AnomalyKind::DirtyUpdate
            | AnomalyKind::FutureRead => &[ReadCommitted],
            AnomalyKind::Internal => &[ReadAtomic],
            AnomalyKind::LostUpdate => &[CursorStability, UpdateAtomic],
            // Elle has no model boundary for garbage reads; a read of a version nobody
            // wrote breaks every model's premise, so it rules out the weakest.
            AnomalyKind::DuplicateElements
            | AnomalyKind::CyclicVersions
            | AnomalyKind::GarbageRead => &[ReadUncommitted],
        }
    }

    /// Every model this anomaly rules out.
    pub fn all_ruled_out(self) -> Vec<Model> {
        ruled_out_by(self.rules_out().iter().copied())
    }
}

impl CycleClass {
    pub const ALL: [CycleClass; 5] = [
        CycleClass::G0,
        CycleClass::G1c,
        CycleClass::GSingle,
        CycleClass::GNonadjacent,
        CycleClass::G2Item,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CycleClass::G0 => "G0",
            CycleClass::G1c => "G1c",
            CycleClass::GSingle => "G-single",
            CycleClass::GNonadjacent => "G-nonadjacent",
            CycleClass::G2Item => "G2-item",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for AnomalyKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl FromStr for AnomalyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AnomalyKind::all()
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown anomaly {s:?}"))
    }
}

/// Whether finding `found` in a component makes searching it for `other` pointless
/// (Elle's implied anomalies among cycles: G0 implies G1c, G-single implies
/// G-nonadjacent implies G2-item, and each implies its process and real-time variants).
pub fn cycle_implies(found: (CycleClass, Variant), other: (CycleClass, Variant)) -> bool {
    let class_implies = |a: CycleClass, b: CycleClass| {
        a == b
            || matches!(
                (a, b),
                (CycleClass::G0, CycleClass::G1c)
                    | (
                        CycleClass::GSingle,
                        CycleClass::GNonadjacent | CycleClass::G2Item
                    )
                    | (CycleClass::GNonadjacent, CycleClass::G2Item)
            )
    };
    class_implies(found.0, other.0) && found.1 <= other.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_serializable_implies_everything() {
        for m in Model::ALL {
            assert!(Model::StrictSerializable.implies_model(m), "{m}");
        }
    }

    #[test]
    fn names_round_trip() {
        for m in Model::ALL {
            assert_eq!(m.name().parse::<Model>(), Ok(m));
        }
        for a in AnomalyKind::all() {
            assert_eq!(a.name().parse::<AnomalyKind>(), Ok(a));
        }
    }

    /// Each anomaly's weakest ruled-out models, as computed from Elle's graphs.
    #[test]
    fn table_matches_elle() {
        let expected = [
            ("G0", "read-uncommitted"),
            ("G0-process", "strong-session-read-uncommitted"),
            ("G0-realtime", "strong-read-uncommitted"),
            ("G1c", "read-committed"),
            ("G1c-process", "strong-session-read-committed"),
            ("G1c-realtime", "strong-read-committed"),
            ("G-single", "repeatable-read snapshot-isolation"),
            ("G-single-process", "strong-session-snapshot-isolation"),
            ("G-single-realtime", "strong-snapshot-isolation"),
            ("G-nonadjacent", "repeatable-read snapshot-isolation"),
            ("G-nonadjacent-process", "strong-session-snapshot-isolation"),
            ("G-nonadjacent-realtime", "strong-snapshot-isolation"),
            ("G2-item", "repeatable-read"),
            ("G2-item-process", "strong-session-serializable"),
            ("G2-item-realtime", "strict-serializable"),
            ("G1a", "read-committed"),
            ("G1b", "read-committed"),
            ("internal", "read-atomic"),
            ("lost-update", "cursor-stability update-atomic"),
            ("duplicate-elements", "read-uncommitted"),
            ("incompatible-order", "read-committed"),
            ("dirty-update", "read-committed"),
            ("future-read", "read-committed"),
            ("cyclic-versions", "read-uncommitted"),
        ];
        for (anomaly, models) in expected {
            let kind: AnomalyKind = anomaly.parse().unwrap();
            let got: Vec<&str> = kind.rules_out().iter().map(|m| m.name()).collect();
            assert_eq!(got.join(" "), models, "{anomaly}");
        }
    }

    #[test]
    fn weakest_of_keeps_minimal_models() {
        let all = AnomalyKind::Cycle(CycleClass::GSingle, Variant::Data).all_ruled_out();
        assert_eq!(
            weakest_of(&all),
            vec![Model::RepeatableRead, Model::SnapshotIsolation]
        );
    }
}
