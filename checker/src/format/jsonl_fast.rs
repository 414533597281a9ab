//! The fast path of the JSONL reader: a hand-written parser for the op lines faultline
//! itself writes, over a chunk of whole lines, producing compact records with spans.
//!
//! It accepts a strict subset of what the serde path ([`super::jsonl`]) accepts and reads
//! it the same way: an object whose fields are `process` (a number or `"nemesis"`), `type`,
//! `f`, `key` (`null` or a string), `value` (an integer, `null`, a boolean, an
//! escape-free string, or an array of those and of such arrays, at most
//! [`ARRAY_DEPTH_MAX`] deep: a transaction's micro-ops take this path too), `index`/`time`
//! (integers), `error`
//! (`null` or a string), each at most once, strings without escapes or control
//! characters. Any other line, including every malformed one, is marked [`Record::Slow`]
//! and goes through the serde path, so that error messages and corner cases stay exactly
//! those of that path: the fast path only ever says "this line means X" when the serde
//! path would say the same.

use crate::history::{OpType, Process};

/// Byte range within a chunk's text.
pub(crate) type Span = (u32, u32);

/// A value as the fast path found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FastValue {
    /// No `value` field.
    Absent,
    /// A canonical scalar (see `is_canonical_scalar`).
    Scalar(Span),
    /// A validated array of canonical scalars and arrays, as written.
    Array(Span),
}

impl Record {
    /// The line (1-based within the chunk) and its span.
    pub(crate) fn line_span(&self) -> (u32, Span) {
        match *self {
            Record::Fast { line, span, .. } | Record::Slow { line, span } => (line, span),
        }
    }
}

/// One line of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    Fast {
        /// 1-based line within the chunk.
        line: u32,
        /// The whole line with its newline, for the serde path should it be needed.
        span: Span,
        process: Process,
        kind: OpType,
        f: Span,
        key: Option<Span>,
        value: FastValue,
    },
    /// A line for the serde path (unusual or malformed), with its newline.
    Slow { line: u32, span: Span },
}

/// Parses every line of `text` (whole lines; the last may lack its newline); returns the
/// number of lines, blank ones included.
pub(crate) fn parse_chunk(text: &str, records: &mut Vec<Record>) -> u32 {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut line: u32 = 0;
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        line += 1;
        let body = &bytes[start..end];
        // A line that starts like an op object is not blank; only others need the scan.
        if body.first() == Some(&b'{') || !body.iter().all(u8::is_ascii_whitespace) {
            // The serde path sees the line with its newline, as a line reader gives it
            // (its error messages can tell).
            let span = (start as u32, (end + 1).min(bytes.len()) as u32);
            let body = (start as u32, end as u32);
            records.push(
                match parse_canonical(bytes, body, line, span)
                    .or_else(|| parse_line(bytes, body, line, span))
                {
                    Some(record) => record,
                    None => Record::Slow { line, span },
                },
            );
        }
        start = end + 1;
    }
    line
}

/// A cursor over one line of a chunk.
struct Cursor<'b> {
    bytes: &'b [u8],
    pos: usize,
    end: usize,
}

