//! The dependency graph: transactions and *virtual* nodes (time nodes for real-time
//! order, fan-out hubs), edges labelled with a bit set of kinds, stored as compressed
//! adjacency (CSR), and Tarjan's strongly connected components, iterative.
//!
//! An edge into a virtual node carries the kind of the logical edge (real-time, or
//! read-write for a hub); edges out of a virtual node are [`PASS`]: a path
//! `T1 -k-> v1 -pass-> ... -pass-> T2` stands for one edge `T1 -k-> T2`. Hubs keep a
//! fan-out of `n` sources to `m` targets linear in `n + m` ([`Builder::fan_out`]).

use std::time::Instant;

/// Edge kinds (bits).
pub const WW: u8 = 1;
pub const WR: u8 = 2;
pub const RW: u8 = 4;
pub const PROCESS: u8 = 8;
pub const REALTIME: u8 = 16;
pub const PASS: u8 = 32;
pub const DATA: u8 = WW | WR | RW;
pub const ALL: u8 = DATA | PROCESS | REALTIME | PASS;

pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        PROCESS => "process",
        REALTIME => "realtime",
        _ => "pass",
    }
}

/// Fan-outs smaller than this many edges are added directly.
const DIRECT_FAN_OUT: usize = 64;

/// Collects edges; node ids: transactions first, then time nodes, then hubs.
#[derive(Debug)]
pub struct Builder {
    pub txns: u32,
    pub nodes: u32,
    edges: Vec<(u32, u32, u8)>,
}

impl Builder {
    /// `txns` transaction nodes and `time_nodes` time nodes (ids `txns..txns+time_nodes`).
    pub fn new(txns: u32, time_nodes: u32) -> Builder {
        Builder {
            txns,
            nodes: txns + time_nodes,
            edges: Vec::new(),
        }
    }

    pub fn add(&mut self, from: u32, to: u32, kind: u8) {
        debug_assert!(from < self.nodes && to < self.nodes);
        if from != to {
            self.edges.push((from, to, kind));
        }
    }

    fn hub(&mut self) -> u32 {
        let id = self.nodes;
        self.nodes = self.nodes.checked_add(1).expect("fewer than 2^32 nodes");
        id
    }

