//! The cycle search: strongly connected components, then per component one short cycle
//! of each class, classified as Elle does (Kingsbury & Alvaro, VLDB 2020, section 4.3;
//! Adya 1999 for the classes).
//!
//! For each variant the model needs (data edges only; with process order; with process
//! and real-time order) the components of the graph restricted to that variant's edges
//! are found (Tarjan, [`components`]); in each component, for each class in order G0,
//! G1c, G-single, G2, a breadth-first search looks for a cycle that uses only that class's
//! edges and contains the edges the class and variant require:
//!
//! | class    | edges allowed     | required                        |
//! |----------|-------------------|---------------------------------|
//! | G0       | ww                | (the variant's edge)            |
//! | G1c      | ww, wr            | a wr (and the variant's edge)   |
//! | G-single | ww, wr + one rw   | exactly one rw (and variant's)  |
//! | G2       | ww, wr, rw        | an rw (and the variant's edge)  |
//!
//! plus process edges for `-process` and process and real-time edges for `-realtime`,
//! where the variant's edge (a process, resp. real-time, edge) is required. The search
//! first takes the components of the class's own edges inside the component (a cycle
//! through `u -> w` needs both in one), then starts from each edge of the first required
//! kind inside one of them in turn and breadth-first searches back from its target to
//! its source over (node, requirements met) states, so the cycle found is a shortest
//! one through that edge. Each search gets a twelfth of the step budget. A cycle with two
//! or more rw edges is G-nonadjacent when no two of them are adjacent (cyclically), else
//! G2-item. A class implied by one already found in the component is not searched there
//! ([`cycle_implies`]).
//!
//! Completeness: in a component each search finds a cycle of its class if one goes
//! through some start edge, which it tries all of, within the budget; G-nonadjacent is
//! reported when the cycle found happens to be one (a component could hold a
//! nonadjacent cycle while the one found has adjacent rw edges). The budget counts edge
//! visits and wall time: when it runs out the searches not done are listed, never guessed.

use std::collections::BTreeMap;
use std::time::Instant;

use rustc_hash::FxHashMap;

use super::anomaly::{AnomalyKind, CycleClass, Variant, cycle_implies};
use super::graph::{DATA, Graph, PASS, PROCESS, REALTIME, RW, WR, WW, components};

/// Examples kept per cycle anomaly type.
pub const CYCLES_PER_KIND: usize = 3;

/// Limits of the search.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Edge visits in the breadth-first searches, all together.
    pub max_steps: u64,
    pub deadline: Option<Instant>,
}

/// One cycle: `edges[i]` goes from `txns[i]` to `txns[(i + 1) % len]`.
#[derive(Debug, Clone)]
pub struct Cycle {
    pub kind: AnomalyKind,
    pub txns: Vec<u32>,
    pub edges: Vec<u8>,
}

/// What the search found and what it could not do.
#[derive(Debug, Default)]
pub struct Search {
    /// Components in which each type was found.
    pub counts: BTreeMap<AnomalyKind, u64>,
    pub cycles: Vec<Cycle>,
    /// Searches not done, as sentences, with the anomaly types they could have found.
    pub not_searched: Vec<(String, Vec<AnomalyKind>)>,
    pub steps: u64,
}

fn variant_edges(variant: Variant) -> (u8, u8) {
    match variant {
        Variant::Data => (0, 0),
        Variant::Process => (PROCESS, PROCESS),
        Variant::Realtime => (PROCESS | REALTIME, REALTIME),
    }
}

fn class_edges(class: CycleClass) -> (u8, u8) {
    // (allowed besides the start edge, required)
    match class {
        CycleClass::G0 => (WW, 0),
        CycleClass::G1c => (WW | WR, WR),
        CycleClass::GSingle => (WW | WR, RW),
        CycleClass::GNonadjacent | CycleClass::G2Item => (DATA, RW),
    }
}

const SEARCHED: [CycleClass; 4] = [
    CycleClass::G0,
    CycleClass::G1c,
    CycleClass::GSingle,
    CycleClass::G2Item,
];

fn kind_bit(kind: AnomalyKind) -> u32 {
    AnomalyKind::all()
        .iter()
        .position(|k| *k == kind)
        .map_or(0, |i| 1 << i)
}