impl Cursor<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        (self.pos < self.end).then(|| self.bytes[self.pos])
    }

    #[inline]
    fn skip_ws(&mut self) {
        while self.pos < self.end && matches!(self.bytes[self.pos], b' ' | b'\t' | b'\r' | b'\n') {
            self.pos += 1;
        }
    }

    #[inline]
    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.pos += 1)
    }

    /// A string without escapes or control characters; returns its contents' span.
    #[inline]
    fn plain_string(&mut self) -> Option<Span> {
        self.eat(b'"')?;
        let start = self.pos;
        // One tight scan to the first byte that is not plain string content.
        let length = self.bytes[start..self.end]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        self.pos = start + length;
        if self.bytes[self.pos] != b'"' {
            return None;
        }
        let span = (start as u32, self.pos as u32);
        self.pos += 1;
        Some(span)
    }

    /// A JSON integer (`-?(0|[1-9][0-9]*)`) not followed by a fraction or exponent.
    #[inline]
    fn integer(&mut self) -> Option<Span> {
        let start = self.pos;
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.pos += 1 + digit_run(&self.bytes[self.pos + 1..self.end]),
            _ => return None,
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some((start as u32, self.pos as u32))
    }

    /// The bytes `word`, compared as a fixed-size array (no call to `memcmp`).
    #[inline]
    fn literal<const N: usize>(&mut self, word: &[u8; N]) -> Option<()> {
        let end = self.pos + N;
        let here: &[u8; N] = self.bytes.get(self.pos..end)?.try_into().ok()?;
        (end <= self.end && here == word).then(|| self.pos = end)
    }

    /// A canonical scalar: integer (not `-0`), null, true, false, or a plain string.
    fn scalar(&mut self) -> Option<Span> {
        let start = self.pos;
        match self.peek()? {
            b'"' => {
                self.plain_string()?;
            }
            b'n' => self.literal(b"null")?,
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            _ => {
                let (a, b) = self.integer()?;
                if &self.bytes[a as usize..b as usize] == b"-0" {
                    return None;
                }
            }
        }
        Some((start as u32, self.pos as u32))
    }

    fn value(&mut self) -> Option<FastValue> {
        if self.peek()? != b'[' {
            return self.scalar().map(FastValue::Scalar);
        }
        let start = self.pos;
        self.array(ARRAY_DEPTH_MAX)?;
        Some(FastValue::Array((start as u32, self.pos as u32)))
    }

    /// An array of canonical scalars and arrays (a transaction's micro-ops, `[["append",
    /// "k",1],["r","k",[1,2]]]`), nested at most `depth` deep; past that, `None`.
    fn array(&mut self, depth: u32) -> Option<()> {
        if depth == 0 {
            return None;
        }
        self.eat(b'[')?;
        self.skip_ws();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            if self.peek()? == b'[' {
                self.array(depth - 1)?;
            } else {
                self.scalar()?;
            }
            self.skip_ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.skip_ws();
                }
                b']' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// How deep the fast path reads nested arrays: a transaction's value is three deep
/// (`[[op, key, [elements]]]`); anything deeper goes through serde.
const ARRAY_DEPTH_MAX: u32 = 4;

/// The line exactly as faultline writes it (serde's field order for `Op`, no whitespace
/// inside): `{"index":N,"time":N,"process":P,"type":"T","f":"F"[,"key":K],"value":V
/// [,"error":E]}`, each field read by the same primitive [`parse_line`] uses, so that
/// whenever this returns a record `parse_line` would return the same one (a test holds the
/// two side by side). It only saves the field-name scan, the dispatch and the whitespace
/// skips: anything else, or any doubt, is `None` and the general path decides.
#[inline]
fn parse_canonical(bytes: &[u8], body: Span, line: u32, span: Span) -> Option<Record> {
    let mut c = Cursor {
        bytes,
        pos: body.0 as usize,
        end: body.1 as usize,
    };
    c.literal(b"{\"index\":")?;
    c.integer()?;
    c.literal(b",\"time\":")?;
    c.integer()?;
    c.literal(b",\"process\":")?;
    let process = parse_process(&mut c)?;
    c.literal(b",\"type\":")?;
    let kind = parse_kind(&mut c)?;
    c.literal(b",\"f\":")?;
    let f = c.plain_string()?;
    let mut key = None;
    if c.literal(b",\"key\":").is_some() && c.literal(b"null").is_none() {
        key = Some(c.plain_string()?);
    }
    c.literal(b",\"value\":")?;
    let value = c.value()?;
    if c.literal(b",\"error\":").is_some() && c.literal(b"null").is_none() {
        c.plain_string()?;
    }
    c.eat(b'}')?;
    c.skip_ws();
    (c.pos == c.end).then_some(Record::Fast {
        line,
        span,
        process,
        kind,
        f,
        key,
        value,
    })
}

/// An op type's name as a plain string.
#[inline]
fn parse_kind(c: &mut Cursor<'_>) -> Option<OpType> {
    let (a, b) = c.plain_string()?;
    Some(match &c.bytes[a as usize..b as usize] {
        b"invoke" => OpType::Invoke,
        b"ok" => OpType::Ok,
        b"fail" => OpType::Fail,
        b"info" => OpType::Info,
        _ => return None,
    })
}

/// The number of ASCII digits `s` starts with, eight bytes at a time.
#[inline]
fn digit_run(s: &[u8]) -> usize {
    const LOW: u64 = 0x0101_0101_0101_0101;
    let mut n = 0;
    while let Some(word) = s.get(n..n + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        // A byte is a digit when its high nibble is 3 both as it is and plus 6 (0x30..=0x39).
        // A carry out of a byte that is not a digit can only spoil the verdict on the bytes
        // above it, never on those before the first non-digit, which is all that counts.
        let not_digit = ((w & (0xF0 * LOW)) ^ (0x30 * LOW))
            | ((w.wrapping_add(0x06 * LOW) & (0xF0 * LOW)) ^ (0x30 * LOW));
        if not_digit != 0 {
            return n + not_digit.trailing_zeros() as usize / 8;
        }
        n += 8;
    }
    n + s[n..].iter().take_while(|b| b.is_ascii_digit()).count()
}

