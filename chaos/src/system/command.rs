//! The user's own database: `system: { kind: command, ... }`, nodes started from a command
//! template in the schedule, clients through a stdio adapter (`workload: { client: {
//! command } }`, protocol in `docs/adapter-protocol.md`).
//!
//! ```yaml
//! system:
//!   kind: command
//!   nodes: 3                                  # ids n1..n3
//!   start: "redis-server --port {client_port} --dir {data_dir} --appendonly no"
//!   ready: { tcp: "{client_addr}" }           # or { http: "http://{client_addr}/health" }, or { exec: "..." }
//!   leader: { exec: "my-tool leader {client_addr}" }   # optional: prints the leader's id
//!   env: { RUST_LOG: info }                   # optional, added to the controller's environment
//! ```
//!
//! # Command lines
//!
//! `start` is split into words without a shell ([`split_words`]: blanks separate words,
//! `'...'` is literal, `"..."` keeps blanks and takes `\"` and `\\`, a backslash outside
//! quotes escapes the next character), then every `{name}` in a word is replaced
//! ([`Template`]); a value never splits a word. Write `sh -c '...'` to get a shell. `{{`
//! and `}}` are literal braces. The node's process group (everything its command forks) is
//! what kill -9 and SIGSTOP hit; the supervisor starts it like any node (own group,
//! `PR_SET_PDEATHSIG`, output appended to `nodes/<id>.log`). With `env:`, the command runs
//! as `env K=V ... PROGRAM ARGS` (`env` execs the program: same process, same group).
//!
//! Placeholders of `start`, `ready`, `leader` and `env` values ([`NODE_PLACEHOLDERS`]):
//!
//! | placeholder | value |
//! |---|---|
//! | `{id}` | the node's id, `n1`..`nN` |
//! | `{index}` | its number, `1`..`N` |
//! | `{nodes}` | `N` |
//! | `{data_dir}` | its data directory (kept across a kill and restart) |
//! | `{client_addr}`, `{client_host}`, `{client_port}` | where it listens for clients (allocated by faultline) |
//! | `{peer_addr}`, `{peer_host}`, `{peer_port}` | where it listens for its peers: a port of its own when the command names one of these or `{initial_cluster}`; otherwise the node has one port, its client port, which peers reach too |
//! | `{peers}` | the *other* nodes as `id=ADDR,...`, ADDR the address at which this node reaches each (with `network: proxy`, the proxy of that link: partitions cut exactly these) |
//! | `{peer_list}` | the same addresses without ids: `ADDR,...` |
//! | `{initial_cluster}` | every node as `id=http://PEER_ADDR,...` (etcd's style: each node's own peer address, the same string for all) |
//! | `{faultline}` | the path of the running faultline binary (to start its own store: `{faultline} node ...`) |
//!
//! In `ready` and `leader`, `{client_addr}` (and host, port) is where the *controller*
//! reaches the node's client port (the same address except with `network: netns`).
//!
//! # Probes
//!
//! `ready`: `tcp` (a connection opens), `http` (a GET answers 2xx; `http://HOST:PORT/PATH`)
//! or `exec` (the command exits 0, within [`EXEC_PROBE_TIMEOUT_MS`]). The cluster probes
//! every 20 ms for at most [`crate::cluster::READY_TIMEOUT_MS`], then fails the run (exit
//! 70) naming the node and the probe's last error, and tears the cluster down. `leader`
//! (optional): an `exec` run for each running node; the node whose id the command prints
//! (the first word of its output's first line; an optional second word is its term, and
//! the highest term wins when several claim) leads. Without it, `leader` targets and `chase-leader`
//! are refused at validation.
//!
//! # Mistakes
//!
//! An unknown placeholder, an empty `start`, an unterminated quote, a probe with none or
//! several of `tcp`/`http`/`exec`, a program not on `PATH`, a `bug:` (faultline plants bugs
//! only in its own systems): exit 65, `file:line:column`, before anything starts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use workloads::client::Transport;
use workloads::client::pool::NodePool;

