//! History file formats: faultline's JSONL, Jepsen's `history.edn` and its JSON mirror
//! (one array of op objects), and Porcupine's two test-data formats, read as a stream of borrowed op views into an [`OpSink`].
//!
//! Readers never build a `Vec` of lines: JSONL is parsed line by line from a buffered
//! reader into borrowed views; the sink interns what it keeps. Errors carry the file and
//! line and read `file:line: expected ..., found ...`.

pub mod edn;
pub mod jepsen_json;
pub mod jsonl;
mod jsonl_fast;
pub mod porcupine;

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::history::{OpType, Process};

/// A history file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Detect from the first bytes of the file.
    Auto,
    /// faultline's `history.jsonl`.
    Jsonl,
    /// Jepsen's `history.edn` (one op map per top-level form, or a vector of them).
    Edn,
    /// Jepsen's history as JSON, as elle-cli and Jepsen's tooling write it: one array of
    /// op objects (`[{"type":"invoke","f":"read","process":0,...}, ...]`), read with the
    /// same semantics as the EDN it mirrors (`null` is EDN's `nil`).
    JepsenJson,
    /// Porcupine's `test_data/jepsen/etcd_NNN.log` (Jepsen's text log of a cas register).
    PorcupineJepsen,
    /// Porcupine's `test_data/kv/*.txt` (EDN maps with `:key`, get/put/append).
    PorcupineKv,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Format::Auto),
            "jsonl" | "json" => Ok(Format::Jsonl),
            "edn" => Ok(Format::Edn),
            "jepsen-json" => Ok(Format::JepsenJson),
            "porcupine-jepsen" => Ok(Format::PorcupineJepsen),
            "porcupine-kv" => Ok(Format::PorcupineKv),
            other => Err(format!(
                "unknown format {other:?}: expected auto, jsonl, edn, jepsen-json, porcupine-jepsen or porcupine-kv"
            )),
        }
    }
}

impl Format {
    /// Jepsen's own histories (EDN, or the JSON array mirroring it), which the register
    /// models read as Knossos does (a read of `nil` matches any state, [`NilRead::Any`]).
    ///
    /// [`NilRead::Any`]: crate::model::NilRead::Any
    pub fn is_jepsen(self) -> bool {
        matches!(self, Format::Edn | Format::JepsenJson)
    }
}

/// Bad input, located: its Display is exactly `file:line: expected ..., found ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: expected {expected}, found {found}")]
pub struct InputError {
    pub file: String,
    /// 1-based; 0 when the problem is the file as a whole (e.g. it cannot be opened).
    pub line: u64,
    pub expected: String,
    pub found: String,
}

/// What a sink or a value conversion objects to, before the line is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, found {found}")]
pub struct SinkError {
    pub expected: String,
    pub found: String,
    /// The line the problem is on, when it is not the line being read (a record that was
    /// held back and replayed).
    pub line: Option<u64>,
}

impl SinkError {
    pub fn new(expected: impl Into<String>, found: impl Into<String>) -> SinkError {
        SinkError {
            expected: expected.into(),
            found: found.into(),
            line: None,
        }
    }

    pub fn at(self, file: &str, line: u64) -> InputError {
        InputError {
            file: file.to_string(),
            line: self.line.unwrap_or(line),
            expected: self.expected,
            found: self.found,
        }
    }
}