/// Fields seen so far, for refusing duplicates.
const SEEN_PROCESS: u8 = 1;
const SEEN_TYPE: u8 = 2;
const SEEN_F: u8 = 4;
const SEEN_KEY: u8 = 8;
const SEEN_VALUE: u8 = 16;
const SEEN_INDEX: u8 = 32;
const SEEN_TIME: u8 = 64;
const SEEN_ERROR: u8 = 128;

/// Parses the line at `body` (without its newline); `span` is the line with it.
fn parse_line(bytes: &[u8], body: Span, line: u32, span: Span) -> Option<Record> {
    let mut c = Cursor {
        bytes,
        pos: body.0 as usize,
        end: body.1 as usize,
    };
    let mut seen = 0u8;
    let mut process = None;
    let mut kind = None;
    let mut f = None;
    let mut key = None;
    let mut value = FastValue::Absent;
    c.skip_ws();
    c.eat(b'{')?;
    c.skip_ws();
    loop {
        let (a, b) = c.plain_string()?;
        let name = &bytes[a as usize..b as usize];
        c.skip_ws();
        c.eat(b':')?;
        c.skip_ws();
        let bit = match name {
            b"process" => {
                process = Some(parse_process(&mut c)?);
                SEEN_PROCESS
            }
            b"type" => {
                kind = Some(parse_kind(&mut c)?);
                SEEN_TYPE
            }
            b"f" => {
                f = Some(c.plain_string()?);
                SEEN_F
            }
            b"key" => {
                if c.literal(b"null").is_none() {
                    key = Some(c.plain_string()?);
                }
                SEEN_KEY
            }
            b"value" => {
                value = c.value()?;
                SEEN_VALUE
            }
            b"index" => {
                c.integer()?;
                SEEN_INDEX
            }
            b"time" => {
                c.integer()?;
                SEEN_TIME
            }
            b"error" => {
                if c.literal(b"null").is_none() {
                    c.plain_string()?;
                }
                SEEN_ERROR
            }
            _ => return None,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        c.skip_ws();
        match c.peek()? {
            b',' => {
                c.pos += 1;
                c.skip_ws();
            }
            b'}' => {
                c.pos += 1;
                break;
            }
            _ => return None,
        }
    }
    c.skip_ws();
    if c.pos != c.end {
        return None;
    }
    Some(Record::Fast {
        line,
        span,
        process: process?,
        kind: kind?,
        f: f?,
        key,
        value,
    })
}

fn parse_process(c: &mut Cursor<'_>) -> Option<Process> {
    if c.peek()? == b'"' {
        let (a, b) = c.plain_string()?;
        return (&c.bytes[a as usize..b as usize] == b"nemesis").then_some(Process::Nemesis);
    }
    let (a, b) = c.integer()?;
    // What `str::parse::<u64>` makes of a JSON integer: its value, unless it is negative
    // (`-0` included) or does not fit.
    let digits = &c.bytes[a as usize..b as usize];
    if digits[0] == b'-' {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(Process::Client(n))
}

#[cfg(test)]
mod tests {
    //! The canonical-shape path may only ever agree with the general one: on the lines
    //! faultline writes, on near misses, and on random mutations of both.
    use super::super::jsonl::tests::mutated;
    use super::*;
    use proptest::prelude::*;

    fn both(line: &[u8]) -> (Option<Record>, Option<Record>) {
        let body = (0, line.len() as u32);
        (
            parse_canonical(line, body, 1, body),
            parse_line(line, body, 1, body),
        )
    }

    const LINES: &[&str] = &[
        r#"{"index":0,"time":1203301,"process":0,"type":"invoke","f":"write","key":"k3","value":4}"#,
        r#"{"index":1,"time":1503301,"process":0,"type":"ok","f":"write","key":"k3","value":4}"#,
        r#"{"index":2,"time":1603301,"process":1,"type":"invoke","f":"cas","key":"k3","value":[4,5]}"#,
        r#"{"index":3,"time":2603301,"process":1,"type":"info","f":"cas","key":"k3","value":[4,5],"error":"timeout"}"#,
        r#"{"index":4,"time":2700000,"process":"nemesis","type":"info","f":"start-partition","value":{"groups":[["n1"],["n2","n3"]]}}"#,
        r#"{"index":5,"time":9,"process":7,"type":"fail","f":"read","value":null,"error":null}"#,
        r#"{"index":6,"time":9,"process":7,"type":"ok","f":"read","key":null,"value":"x"} "#,
        r#"{"index":7,"time":9,"process":18446744073709551615,"type":"ok","f":"read","value":1}"#,
        r#"{"index":7,"time":9,"process":18446744073709551616,"type":"ok","f":"read","value":1}"#,
        r#"{"index":7,"time":9,"process":-0,"type":"ok","f":"read","value":1}"#,
        r#"{"index":7,"time":9,"process":01,"type":"ok","f":"read","value":1}"#,
        r#"{"index":8,"time":9,"process":2,"type":"ok","f":"read","key":"k","value":-0}"#,
        r#"{"index":8,"time":9,"process":2,"type":"ok","f":"read","key":"k"}"#,
        r#"{"index":8,"time":9,"process":2,"type":"ok","f":"read","key":"k","value":1,"value":2}"#,
        r#"{"index":8,"time":9,"process":2,"type":"begin","f":"read","key":"k","value":1}"#,
        r#"{"index":8,"time":9,"process":2,"type":"ok","f":"read","key":"k","value":1} x"#,
        r#"{"index":9,"time":9,"process":3,"type":"ok","f":"txn","value":[["append","k7",3],["r","k7",[1,2,3]],["r",4,[]]]}"#,
        r#"{"index":9,"time":9,"process":3,"type":"invoke","f":"txn","value":[["append", 7, 3], [ "r" , 7 , null ]]}"#,
        r#"{"index":9,"time":9,"process":3,"type":"ok","f":"txn","value":[[[[["too deep"]]]]]}"#,
        r#"{"index":9,"time":9,"process":3,"type":"ok","f":"txn","value":[["r","k",[1,{"a":1}]]]}"#,
        r#"{"index":9,"time":9,"process":3,"type":"ok","f":"txn","value":[["r","k",[1,2],]]}"#,
    ];

    #[test]
    fn digit_runs_are_counted_exactly() {
        for text in [
            "",
            "7",
            "12345678",
            "123456789",
            "1234567x9",
            "/:09",
            "0123456789012345678a",
            "99999999\u{ff}",
            "12\u{1}3",
            "1234567\u{ff}1",
            "\u{fa}\u{3a}12345678",
        ] {
            let expected = text.bytes().take_while(u8::is_ascii_digit).count();
            assert_eq!(digit_run(text.as_bytes()), expected, "{text:?}");
        }
        for b in 0..=255u8 {
            for at in 0..9 {
                let mut text = b"1234567890123456".to_vec();
                text[at] = b;
                let expected = text.iter().take_while(|b| b.is_ascii_digit()).count();
                assert_eq!(digit_run(&text), expected, "byte {b:#x} at {at}");
            }
        }
    }

    #[test]
    fn transactions_take_the_fast_path_unless_too_deep_or_not_plain() {
        let fast = |line: &str| both(line.as_bytes()).1.is_some();
        assert!(fast(LINES[16]) && fast(LINES[17]));
        assert!(
            both(LINES[16].as_bytes()).0.is_some(),
            "faultline's own txn line"
        );
        for line in &LINES[18..] {
            assert!(!fast(line), "{line}");
        }
    }

    #[test]
    fn canonical_lines_take_the_canonical_path_and_agree() {
        for line in &LINES[..4] {
            let (canonical, general) = both(line.as_bytes());
            assert!(canonical.is_some(), "{line}");
            assert_eq!(canonical, general, "{line}");
        }
    }

    #[test]
    fn near_misses_agree_or_fall_through() {
        for line in LINES {
            let (canonical, general) = both(line.as_bytes());
            if canonical.is_some() {
                assert_eq!(canonical, general, "{line}");
            }
        }
    }

    const ALPHABET: &[u8] = b"{}[]\":,\\ \t\r\n0123456789-+.eEnulltrfasxkvy\x01\xff";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]
        #[test]
        fn mutated_lines_agree(
            base in 0..LINES.len(),
            edits in proptest::collection::vec((0usize..200, 0usize..ALPHABET.len(), 0u8..3), 1..4),
        ) {
            let line = mutated(LINES[base].as_bytes(), &edits, ALPHABET);
            let (canonical, general) = both(&line);
            if canonical.is_some() {
                prop_assert_eq!(canonical, general);
            }
        }
    }
}