use super::etcd::find_executable;
use super::{
    ClientSpec, LeaderClaim, NodeCommand, NodeEnv, NodeRole, Probe, RawSystem, System, SystemError,
    bounded, numbered, numbered_nodes,
};
use crate::workload::{ReadMode, WorkloadKind};

/// The `kind:` of a command system.
pub const KIND: &str = "command";
/// A node of a command system.
pub const COMMAND_NODE: NodeRole = NodeRole::new("command-node");
/// Most nodes a schedule may ask for.
pub const MAX_NODES: u64 = 64;
/// How long one `exec` probe may run before it counts as failed.
pub const EXEC_PROBE_TIMEOUT_MS: u64 = 5_000;
/// The placeholders of node commands and probes (see the module docs).
pub const NODE_PLACEHOLDERS: &[&str] = &[
    "id",
    "index",
    "nodes",
    "data_dir",
    "client_addr",
    "client_host",
    "client_port",
    "peer_addr",
    "peer_host",
    "peer_port",
    "peers",
    "peer_list",
    "initial_cluster",
    "faultline",
];
/// The placeholders that give a node a peer port of its own.
pub const PEER_PORT_PLACEHOLDERS: &[&str] =
    &["peer_addr", "peer_host", "peer_port", "initial_cluster"];
/// The placeholders of a stdio adapter's command (`workload: { client: { command } }`):
/// `{worker}` (its number), `{node}` (the node it is bound to), that node's
/// `{client_addr}`, `{client_host}`, `{client_port}`, `{client_addrs}` (every node as
/// `id=ADDR,...`) and `{faultline}`.
pub const CLIENT_PLACEHOLDERS: &[&str] = &[
    "worker",
    "node",
    "client_addr",
    "client_host",
    "client_port",
    "client_addrs",
    "faultline",
];

/// `ready:` or `leader:` as written: exactly one of the three.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    #[serde(default)]
    pub tcp: Option<Spanned<String>>,
    #[serde(default)]
    pub http: Option<Spanned<String>>,
    #[serde(default)]
    pub exec: Option<Spanned<String>>,
}

/// One piece of a word of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Placeholder(String),
}

/// A command line (or a single string) with `{placeholders}`, split and checked once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// As written, for `schedule.yaml` and messages.
    pub text: String,
    words: Vec<Vec<Piece>>,
}

/// Splits `text` into words as described in the module docs; an unterminated quote or a
/// trailing backslash is an error.
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(done) = word.take() {
                    words.push(done);
                }
            }
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err("expected a closing `'`, found the end".into()),
                    }
                }
            }
            '"' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => current.push(c),
                            Some(c) => {
                                current.push('\\');
                                current.push(c);
                            }
                            None => return Err("expected a closing `\"`, found the end".into()),
                        },
                        Some(c) => current.push(c),
                        None => return Err("expected a closing `\"`, found the end".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("expected a character after `\\`, found the end".into()),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// The pieces of one word: `{name}` placeholders (each one of `known`), `{{` and `}}`.
fn pieces(word: &str, known: &[&str]) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => {
                            return Err(format!(
                                "expected `}}` closing the placeholder `{{{name}`, found the end (write `{{{{` for a literal brace)"
                            ));
                        }
                    }
                }
                if !known.contains(&name.as_str()) {
                    return Err(format!(
                        "expected a placeholder {}, found `{{{name}}}`",
                        crate::workload::or_list(known.iter().map(|k| format!("{{{k}}}")))
                    ));
                }
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                out.push(Piece::Placeholder(name));
            }
            '}' => {
                return Err(
                    "expected `}}` for a literal closing brace, found a single `}`".to_string(),
                );
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() || out.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

impl Template {
    /// A command line: split into words, each checked against `known`; at least one word.
    pub fn command(text: &str, known: &[&str]) -> Result<Template, String> {
        let words = split_words(text)?;
        if words.is_empty() {
            return Err("expected a command, found an empty string".into());
        }
        let words = words
            .iter()
            .map(|word| pieces(word, known))
            .collect::<Result<_, _>>()?;
        Ok(Template {
            text: text.to_string(),
            words,
        })
    }

    /// A single string (an address, a URL, an env value): not split.
    pub fn string(text: &str, known: &[&str]) -> Result<Template, String> {
        Ok(Template {
            text: text.to_string(),
            words: vec![pieces(text, known)?],
        })
    }

    /// The words with every placeholder replaced by `value(name)`.
    pub fn render(&self, value: &dyn Fn(&str) -> String) -> Vec<String> {
        self.words
            .iter()
            .map(|word| {
                word.iter()
                    .map(|piece| match piece {
                        Piece::Text(text) => text.clone(),
                        Piece::Placeholder(name) => value(name),
                    })
                    .collect()
            })
            .collect()
    }

    /// A [`Template::string`] rendered.
    pub fn render_string(&self, value: &dyn Fn(&str) -> String) -> String {
        self.render(value).concat()
    }

    /// Whether it names the placeholder `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.words
            .iter()
            .flatten()
            .any(|piece| matches!(piece, Piece::Placeholder(p) if p == name))
    }

    /// The program, when the first word has no placeholder.
    fn literal_program(&self) -> Option<String> {
        match self.words.first()?.as_slice() {
            [Piece::Text(text)] => Some(text.clone()),
            _ => None,
        }
    }
}

