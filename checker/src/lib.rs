//! The checker: history types and formats, models, and the whole-history checks
//! (linearizability, bank, set-full, Elle's transactions, latency) behind one trait.
//!
//! Everything here is pure logic over histories: no sockets, no processes. `workloads`
//! writes histories with these types; `chaos` runs the checks a schedule names after a
//! run, and `faultline check` runs one on any history file, both through [`check`]'s
//! registry.
//!
//! # Layout
//!
//! - [`history`]: THE op type ([`Op`]), the JSON shape of `history.jsonl`.
//! - [`format`](mod@format): readers (streaming JSONL, Jepsen EDN, Porcupine's logs),
//!   format detection, [`InputError`] (`file:line: expected ..., found ...`), the JSONL writer.
//! - [`model`]: the [`Model`](model::Model) trait and one file per model.
//! - [`partition`]: pairing invokes with completions by process, splitting by key.
//! - [`linearizability`]: the search for one key.
//! - [`generate`]: synthetic linearizable histories for benchmarks and tests.
//! - [`reference`]: where the external reference corpus (Porcupine's histories) is found.
//! - [`check`]: THE check trait ([`Check`](check::Check), its report
//!   [`CheckReport`](check::CheckReport)) and the one registry of check names
//!   ([`check::REGISTRY`]); one module per check. Adding a check is one module there and
//!   one line in the registry. [`check::linearizable`] holds the linearizability entry
//!   points ([`check_linearizability_file`], [`check_linearizability_history`]): model
//!   choice, parallel per-key checking.
//! - [`latency`]: ops' latencies and the project's one percentile function.
//! - [`bank`], [`set_check`]: the bank check (totals, negative and unknown accounts,
//!   transfer availability per fault window; [`blocked`] adds the wall time without an ok
//!   transfer) and the set check after Jepsen's `set-full`
//!   (lost, stale, unexpected, recovered, never-read elements). Unlike the linearizability
//!   check they take the whole history as a slice of [`Op`]s (they need times and look at
//!   reads more than once); [`calls`] loads such histories, pairs invokes with
//!   completions and finds fault windows, and its [`ShapeError`](calls::ShapeError) names
//!   the record whose shape is wrong.
//! - [`verdict`], [`explain`], [`html`]: results, their explanation as text, and as a page.
//!
//! # Formats
//!
//! - `jsonl`: DESIGN.md's `history.jsonl`, read in chunks of whole lines; a fast parser for
//!   faultline's own line shape handles the usual lines (on worker threads for large
//!   files) and serde handles, and words the errors of, everything else; records reach
//!   the checker in file order as borrowed views. Keys may be strings or numbers.
//! - `edn`: Jepsen's `history.edn`, op maps with keywords (`:type :ok`, `:f :cas`), `nil`,
//!   vectors, strings, `#tag` prefixes ignored. If every keyless client op's value is a
//!   2-element vector, the history is a `jepsen.independent` one and `[k v]` becomes key
//!   `k` and value `v`. (A single-register history in which every value, reads' invokes
//!   included, is a pair would be misread this way; Jepsen's reads invoke with `nil`.)
//! - `jepsen-json`: Jepsen's history as one JSON array of op objects (elle-cli's and
//!   Jepsen's tooling's JSON: `[{"type":"invoke","f":"read","process":0,...}, ...]`),
//!   read into exactly the ops its EDN would give (`null` is `nil`), for every model and
//!   checker.
//! - `porcupine-jepsen`: Porcupine's `test_data/jepsen/etcd_NNN.log`, Jepsen's text log of
//!   one cas register (`INFO  jepsen.util - 3 :invoke :cas [1 4]`), unkeyed.
//! - `porcupine-kv`: Porcupine's `test_data/kv/*.txt`, EDN op maps with `:key`.
//! - `auto` looks at the first line: `{"` JSON lines, `[{"` (or `[]`) a Jepsen JSON
//!   array, `jepsen.util` a Jepsen log, `{:` with `:key` Porcupine kv, another `{`, `[`
//!   or `#` EDN.
//!
//! # Models and value shapes
//!
//! - `register`: `read` (invoke value ignored, ok value = what was read), `write v`.
//! - `cas-register` (default for read/write/cas): the register plus `cas [from, to]`.
//! - `kv-append` (default for get/put/append): Porcupine's kv on strings, per key; keys
//!   start as `""`; a `get` returning `null` counts as `""`.
//! - `set` (default for add): `add v`, `read` -> `[..]` (order ignored).
//!
//! Register values are any JSON, compared by canonical text (`1` and `1.0` differ). An
//! `ok` read that returned `null` ([`NilRead`]): in Jepsen's histories (`edn`,
//! `jepsen-json`) it matches any state and constrains nothing, as Knossos's `Register` and
//! `CASRegister` read it; in faultline's JSONL and Porcupine's logs it observed `null`
//! (Porcupine's reading; our runs record a read of a never-written key as `null`).
//! `--nil-read value|any` chooses either for any format. `--initial` sets every key's initial value (JSON, default `null`; for
//! kv-append a string, for a set an array). Keyed histories are checked per key
//! (P-compositionality), keys in parallel.
//!
//! # `info`, `fail`, and the two readings of a failed cas
//!
//! An `info` op (or an invoke never completed) may take effect at any time after its
//! invoke, or never; an `info` read constrains nothing and is dropped. A `fail` op did not
//! take effect and is dropped (Jepsen's reading, the default for every format but one).
//! Porcupine reads `:fail :cas [a b]` differently: the compare ran and returned false at
//! the linearization point, i.e. the cas is a read that observed a value other than `a`.
//! That reading ([`FailedCasReading::CompareFalse`]) is the default for the
//! `porcupine-jepsen` format, whose verdicts in Porcupine's `test_data` were computed with
//! it; `--failed-cas dropped` chooses Jepsen's. Jepsen's reading only removes constraints,
//! so it could turn a Porcupine-invalid file valid, never the reverse. On Porcupine's 102
//! etcd logs the two readings give the same verdict on every file (checked by
//! `tests/reference.rs`, which fails if that changes): each invalid log is invalid because
//! of reads and successful cas ops alone, whatever the failed compares observed.
//!
//! Before the search, the register models drop every `info` write (and `info` cas) whose
//! written value no read returned and no cas expects, and kv-append drops every `info`
//! append whose suffix appears in no string a `get` returned (`Model::prune_unneeded_info`,
//! with the proofs in their docs; the register's is off on a key with Porcupine-read
//! failed cas). Under a partition most timed-out writes are of that kind, and each is
//! otherwise free to float to any later point, multiplying the configurations to explore:
//! an 810-record stale-read history and a 480-record append history that filled a 1 GiB
//! memo and ended `unknown` are decided in milliseconds with it (`tests/pruning.rs`, which
//! also checks the kv-append pruning against brute force on 3,000 generated histories).
//!
//! # Verdicts
//!
//! `valid` (exit 0): every key has a linearization. `invalid` (exit 1): some key has none;
//! this is definite even if other keys were not finished, and it comes with an
//! [`Explanation`]. `unknown` (exit 2): no key was found invalid but some key was not
//! decided within the time limit or the memo budget. The checker never guesses: a
//! budget hit is `unknown`, and the memo compares configurations exactly, not by hash.
//!
//! # Dependencies
//!
//! - `serde`, `serde_json` (with `raw_value`): the JSON shape; borrowed raw values let
//!   the JSONL reader intern values without building a `Value` per op.
//! - `thiserror`: the error types.
//! - `rayon`: keys checked in parallel on a work-stealing pool.
//! - `hashbrown` (with `inline-more`): its `HashTable` stores bare entries compared by our
//!   own closures (interned texts in an arena, rope contents), so an entry costs a few
//!   words and no allocation. (The search's memo is its own simpler table: see
//!   [`linearizability`].)
//! - `rustc-hash`: FxHash, a fast non-cryptographic hash for interning tables.
//! - `html-escape`: correct escaping of text in the HTML page, a small well-kept crate.
//!
//! # Speed
//!
//! `checker/BENCHMARKS.md` has the numbers (file to verdict, against 5x-Porcupine
//! targets), the commands that measure them, and what each optimisation changed. In
//! short (2026-11-26, shared 2-core machine, fastest of 20 in-process runs): etcd_002
//! 26 ms (target 40), etcd_099 11.4 ms (target 12), etcd_007 5.8 ms (target 20), kv
//! c50-ok 26 ms (target 40); the whole reference set sums to ~122 ms (target 160).

pub mod bank;
pub mod blocked;
pub mod calls;
pub mod check;
pub mod elle;
pub mod explain;
pub mod format;
pub mod generate;
pub mod history;
pub mod html;
pub mod latency;
pub mod linearizability;
pub mod model;
pub mod partition;
pub mod reference;
pub mod set_check;
pub mod verdict;

pub use check::{
    CheckKind, LinearizabilityOptions, check_linearizability_file, check_linearizability_history,
};
pub use explain::Explanation;
pub use format::{Format, InputError};
pub use history::{Op, OpType, Process};
pub use model::{FailedCasReading, ModelKind, NilRead};
pub use verdict::{LinearizabilityResult, Verdict};
