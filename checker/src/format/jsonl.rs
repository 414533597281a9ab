//! faultline's `history.jsonl`: one JSON op a line (DESIGN.md), read as a stream.
//!
//! The reader takes the file in chunks of whole lines (about 1 MiB). Each chunk is parsed
//! by the fast path (`jsonl_fast`) into compact records with spans into the chunk;
//! lines it does not take (anything unusual, and every malformed line) are deserialized by
//! serde into a borrowed struct (`LeanOp`), which also words every error. Records then
//! reach the sink in file order as borrowed views; nothing per line survives unless the
//! sink interns it. [`read_parallel`] parses chunks on worker threads while the calling
//! thread delivers them in order; at most a few chunks are in flight, so memory stays
//! bounded whatever the file size. [`write()`] and [`OpReader`] are the owned-`Op`
//! counterparts for code that wants [`Op`] values.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::sync::{Mutex, mpsc};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::jsonl_fast::{FastValue, Record, Span, parse_chunk};
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

/// Chunks are cut at the first line end after this many bytes.
const CHUNK_BYTES: usize = 1 << 20;
/// Buffers in flight in the parallel reader (bounds its memory).
const BUFFERS_PER_WORKER: usize = 3;

/// Streams a JSONL history into `sink`, on the calling thread.
pub fn read(name: &str, reader: impl Read, sink: &mut dyn OpSink) -> Result<(), InputError> {
    let mut chunks = ChunkReader::new(reader);
    let mut merger = Merger::new(name);
    let mut buffer = Vec::new();
    while let Some(bytes) = chunks.next_chunk(buffer).map_err(|e| merger.io_error(&e))? {
        let parsed = ParsedChunk::parse(bytes).map_err(|e| e.at(name, merger.lines + 1))?;
        buffer = merger.deliver(parsed, sink)?;
    }
    Ok(())
}

/// Streams a JSONL history into `sink`, parsing chunks on `workers` threads while this
/// thread delivers them in file order (the sink sees exactly what [`read`] gives it).
pub fn read_parallel(
    name: &str,
    reader: impl Read + Send,
    workers: usize,
    sink: &mut dyn OpSink,
) -> Result<(), InputError> {
    let workers = workers.max(1);
    let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(workers);
    let work_rx = Mutex::new(work_rx);
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<(u64, ChunkResult)>();
        let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
        for _ in 0..workers * BUFFERS_PER_WORKER {
            free_tx.send(Vec::new()).expect("receiver alive");
        }
        let reader_done = done_tx.clone();
        scope.spawn(move || read_chunks(reader, free_rx, work_tx, reader_done));
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            scope.spawn(move || parse_chunks(work_rx, done_tx));
        }
        drop(done_tx);
        merge_in_order(name, done_rx, free_tx, sink)
    })
}

type ChunkResult = Result<ParsedChunk, ChunkError>;

#[derive(Debug)]
enum ChunkError {
    Io(std::io::Error),
    Input(SinkError),
}

/// The reader thread: fills free buffers with whole lines and hands them out, numbered.
fn read_chunks(
    reader: impl Read,
    free: mpsc::Receiver<Vec<u8>>,
    work: mpsc::SyncSender<(u64, Vec<u8>)>,
    done: mpsc::Sender<(u64, ChunkResult)>,
) {
    let mut chunks = ChunkReader::new(reader);
    for index in 0.. {
        // A closed channel means the merger stopped (an error): stop too.
        let Ok(buffer) = free.recv() else { return };
        match chunks.next_chunk(buffer) {
            Ok(Some(bytes)) => {
                if work.send((index, bytes)).is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                let _ = done.send((index, Err(ChunkError::Io(e))));
                return;
            }
        }
    }
}

/// A worker thread: parses chunks until the reader closes the work queue.
fn parse_chunks(
    work: &Mutex<mpsc::Receiver<(u64, Vec<u8>)>>,
    done: mpsc::Sender<(u64, ChunkResult)>,
) {
    loop {
        let job = match work.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok((index, bytes)) = job else { return };
        let parsed = ParsedChunk::parse(bytes).map_err(ChunkError::Input);
        // If the merger is gone, keep draining so that the reader is never stuck.
        let _ = done.send((index, parsed));
    }
}