/// Searches `g` for cycles of every class in the given variants.
pub fn search(g: &Graph, variants: &[Variant], budget: Budget) -> Search {
    let mut out = Search::default();
    let n = g.nodes();
    // Nodes in some component of the widest graph; nothing else can be on a cycle.
    let widest = variants
        .iter()
        .map(|v| DATA | PASS | variant_edges(*v).0)
        .fold(0, |a, b| a | b);
    let Some(big) = components(g, widest, &|_| true, &mut (0..n as u32), budget.deadline) else {
        out.not_searched.push((
            "the strongly connected components (time limit)".into(),
            all_cycle_kinds(variants),
        ));
        return out;
    };
    if big.is_empty() {
        return out;
    }
    let mut in_big = vec![false; n];
    for c in &big {
        for &v in c {
            in_big[v as usize] = true;
        }
    }
    let roots: Vec<u32> = big.iter().flatten().copied().collect();
    let mut found_at: Vec<u32> = vec![0; n];
    let mut comp_of: Vec<u32> = vec![u32::MAX; n];
    for &variant in variants {
        let (extra, need) = variant_edges(variant);
        let mask = DATA | PASS | extra;
        let Some(comps) = components(
            g,
            mask,
            &|v| in_big[v as usize],
            &mut roots.iter().copied(),
            budget.deadline,
        ) else {
            out.not_searched.push((
                format!(
                    "the components with {} edges (time limit)",
                    variant_label(variant)
                ),
                kinds_of(variant),
            ));
            continue;
        };
        for (ci, comp) in comps.iter().enumerate() {
            for &v in comp {
                comp_of[v as usize] = ci as u32;
            }
            let txns = comp.iter().filter(|&&v| !g.is_virtual(v)).count();
            for class in SEARCHED {
                let wanted = (class, variant);
                let implied = comp.iter().any(|&v| {
                    let bits = found_at[v as usize];
                    bits != 0
                        && AnomalyKind::all().iter().enumerate().any(|(i, k)| {
                            bits & (1 << i) != 0
                                && matches!(k, AnomalyKind::Cycle(c, vv)
                                    if cycle_implies((*c, *vv), wanted))
                        })
                });
                if implied {
                    continue;
                }
                let (allowed, required) = class_edges(class);
                let result = find(
                    g,
                    &comp_of,
                    ci as u32,
                    comp,
                    class,
                    allowed | extra | PASS,
                    required | need,
                    &budget,
                    &mut out.steps,
                );
                match result {
                    Found::Cycle(cycle) => {
                        let bit = kind_bit(cycle.kind);
                        for &v in comp {
                            found_at[v as usize] |= bit;
                        }
                        let count = out.counts.entry(cycle.kind).or_insert(0);
                        *count += 1;
                        if *count as usize <= CYCLES_PER_KIND {
                            out.cycles.push(cycle);
                        }
                    }
                    Found::None => {}
                    Found::OutOfBudget => out.not_searched.push((
                        format!(
                            "{} in a component of {txns} transactions (budget)",
                            AnomalyKind::Cycle(class, variant)
                        ),
                        vec![AnomalyKind::Cycle(class, variant)],
                    )),
                }
            }
            for &v in comp {
                comp_of[v as usize] = u32::MAX;
            }
        }
    }
    out
}

fn variant_label(variant: Variant) -> &'static str {
    match variant {
        Variant::Data => "data",
        Variant::Process => "data and process",
        Variant::Realtime => "data, process and real-time",
    }
}

fn kinds_of(variant: Variant) -> Vec<AnomalyKind> {
    CycleClass::ALL
        .into_iter()
        .map(|c| AnomalyKind::Cycle(c, variant))
        .collect()
}

fn all_cycle_kinds(variants: &[Variant]) -> Vec<AnomalyKind> {
    variants.iter().flat_map(|v| kinds_of(*v)).collect()
}

enum Found {
    Cycle(Cycle),
    None,
    OutOfBudget,
}

/// The kind an edge of `kinds` counts as on the path: a still-required one if any, else
/// the least severe.
fn attribute(kinds: u8, still_required: u8) -> u8 {
    let useful = kinds & still_required;
    let pick = if useful != 0 { useful } else { kinds };
    for k in [WW, WR, PROCESS, REALTIME, RW, PASS] {
        if pick & k != 0 {
            return k;
        }
    }
    unreachable!("an edge has a kind")
}

