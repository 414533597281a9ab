//! Network faults: directed links, partition shapes, and the two backends.
//!
//! A fault cuts a set of *directed* links. Cutting `i -> j` means "messages from i to j are
//! lost" and nothing else; both backends implement exactly that (see [`proxy`] and
//! [`netns`] for how). A partition is the set of links between different groups, in both
//! directions.
//!
//! The shapes of DESIGN.md are pure functions from (shape, node list, leader, rng) to a set of
//! links, so that a seed always yields the same cuts ([`cut_links`]):
//!
//! - `isolate`: one random node (or the given one) against the rest;
//! - `halves`: a random split into a smaller and a larger half;
//! - `majorities-ring`: every node hears from a majority, but no two nodes hear from the
//!   same majority (Jepsen's ring: nodes on a shuffled ring, each hearing its neighbours);
//! - `bridge`: two halves joined by one node that sees both;
//! - `leader`: the leader (supplied by the caller) against the rest;
//! - explicit groups; nodes in no group form one more group together.

pub mod netns;
pub mod proxy;
pub mod ssh;

use std::collections::BTreeSet;
use std::fmt;

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};

/// How nodes reach each other (a schedule's `network:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkKind {
    /// Straight to each other's listen address; network faults are refused.
    Direct,
    /// Through controller-owned TCP proxies (default; no privileges).
    #[default]
    Proxy,
    /// Each node in its own network namespace, links cut with nftables (root).
    Netns,
}

impl NetworkKind {
    /// The networks a schedule can name, in the order messages list them (`direct` is for
    /// `faultline cluster up` and tests only).
    pub const IN_SCHEDULES: [NetworkKind; 2] = [NetworkKind::Proxy, NetworkKind::Netns];

    /// The network's name in schedules and messages.
    pub fn name(self) -> &'static str {
        match self {
            NetworkKind::Direct => "direct",
            NetworkKind::Proxy => "proxy",
            NetworkKind::Netns => "netns",
        }
    }

    /// The schedule network named `name`.
    pub fn from_name(name: &str) -> Option<NetworkKind> {
        Self::IN_SCHEDULES
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// A directed node-to-node link: traffic *from* `from` *to* `to`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Link {
    pub from: String,
    pub to: String,
}

impl Link {
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Link {
        Link {
            from: from.into(),
            to: to.into(),
        }
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}", self.from, self.to)
    }
}

/// A partition shape (DESIGN.md "Fault schedules").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionShape {
    /// Isolate the given node, or a random one.
    Isolate(Option<String>),
    /// Random halves.
    Halves,
    /// Each node sees a majority, no two see the same one.
    MajoritiesRing,
    /// Two halves with one node bridging them.
    Bridge,
    /// Isolate the leader (resolved by the caller at fault time).
    Leader,
    /// Explicit groups.
    Groups(Vec<Vec<String>>),
}

/// Errors computing cuts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("unknown node {0:?}")]
    UnknownNode(String),
    #[error("node {0:?} appears in more than one group")]
    NodeInTwoGroups(String),
    #[error("the leader shape needs a leader, and none is known")]
    NoLeader,
    #[error("shape {shape} needs at least {min} nodes, the cluster has {nodes}")]
    TooFewNodes {
        shape: &'static str,
        min: usize,
        nodes: usize,
    },
}

/// Every directed link between members of different groups. Nodes of `nodes` that are in
/// no group form one more group together.
pub fn links_between_groups(
    nodes: &[String],
    groups: &[Vec<String>],
) -> Result<BTreeSet<Link>, ShapeError> {
    let mut group_of = std::collections::BTreeMap::new();
    for (index, group) in groups.iter().enumerate() {
        for node in group {
            if !nodes.contains(node) {
                return Err(ShapeError::UnknownNode(node.clone()));
            }
            if group_of.insert(node.clone(), index).is_some() {
                return Err(ShapeError::NodeInTwoGroups(node.clone()));
            }
        }
    }
    let rest = groups.len();
    let group = |node: &String| group_of.get(node).copied().unwrap_or(rest);
    let mut cuts = BTreeSet::new();
    for from in nodes {
        for to in nodes {
            if from != to && group(from) != group(to) {
                cuts.insert(Link::new(from.clone(), to.clone()));
            }
        }
    }
    Ok(cuts)
}