/// A readiness probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyProbe {
    Tcp(Template),
    Http(Template),
    Exec(Template),
}

impl ReadyProbe {
    fn yaml(&self) -> String {
        let (kind, template) = match self {
            ReadyProbe::Tcp(t) => ("tcp", t),
            ReadyProbe::Http(t) => ("http", t),
            ReadyProbe::Exec(t) => ("exec", t),
        };
        format!("{{ {kind}: {} }}", json_string(&template.text))
    }
}

/// A command system; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSystem {
    pub nodes: usize,
    pub start: Template,
    pub ready: ReadyProbe,
    /// `leader: { exec }`: prints the leader's id.
    pub leader: Option<Template>,
    pub env: BTreeMap<String, Template>,
    /// `env` found on `PATH` at validation, when `env:` is given.
    env_program: Option<PathBuf>,
    /// Whether nodes listen for peers on a port of their own: when `start` or `env` names
    /// `{peer_addr}`, `{peer_host}`, `{peer_port}` or `{initial_cluster}`; otherwise peers
    /// reach a node at its client address (a node with one port, like the Raft store).
    peer_port: bool,
    values: NodeValues,
}

/// A JSON string is a YAML double-quoted scalar: any text survives `schedule.yaml`.
fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

fn template_at(
    value: &Spanned<String>,
    make: fn(&str, &[&str]) -> Result<Template, String>,
    known: &[&str],
    what: &str,
) -> Result<Template, SystemError> {
    make(&value.value, known)
        .map_err(|message| SystemError::new(value.referenced, format!("{what}: {message}")))
}