#[allow(clippy::too_many_arguments)]
fn find(
    g: &Graph,
    comp_of: &[u32],
    ci: u32,
    comp: &[u32],
    class: CycleClass,
    allowed: u8,
    required: u8,
    budget: &Budget,
    steps: &mut u64,
) -> Found {
    // The start edges: of the first required kind, or any allowed edge.
    let start_kind = if class == CycleClass::GSingle {
        RW
    } else if required & WR != 0 {
        WR
    } else if required & RW != 0 {
        RW
    } else if required != 0 {
        required
    } else {
        allowed & !PASS
    };
    let in_comp = |v: u32| comp_of[v as usize] == ci;
    // A cycle through `u -> w` over these edges exists only if `u` and `w` are in one
    // component of the graph of these edges: the sub-components prune start edges and
    // bound each search. For G-single, start edges whose ends are in one component of
    // the rw-free edges close at once; they are tried first.
    let sub_of = |mask: u8| -> Option<FxHashMap<u32, u32>> {
        let subs = local_components(g, comp, mask, &in_comp, budget.deadline)?;
        let mut of = FxHashMap::default();
        for (i, sub) in subs.iter().enumerate() {
            for &v in sub {
                of.insert(v, i as u32);
            }
        }
        Some(of)
    };
    let Some(scope) = sub_of(allowed | start_kind) else {
        return Found::OutOfBudget;
    };
    let mut starts: Vec<(u32, u32, u8)> = Vec::new();
    for &u in comp {
        let Some(&su) = scope.get(&u) else { continue };
        for (w, kinds) in g.out(u) {
            if kinds & start_kind != 0 && scope.get(&w) == Some(&su) {
                starts.push((u, w, kinds));
            }
        }
    }
    if class == CycleClass::GSingle && !starts.is_empty() {
        let Some(rw_free) = sub_of(allowed) else {
            return Found::OutOfBudget;
        };
        starts.sort_by_key(|&(u, w, _)| {
            let closes = rw_free.get(&u).is_some_and(|s| rw_free.get(&w) == Some(s));
            !closes
        });
    }
    // Each search gets a share of the budget, so that one hard class cannot starve the
    // others.
    let cap = (*steps)
        .saturating_add(budget.max_steps / 12)
        .min(budget.max_steps);
    let share = Budget {
        max_steps: cap,
        deadline: budget.deadline,
    };
    for (u, w, kinds) in starts {
        let k = attribute(kinds & start_kind, required & start_kind);
        let state = required & !k;
        let su = scope[&u];
        let in_scope = |v: u32| scope.get(&v) == Some(&su);
        match bfs(g, &in_scope, (u, w, k), state, allowed, &share, steps) {
            Some(Some(path)) => return Found::Cycle(collapse(g, &path)),
            Some(None) => {}
            None => return Found::OutOfBudget,
        }
    }
    Found::None
}

