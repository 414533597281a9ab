//! Micro-op values: the compact [`Val`] a key or value is stored as, the interner behind
//! it, and a parser for a transaction's value (`[["append","k7",3],["r","k7",[1,2,3]]]`)
//! straight from its JSON text.
//!
//! The parser takes JSON arrays, strings, integers, `null`, booleans; anything else (a
//! float, an object, a string with escapes) is handed to serde_json and kept as its
//! canonical text, so `1` and `1.0` stay different values, as everywhere in the checker.

use rustc_hash::FxHashMap;

use crate::format::SinkError;

/// A key or value: an integer, or an interned other scalar; [`Val::NULL`] is `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Val(u64);

const INTERNED: u64 = 1 << 63;
const SMALL_LIMIT: i64 = 1 << 61;

impl Val {
    pub const NULL: Val = Val(u64::MAX);

    /// Integers of magnitude below 2^61 are stored inline (zigzag), others interned.
    fn small_int(n: i64) -> Option<Val> {
        (-SMALL_LIMIT..SMALL_LIMIT)
            .contains(&n)
            .then_some(Val(((n << 1) ^ (n >> 63)) as u64))
    }

    pub fn is_null(self) -> bool {
        self == Val::NULL
    }

    /// The value as an index, when it is a small non-negative integer.
    pub fn as_index(self) -> Option<usize> {
        self.as_small_int().and_then(|n| usize::try_from(n).ok())
    }

    fn interned(self) -> Option<usize> {
        (self.0 & INTERNED != 0 && self != Val::NULL).then_some((self.0 & !INTERNED) as usize)
    }

    fn as_small_int(self) -> Option<i64> {
        (self.0 & INTERNED == 0).then(|| ((self.0 >> 1) as i64) ^ -((self.0 & 1) as i64))
    }
}

/// Canonical JSON texts of the scalars that are not small integers.
#[derive(Debug, Default)]
pub struct Interner {
    ids: FxHashMap<String, u32>,
    texts: Vec<String>,
}

impl Interner {
    /// The value of a canonical JSON scalar text.
    pub fn val_of_text(&mut self, text: &str) -> Val {
        if let Ok(n) = text.parse::<i64>()
            && let Some(v) = Val::small_int(n)
        {
            return v;
        }
        if text == "null" {
            return Val::NULL;
        }
        if let Some(&id) = self.ids.get(text) {
            return Val(INTERNED | u64::from(id));
        }
        let id = u32::try_from(self.texts.len()).expect("fewer than 2^32 distinct values");
        self.ids.insert(text.to_string(), id);
        self.texts.push(text.to_string());
        Val(INTERNED | u64::from(id))
    }

    /// The canonical JSON text of a value.
    pub fn json(&self, v: Val) -> String {
        if v.is_null() {
            return "null".into();
        }
        match (v.as_small_int(), v.interned()) {
            (Some(n), _) => n.to_string(),
            (None, Some(id)) => self.texts[id].clone(),
            (None, None) => unreachable!("a value is null, small or interned"),
        }
    }

    /// For text: strings without their quotes, everything else as JSON.
    pub fn display(&self, v: Val) -> String {
        let text = self.json(v);
        match serde_json::from_str::<String>(&text) {
            Ok(s) if text.starts_with('"') => s,
            _ => text,
        }
    }

    /// The value as JSON.
    pub fn to_json(&self, v: Val) -> serde_json::Value {
        serde_json::from_str(&self.json(v)).unwrap_or(serde_json::Value::Null)
    }
}

/// The function of a micro-op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MopF {
    Append,
    Write,
    Read,
}

impl MopF {
    pub fn name(self) -> &'static str {
        match self {
            MopF::Append => "append",
            MopF::Write => "w",
            MopF::Read => "r",
        }
    }
}

/// What a read returned, as parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadValue {
    /// `null`: the initial state, or (on an invoke or `info`) not known.
    Null,
    /// A scalar (a register read).
    Scalar(Val),
    /// A list: elements `start..end` of [`ParsedTxn::elements`].
    List(u32, u32),
}

/// One micro-op as parsed.
#[derive(Debug, Clone, Copy)]
pub struct ParsedMop {
    pub f: MopF,
    pub key: Val,
    /// The appended or written value; unused for reads.
    pub value: Val,
    pub read: ReadValue,
}