/// Reads `ready:` or `leader:`: exactly one of `allowed`.
fn probe(raw: &Spanned<RawProbe>, key: &str, allowed: &[&str]) -> Result<ReadyProbe, SystemError> {
    let given: Vec<(&str, &Spanned<String>)> = [
        ("tcp", &raw.value.tcp),
        ("http", &raw.value.http),
        ("exec", &raw.value.exec),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.as_ref().map(|v| (name, v)))
    .collect();
    let expected = crate::workload::or_list(allowed.iter().map(|a| format!("`{a}`")));
    let [(kind, value)] = given.as_slice() else {
        let found = if given.is_empty() {
            "none".to_string()
        } else {
            given
                .iter()
                .map(|(k, _)| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        };
        return Err(SystemError::new(
            raw.referenced,
            format!("expected exactly one of {expected} in `{key}`, found {found}"),
        ));
    };
    if !allowed.contains(kind) {
        return Err(SystemError::new(
            value.referenced,
            format!("expected {expected} in `{key}`, found `{kind}`"),
        ));
    }
    let what = format!("`{key}: {{ {kind} }}`");
    Ok(match *kind {
        "tcp" => ReadyProbe::Tcp(template_at(
            value,
            Template::string,
            NODE_PLACEHOLDERS,
            &what,
        )?),
        "http" => {
            let template = template_at(value, Template::string, NODE_PLACEHOLDERS, &what)?;
            if !template.text.starts_with("http://") {
                return Err(SystemError::new(
                    value.referenced,
                    format!(
                        "{what}: expected a URL `http://HOST:PORT/PATH`, found `{}`",
                        template.text
                    ),
                ));
            }
            ReadyProbe::Http(template)
        }
        _ => ReadyProbe::Exec(template_at(
            value,
            Template::command,
            NODE_PLACEHOLDERS,
            &what,
        )?),
    })
}

/// What is wrong with the template's program, when its first word is a literal that is
/// not on `PATH` (or not an executable file).
pub fn program_problem(template: &Template) -> Option<String> {
    let program = template.literal_program()?;
    if find_executable(&program).is_some() {
        return None;
    }
    Some(if program.contains('/') {
        format!("expected an executable program, found no executable file `{program}`")
    } else {
        format!("expected an executable program, found no `{program}` on PATH")
    })
}

fn program_exists(template: &Template, location: Location, what: &str) -> Result<(), SystemError> {
    match program_problem(template) {
        Some(problem) => Err(SystemError::new(location, format!("{what}: {problem}"))),
        None => Ok(()),
    }
}

/// `system: { kind: command, nodes, start, ready, leader, env }`.
pub fn parse(raw: &RawSystem, here: Location) -> Result<Arc<dyn System>, SystemError> {
    if let Some(bug) = &raw.bug {
        return Err(SystemError::new(
            bug.referenced,
            "expected no planted bug for a command system (bugs are planted only in the systems faultline ships: raft, bank; a command can pass its own flags), found `bug`",
        ));
    }
    let nodes = numbered_nodes(
        raw,
        here,
        &["nodes", "start", "ready", "leader", "env"],
        "a command",
    )?;
    let nodes = bounded(nodes, "a number of nodes", 1, MAX_NODES)?;
    let Some(start) = &raw.start else {
        return Err(SystemError::new(
            here,
            "expected key `start` (each node's command line) for a command system, found none",
        ));
    };
    let start_template = template_at(start, Template::command, NODE_PLACEHOLDERS, "`start`")?;
    program_exists(&start_template, start.referenced, "`start`")?;
    let Some(ready) = &raw.ready else {
        return Err(SystemError::new(
            here,
            "expected key `ready` (`{ tcp: ... }`, `{ http: ... }` or `{ exec: ... }`) for a command system, found none",
        ));
    };
    let ready = probe(ready, "ready", &["tcp", "http", "exec"])?;
    if let (ReadyProbe::Exec(template), Some(raw_ready)) = (&ready, &raw.ready) {
        let location = raw_ready.value.exec.as_ref().map_or(here, |e| e.referenced);
        program_exists(template, location, "`ready: { exec }`")?;
    }
    let leader = match &raw.leader {
        None => None,
        Some(leader) => match probe(leader, "leader", &["exec"])? {
            ReadyProbe::Exec(template) => {
                let location = leader.value.exec.as_ref().map_or(here, |e| e.referenced);
                program_exists(&template, location, "`leader: { exec }`")?;
                Some(template)
            }
            _ => unreachable!("only exec is allowed"),
        },
    };
    let mut env = BTreeMap::new();
    let mut env_program = None;
    if let Some(raw_env) = &raw.env {
        for (key, value) in &raw_env.value {
            let valid = !key.is_empty()
                && !key.starts_with(|c: char| c.is_ascii_digit())
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(SystemError::new(
                    raw_env.referenced,
                    format!(
                        "expected environment variable names of letters, digits and `_`, found `{key}`"
                    ),
                ));
            }
            let template = Template::string(value, NODE_PLACEHOLDERS).map_err(|message| {
                SystemError::new(raw_env.referenced, format!("`env: {key}`: {message}"))
            })?;
            env.insert(key.clone(), template);
        }
        if !env.is_empty() {
            env_program = Some(find_executable("env").ok_or_else(|| {
                SystemError::new(
                    raw_env.referenced,
                    "expected the `env` program on PATH (it starts a node with `env:`), found none",
                )
            })?);
        }
    }
    let peer_port = std::iter::once(&start_template)
        .chain(env.values())
        .any(|t| PEER_PORT_PLACEHOLDERS.iter().any(|p| t.uses(p)));
    Ok(Arc::new(CommandSystem {
        nodes,
        start: start_template,
        ready,
        leader,
        env,
        env_program,
        peer_port,
        values: NodeValues::default(),
    }))
}