/// Delivers parsed chunks to the sink in file order.
fn merge_in_order(
    name: &str,
    done: mpsc::Receiver<(u64, ChunkResult)>,
    free: mpsc::Sender<Vec<u8>>,
    sink: &mut dyn OpSink,
) -> Result<(), InputError> {
    let mut merger = Merger::new(name);
    let mut waiting: BTreeMap<u64, ChunkResult> = BTreeMap::new();
    let mut next: u64 = 0;
    for (index, result) in done {
        waiting.insert(index, result);
        while let Some(result) = waiting.remove(&next) {
            next += 1;
            let parsed = match result {
                Ok(parsed) => parsed,
                Err(ChunkError::Io(e)) => return Err(merger.io_error(&e)),
                Err(ChunkError::Input(e)) => return Err(e.at(name, merger.lines + 1)),
            };
            let buffer = merger.deliver(parsed, sink)?;
            let _ = free.send(buffer);
        }
    }
    Ok(())
}

/// Cuts a byte stream into chunks of whole lines (the last one may lack its newline).
struct ChunkReader<R> {
    reader: R,
    carry: Vec<u8>,
    eof: bool,
}

impl<R: Read> ChunkReader<R> {
    fn new(reader: R) -> ChunkReader<R> {
        ChunkReader {
            reader,
            carry: Vec::new(),
            eof: false,
        }
    }

    /// Fills `buffer` (its contents are discarded) with the next whole lines.
    ///
    /// The buffer's old bytes (a chunk already parsed) are room to read into as they are:
    /// only room beyond them is zeroed first, so a reused buffer costs no `memset`.
    fn next_chunk(&mut self, mut buffer: Vec<u8>) -> std::io::Result<Option<Vec<u8>>> {
        let carried = self.carry.len();
        if buffer.len() < carried {
            buffer.resize(carried, 0);
        }
        buffer[..carried].copy_from_slice(&self.carry);
        self.carry.clear();
        let mut filled = carried;
        let mut scanned = 0;
        loop {
            if !self.eof && filled < CHUNK_BYTES {
                filled = self.fill(&mut buffer, filled)?;
                continue;
            }
            if self.eof {
                buffer.truncate(filled);
                return Ok((filled > 0).then_some(buffer));
            }
            if let Some(last) = memchr::memrchr(b'\n', &buffer[scanned..filled]) {
                self.carry
                    .extend_from_slice(&buffer[scanned + last + 1..filled]);
                buffer.truncate(scanned + last + 1);
                return Ok(Some(buffer));
            }
            // One line longer than a chunk: read on until it ends.
            scanned = filled;
            filled = self.fill(&mut buffer, filled)?;
        }
    }

