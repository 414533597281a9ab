//! A small EDN reader (maps, vectors, lists, sets, keywords, symbols, strings, numbers,
//! `nil`, booleans; `#tag` prefixes are skipped) and Jepsen's `history.edn` on top of it.
//!
//! `history.edn` holds one op map per top-level form (or one vector of them). Ops become
//! [`Op`]s: keywords become strings without the colon, `nil` becomes `null`. A history in
//! which every client op's value is a 2-element vector is a `jepsen.independent` history:
//! `[k v]` becomes key `k` and value `v`. Porcupine's kv files are EDN maps with a `:key`.
//! Jepsen's JSON mirror of this format (`jepsen_json.rs`) builds the same ops and shares
//! the rest.

use std::io::Read;

use serde_json::{Map, Number, Value};

use super::{InputError, OpSink, OpView, SinkError, ValRef, read_text, truncate};
use crate::history::{Op, OpType, Process};

/// A parsed EDN form.
#[derive(Debug, Clone, PartialEq)]
pub enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Keyword(String),
    Symbol(String),
    Vector(Vec<Edn>),
    List(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// The form as JSON: keywords and symbols as strings, collections as arrays, maps as
    /// objects keyed by their keys' text.
    pub fn to_json(&self) -> Value {
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(i) => Value::Number((*i).into()),
            Edn::Float(x) => Number::from_f64(*x).map_or(Value::Null, Value::Number),
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => Value::String(s.clone()),
            Edn::Vector(items) | Edn::List(items) | Edn::Set(items) => {
                Value::Array(items.iter().map(Edn::to_json).collect())
            }
            Edn::Map(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    let key = match k.to_json() {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    map.insert(key, v.to_json());
                }
                Value::Object(map)
            }
        }
    }

    fn describe(&self) -> String {
        truncate(&self.to_json().to_string(), 40)
    }
}

/// A cursor over EDN text that knows its line.
pub struct Parser<'t> {
    text: &'t [u8],
    pos: usize,
    line: u64,
}

