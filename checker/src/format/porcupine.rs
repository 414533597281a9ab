//! Porcupine's `test_data/jepsen/etcd_NNN.log`: Jepsen's text log of one cas register.
//!
//! Lines look like `INFO  jepsen.util - 3 :invoke :cas [1 4]`: a process number, the
//! op type, the function, then EDN forms: the value and, for some, an error keyword
//! (`:info :write 3 :timed-out`, `:fail :read :timed-out`). Lines that are not from
//! `jepsen.util` are other log output and are skipped, as Porcupine does; a
//! `jepsen.util` line that does not parse is an error. There is no key: the whole log is
//! one register. (Porcupine's kv files are EDN and are read by [`super::edn`].)

use std::io::BufRead;

use super::edn::{Edn, Parser};
use super::{InputError, OpSink, OpView, SinkError, ValRef, io_error, truncate};
use crate::history::{OpType, Process};

const MARKER: &str = "jepsen.util - ";

/// Streams a Jepsen text log into `sink`.
pub fn read_jepsen_log(
    name: &str,
    reader: impl BufRead,
    sink: &mut dyn OpSink,
) -> Result<(), InputError> {
    for (i, line) in reader.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.map_err(|e| io_error(name, line_no, &e))?;
        let Some(at) = line.find(MARKER) else {
            continue;
        };
        read_line(&line[at + MARKER.len()..], sink, line_no).map_err(|e| e.at(name, line_no))?;
    }
    Ok(())
}

fn read_line(rest: &str, sink: &mut dyn OpSink, line_no: u64) -> Result<(), SinkError> {
    let expected = "PROCESS :type :f VALUE after \"jepsen.util - \"";
    let mut parser = Parser::new(rest);
    let forms = [parser.form(), parser.form(), parser.form()];
    let [
        Ok(Edn::Int(process)),
        Ok(Edn::Keyword(kind)),
        Ok(Edn::Keyword(f)),
    ] = forms
    else {
        return Err(SinkError::new(
            expected,
            format!("{:?}", truncate(rest, 40)),
        ));
    };
    let process = u64::try_from(process)
        .map_err(|_| SinkError::new("a process number >= 0", process.to_string()))?;
    let kind = match kind.as_str() {
        "invoke" => OpType::Invoke,
        "ok" => OpType::Ok,
        "fail" => OpType::Fail,
        "info" => OpType::Info,
        other => {
            return Err(SinkError::new(
                ":invoke, :ok, :fail or :info",
                format!(":{other}"),
            ));
        }
    };
    let value = if parser.at_end() {
        serde_json::Value::Null
    } else {
        parser.form()?.to_json()
    };
    let view = OpView {
        process: Process::Client(process),
        kind,
        f: &f,
        key: None,
        value: ValRef::Json(&value),
    };
    sink.accept(&view, line_no)
}