/// `host` and `port` of an address.
fn host_port(addr: SocketAddr) -> (String, String) {
    (addr.ip().to_string(), addr.port().to_string())
}

/// Node `env.id`'s placeholder values.
fn node_values(system: &CommandSystem, env: &NodeEnv<'_>) -> BTreeMap<&'static str, String> {
    let ids: Vec<String> = system.nodes().into_iter().map(|(id, _)| id).collect();
    let others = ids.iter().filter(|id| id.as_str() != env.id);
    let (client_host, client_port) = host_port(env.client_listen);
    let (peer_host, peer_port) = host_port(env.peer_listen);
    let index = ids.iter().position(|id| id == env.id).map_or(0, |i| i + 1);
    BTreeMap::from([
        ("id", env.id.to_string()),
        ("index", index.to_string()),
        ("nodes", system.nodes.to_string()),
        ("data_dir", env.data_dir.display().to_string()),
        ("client_addr", env.client_listen.to_string()),
        ("client_host", client_host),
        ("client_port", client_port),
        ("peer_addr", env.peer_listen.to_string()),
        ("peer_host", peer_host),
        ("peer_port", peer_port),
        (
            "peers",
            others
                .clone()
                .map(|id| format!("{id}={}", (env.reach)(id)))
                .collect::<Vec<_>>()
                .join(","),
        ),
        (
            "peer_list",
            others
                .map(|id| (env.reach)(id).to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        (
            "initial_cluster",
            ids.iter()
                .map(|id| format!("{id}=http://{}", (env.peer_addrs)(id)))
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("faultline", env.programs.program.display().to_string()),
    ])
}

/// The values a probe of node `id` sees: the node's own, with its client address as the
/// controller reaches it (`probe_addr`).
fn probe_values(
    nodes: &BTreeMap<String, BTreeMap<&'static str, String>>,
    id: &str,
    probe_addr: SocketAddr,
) -> BTreeMap<&'static str, String> {
    let mut values = nodes.get(id).cloned().unwrap_or_default();
    let (host, port) = host_port(probe_addr);
    values.insert("client_addr", probe_addr.to_string());
    values.insert("client_host", host);
    values.insert("client_port", port);
    values
}

fn lookup<'a>(values: &'a BTreeMap<&'static str, String>) -> impl Fn(&str) -> String + 'a {
    |name| values.get(name).cloned().unwrap_or_default()
}

/// Runs an `exec` probe's words on a blocking thread: its stdout, or why it failed.
async fn exec(words: Vec<String>, timeout: Duration) -> Result<String, String> {
    let Some((program, args)) = words.split_first() else {
        return Err("empty command".into());
    };
    let (program, args) = (program.clone(), args.to_vec());
    let shown = words.join(" ");
    let ran = tokio::task::spawn_blocking(move || {
        crate::supervisor::run_probe(&program, &args, &[], timeout)
    })
    .await
    .map_err(|e| format!("`{shown}`: {e}"))?
    .map_err(|e| format!("`{shown}`: {e}"))?;
    if ran.success {
        Ok(ran.stdout)
    } else {
        let stderr = ran.stderr.trim();
        let tail: String = stderr
            .chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(format!(
            "`{shown}`: {}{}",
            ran.status,
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {tail}")
            }
        ))
    }
}

/// The placeholder values of every node, filled as the nodes' command lines are built, so
/// that a probe sees the values of the node it probes. Shared by the clones of a system;
/// never part of its identity (the schedule's fields are).
#[derive(Debug, Clone, Default)]
struct NodeValues(Arc<std::sync::Mutex<BTreeMap<String, BTreeMap<&'static str, String>>>>);

impl PartialEq for NodeValues {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for NodeValues {}

impl NodeValues {
    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BTreeMap<&'static str, String>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl System for CommandSystem {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn nodes(&self) -> Vec<(String, NodeRole)> {
        numbered("n", self.nodes, COMMAND_NODE).collect()
    }

    fn yaml_fields(&self) -> String {
        let mut fields = format!(
            "nodes: {}, start: {}, ready: {}",
            self.nodes,
            json_string(&self.start.text),
            self.ready.yaml()
        );
        if let Some(leader) = &self.leader {
            fields.push_str(&format!(
                ", leader: {{ exec: {} }}",
                json_string(&leader.text)
            ));
        }
        if !self.env.is_empty() {
            let pairs: Vec<String> = self
                .env
                .iter()
                .map(|(k, v)| format!("{}: {}", json_string(k), json_string(&v.text)))
                .collect();
            fields.push_str(&format!(", env: {{ {} }}", pairs.join(", ")));
        }
        fields
    }

    fn node_list(&self) -> String {
        format!("n1..n{}", self.nodes)
    }

    fn workloads(&self) -> &'static [WorkloadKind] {
        &[
            WorkloadKind::Register,
            WorkloadKind::Set,
            WorkloadKind::Append,
            WorkloadKind::ListAppend,
            WorkloadKind::RwRegister,
        ]
    }

    fn no_leader_message(&self, word: &str) -> Option<String> {
        self.leader.is_none().then(|| {
            format!(
                "expected a `leader: {{ exec: ... }}` probe in the command system to target `{word}`, found none"
            )
        })
    }

    fn separate_peer_port(&self) -> bool {
        self.peer_port
    }

    fn command(&self, env: &NodeEnv<'_>) -> NodeCommand {
        let values = node_values(self, env);
        let words = self.start.render(&lookup(&values));
        let environment: Vec<String> = self
            .env
            .iter()
            .map(|(key, value)| format!("{key}={}", value.render_string(&lookup(&values))))
            .collect();
        self.values.table().insert(env.id.to_string(), values);
        let (program, args) = words.split_first().expect("a command has a word");
        match &self.env_program {
            Some(env_program) if !environment.is_empty() => NodeCommand {
                program: env_program.clone(),
                args: environment
                    .into_iter()
                    .chain(std::iter::once(program.clone()))
                    .chain(args.iter().cloned())
                    .collect(),
            },
            _ => NodeCommand {
                program: PathBuf::from(program),
                args: args.to_vec(),
            },
        }
    }

    fn ready(&self, pool: Arc<NodePool>, deadline: tokio::time::Instant) -> Probe<bool> {
        // Without the node's id only the client address is known: probe it as `tcp`.
        let addr = pool.addr();
        Box::pin(async move {
            tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr))
                .await
                .is_ok_and(|connected| connected.is_ok())
        })
    }

    fn ready_or_why(
        &self,
        id: &str,
        pool: Arc<NodePool>,
        deadline: tokio::time::Instant,
    ) -> Probe<Result<(), String>> {
        let values = probe_values(&self.values.table(), id, pool.addr());
        let probe = self.ready.clone();
        Box::pin(async move {
            match probe {
                ReadyProbe::Tcp(template) => {
                    let target = template.render_string(&lookup(&values));
                    let connect = tokio::net::TcpStream::connect(target.clone());
                    match tokio::time::timeout_at(deadline, connect).await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(error)) => Err(format!("tcp {target}: {error}")),
                        Err(_) => Err(format!(
                            "tcp {target}: no connection within the probe's timeout"
                        )),
                    }
                }
                ReadyProbe::Http(template) => {
                    let url = template.render_string(&lookup(&values));
                    http_get(&url, deadline).await
                }
                ReadyProbe::Exec(template) => {
                    let words = template.render(&lookup(&values));
                    exec(words, Duration::from_millis(EXEC_PROBE_TIMEOUT_MS))
                        .await
                        .map(|_| ())
                }
            }
        })
    }

    fn claim_leadership(
        &self,
        id: &str,
        _role: NodeRole,
        pool: Arc<NodePool>,
        deadline: tokio::time::Instant,
    ) -> Option<Probe<Option<LeaderClaim>>> {
        let template = self.leader.clone()?;
        let values = probe_values(&self.values.table(), id, pool.addr());
        let id = id.to_string();
        // A command takes longer than an HTTP probe: at least a second.
        let timeout = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_secs(1));
        Some(Box::pin(async move {
            let words = template.render(&lookup(&values));
            let stdout = exec(words, timeout).await.ok()?;
            // `ID [TERM]`: the highest term wins when several nodes claim to lead.
            let mut words = stdout.lines().next()?.split_whitespace();
            let leader = words.next()?;
            let term = words.next().and_then(|t| t.parse().ok()).unwrap_or(0);
            (leader == id).then_some(LeaderClaim { id, term })
        }))
    }

    fn client(&self, _read: Option<ReadMode>) -> ClientSpec {
        ClientSpec::Stdio
    }

    fn describe(&self) -> String {
        format!("{} nodes started by `{}`", self.nodes, self.start.text)
    }
}