/// A transaction's micro-ops; reused from one transaction to the next.
#[derive(Debug, Default)]
pub struct ParsedTxn {
    pub mops: Vec<ParsedMop>,
    pub elements: Vec<Val>,
}

impl ParsedTxn {
    pub fn list(&self, read: ReadValue) -> &[Val] {
        match read {
            ReadValue::List(a, b) => &self.elements[a as usize..b as usize],
            ReadValue::Null | ReadValue::Scalar(_) => &[],
        }
    }

    /// Parses a transaction's JSON text into `self` (cleared first).
    pub fn parse(&mut self, text: &str, interner: &mut Interner) -> Result<(), SinkError> {
        self.mops.clear();
        self.elements.clear();
        let mut p = Cursor {
            bytes: text.as_bytes(),
            text,
            pos: 0,
        };
        p.expect(b'[', "a transaction: a list of micro-ops [f, k, v]")?;
        if p.eat(b']') {
            return p.end();
        }
        loop {
            self.mop(&mut p, interner)?;
            if p.eat(b',') {
                continue;
            }
            p.expect(b']', "',' or ']' after a micro-op")?;
            return p.end();
        }
    }

    fn mop(&mut self, p: &mut Cursor<'_>, interner: &mut Interner) -> Result<(), SinkError> {
        const SHAPE: &str = "a micro-op [\"append\"|\"r\"|\"w\", key, value]";
        p.expect(b'[', SHAPE)?;
        let f = match p.string_token()? {
            Some("append") => MopF::Append,
            Some("r") => MopF::Read,
            Some("w") => MopF::Write,
            _ => return Err(p.error(SHAPE)),
        };
        p.expect(b',', SHAPE)?;
        let key = match p.scalar(interner)? {
            Some(k) if !k.is_null() => k,
            _ => return Err(p.error("a micro-op's key (a string or a number)")),
        };
        p.expect(b',', SHAPE)?;
        let (value, read) = match f {
            MopF::Read => {
                p.skip_ws();
                if p.peek() == Some(b'[') {
                    p.pos += 1;
                    let start = self.elements.len() as u32;
                    if !p.eat(b']') {
                        loop {
                            match p.scalar(interner)? {
                                Some(v) if !v.is_null() => self.elements.push(v),
                                _ => return Err(p.error("a list element (not null)")),
                            }
                            if p.eat(b',') {
                                continue;
                            }
                            p.expect(b']', "',' or ']' in a read's list")?;
                            break;
                        }
                    }
                    (
                        Val::NULL,
                        ReadValue::List(start, self.elements.len() as u32),
                    )
                } else {
                    match p.scalar(interner)? {
                        Some(v) if v.is_null() => (Val::NULL, ReadValue::Null),
                        Some(v) => (Val::NULL, ReadValue::Scalar(v)),
                        None => return Err(p.error("a read's value: null, a list or a scalar")),
                    }
                }
            }
            MopF::Append | MopF::Write => match p.scalar(interner)? {
                Some(v) if !v.is_null() => (v, ReadValue::Null),
                _ => {
                    return Err(p.error(if f == MopF::Append {
                        "an appended value (a scalar, not null)"
                    } else {
                        "a written value (a scalar, not null)"
                    }));
                }
            },
        };
        p.expect(b']', SHAPE)?;
        self.mops.push(ParsedMop {
            f,
            key,
            value,
            read,
        });
        Ok(())
    }
}

struct Cursor<'t> {
    bytes: &'t [u8],
    text: &'t str,
    pos: usize,
}