    /// Reads once into `buffer` after its first `filled` bytes; returns the new filled
    /// length. At least a chunk of room is offered, so that a read through the caller's
    /// `BufReader` (whose buffer is a chunk) goes straight to `buffer`, not through a copy.
    fn fill(&mut self, buffer: &mut Vec<u8>, filled: usize) -> std::io::Result<usize> {
        if buffer.len() < filled + CHUNK_BYTES {
            buffer.resize(filled + CHUNK_BYTES, 0);
        }
        let n = loop {
            match self.reader.read(&mut buffer[filled..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.eof = n == 0;
        Ok(filled + n)
    }
}

/// A chunk's text (or bytes, if it is not UTF-8) and its parsed lines.
#[derive(Debug)]
struct ParsedChunk {
    text: Result<String, Vec<u8>>,
    records: Vec<Record>,
    lines: u64,
}

impl ParsedChunk {
    fn parse(bytes: Vec<u8>) -> Result<ParsedChunk, SinkError> {
        if u32::try_from(bytes.len()).is_err() {
            return Err(SinkError::new("lines shorter than 4 GiB", "a longer line"));
        }
        let mut records = Vec::with_capacity(bytes.len() / 64);
        match String::from_utf8(bytes) {
            Ok(text) => {
                let lines = parse_chunk(&text, &mut records);
                Ok(ParsedChunk {
                    text: Ok(text),
                    records,
                    lines: u64::from(lines),
                })
            }
            Err(e) => {
                // Not UTF-8 somewhere: every line goes to the serde path, which says where.
                let bytes = e.into_bytes();
                let lines = slow_lines(&bytes, &mut records);
                Ok(ParsedChunk {
                    text: Err(bytes),
                    records,
                    lines: u64::from(lines),
                })
            }
        }
    }

    fn into_buffer(self) -> Vec<u8> {
        match self.text {
            Ok(text) => text.into_bytes(),
            Err(bytes) => bytes,
        }
    }
}

/// Marks every non-blank line for the serde path; returns the number of lines.
fn slow_lines(bytes: &[u8], records: &mut Vec<Record>) -> u32 {
    let mut line = 0;
    let mut start = 0;
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| start + i);
        line += 1;
        if !bytes[start..end].iter().all(u8::is_ascii_whitespace) {
            records.push(Record::Slow {
                line,
                span: (start as u32, (end + 1).min(bytes.len()) as u32),
            });
        }
        start = end + 1;
    }
    line
}

/// Hands records to the sink with their line numbers, chunk after chunk.
struct Merger<'n> {
    name: &'n str,
    /// Lines in the chunks delivered so far.
    lines: u64,
}

