//! The schedule as written: serde types with source locations, unknown keys refused.
//!
//! Every scalar that needs checking is read as a string (or number) wrapped in
//! [`Spanned`], so that [`super::validate`] can point at it.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::ScheduleError;
pub use crate::system::RawSystem;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub name: Spanned<String>,
    #[serde(default)]
    pub seed: Option<Spanned<u64>>,
    pub system: Spanned<RawSystem>,
    pub duration: Spanned<String>,
    pub workload: Spanned<RawWorkload>,
    #[serde(default)]
    pub network: Option<Spanned<String>>,
    #[serde(default)]
    pub nemesis: Vec<Spanned<RawFault>>,
    #[serde(default, rename = "final")]
    pub final_phase: Option<Spanned<RawFinal>>,
    #[serde(default)]
    pub checks: Option<Spanned<Vec<Spanned<String>>>>,
    /// The `elle` check's options.
    #[serde(default)]
    pub elle: Option<Spanned<RawElle>>,
}

/// `elle: { models: [strict-serializable] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawElle {
    pub models: Spanned<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    pub kind: Spanned<String>,
    #[serde(default)]
    pub keys: Option<Spanned<u64>>,
    #[serde(default)]
    pub clients: Option<Spanned<u64>>,
    #[serde(default)]
    pub rate: Option<Spanned<String>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// etcd only: `linearizable` (default) or `serializable`.
    #[serde(default)]
    pub read: Option<Spanned<String>>,
    /// A stdio adapter: `client: { command: "..." }`.
    #[serde(default)]
    pub client: Option<Spanned<RawClient>>,
}

/// `client:` of a workload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub command: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFinal {
    #[serde(default)]
    pub heal: Option<Spanned<bool>>,
    #[serde(default)]
    pub quiesce: Option<Spanned<String>>,
    #[serde(default)]
    pub final_reads: Option<Spanned<bool>>,
}

/// `partition:` is a shape name, a list of groups, or `{ star: NODE }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawPartition {
    Shape(String),
    Groups(Vec<Vec<String>>),
    Star(RawStar),
}

/// `partition: { star: n5 }`: only links through `n5` stay up.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStar {
    pub star: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    #[serde(default)]
    pub at: Option<Spanned<String>>,
    #[serde(default)]
    pub every: Option<Spanned<String>>,
    #[serde(default)]
    pub from: Option<Spanned<String>>,
    #[serde(default)]
    pub until: Option<Spanned<String>>,
    #[serde(default)]
    pub kill: Option<Spanned<String>>,
    #[serde(default)]
    pub pause: Option<Spanned<String>>,
    #[serde(default)]
    pub partition: Option<Spanned<RawPartition>>,
    #[serde(default)]
    pub one_of: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub target: Option<Spanned<String>>,
    #[serde(default, rename = "for")]
    pub length: Option<Spanned<String>>,
    #[serde(default)]
    pub restart_after: Option<Spanned<String>>,
    /// `partition: chase-leader` only.
    #[serde(default)]
    pub grace: Option<Spanned<String>>,
    /// `kill:` only: the node's faultfs forgets what it did not fsync (`crate::disk`).
    #[serde(default)]
    pub lose_unfsynced: Option<Spanned<bool>>,
    /// `kill:` only: flip bits of the stopped node's files.
    #[serde(default)]
    pub corrupt: Option<Spanned<RawCorrupt>>,
    /// `kill:` only: cut the end off the stopped node's files.
    #[serde(default)]
    pub truncate: Option<Spanned<RawTruncate>>,
    #[serde(default)]
    pub clock: Option<Spanned<RawClock>>,
    #[serde(default)]
    pub delay: Option<Spanned<RawDelay>>,
    #[serde(default)]
    pub loss: Option<Spanned<String>>,
    /// Read only to be refused with a reason (TCP cannot see duplicated packets).
    #[serde(default)]
    pub duplicate: Option<Spanned<String>>,
    /// `delay` and `loss` only: one directed link, `n1->n2`.
    #[serde(default)]
    pub link: Option<Spanned<String>>,
}

/// `corrupt: { file: GLOB, bitflip: P }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCorrupt {
    pub file: Spanned<String>,
    pub bitflip: Spanned<f64>,
}

/// `truncate: { file: GLOB, bytes: N }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTruncate {
    pub file: Spanned<String>,
    pub bytes: Spanned<u64>,
}

/// `clock: { bump: 5s }` or `clock: { strobe: { delta: 200ms, period: 10ms } }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClock {
    #[serde(default)]
    pub bump: Option<Spanned<String>>,
    #[serde(default)]
    pub strobe: Option<Spanned<RawStrobe>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStrobe {
    pub delta: Spanned<String>,
    pub period: Spanned<String>,
}

/// `delay: { latency: 50ms, jitter: 20ms }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelay {
    pub latency: Spanned<String>,
    #[serde(default)]
    pub jitter: Option<Spanned<String>>,
}

/// Parses YAML text into the raw schedule, turning serde-saphyr's errors into
/// `file:line:column: expected ..., found ...`.
pub fn parse(text: &str, file: &str) -> Result<RawSchedule, ScheduleError> {
    serde_saphyr::from_str::<RawSchedule>(text).map_err(|error| {
        if let Some((line, column, message)) = super::syntax::syntax_error(text) {
            return ScheduleError::Invalid {
                file: file.to_string(),
                line,
                column,
                message,
            };
        }
        let (line, column) = error
            .location()
            .map(|location| (location.line(), location.column()))
            .unwrap_or((1, 1));
        let plain = plain_message(&error);
        ScheduleError::Invalid {
            file: file.to_string(),
            line,
            column,
            message: super::syntax::typed_message(text, line, column, &plain)
                .unwrap_or_else(|| expected_found(&plain)),
        }
    })
}

/// The error's message without the location and snippet serde-saphyr adds when displaying.
fn plain_message(error: &serde_saphyr::Error) -> String {
    let rendered = error.without_snippet().to_string();
    // Without a trailing " at line L, column C".
    super::syntax::strip_position(rendered.lines().next().unwrap_or_default())
}

/// Rewrites serde's usual messages into the `expected ..., found ...` form.
pub fn expected_found(message: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field ")
        && let Some((field, expected)) = rest.split_once(", expected ")
    {
        return format!("expected {expected}, found unknown key {field}");
    }
    if let Some(rest) = message.strip_prefix("unknown field ")
        && let Some((field, _)) = rest.split_once(", there are no fields")
    {
        return format!("expected no keys here, found unknown key {field}");
    }
    if let Some(field) = message.strip_prefix("missing field ") {
        return format!("expected key {field}, found none");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return format!("expected {expected}, found {found}");
    }
    if let Some(rest) = message.strip_prefix("invalid value: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return format!("expected {expected}, found {found}");
    }
    if message.starts_with("data did not match any variant of untagged enum RawPartition") {
        return "expected a partition shape (isolate, halves, majorities-ring, bridge, leader, chase-leader), a list of node groups or { star: NODE }, found something else".into();
    }
    format!("expected a valid schedule, found an error: {message}")
}