impl<'t> Parser<'t> {
    pub fn new(text: &'t str) -> Parser<'t> {
        Parser {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    pub fn line(&self) -> u64 {
        self.line
    }

    /// Skips whitespace, commas and `;` comments; returns the line of the next form.
    pub fn skip_blank(&mut self) -> u64 {
        while let Some(&b) = self.text.get(self.pos) {
            match b {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b',' => self.pos += 1,
                b';' => {
                    while self.text.get(self.pos).is_some_and(|&c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        self.line
    }

    pub fn at_end(&mut self) -> bool {
        self.skip_blank();
        self.pos >= self.text.len()
    }

    fn found_here(&self) -> String {
        match self.text.get(self.pos) {
            None => "end of input".to_string(),
            Some(_) => {
                let rest = String::from_utf8_lossy(&self.text[self.pos..]);
                format!("{:?}", truncate(rest.lines().next().unwrap_or(""), 30))
            }
        }
    }

    /// Reads one form. Errors carry no line: the caller knows it (`self.line()`).
    pub fn form(&mut self) -> Result<Edn, SinkError> {
        self.form_at_depth(0)
    }

    fn form_at_depth(&mut self, depth: usize) -> Result<Edn, SinkError> {
        // Bounded nesting: malicious input must not overflow the stack.
        if depth > 128 {
            return Err(SinkError::new(
                "EDN nested at most 128 deep",
                "deeper nesting",
            ));
        }
        self.skip_blank();
        let Some(&b) = self.text.get(self.pos) else {
            return Err(SinkError::new("an EDN form", "end of input"));
        };
        match b {
            b'{' => {
                self.pos += 1;
                let items = self.items(b'}', depth)?;
                if items.len() % 2 != 0 {
                    return Err(SinkError::new(
                        "a map with an even number of forms",
                        "an odd number",
                    ));
                }
                let mut entries = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    entries.push((k, v));
                }
                Ok(Edn::Map(entries))
            }
            b'[' => {
                self.pos += 1;
                Ok(Edn::Vector(self.items(b']', depth)?))
            }
            b'(' => {
                self.pos += 1;
                Ok(Edn::List(self.items(b')', depth)?))
            }
            b'#' => self.dispatch(depth),
            b'"' => self.string(),
            b'}' | b']' | b')' => Err(SinkError::new("an EDN form", self.found_here())),
            _ => self.atom(),
        }
    }

    fn dispatch(&mut self, depth: usize) -> Result<Edn, SinkError> {
        self.pos += 1;
        match self.text.get(self.pos) {
            Some(b'{') => {
                self.pos += 1;
                Ok(Edn::Set(self.items(b'}', depth)?))
            }
            Some(b'_') => {
                self.pos += 1;
                self.form_at_depth(depth + 1)?;
                self.form_at_depth(depth)
            }
            _ => {
                // A tagged element (`#jepsen.history.Op{...}`, `#inst "..."`): keep the form.
                let tag = self.token();
                if tag.is_empty() {
                    return Err(SinkError::new("a tag after #", self.found_here()));
                }
                self.form_at_depth(depth + 1)
            }
        }
    }

    fn items(&mut self, close: u8, depth: usize) -> Result<Vec<Edn>, SinkError> {
        // An op map has 8 to 16 forms: room for them up front saves the reallocations
        // that dominated parsing a history.
        let mut items = Vec::with_capacity(if close == b'}' { 16 } else { 4 });
        loop {
            self.skip_blank();
            match self.text.get(self.pos) {
                None => {
                    return Err(SinkError::new(
                        format!("{:?} to close the collection", close as char),
                        "end of input",
                    ));
                }
                Some(&c) if c == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(_) => items.push(self.form_at_depth(depth + 1)?),
            }
        }
    }

    fn string(&mut self) -> Result<Edn, SinkError> {
        self.pos += 1;
        // The common case, no escape before the closing quote: one copy of the bytes.
        let rest = &self.text[self.pos..];
        if let Some(end) = rest.iter().position(|&b| b == b'"' || b == b'\\')
            && rest[end] == b'"'
        {
            let bytes = &rest[..end];
            self.line += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            self.pos += end + 1;
            return std::str::from_utf8(bytes)
                .map(|text| Edn::Str(text.to_owned()))
                .map_err(|_| SinkError::new("a UTF-8 string", "invalid UTF-8"));
        }
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.text.get(self.pos) else {
                return Err(SinkError::new("a closing '\"'", "end of input"));
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.text.get(self.pos) else {
                        return Err(SinkError::new("an escape", "end of input"));
                    };
                    self.pos += 1;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        other => other,
                    });
                }
                b'\n' => {
                    self.line += 1;
                    out.push(b);
                }
                _ => out.push(b),
            }
        }
        String::from_utf8(out)
            .map(Edn::Str)
            .map_err(|_| SinkError::new("a UTF-8 string", "invalid UTF-8"))
    }

    fn token(&mut self) -> &'t str {
        let start = self.pos;
        while let Some(&b) = self.text.get(self.pos) {
            if b.is_ascii_whitespace()
                || matches!(
                    b,
                    b',' | b'{' | b'}' | b'[' | b']' | b'(' | b')' | b'"' | b';'
                )
            {
                break;
            }
            self.pos += 1;
        }
        std::str::from_utf8(&self.text[start..self.pos]).unwrap_or("")
    }

    fn atom(&mut self) -> Result<Edn, SinkError> {
        let token = self.token();
        if token.is_empty() {
            return Err(SinkError::new("an EDN form", self.found_here()));
        }
        Ok(match token {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            _ if token.starts_with(':') => Edn::Keyword(token[1..].to_string()),
            _ if token.starts_with(|c: char| c.is_ascii_digit())
                || (token.len() > 1
                    && token.starts_with(['-', '+'])
                    && token[1..].starts_with(|c: char| c.is_ascii_digit())) =>
            {
                parse_number(token)?
            }
            _ => Edn::Symbol(token.to_string()),
        })
    }
}

fn parse_number(token: &str) -> Result<Edn, SinkError> {
    let digits = token.trim_end_matches(['N', 'M']);
    if let Ok(i) = digits.parse::<i64>() {
        return Ok(Edn::Int(i));
    }
    digits
        .parse::<f64>()
        .map(Edn::Float)
        .map_err(|_| SinkError::new("a number", format!("{token:?}")))
}

/// Reads a Jepsen `history.edn` (or Porcupine kv file) into `sink`.
pub fn read_history(
    name: &str,
    reader: impl Read,
    sink: &mut dyn OpSink,
) -> Result<(), InputError> {
    let text = read_text(name, reader)?;
    deliver(name, parse_ops(name, &text)?, sink)
}

/// Hands a Jepsen history's ops to `sink` in file order, after reading it as a
/// `jepsen.independent` history if it is one (shared by EDN and its JSON mirror).
pub(crate) fn deliver(
    name: &str,
    mut ops: Vec<(Op, u64)>,
    sink: &mut dyn OpSink,
) -> Result<(), InputError> {
    if is_independent(&ops) {
        for (op, _) in &mut ops {
            split_independent(op);
        }
    }
    for (op, line) in &ops {
        let view = OpView {
            process: op.process,
            kind: op.kind,
            f: &op.f,
            key: op.key.as_deref(),
            value: ValRef::Json(&op.value),
        };
        sink.accept(&view, *line).map_err(|e| e.at(name, *line))?;
    }
    Ok(())
}

/// All op maps of the file with their lines.
pub fn parse_ops(name: &str, text: &str) -> Result<Vec<(Op, u64)>, InputError> {
    let mut parser = Parser::new(text);
    let mut ops = Vec::new();
    while !parser.at_end() {
        let line = parser.line();
        let form = parser.form().map_err(|e| e.at(name, parser.line()))?;
        match form {
            Edn::Vector(items) | Edn::List(items) => {
                for item in items {
                    ops.push((op_from_map(&item).map_err(|e| e.at(name, line))?, line));
                }
            }
            map => ops.push((op_from_map(&map).map_err(|e| e.at(name, line))?, line)),
        }
    }
    number_by_position(&mut ops);
    Ok(ops)
}

/// Gives every op without an index (`u64::MAX`) its position in the file.
pub(crate) fn number_by_position(ops: &mut [(Op, u64)]) {
    for (i, (op, _)) in ops.iter_mut().enumerate() {
        if op.index == u64::MAX {
            op.index = i as u64;
        }
    }
}

/// One op map -> [`Op`]. A missing `:index` is filled in by position afterwards.
pub fn op_from_map(form: &Edn) -> Result<Op, SinkError> {
    let Edn::Map(entries) = form else {
        return Err(SinkError::new(
            "an op map {:type .. :f .. :process ..}",
            form.describe(),
        ));
    };
    let get = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| matches!(k, Edn::Keyword(n) if n == name))
            .map(|(_, v)| v)
    };
    let kind = match get("type") {
        Some(Edn::Keyword(k)) => match k.as_str() {
            "invoke" => OpType::Invoke,
            "ok" => OpType::Ok,
            "fail" => OpType::Fail,
            "info" => OpType::Info,
            other => {
                return Err(SinkError::new(
                    ":type :invoke, :ok, :fail or :info",
                    format!(":{other}"),
                ));
            }
        },
        Some(other) => return Err(SinkError::new(":type as a keyword", other.describe())),
        None => return Err(SinkError::new("a :type in the op map", form.describe())),
    };
    let process = match get("process") {
        Some(Edn::Int(n)) if *n >= 0 => Process::Client(*n as u64),
        Some(Edn::Keyword(k)) if k == "nemesis" => Process::Nemesis,
        Some(other) => {
            return Err(SinkError::new(
                "a process number or :nemesis",
                other.describe(),
            ));
        }
        None => return Err(SinkError::new("a :process in the op map", form.describe())),
    };
    let f = match get("f") {
        Some(Edn::Keyword(s) | Edn::Symbol(s) | Edn::Str(s)) => s.clone(),
        Some(other) => return Err(SinkError::new(":f as a keyword", other.describe())),
        None => return Err(SinkError::new("an :f in the op map", form.describe())),
    };
    let key = match get("key") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s)) => Some(s.clone()),
        Some(Edn::Int(i)) => Some(i.to_string()),
        Some(other) => return Err(SinkError::new("a string or number :key", other.describe())),
    };
    let number = |name: &str| match get(name) {
        Some(Edn::Int(i)) if *i >= 0 => Some(*i as u64),
        _ => None,
    };
    Ok(Op {
        index: number("index").unwrap_or(u64::MAX),
        time_ns: number("time").unwrap_or(0),
        process,
        kind,
        f,
        key,
        value: get("value").map_or(Value::Null, Edn::to_json),
        error: get("error").map(|e| match e.to_json() {
            Value::String(s) => s,
            other => other.to_string(),
        }),
    })
}

/// True when every keyless client op carries a `[k v]` tuple (`jepsen.independent`).
fn is_independent(ops: &[(Op, u64)]) -> bool {
    let mut clients = ops
        .iter()
        .filter(|(op, _)| op.process != Process::Nemesis && op.key.is_none())
        .peekable();
    clients.peek().is_some()
        && clients.all(|(op, _)| {
            // A key is a scalar: a pair of vectors is a two-micro-op transaction.
            matches!(&op.value, Value::Array(items) if items.len() == 2 && !items[0].is_array())
        })
}

fn split_independent(op: &mut Op) {
    if op.process == Process::Nemesis || op.key.is_some() {
        return;
    }
    if let Value::Array(items) = &mut op.value
        && items.len() == 2
    {
        let value = items.pop().unwrap_or(Value::Null);
        let key = items.pop().unwrap_or(Value::Null);
        op.key = Some(match key {
            Value::String(s) => s,
            other => other.to_string(),
        });
        op.value = value;
    }
}
