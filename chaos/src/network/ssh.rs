//! Partitions between nodes on SSH hosts ([`crate::node_control::ssh`]): nftables on each
//! host, in one table per run, `inet faultline-<run>`, so that `faultline cleanup --hosts`
//! and the hosts' watchdogs find it by name.
//!
//! Cutting `i -> j` drops every packet `i`'s host sends to `j`'s address (an output chain),
//! the same "messages from i to j are lost" model as the netns network. Each change
//! replaces the host's whole table in one `nft -f` transaction (create, delete, define), so
//! a host never holds half a rule set. Latency is not supported (no `tc netem`).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Link;
use crate::node_control::ssh::{SshError, SshHosts, locked};

/// The hosts' nftables rules of one run.
#[derive(Debug)]
pub struct SshNetwork {
    hosts: Arc<SshHosts>,
    cuts: BTreeSet<Link>,
}

impl SshNetwork {
    pub fn new(hosts: Arc<SshHosts>) -> SshNetwork {
        SshNetwork {
            hosts,
            cuts: BTreeSet::new(),
        }
    }

    /// Drops what `link.from` sends to `link.to` until [`SshNetwork::heal`].
    pub fn cut(&mut self, link: &Link) -> Result<(), SshError> {
        if self.cuts.insert(link.clone()) {
            self.apply(&link.from)?;
        }
        Ok(())
    }

    /// Cuts every one of `links`, one rule change per host, the hosts in parallel: a
    /// partition costs one SSH round trip, not one per link.
    pub fn cut_all<'a>(
        &mut self,
        links: impl IntoIterator<Item = &'a Link>,
    ) -> Result<(), SshError> {
        let mut froms = BTreeSet::new();
        for link in links {
            if self.cuts.insert(link.clone()) {
                froms.insert(link.from.clone());
            }
        }
        self.apply_all(&froms)
    }

    /// Removes every cut (the run's table on every host that had one, in parallel).
    pub fn heal(&mut self) -> Result<(), SshError> {
        let froms: BTreeSet<String> = self.cuts.iter().map(|l| l.from.clone()).collect();
        self.cuts.clear();
        self.apply_all(&froms)
    }

    /// [`SshNetwork::apply`] on every host of `froms` at once; the first error after all.
    fn apply_all(&self, froms: &BTreeSet<String>) -> Result<(), SshError> {
        let results: Vec<Result<(), SshError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = froms
                .iter()
                .map(|from| scope.spawn(move || self.apply(from)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a rule change thread panicked"))
                .collect()
        });
        results.into_iter().collect()
    }

    /// The hosts this network's rules live on.
    pub fn hosts(&self) -> &Arc<SshHosts> {
        &self.hosts
    }

    pub fn cut_links(&self) -> Vec<Link> {
        self.cuts.iter().cloned().collect()
    }

    /// Replaces `from`'s host's table with the cuts from `from` (none: no table).
    fn apply(&self, from: &str) -> Result<(), SshError> {
        let table = self.hosts.table();
        let mut dests = Vec::new();
        for link in self.cuts.iter().filter(|l| l.from == from) {
            dests.push(self.hosts.host(&link.to)?.spec.addr.to_string());
        }
        let mut rules = format!("table inet {table} {{}}\ndelete table inet {table}\n");
        if !dests.is_empty() {
            rules.push_str(&format!(
                "table inet {table} {{\n  chain out {{\n    type filter hook output priority 0; policy accept;\n    ip daddr {{ {} }} drop\n  }}\n}}\n",
                dests.join(", ")
            ));
        }
        let host = self.hosts.host(from)?;
        let run = host.spec.run_dir(self.hosts.run_id());
        host.run(&locked(
            &run,
            &format!("nft -f - <<'FAULTLINE_RULES'\n{rules}FAULTLINE_RULES\n"),
        ))?;
        Ok(())
    }
}
