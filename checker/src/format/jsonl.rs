//! faultline's `history.jsonl`: one JSON op a line (DESIGN.md), read as a stream.
//!
//! The reader reuses one line buffer and deserializes each line into a borrowed struct
//! ([`LeanOp`]) whose strings and value point into that buffer; nothing per line survives
//! unless the sink interns it. [`write`] and [`OpReader`] are the owned-`Op` counterparts
//! for code that wants [`Op`] values.

use std::borrow::Cow;
use std::io::{BufRead, Write};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{InputError, OpSink, OpView, SinkError, ValRef, io_error, truncate};
use crate::history::{Op, OpType, Process};

/// One line, borrowed: only the fields the checker needs.
#[derive(Deserialize)]
struct LeanOp<'a> {
    #[serde(borrow)]
    process: &'a RawValue,
    #[serde(rename = "type")]
    kind: OpType,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(borrow, default)]
    key: Option<&'a RawValue>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
}

/// Streams a JSONL history into `sink`.
pub fn read(name: &str, mut reader: impl BufRead, sink: &mut dyn OpSink) -> Result<(), InputError> {
    let mut line = Vec::with_capacity(256);
    let mut line_no: u64 = 0;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| io_error(name, line_no + 1, &e))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        read_line(&line, sink, line_no).map_err(|e| e.at(name, line_no))?;
    }
}

fn read_line(line: &[u8], sink: &mut dyn OpSink, line_no: u64) -> Result<(), SinkError> {
    let lean: LeanOp<'_> = serde_json::from_slice(line).map_err(|e| {
        let text = String::from_utf8_lossy(line);
        SinkError::new(
            "a JSON op object with process, type and f",
            format!("{} ({e})", truncate(text.trim(), 60)),
        )
    })?;
    let process = parse_process(lean.process)?;
    let mut key_scratch = String::new();
    let key = match lean.key {
        None => None,
        Some(raw) => key_text(raw, &mut key_scratch)?,
    };
    let view = OpView {
        process,
        kind: lean.kind,
        f: &lean.f,
        key,
        value: lean.value.map_or(ValRef::Null, ValRef::Raw),
    };
    sink.accept(&view, line_no)
}

fn parse_process(raw: &RawValue) -> Result<Process, SinkError> {
    let text = raw.get();
    if let Ok(n) = text.parse::<u64>() {
        return Ok(Process::Client(n));
    }
    if text == "\"nemesis\"" {
        return Ok(Process::Nemesis);
    }
    Err(SinkError::new(
        "a process number or \"nemesis\"",
        truncate(text, 40),
    ))
}

/// Keys are strings in DESIGN.md; numbers are accepted and keyed by their text.
fn key_text<'a>(raw: &'a RawValue, scratch: &'a mut String) -> Result<Option<&'a str>, SinkError> {
    let text = raw.get();
    if text == "null" {
        return Ok(None);
    }
    if text.starts_with('"') && !text.contains('\\') {
        return Ok(Some(&text[1..text.len() - 1]));
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| SinkError::new("a key", e.to_string()))?;
    *scratch = match value {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        other => {
            return Err(SinkError::new(
                "a string or number key",
                truncate(&other.to_string(), 40),
            ));
        }
    };
    Ok(Some(scratch.as_str()))
}

/// Writes ops as JSON lines.
pub fn write<'a>(
    ops: impl IntoIterator<Item = &'a Op>,
    mut out: impl Write,
) -> std::io::Result<()> {
    for op in ops {
        serde_json::to_writer(&mut out, op)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Reads owned [`Op`]s from a JSONL stream, one at a time.
pub struct OpReader<R> {
    name: String,
    reader: R,
    line: String,
    line_no: u64,
}

impl<R: BufRead> OpReader<R> {
    pub fn new(name: impl Into<String>, reader: R) -> OpReader<R> {
        OpReader {
            name: name.into(),
            reader,
            line: String::new(),
            line_no: 0,
        }
    }
}

impl<R: BufRead> Iterator for OpReader<R> {
    type Item = Result<Op, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.line.clear();
            match self.reader.read_line(&mut self.line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(io_error(&self.name, self.line_no + 1, &e))),
            }
            self.line_no += 1;
            if self.line.trim().is_empty() {
                continue;
            }
            return Some(serde_json::from_str(&self.line).map_err(|e| InputError {
                file: self.name.clone(),
                line: self.line_no,
                expected: "a JSON op object".to_string(),
                found: format!("{} ({e})", truncate(self.line.trim(), 60)),
            }));
        }
    }
}