    /// An edge of `kind` from every source to every target other than itself, through
    /// hubs when that would be many edges. `targets` must be sorted and distinct.
    pub fn fan_out(&mut self, sources: &[u32], targets: &[u32], kind: u8) {
        debug_assert!(targets.windows(2).all(|w| w[0] < w[1]));
        if sources.is_empty() || targets.is_empty() {
            return;
        }
        if sources.len().saturating_mul(targets.len()) <= DIRECT_FAN_OUT {
            for &s in sources {
                for &t in targets {
                    self.add(s, t, kind);
                }
            }
            return;
        }
        // prefix[j] reaches targets[..=j]; suffix[j] reaches targets[j..].
        let m = targets.len();
        let prefix: Vec<u32> = (0..m).map(|_| self.hub()).collect();
        let suffix: Vec<u32> = (0..m).map(|_| self.hub()).collect();
        for j in 0..m {
            self.add(prefix[j], targets[j], PASS);
            self.add(suffix[j], targets[j], PASS);
            if j > 0 {
                self.add(prefix[j], prefix[j - 1], PASS);
            }
            if j + 1 < m {
                self.add(suffix[j], suffix[j + 1], PASS);
            }
        }
        for &s in sources {
            match targets.binary_search(&s) {
                Err(_) => self.add(s, prefix[m - 1], kind),
                Ok(i) => {
                    if i > 0 {
                        self.add(s, prefix[i - 1], kind);
                    }
                    if i + 1 < m {
                        self.add(s, suffix[i + 1], kind);
                    }
                }
            }
        }
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// The adjacency, each node's edges sorted by target with kinds of parallel edges
    /// merged.
    pub fn build(self) -> Graph {
        let n = self.nodes as usize;
        let mut offsets = vec![0usize; n + 1];
        for &(from, _, _) in &self.edges {
            offsets[from as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut packed = vec![0u64; self.edges.len()];
        for (from, to, kind) in self.edges {
            let slot = &mut fill[from as usize];
            packed[*slot] = (u64::from(to) << 8) | u64::from(kind);
            *slot += 1;
        }
        // Sort and merge each node's list in place, then compact.
        let mut targets = Vec::with_capacity(packed.len());
        let mut kinds = Vec::with_capacity(packed.len());
        let mut new_offsets = vec![0usize; n + 1];
        for v in 0..n {
            let list = &mut packed[offsets[v]..offsets[v + 1]];
            list.sort_unstable();
            let mut last: Option<u32> = None;
            for &e in list.iter() {
                let to = (e >> 8) as u32;
                let kind = e as u8;
                if last == Some(to) {
                    *kinds.last_mut().expect("pushed with last") |= kind;
                } else {
                    targets.push(to);
                    kinds.push(kind);
                    last = Some(to);
                }
            }
            new_offsets[v + 1] = targets.len();
        }
        Graph {
            txns: self.txns,
            offsets: new_offsets,
            targets,
            kinds,
        }
    }
}

/// The adjacency of the dependency graph.
#[derive(Debug, Default)]
pub struct Graph {
    pub txns: u32,
    offsets: Vec<usize>,
    targets: Vec<u32>,
    kinds: Vec<u8>,
}

impl Graph {
    pub fn nodes(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn edges(&self) -> usize {
        self.targets.len()
    }

    pub fn is_virtual(&self, v: u32) -> bool {
        v >= self.txns
    }

    /// `v`'s out-edges: (target, kinds).
    pub fn out(&self, v: u32) -> impl Iterator<Item = (u32, u8)> + '_ {
        let range = self.offsets[v as usize]..self.offsets[v as usize + 1];
        self.targets[range.clone()]
            .iter()
            .copied()
            .zip(self.kinds[range].iter().copied())
    }

    /// The kinds of the edge `from -> to`, 0 if none.
    pub fn kinds_between(&self, from: u32, to: u32) -> u8 {
        let range = self.offsets[from as usize]..self.offsets[from as usize + 1];
        match self.targets[range.clone()].binary_search(&to) {
            Ok(i) => self.kinds[range.start + i],
            Err(_) => 0,
        }
    }
}

/// Strongly connected components of the subgraph of nodes `allowed` accepts and edges
/// with a kind in `mask`; only components of two nodes or more are returned (the graph
/// has no self-edges), as lists of nodes. Iterative, O(V + E).
///
/// Returns `None` when `deadline` passes first.
pub fn components(
    g: &Graph,
    mask: u8,
    allowed: &dyn Fn(u32) -> bool,
    roots: &mut dyn Iterator<Item = u32>,
    deadline: Option<Instant>,
) -> Option<Vec<Vec<u32>>> {
    const UNSEEN: u32 = u32::MAX;
    let n = g.nodes();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut calls: Vec<(u32, usize)> = Vec::new();
    let mut next_index = 0u32;
    let mut out = Vec::new();
    let mut steps = 0u64;
    for root in roots {
        if index[root as usize] != UNSEEN || !allowed(root) {
            continue;
        }
        calls.push((root, g.offsets[root as usize]));
        index[root as usize] = next_index;
        low[root as usize] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some(&mut (v, ref mut pos)) = calls.last_mut() {
            steps += 1;
            if steps.is_multiple_of(1 << 20) && deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            let end = g.offsets[v as usize + 1];
            let mut descended = false;
            while *pos < end {
                let w = g.targets[*pos];
                let kinds = g.kinds[*pos];
                *pos += 1;
                if kinds & mask == 0 || !allowed(w) {
                    continue;
                }
                if index[w as usize] == UNSEEN {
                    index[w as usize] = next_index;
                    low[w as usize] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    calls.push((w, g.offsets[w as usize]));
                    descended = true;
                    break;
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
            }
            if descended {
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent as usize] = low[parent as usize].min(low[v as usize]);
            }
            if low[v as usize] == index[v as usize] {
                let mut component = Vec::new();
                loop {
                    let w = stack.pop().expect("v is on the stack");
                    on_stack[w as usize] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    out.push(component);
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sccs(edges: &[(u32, u32)], n: u32) -> Vec<Vec<u32>> {
        let mut b = Builder::new(n, 0);
        for &(a, c) in edges {
            b.add(a, c, WW);
        }
        let g = b.build();
        let mut found = components(&g, ALL, &|_| true, &mut (0..n), None).unwrap();
        for c in &mut found {
            c.sort_unstable();
        }
        found.sort();
        found
    }

    #[test]
    fn finds_components() {
        assert_eq!(
            sccs(&[(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (4, 3), (5, 5)], 6),
            vec![vec![0, 1, 2], vec![3, 4]]
        );
        assert!(sccs(&[(0, 1), (1, 2)], 3).is_empty());
    }

    #[test]
    fn fan_out_reaches_all_but_self() {
        let targets: Vec<u32> = (0..20).collect();
        let sources: Vec<u32> = (10..30).collect();
        let mut b = Builder::new(30, 0);
        b.fan_out(&sources, &targets, RW);
        let g = b.build();
        for &s in &sources {
            // Everything reachable from s through hubs.
            let mut seen = vec![false; g.nodes()];
            let mut todo = vec![s];
            while let Some(v) = todo.pop() {
                for (w, _) in g.out(v) {
                    if !seen[w as usize] {
                        seen[w as usize] = true;
                        if g.is_virtual(w) {
                            todo.push(w);
                        }
                    }
                }
            }
            for t in 0..30u32 {
                assert_eq!(seen[t as usize], t < 20 && t != s, "{s} -> {t}");
            }
        }
    }
}