/// The links to cut for `shape` over `nodes`. `leader` is used by [`PartitionShape::Leader`];
/// random choices come from `rng` only, so a seeded rng gives the same cuts everywhere.
pub fn cut_links<R: Rng + ?Sized>(
    shape: &PartitionShape,
    nodes: &[String],
    leader: Option<&str>,
    rng: &mut R,
) -> Result<BTreeSet<Link>, ShapeError> {
    match shape {
        PartitionShape::Isolate(Some(node)) => links_between_groups(nodes, &[vec![node.clone()]]),
        PartitionShape::Isolate(None) => {
            let node = nodes[rng.random_range(0..nodes.len())].clone();
            links_between_groups(nodes, &[vec![node]])
        }
        PartitionShape::Leader => {
            let leader = leader.ok_or(ShapeError::NoLeader)?;
            links_between_groups(nodes, &[vec![leader.to_string()]])
        }
        PartitionShape::Halves => {
            need_nodes("halves", 2, nodes)?;
            let shuffled = shuffled(nodes, rng);
            let (small, large) = shuffled.split_at(nodes.len() / 2);
            links_between_groups(nodes, &[small.to_vec(), large.to_vec()])
        }
        PartitionShape::Bridge => {
            need_nodes("bridge", 3, nodes)?;
            bridge(nodes, rng)
        }
        PartitionShape::MajoritiesRing => {
            need_nodes("majorities-ring", 3, nodes)?;
            Ok(majorities_ring(nodes, rng))
        }
        PartitionShape::Groups(groups) => links_between_groups(nodes, groups),
    }
}

fn need_nodes(shape: &'static str, min: usize, nodes: &[String]) -> Result<(), ShapeError> {
    if nodes.len() < min {
        return Err(ShapeError::TooFewNodes {
            shape,
            min,
            nodes: nodes.len(),
        });
    }
    Ok(())
}

fn shuffled<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> Vec<String> {
    let mut order = nodes.to_vec();
    order.shuffle(rng);
    order
}

/// Two halves that cannot reach each other, plus one node (the bridge) that reaches both.
fn bridge<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> Result<BTreeSet<Link>, ShapeError> {
    let order = shuffled(nodes, rng);
    let (bridge_node, rest) = order.split_first().expect("at least three nodes");
    let (left, right) = rest.split_at(rest.len() / 2);
    let cuts = links_between_groups(nodes, &[left.to_vec(), right.to_vec()])?;
    // links_between_groups put the bridge node in the "rest" group; it must see everyone.
    Ok(cuts
        .into_iter()
        .filter(|link| link.from != *bridge_node && link.to != *bridge_node)
        .collect())
}