/// A value as a reader has it: raw JSON text borrowed from the line, or a parsed value.
#[derive(Debug, Clone, Copy)]
pub enum ValRef<'a> {
    Null,
    Raw(&'a RawValue),
    Json(&'a Value),
    /// Valid JSON text that is already canonical: an integer, `null`, a boolean, or a
    /// string without escapes (what `is_canonical_scalar` accepts), found so by the fast
    /// JSONL reader.
    Canonical(&'a str),
    /// A JSON array of canonical scalars and of such arrays (a transaction's micro-ops),
    /// validated by the fast JSONL reader, as written: read exactly as [`ValRef::Raw`] of
    /// the same text, without validating it a second time.
    Array(&'a str),
}

impl<'a> ValRef<'a> {
    pub fn is_null(&self) -> bool {
        match self {
            ValRef::Null => true,
            ValRef::Raw(r) => r.get() == "null",
            ValRef::Json(v) => v.is_null(),
            ValRef::Canonical(text) => *text == "null",
            ValRef::Array(_) => false,
        }
    }

    /// The JSON text of a value read from text (not of a parsed one).
    fn text(&self) -> Option<&'a str> {
        match *self {
            ValRef::Raw(raw) => Some(raw.get()),
            ValRef::Canonical(text) | ValRef::Array(text) => Some(text),
            ValRef::Null | ValRef::Json(_) => None,
        }
    }

    /// Canonical JSON text of the value, borrowed when the raw text already is canonical.
    pub fn canonical<'s>(&'s self, scratch: &'s mut String) -> Result<&'s str, SinkError> {
        match self {
            ValRef::Null => Ok("null"),
            ValRef::Canonical(text) => Ok(text),
            ValRef::Raw(_) | ValRef::Array(_) => {
                let text = self.text().expect("read from text");
                if is_canonical_scalar(text) {
                    return Ok(text);
                }
                let value: Value = serde_json::from_str(text)
                    .map_err(|e| SinkError::new("a JSON value", e.to_string()))?;
                *scratch = value.to_string();
                Ok(scratch.as_str())
            }
            ValRef::Json(value) => {
                *scratch = value.to_string();
                Ok(scratch.as_str())
            }
        }
    }

    /// The value as an owned JSON value.
    pub fn to_value(&self) -> Result<Value, SinkError> {
        match self {
            ValRef::Null => Ok(Value::Null),
            ValRef::Raw(_) | ValRef::Canonical(_) | ValRef::Array(_) => {
                serde_json::from_str(self.text().expect("read from text"))
                    .map_err(|e| SinkError::new("a JSON value", e.to_string()))
            }
            ValRef::Json(value) => Ok((*value).clone()),
        }
    }

    /// A JSON string's content, if the value is a string.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        match *self {
            ValRef::Null | ValRef::Array(_) => None,
            ValRef::Raw(raw) => {
                let text = raw.get();
                if text.starts_with('"') && !text.contains('\\') && text.len() >= 2 {
                    Some(Cow::Borrowed(&text[1..text.len() - 1]))
                } else if text.starts_with('"') {
                    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
                } else {
                    None
                }
            }
            ValRef::Json(value) => value.as_str().map(Cow::Borrowed),
            ValRef::Canonical(text) => text
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .map(Cow::Borrowed),
        }
    }

    /// The two elements of a 2-element array (`[from, to]`).
    pub fn as_pair(&self) -> Option<(ValRef<'a>, ValRef<'a>)> {
        match *self {
            ValRef::Null => None,
            ValRef::Raw(_) | ValRef::Array(_) => {
                let [a, b]: [&'a RawValue; 2] = serde_json::from_str(self.text()?).ok()?;
                Some((ValRef::Raw(a), ValRef::Raw(b)))
            }
            ValRef::Json(Value::Array(items)) if items.len() == 2 => {
                Some((ValRef::Json(&items[0]), ValRef::Json(&items[1])))
            }
            ValRef::Json(_) | ValRef::Canonical(_) => None,
        }
    }

    /// The elements of an array.
    pub fn as_items(&self) -> Option<Vec<ValRef<'a>>> {
        match *self {
            ValRef::Null => None,
            ValRef::Raw(_) | ValRef::Array(_) => {
                let items: Vec<&'a RawValue> = serde_json::from_str(self.text()?).ok()?;
                Some(items.into_iter().map(ValRef::Raw).collect())
            }
            ValRef::Json(Value::Array(items)) => Some(items.iter().map(ValRef::Json).collect()),
            ValRef::Json(_) | ValRef::Canonical(_) => None,
        }
    }

    /// Short text for error messages.
    pub fn preview(&self) -> String {
        let mut scratch = String::new();
        let text = self.canonical(&mut scratch).unwrap_or("<invalid JSON>");
        truncate(text, 60)
    }
}

/// Integers, `null`, booleans and escape-free strings are already in canonical form.
pub(crate) fn is_canonical_scalar(text: &str) -> bool {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(b'"') => !bytes.contains(&b'\\'),
        Some(b'-' | b'0'..=b'9') => {
            bytes[1..].iter().all(u8::is_ascii_digit) && text != "-" && text != "-0"
        }
        _ => matches!(text, "null" | "true" | "false"),
    }
}

