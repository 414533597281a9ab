//! The bank's wire types: request and answer bodies of the client, coordinator and
//! participant HTTP/JSON APIs (see the [`crate::bank`] docs for the endpoints), and the
//! account naming and sharding rule shared by every process.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A transaction id chosen by the client (unique per transfer, reused by retries).
pub type TxnId = String;
/// A participant's id, e.g. `p1`.
pub type ParticipantId = String;
/// Balances by account name.
pub type Balances = BTreeMap<String, i64>;

/// Longest accepted transaction or read id.
pub const MAX_ID_BYTES: usize = 128;

/// `POST /transfer` on the coordinator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub txn: TxnId,
    pub from: String,
    pub to: String,
    pub amount: i64,
}

/// One account's change within a transaction, as sent to the participant owning it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delta {
    pub account: String,
    pub delta: i64,
}

/// `POST /prepare` on a participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepareRequest {
    pub txn: TxnId,
    pub deltas: Vec<Delta>,
}

/// Why a participant votes no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoReason {
    /// A debit would make a balance negative.
    InsufficientFunds,
    /// An account is held by another prepared transaction or by a read (after the lock wait).
    Locked,
    /// An account this participant does not own.
    UnknownAccount,
    /// The transaction was already committed or aborted here: a late or repeated prepare.
    AlreadyDecided,
    /// The same transaction id is prepared here with other deltas.
    TxnIdReused,
    /// The prepare record could not be made durable.
    LogFailed,
}

/// A participant's vote: the answer to `POST /prepare` (always HTTP 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "vote", rename_all = "kebab-case")]
pub enum VoteReply {
    Yes,
    No { reason: NoReason },
}

/// `POST /commit` and `POST /abort` on a participant, and `POST /txn-status` on the
/// coordinator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnRef {
    pub txn: TxnId,
}

/// The coordinator's answer to `POST /txn-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TxnStatus {
    Commit,
    Abort,
    /// Still collecting votes: ask again later.
    Pending,
}

/// The body of the `POST /txn-status` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnStatusReply {
    pub txn: TxnId,
    pub status: TxnStatus,
}

/// `POST /read-lock` on a participant: lock every account of the shard for a read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadLockRequest {
    pub read: String,
    pub lease_ms: u64,
}

/// The answer to a granted `POST /read-lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadLockReply {
    pub balances: Balances,
}

/// `POST /read-release` on a participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadReleaseRequest {
    pub read: String,
}

/// The name of account `index`: `a0`, `a1`, ...
pub fn account_name(index: u64) -> String {
    format!("a{index}")
}

/// The index of an account name, if it is one of the `accounts` accounts.
pub fn account_index(name: &str, accounts: u64) -> Option<u64> {
    let digits = name.strip_prefix('a')?;
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let index: u64 = digits.parse().ok()?;
    (index < accounts).then_some(index)
}

/// The shard (0-based participant position) that owns account `index`.
pub fn shard_of(index: u64, shards: u64) -> u64 {
    index % shards
}

/// The accounts owned by `shard`, each with `initial_balance`.
pub fn initial_balances(accounts: u64, shard: u64, shards: u64, initial_balance: i64) -> Balances {
    (0..accounts)
        .filter(|&index| shard_of(index, shards) == shard)
        .map(|index| (account_name(index), initial_balance))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_round_trip_and_reject_lookalikes() {
        assert_eq!(account_index(&account_name(7), 10), Some(7));
        assert_eq!(account_index("a10", 10), None);
        assert_eq!(account_index("a07", 10), None);
        assert_eq!(account_index("a", 10), None);
        assert_eq!(account_index("b1", 10), None);
        assert_eq!(account_index("a-1", 10), None);
    }

    #[test]
    fn shards_partition_the_accounts() {
        let all: usize = (0..3).map(|s| initial_balances(10, s, 3, 5).len()).sum();
        assert_eq!(all, 10);
        assert!(initial_balances(10, 1, 3, 5).contains_key("a4"));
    }

    #[test]
    fn votes_have_a_stable_wire_form() {
        let no = VoteReply::No {
            reason: NoReason::InsufficientFunds,
        };
        assert_eq!(
            serde_json::to_string(&no).unwrap(),
            r#"{"vote":"no","reason":"insufficient-funds"}"#
        );
        assert_eq!(
            serde_json::to_string(&VoteReply::Yes).unwrap(),
            r#"{"vote":"yes"}"#
        );
    }
}