/// Nodes on a shuffled ring; node `a` hears only from the window of `count / 2` ring
/// neighbours around it (plus itself): a majority, and a different one for every node.
/// Links are directed: `b -> a` is cut when `b` is outside `a`'s window. For some sizes
/// (3, 6, ...) no symmetric cut can give every node a distinct majority, so the shape is
/// asymmetric there, as Jepsen's is.
fn majorities_ring<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> BTreeSet<Link> {
    let order = shuffled(nodes, rng);
    let count = order.len();
    let neighbours = count / 2;
    let ahead = neighbours - neighbours / 2;
    let behind = neighbours / 2;
    let hears = |a: usize, b: usize| {
        let forward = (b + count - a) % count;
        forward <= ahead || count - forward <= behind
    };
    let mut cuts = BTreeSet::new();
    for a in 0..count {
        for b in 0..count {
            if a != b && !hears(a, b) {
                cuts.insert(Link::new(order[b].clone(), order[a].clone()));
            }
        }
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn nodes(count: usize) -> Vec<String> {
        (1..=count).map(|i| format!("n{i}")).collect()
    }

    fn reachable(cuts: &BTreeSet<Link>, from: &str, nodes: &[String]) -> BTreeSet<String> {
        nodes
            .iter()
            .filter(|to| *to == from || !cuts.contains(&Link::new(from, to.as_str())))
            .cloned()
            .collect()
    }

    fn heard_by(cuts: &BTreeSet<Link>, to: &str, nodes: &[String]) -> BTreeSet<String> {
        nodes
            .iter()
            .filter(|from| *from == to || !cuts.contains(&Link::new(from.as_str(), to)))
            .cloned()
            .collect()
    }

    #[test]
    fn explicit_groups_cut_both_directions_and_unlisted_nodes_group_together() {
        let all = nodes(5);
        let cuts = links_between_groups(&all, &[vec!["n1".into()]]).unwrap();
        assert_eq!(cuts.len(), 8);
        assert!(cuts.contains(&Link::new("n1", "n3")));
        assert!(cuts.contains(&Link::new("n3", "n1")));
        assert!(!cuts.contains(&Link::new("n2", "n3")));
    }

    #[test]
    fn groups_refuse_unknown_and_duplicate_nodes() {
        let all = nodes(3);
        assert_eq!(
            links_between_groups(&all, &[vec!["n9".into()]]),
            Err(ShapeError::UnknownNode("n9".into()))
        );
        assert_eq!(
            links_between_groups(&all, &[vec!["n1".into()], vec!["n1".into()]]),
            Err(ShapeError::NodeInTwoGroups("n1".into()))
        );
    }

    #[test]
    fn halves_split_into_a_minority_and_a_majority() {
        let all = nodes(5);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let cuts = cut_links(&PartitionShape::Halves, &all, None, &mut rng).unwrap();
        // 2 x 3 nodes, both directions.
        assert_eq!(cuts.len(), 12);
        let sizes: BTreeSet<usize> = all
            .iter()
            .map(|n| reachable(&cuts, n, &all).len())
            .collect();
        assert_eq!(sizes, BTreeSet::from([2, 3]));
    }

    #[test]
    fn same_seed_same_cuts_and_different_seeds_vary() {
        let all = nodes(5);
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            cut_links(&PartitionShape::Halves, &all, None, &mut rng).unwrap()
        };
        assert_eq!(run(7), run(7));
        let distinct: BTreeSet<_> = (0..20).map(run).collect();
        assert!(distinct.len() > 1);
    }

    #[test]
    fn majorities_ring_gives_every_node_a_distinct_majority() {
        for count in [3, 4, 5, 6, 7] {
            let all = nodes(count);
            let mut rng = ChaCha8Rng::seed_from_u64(count as u64);
            let cuts = cut_links(&PartitionShape::MajoritiesRing, &all, None, &mut rng).unwrap();
            let views: Vec<BTreeSet<String>> =
                all.iter().map(|n| heard_by(&cuts, n, &all)).collect();
            for view in &views {
                assert!(
                    view.len() > count / 2,
                    "{count} nodes: {view:?} is no majority"
                );
            }
            let distinct: BTreeSet<_> = views.iter().collect();
            assert_eq!(distinct.len(), count, "{count} nodes: views {views:?}");
        }
    }

    #[test]
    fn bridge_node_sees_everyone_and_the_halves_do_not_see_each_other() {
        let all = nodes(5);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let cuts = cut_links(&PartitionShape::Bridge, &all, None, &mut rng).unwrap();
        let bridges: Vec<&String> = all
            .iter()
            .filter(|n| reachable(&cuts, n, &all).len() == 5)
            .collect();
        assert_eq!(bridges.len(), 1);
        for node in all.iter().filter(|n| *n != bridges[0]) {
            assert_eq!(reachable(&cuts, node, &all).len(), 3, "{node}");
        }
    }

    #[test]
    fn leader_and_isolate_cut_one_node_off() {
        let all = nodes(3);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let cuts = cut_links(&PartitionShape::Leader, &all, Some("n2"), &mut rng).unwrap();
        assert_eq!(reachable(&cuts, "n2", &all).len(), 1);
        assert_eq!(reachable(&cuts, "n1", &all).len(), 2);
        assert_eq!(
            cut_links(&PartitionShape::Leader, &all, None, &mut rng),
            Err(ShapeError::NoLeader)
        );
        let cuts = cut_links(&PartitionShape::Isolate(None), &all, None, &mut rng).unwrap();
        assert_eq!(cuts.len(), 4);
    }

    #[test]
    fn shapes_refuse_too_small_clusters() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert!(matches!(
            cut_links(&PartitionShape::Bridge, &nodes(2), None, &mut rng),
            Err(ShapeError::TooFewNodes { .. })
        ));
    }
}