/// Cuts text for error messages, at a char boundary.
pub(crate) fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max_chars).collect();
        format!("{cut}...")
    }
}

/// One history record as a reader sees it, borrowing from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct OpView<'a> {
    pub process: Process,
    pub kind: OpType,
    pub f: &'a str,
    pub key: Option<&'a str>,
    pub value: ValRef<'a>,
}

/// Where readers deliver records, in file order. `line` is 1-based.
pub trait OpSink {
    fn accept(&mut self, op: &OpView<'_>, line: u64) -> Result<(), SinkError>;
}

/// Reads `path` in `format` into `sink`; returns the format actually read (after detection).
pub fn read_file(path: &Path, format: Format, sink: &mut dyn OpSink) -> Result<Format, InputError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| io_error(&name, 0, &e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let format = match format {
        Format::Auto => detect(&name, &mut reader)?,
        other => other,
    };
    match format {
        Format::Jsonl => {
            let workers = parse_workers(&file_len(&reader));
            if workers > 1 {
                jsonl::read_parallel(&name, reader, workers, sink)?;
            } else {
                jsonl::read(&name, reader, sink)?;
            }
        }
        Format::Edn | Format::PorcupineKv => edn::read_history(&name, reader, sink)?,
        Format::JepsenJson => jepsen_json::read_history(&name, reader, sink)?,
        Format::PorcupineJepsen => porcupine::read_jepsen_log(&name, reader, sink)?,
        Format::Auto => unreachable!("detect never returns Auto"),
    }
    Ok(format)
}

/// JSONL files at least this large are parsed on worker threads: below it, starting
/// threads costs more than it saves.
const PARALLEL_MIN_BYTES: u64 = 4 << 20;

fn file_len(reader: &BufReader<File>) -> Option<u64> {
    reader.get_ref().metadata().ok().map(|m| m.len())
}

/// Worker threads for parsing a JSONL file of this size (1: parse on the calling thread).
fn parse_workers(len: &Option<u64>) -> usize {
    match len {
        Some(len) if *len >= PARALLEL_MIN_BYTES => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4),
        _ => 1,
    }
}

pub(crate) fn io_error(file: &str, line: u64, error: &std::io::Error) -> InputError {
    InputError {
        file: file.to_string(),
        line,
        expected: "a readable UTF-8 history file".to_string(),
        found: error.to_string(),
    }
}

/// Looks at the first non-blank bytes to tell the formats apart.
pub fn detect(name: &str, reader: &mut impl BufRead) -> Result<Format, InputError> {
    let head = reader.fill_buf().map_err(|e| io_error(name, 0, &e))?;
    let head = String::from_utf8_lossy(&head[..head.len().min(8192)]).into_owned();
    let trimmed = head.trim_start();
    let first_line = trimmed.lines().next().unwrap_or("");
    if trimmed.is_empty() {
        return Ok(Format::Jsonl);
    }
    if first_line.contains("jepsen.util") || first_line.starts_with("INFO") {
        return Ok(Format::PorcupineJepsen);
    }
    let after_brace = trimmed.strip_prefix('{').map(str::trim_start);
    if after_brace.is_some_and(|rest| rest.starts_with('"') || rest.starts_with('}')) {
        return Ok(Format::Jsonl);
    }
    if jepsen_json::looks_like(trimmed) {
        return Ok(Format::JepsenJson);
    }
    if first_line.starts_with("{:") && first_line.contains(":key") {
        return Ok(Format::PorcupineKv);
    }
    if matches!(trimmed.as_bytes()[0], b'{' | b'[' | b'#' | b'(' | b';') {
        return Ok(Format::Edn);
    }
    let line = head[..head.len() - trimmed.len()].matches('\n').count() as u64 + 1;
    Err(InputError {
        file: name.to_string(),
        line,
        expected: "a history (JSON lines, a JSON array of ops, EDN maps, or a Jepsen log)"
            .to_string(),
        found: format!("{:?}", truncate(first_line, 40)),
    })
}

/// Reads a whole (non-JSONL) file as text; these formats are small in practice.
pub(crate) fn read_text(name: &str, mut reader: impl Read) -> Result<String, InputError> {
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|e| io_error(name, 0, &e))?;
    Ok(text)
}