impl<'t> Cursor<'t> {
    fn skip_ws(&mut self) {
        while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8, what: &str) -> Result<(), SinkError> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn end(&mut self) -> Result<(), SinkError> {
        self.skip_ws();
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(self.error("the end of the transaction"))
        }
    }

    fn error(&self, expected: &str) -> SinkError {
        let rest = &self.text[self.pos.min(self.text.len())..];
        let found = if rest.is_empty() {
            "the end of the value".to_string()
        } else {
            format!("{:?}", crate::format::truncate(rest, 30))
        };
        SinkError::new(
            format!("{expected} (in {})", crate::format::truncate(self.text, 60)),
            found,
        )
    }

    /// A string without escapes, borrowed; `None` if the next token is not one.
    fn string_token(&mut self) -> Result<Option<&'t str>, SinkError> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Ok(None);
        }
        let start = self.pos + 1;
        let Some(len) = self.bytes[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\')
        else {
            return Err(self.error("a closing '\"'"));
        };
        if self.bytes[start + len] == b'\\' {
            return Ok(None);
        }
        self.pos = start + len + 1;
        Ok(Some(&self.text[start..start + len]))
    }

    /// The next scalar; `None` if the next token is an array (or not a value).
    fn scalar(&mut self, interner: &mut Interner) -> Result<Option<Val>, SinkError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => {
                let mut end = start + 1;
                while matches!(self.bytes.get(end), Some(b'0'..=b'9')) {
                    end += 1;
                }
                let plain = !matches!(self.bytes.get(end), Some(b'.' | b'e' | b'E'));
                if plain && let Ok(n) = self.text[start..end].parse::<i64>() {
                    self.pos = end;
                    return Ok(Some(
                        Val::small_int(n).unwrap_or_else(|| interner.val_of_text(&n.to_string())),
                    ));
                }
                self.other_scalar(interner)
            }
            Some(b'"') => {
                let start = self.pos;
                let body = &self.bytes[start + 1..];
                match body
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                {
                    Some(len) if body[len] == b'"' => {
                        self.pos = start + len + 2;
                        Ok(Some(interner.val_of_text(&self.text[start..self.pos])))
                    }
                    _ => self.other_scalar(interner),
                }
            }
            Some(b'n') if self.bytes[start..].starts_with(b"null") => {
                self.pos += 4;
                Ok(Some(Val::NULL))
            }
            Some(b't' | b'f' | b'{') => self.other_scalar(interner),
            _ => Ok(None),
        }
    }

    /// Any other JSON value, through serde_json, kept as canonical text.
    fn other_scalar(&mut self, interner: &mut Interner) -> Result<Option<Val>, SinkError> {
        let rest = &self.text[self.pos..];
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        match stream.next() {
            Some(Ok(value)) if !value.is_array() => {
                self.pos += stream.byte_offset();
                Ok(Some(interner.val_of_text(&value.to_string())))
            }
            _ => Err(self.error("a JSON scalar")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(ParsedTxn, Interner), SinkError> {
        let mut interner = Interner::default();
        let mut txn = ParsedTxn::default();
        txn.parse(text, &mut interner)?;
        Ok((txn, interner))
    }

    #[test]
    fn parses_appends_and_reads() {
        let (txn, interner) =
            parse(r#"[["append","k7",3],["r","k7",[1,2,3]],["r", 5, null]]"#).unwrap();
        assert_eq!(txn.mops.len(), 3);
        assert_eq!(txn.mops[0].f, MopF::Append);
        assert_eq!(interner.json(txn.mops[0].key), "\"k7\"");
        assert_eq!(interner.json(txn.mops[0].value), "3");
        assert_eq!(txn.list(txn.mops[1].read).len(), 3);
        assert_eq!(txn.mops[2].read, ReadValue::Null);
        assert_eq!(interner.json(txn.mops[2].key), "5");
    }

    #[test]
    fn odd_scalars_keep_canonical_text() {
        let (txn, interner) = parse(r#"[["w","a\"b",1.50],["r","x",-4]]"#).unwrap();
        assert_eq!(interner.json(txn.mops[0].key), r#""a\"b""#);
        assert_eq!(interner.json(txn.mops[0].value), "1.5");
        assert_eq!(
            txn.mops[1].read,
            ReadValue::Scalar(Val::small_int(-4).unwrap())
        );
        let (big, interner) = parse(r#"[["w","x",9223372036854775807]]"#).unwrap();
        assert_eq!(interner.json(big.mops[0].value), "9223372036854775807");
    }

    #[test]
    fn refuses_bad_shapes() {
        for bad in [
            r#"[["append","k"]]"#,
            r#"[["cas","k",1]]"#,
            r#"[["append","k",null]]"#,
            r#"[["r","k",[1,null]]]"#,
            r#"[["r",null,1]]"#,
            r#"{"a":1}"#,
            r#"[["r","k",1]] x"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("[]").unwrap().0.mops.is_empty());
    }
}
