//! The one history type of faultline: an operation record in Jepsen's vocabulary.
//!
//! Every part of faultline reads and writes histories through these types: the recorder in
//! `workloads` appends them to `history.jsonl`, the importers turn Jepsen and Porcupine files
//! into them, and the checkers consume them. The JSON shape is fixed by DESIGN.md:
//!
//! ```json
//! {"index":0,"time":1203301,"process":0,"type":"invoke","f":"write","key":"k3","value":4}
//! ```

use serde::{Deserialize, Serialize};

/// Who performed an operation: a client's logical thread, or the nemesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Process {
    /// A client's logical thread. After an `info` the thread continues under a fresh id.
    Client(u64),
    /// The fault injector; serialised as the string `"nemesis"`.
    #[serde(with = "nemesis_tag")]
    Nemesis,
}

mod nemesis_tag {
    //! (De)serialises the unit variant `Process::Nemesis` as the string `"nemesis"`.
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("nemesis")
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        let s = <&str>::deserialize(d)?;
        if s == "nemesis" {
            Ok(())
        } else {
            Err(D::Error::custom(format!(
                "expected a process number or \"nemesis\", found {s:?}"
            )))
        }
    }
}

/// The kind of a history record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The operation was sent.
    Invoke,
    /// It took effect.
    Ok,
    /// It definitely did not take effect.
    Fail,
    /// Unknown: it may take effect at any later time, or never.
    Info,
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history, from 0, in real-time order.
    pub index: u64,
    /// Nanoseconds since the run began.
    #[serde(rename = "time")]
    pub time_ns: u64,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: OpType,
    /// The function: `read`, `write`, `cas`, `transfer`, `add`, `txn`, `start-partition`...
    pub f: String,
    /// Present for keyed models; the checker partitions by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// By model, see DESIGN.md: `null` on a read's invoke, `[from, to]` for cas, ...
    #[serde(default)]
    pub value: serde_json::Value,
    /// Why an op failed or is unknown (`timeout`, `not-leader`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