impl<'n> Merger<'n> {
    fn new(name: &'n str) -> Merger<'n> {
        Merger { name, lines: 0 }
    }

    fn io_error(&self, e: &std::io::Error) -> InputError {
        io_error(self.name, self.lines + 1, e)
    }

    /// Delivers one chunk; returns its buffer for reuse.
    fn deliver(
        &mut self,
        chunk: ParsedChunk,
        sink: &mut dyn OpSink,
    ) -> Result<Vec<u8>, InputError> {
        match &chunk.text {
            Ok(text) => {
                for record in &chunk.records {
                    self.deliver_record(text, record, sink)?;
                }
            }
            Err(bytes) => {
                for record in &chunk.records {
                    let (line, span) = record.line_span();
                    self.slow(bytes, line, span, sink)?;
                }
            }
        }
        self.lines += chunk.lines;
        Ok(chunk.into_buffer())
    }

    fn deliver_record(
        &self,
        text: &str,
        record: &Record,
        sink: &mut dyn OpSink,
    ) -> Result<(), InputError> {
        let Record::Fast {
            line,
            span: _,
            process,
            kind,
            f,
            key,
            value,
        } = *record
        else {
            let (line, span) = record.line_span();
            return self.slow(text.as_bytes(), line, span, sink);
        };
        let slice = |(a, b): Span| &text[a as usize..b as usize];
        let value = match value {
            FastValue::Absent => ValRef::Null,
            FastValue::Scalar(at) => ValRef::Canonical(slice(at)),
            FastValue::Array(at) => ValRef::Array(slice(at)),
        };
        let view = OpView {
            process,
            kind,
            f: slice(f),
            key: key.map(slice),
            value,
        };
        let line_no = self.lines + u64::from(line);
        sink.accept(&view, line_no)
            .map_err(|e| e.at(self.name, line_no))
    }

    fn slow(
        &self,
        bytes: &[u8],
        line: u32,
        (a, b): Span,
        sink: &mut dyn OpSink,
    ) -> Result<(), InputError> {
        let line_no = self.lines + u64::from(line);
        read_line(&bytes[a as usize..b as usize], sink, line_no)
            .map_err(|e| e.at(self.name, line_no))
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

#[cfg(test)]
pub(crate) mod tests {
    //! The chunked reader with its fast path must tell the sink exactly what the serde path
    //! alone tells it, line for line, errors included: checked on tricky lines and on
    //! thousands of random mutations of real ones.
    use super::*;
    use proptest::prelude::*;

    /// What a sink saw: each op rendered as text, or the error that stopped the read.
    #[derive(Default)]
    struct Recorder {
        seen: Vec<String>,
    }

    impl OpSink for Recorder {
        fn accept(&mut self, op: &OpView<'_>, line: u64) -> Result<(), SinkError> {
            let mut scratch = String::new();
            let canonical = op.value.canonical(&mut scratch)?.to_string();
            let pair = op.value.as_pair().map(|(a, b)| {
                let (mut s1, mut s2) = (String::new(), String::new());
                format!(
                    "{}|{}",
                    a.canonical(&mut s1).unwrap_or("?"),
                    b.canonical(&mut s2).unwrap_or("?")
                )
            });
            self.seen.push(format!(
                "{line}: {:?} {:?} {:?} {:?} {canonical} {:?} {:?} {}",
                op.process,
                op.kind,
                op.f,
                op.key,
                op.value.as_str(),
                pair,
                op.value.is_null()
            ));
            Ok(())
        }
    }

    /// The reference: every non-blank line through serde.
    fn serde_only(text: &[u8]) -> Vec<String> {
        let mut sink = Recorder::default();
        let mut line_no = 0;
        for line in text.split_inclusive(|&b| b == b'\n') {
            line_no += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Err(e) = read_line(line, &mut sink, line_no) {
                sink.seen.push(e.at("h", line_no).to_string());
                break;
            }
        }
        sink.seen
    }

    fn chunked(text: &[u8], parallel: bool) -> Vec<String> {
        let mut sink = Recorder::default();
        let result = if parallel {
            read_parallel("h", text, 2, &mut sink)
        } else {
            read("h", text, &mut sink)
        };
        if let Err(e) = result {
            sink.seen.push(e.to_string());
        }
        sink.seen
    }

    const LINES: &[&str] = &[
        r#"{"index":0,"time":1,"process":3,"type":"invoke","f":"write","key":"k1","value":4}"#,
        r#"{"process":3,"type":"ok","f":"write","key":"k1","value":4}"#,
        r#"{"process":"nemesis","type":"info","f":"start-partition","value":[["n1"],["n2","n3"]]}"#,
        r#" { "process" : 2 , "type" : "invoke" , "f" : "cas" , "value" : [ 1 , 2 ] } "#,
        r#"{"process":2,"type":"fail","f":"cas","value":[1,2],"error":"not-leader"}"#,
        r#"{"process":4,"type":"invoke","f":"read","key":null,"value":null}"#,
        r#"{"process":4,"type":"ok","f":"read","value":"a\"b"}"#,
        r#"{"process":5,"type":"invoke","f":"write","key":"k\u0031","value":1.0}"#,
        r#"{"process":5,"type":"ok","f":"write","key":7,"value":-0}"#,
        r#"{"process":6,"type":"invoke","f":"add","value":"é"}"#,
        r#"{"process":6,"type":"ok","f":"add","value":true,"extra":{"x":[1]}}"#,
        r#"{"process":6,"process":7,"type":"invoke","f":"read"}"#,
        r#"{"process":01,"type":"invoke","f":"read"}"#,
        r#"{"process":-1,"type":"invoke","f":"read"}"#,
        r#"{"process":18446744073709551616,"type":"invoke","f":"read"}"#,
        r#"{"process":1,"type":"begin","f":"read"}"#,
        r#"{"process":1,"type":"invoke","f":"read","value":[1,[2]]}"#,
        r#"{"index":0,"time":1,"process":3,"type":"ok","f":"txn","value":[["append","k",1],["r","k",[1]]]}"#,
        r#"{"process":3,"type":"ok","f":"txn","value":[ ["r" , 5 , [ 1 , 2 ] ] , [ "append", 5, -3 ] ]}"#,
        r#"{"process":3,"type":"ok","f":"txn","value":[["r","k",[1.5]],["r","k",[[[[1]]]]]]}"#,
        r#"{"process":3,"type":"ok","f":"txn","value":[["r","k",[1]],]}"#,
        r#"{"process":1,"type":"invoke","f":"read","value":12345678901234567890123}"#,
        r#"{"process":1,"type":"invoke"}"#,
        r#"{"process":1,"type":"invoke","f":"read"} x"#,
        r#"[1,"invoke","read"]"#,
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"re\tad\"}",
        "",
        "   ",
        r#"{}"#,
    ];

    #[test]
    fn tricky_lines_read_as_serde_reads_them() {
        for (i, line) in LINES.iter().enumerate() {
            let text = format!("{}\n{line}\n{}\n", LINES[0], LINES[1]);
            let expected = serde_only(text.as_bytes());
            assert_eq!(
                chunked(text.as_bytes(), false),
                expected,
                "line {i}: {line}"
            );
            assert_eq!(chunked(text.as_bytes(), true), expected, "line {i}: {line}");
        }
    }

    #[test]
    fn crlf_blank_lines_and_a_missing_last_newline() {
        let text = format!("\r\n{}\r\n\n{}", LINES[0], LINES[1]);
        let expected = serde_only(text.as_bytes());
        assert_eq!(expected.len(), 2);
        assert_eq!(chunked(text.as_bytes(), false), expected);
    }

    #[test]
    fn many_chunks_keep_their_order_and_line_numbers() {
        // Several chunks' worth, with an error far down: same ops, same error line.
        let mut text = String::new();
        for i in 0..60_000 {
            text.push_str(&format!(
                "{{\"process\":{},\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k{}\",\"value\":{i}}}\n",
                i % 64,
                i % 7
            ));
        }
        text.push_str("{\"process\":1,\"type\":\"invoke\",\"f\":}\n");
        let expected = serde_only(text.as_bytes());
        assert!(
            expected
                .last()
                .is_some_and(|e| e.starts_with("h:60001: expected"))
        );
        assert_eq!(chunked(text.as_bytes(), false), expected);
        assert_eq!(chunked(text.as_bytes(), true), expected);
    }

    #[test]
    fn a_line_longer_than_a_chunk_and_the_lines_around_it() {
        let long = format!(
            "{{\"process\":9,\"type\":\"invoke\",\"f\":\"add\",\"value\":\"{}\"}}",
            "x".repeat(CHUNK_BYTES * 2 + 17)
        );
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&format!(
                "{{\"process\":{},\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k\",\"value\":{i}}}\n",
                i % 64
            ));
            if i == 15_000 {
                text.push_str(&long);
                text.push('\n');
            }
        }
        let expected = serde_only(text.as_bytes());
        assert_eq!(expected.len(), 20_001);
        assert_eq!(chunked(text.as_bytes(), false), expected);
        assert_eq!(chunked(text.as_bytes(), true), expected);
    }

    /// Bytes that matter to JSON, for mutations.
    const ALPHABET: &[u8] = b"{}[]\":,\\ \t\r0123456789-+.eEnulltrfasxk\x01\xc3\xa9\xff";

    /// `line` with each edit `(at, byte of alphabet, 0 insert | 1 remove | 2 replace)`
    /// applied in turn (positions wrap around the line's length).
    pub(crate) fn mutated(line: &[u8], edits: &[(usize, usize, u8)], alphabet: &[u8]) -> Vec<u8> {
        let mut line = line.to_vec();
        for &(at, b, op) in edits {
            let at = at % (line.len() + 1);
            match op {
                0 => line.insert(at, alphabet[b]),
                1 if at < line.len() => {
                    line.remove(at);
                }
                _ if at < line.len() => line[at] = alphabet[b],
                _ => line.push(alphabet[b]),
            }
        }
        line
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn mutated_lines_read_as_serde_reads_them(
            base in 0..LINES.len(),
            edits in proptest::collection::vec((0usize..200, 0usize..ALPHABET.len(), 0u8..3), 1..4),
        ) {
            let line = mutated(LINES[base].as_bytes(), &edits, ALPHABET);
            let mut text = LINES[1].as_bytes().to_vec();
            text.push(b'\n');
            text.extend_from_slice(&line);
            text.extend_from_slice(b"\n");
            text.extend_from_slice(LINES[0].as_bytes());
            let expected = serde_only(&text);
            prop_assert_eq!(chunked(&text, false), expected);
        }
    }
}