/// The stdio adapters of one run: worker `i`'s process is the workload's `client: {
/// command }` with [`CLIENT_PLACEHOLDERS`] filled for the node the worker is bound to
/// (`nodes[i % len]`, as [`workloads::client::StdioClient`] binds it), started by the one
/// spawner ([`crate::supervisor::PipedSpawner`]), stderr appended to
/// `adapters/<worker>.log` in the run's directory.
pub struct RunAdapters {
    command: Template,
    /// Every node with its client address (as the controller reaches it).
    nodes: Vec<(String, SocketAddr)>,
    log_dir: PathBuf,
    faultline: PathBuf,
    spawner: crate::supervisor::PipedSpawner,
}

impl RunAdapters {
    /// The adapters of `command` (validated with [`CLIENT_PLACEHOLDERS`]) for `nodes`.
    pub fn new(
        command: &str,
        nodes: Vec<(String, SocketAddr)>,
        log_dir: PathBuf,
        faultline: PathBuf,
    ) -> Result<RunAdapters, crate::supervisor::SupervisorError> {
        assert!(!nodes.is_empty(), "adapters need a node to talk to");
        let command =
            Template::command(command, CLIENT_PLACEHOLDERS).expect("validated with the schedule");
        Ok(RunAdapters {
            command,
            nodes,
            log_dir,
            faultline,
            spawner: crate::supervisor::PipedSpawner::new()?,
        })
    }