/// Tarjan's components of `comp`'s subgraph of `mask` edges, with memory in the size of
/// `comp` (not of the whole graph, as [`components`] takes). `None`: past the deadline.
fn local_components(
    g: &Graph,
    comp: &[u32],
    mask: u8,
    in_comp: &dyn Fn(u32) -> bool,
    deadline: Option<Instant>,
) -> Option<Vec<Vec<u32>>> {
    const UNSEEN: u32 = u32::MAX;
    let local: FxHashMap<u32, u32> = comp
        .iter()
        .enumerate()
        .map(|(i, &v)| (v, i as u32))
        .collect();
    let n = comp.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut next_index = 0u32;
    let mut out = Vec::new();
    let mut steps = 0u64;
    for root in 0..n as u32 {
        if index[root as usize] != UNSEEN {
            continue;
        }
        // Frames: (local node, its out-edges not yet looked at).
        let mut calls: Vec<(u32, Vec<u32>)> = Vec::new();
        let push = |v: u32,
                    calls: &mut Vec<(u32, Vec<u32>)>,
                    index: &mut Vec<u32>,
                    low: &mut Vec<u32>,
                    next_index: &mut u32| {
            index[v as usize] = *next_index;
            low[v as usize] = *next_index;
            *next_index += 1;
            let succ: Vec<u32> = g
                .out(comp[v as usize])
                .filter(|&(w, k)| k & mask != 0 && in_comp(w))
                .filter_map(|(w, _)| local.get(&w).copied())
                .collect();
            calls.push((v, succ));
        };
        push(root, &mut calls, &mut index, &mut low, &mut next_index);
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some((v, succ)) = calls.last_mut() {
            let v = *v;
            steps += 1;
            if steps.is_multiple_of(1 << 16) && deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            if let Some(w) = succ.pop() {
                if index[w as usize] == UNSEEN {
                    push(w, &mut calls, &mut index, &mut low, &mut next_index);
                    stack.push(w);
                    on_stack[w as usize] = true;
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
                continue;
            }
            calls.pop();
            if let Some((parent, _)) = calls.last() {
                let p = *parent as usize;
                low[p] = low[p].min(low[v as usize]);
            }
            if low[v as usize] == index[v as usize] {
                let mut component = Vec::new();
                loop {
                    let w = stack.pop().expect("v is on the stack");
                    on_stack[w as usize] = false;
                    component.push(comp[w as usize]);
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

/// Breadth-first from `w` back to `u` over `allowed` edges inside the scope, until
/// every bit of `state` (requirements still open) is met. `None`: out of budget.
fn bfs(
    g: &Graph,
    in_scope: &dyn Fn(u32) -> bool,
    start: (u32, u32, u8),
    state: u8,
    allowed: u8,
    budget: &Budget,
    steps: &mut u64,
) -> Option<Option<Vec<(u32, u8)>>> {
    let (u, w, k0) = start;
    // (node, open requirements) -> (previous node, its open requirements, edge kind).
    let mut parent: FxHashMap<(u32, u8), (u32, u8, u8)> = FxHashMap::default();
    let mut queue = std::collections::VecDeque::new();
    parent.insert((w, state), (u, u8::MAX, k0));
    queue.push_back((w, state));
    let mut goal = None;
    'outer: while let Some((v, open)) = queue.pop_front() {
        if v == u && open == 0 {
            goal = Some((v, open));
            break;
        }
        for (x, kinds) in g.out(v) {
            *steps += 1;
            if *steps > budget.max_steps
                || (steps.is_multiple_of(1 << 16)
                    && budget.deadline.is_some_and(|d| Instant::now() >= d))
            {
                return None;
            }
            let usable = kinds & allowed;
            if usable == 0 || !in_scope(x) {
                continue;
            }
            let k = attribute(usable, open);
            let next = (x, open & !k);
            if parent.contains_key(&next) {
                continue;
            }
            parent.insert(next, (v, open, k));
            if x == u && next.1 == 0 {
                goal = Some(next);
                break 'outer;
            }
            queue.push_back(next);
        }
    }
    let Some(mut at) = goal else {
        return Some(None);
    };
    // Walk back: edges into `at` ... to w, then u -> w.
    let mut rev: Vec<(u32, u8)> = Vec::new();
    loop {
        let &(prev, prev_open, k) = parent.get(&at).expect("a parent on the path");
        rev.push((prev, k));
        if prev_open == u8::MAX {
            break;
        }
        at = (prev, prev_open);
    }
    rev.reverse();
    // rev[i] = (node, kind of its edge to the next node); starts with (u, k0).
    Some(Some(rev))
}

/// The cycle over transactions: virtual nodes folded into the edge entering them.
fn collapse(g: &Graph, path: &[(u32, u8)]) -> Cycle {
    let mut txns = Vec::new();
    let mut edges = Vec::new();
    for &(node, kind) in path {
        if !g.is_virtual(node) {
            txns.push(node);
            edges.push(kind);
        }
    }
    debug_assert!(!txns.is_empty(), "a cycle has a transaction");
    let kind = classify(&edges);
    Cycle { kind, txns, edges }
}

/// The anomaly type of a cycle by its edge kinds.
pub fn classify(edges: &[u8]) -> AnomalyKind {
    let rw = edges.iter().filter(|&&k| k == RW).count();
    let n = edges.len();
    let class = match rw {
        0 if edges.contains(&WR) => CycleClass::G1c,
        0 => CycleClass::G0,
        1 => CycleClass::GSingle,
        _ => {
            let adjacent = (0..n).any(|i| edges[i] == RW && edges[(i + 1) % n] == RW);
            if adjacent {
                CycleClass::G2Item
            } else {
                CycleClass::GNonadjacent
            }
        }
    };
    let variant = if edges.contains(&REALTIME) {
        Variant::Realtime
    } else if edges.contains(&PROCESS) {
        Variant::Process
    } else {
        Variant::Data
    };
    AnomalyKind::Cycle(class, variant)
}