    /// Worker `worker`'s command line.
    pub fn words(&self, worker: usize) -> Vec<String> {
        let (node, addr) = &self.nodes[worker % self.nodes.len()];
        let (host, port) = host_port(*addr);
        let all = self
            .nodes
            .iter()
            .map(|(id, addr)| format!("{id}={addr}"))
            .collect::<Vec<_>>()
            .join(",");
        let values = BTreeMap::from([
            ("worker", worker.to_string()),
            ("node", node.clone()),
            ("client_addr", addr.to_string()),
            ("client_host", host),
            ("client_port", port),
            ("client_addrs", all),
            ("faultline", self.faultline.display().to_string()),
        ]);
        self.command.render(&lookup(&values))
    }
}

impl workloads::client::AdapterSpawner for RunAdapters {
    fn spawn(&self, worker: usize) -> std::io::Result<std::process::Child> {
        let words = self.words(worker);
        let (program, args) = words.split_first().expect("a command has a word");
        self.spawner
            .spawn(crate::supervisor::PipedSpec {
                id: format!("adapter {worker}"),
                program: PathBuf::from(program),
                args: args.to_vec(),
                env: Vec::new(),
                log_path: self.log_dir.join(format!("{worker}.log")),
            })
            .map_err(std::io::Error::other)
    }

    fn kill(&self, child: &mut std::process::Child) -> std::io::Result<()> {
        self.spawner
            .kill("adapter", child)
            .map_err(std::io::Error::other)
    }
}

/// `GET URL` answering 2xx, or why not.
async fn http_get(url: &str, deadline: tokio::time::Instant) -> Result<(), String> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let addr = tokio::net::lookup_host(authority)
        .await
        .map_err(|e| format!("http {url}: {e}"))?
        .next()
        .ok_or_else(|| format!("http {url}: no address for {authority}"))?;
    let pool = NodePool::new(addr, 0);
    match pool.send(Method::GET, path, Bytes::new(), deadline).await {
        Transport::Answered { status, .. } if (200..300).contains(&status) => Ok(()),
        Transport::Answered { status, .. } => Err(format!("http {url}: status {status}")),
        Transport::NotSent(reason) => Err(format!("http {url}: not connected ({reason:?})")),
        Transport::TimedOut => Err(format!("http {url}: no answer within the probe's timeout")),
        Transport::Broken(error) => Err(format!("http {url}: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_without_a_shell() {
        assert_eq!(
            split_words("redis-server --port 7 --dir /tmp/a").unwrap(),
            ["redis-server", "--port", "7", "--dir", "/tmp/a"]
        );
        assert_eq!(
            split_words(r#"sh -c 'echo $HOME; exit 1'"#).unwrap(),
            ["sh", "-c", "echo $HOME; exit 1"]
        );
        assert_eq!(
            split_words(r#"a "b c" "d\"e" "f\\g" "h\n""#).unwrap(),
            ["a", "b c", "d\"e", "f\\g", "h\\n"]
        );
        assert_eq!(split_words(r"a\ b c\'d").unwrap(), ["a b", "c'd"]);
        assert_eq!(split_words("x''y ''").unwrap(), ["xy", ""]);
        assert_eq!(split_words("  \t ").unwrap(), Vec::<String>::new());
        assert!(split_words("a 'b").is_err());
        assert!(split_words("a \"b").is_err());
        assert!(split_words("a \\").is_err());
    }

    #[test]
    fn placeholders_are_replaced_inside_words_and_never_split_them() {
        let t = Template::command(
            "server --addr={client_addr} --dir '{data_dir}' {{literal}}",
            NODE_PLACEHOLDERS,
        )
        .unwrap();
        let values = |name: &str| match name {
            "client_addr" => "127.0.0.1:7".to_string(),
            "data_dir" => "/tmp/a b".to_string(),
            _ => unreachable!(),
        };
        assert_eq!(
            t.render(&values),
            [
                "server",
                "--addr=127.0.0.1:7",
                "--dir",
                "/tmp/a b",
                "{literal}"
            ]
        );
        let error = Template::command("server {clientaddr}", NODE_PLACEHOLDERS).unwrap_err();
        assert!(error.contains("found `{clientaddr}`"), "{error}");
        assert!(error.contains("{client_addr}"), "{error}");
        assert!(Template::command("", NODE_PLACEHOLDERS).is_err());
        assert!(Template::command("a {id", NODE_PLACEHOLDERS).is_err());
        assert!(Template::command("a }", NODE_PLACEHOLDERS).is_err());
        assert!(Template::command("a {worker}", NODE_PLACEHOLDERS).is_err());
        assert!(Template::command("a {worker}", CLIENT_PLACEHOLDERS).is_ok());
    }
}
