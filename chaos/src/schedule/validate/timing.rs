//! When each fault starts and how long it lasts (`at`, `every`/`from`/`until`, `for`,
//! `restart_after`), and the refusal of faults that would hold the same thing at once.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use super::super::raw::RawFault;
use super::super::{FaultChoice, FaultKind, FaultSpec, TargetSpec, Timing, format_duration};
use super::{MAX_OCCURRENCES, Result, Validator, quoted};

impl Validator<'_> {
    pub(super) fn length(
        &self,
        fault: &RawFault,
        choice: &FaultChoice,
    ) -> Result<Option<Duration>> {
        match (&fault.length, &fault.restart_after) {
            (Some(_), Some(restart)) => Err(self.error(
                restart.referenced,
                "expected either `for` or `restart_after`, found both".into(),
            )),
            (None, Some(restart)) => {
                if !matches!(
                    choice,
                    FaultChoice::Process {
                        kind: FaultKind::Kill,
                        ..
                    }
                ) {
                    return Err(self.error(
                        restart.referenced,
                        "expected `restart_after` only with `kill` (use `for`), found `restart_after`".into(),
                    ));
                }
                Ok(Some(self.positive_duration(restart, "`restart_after`")?))
            }
            (Some(length), None) => Ok(Some(self.positive_duration(length, "`for`")?)),
            (None, None) => Ok(None),
        }
    }

    pub(super) fn timing(
        &self,
        fault: &RawFault,
        here: Location,
        length: Option<Duration>,
        run: Duration,
    ) -> Result<Timing> {
        let length_location = fault
            .length
            .as_ref()
            .or(fault.restart_after.as_ref())
            .map_or(here, |l| l.referenced);
        match (&fault.at, &fault.every) {
            (Some(_), Some(every)) => Err(self.error(
                every.referenced,
                "expected either `at` or `every`, found both".into(),
            )),
            (None, None) => Err(self.error(
                here,
                "expected key `at` or `every` (when the fault starts), found none".into(),
            )),
            (Some(at), None) => {
                if let Some(key) = fault.from.as_ref().or(fault.until.as_ref()) {
                    return Err(self.error(
                        key.referenced,
                        "expected `from` and `until` only with `every`, found them with `at`"
                            .into(),
                    ));
                }
                let start = self.duration(at, "`at`")?;
                if start >= run {
                    return Err(self.error(
                        at.referenced,
                        format!(
                            "expected `at` within the run (before {}), found {}",
                            format_duration(run),
                            quoted(&at.value)
                        ),
                    ));
                }
                if let Some(length) = length {
                    self.fits(start, (length, length_key(fault)), run, length_location)?;
                }
                Ok(Timing::At(start))
            }
            (None, Some(every)) => self.periodic(fault, every, length, length_location, run),
        }
    }

    pub(super) fn fits(
        &self,
        start: Duration,
        (length, key): (Duration, &str),
        end: Duration,
        location: Location,
    ) -> Result<()> {
        if start + length > end {
            return Err(self.error(
                location,
                format!(
                    "expected {key} to end within the run ({}), found {} + {} = {}",
                    format_duration(end),
                    format_duration(start),
                    format_duration(length),
                    format_duration(start + length)
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn periodic(
        &self,
        fault: &RawFault,
        every_raw: &Spanned<String>,
        length: Option<Duration>,
        length_location: Location,
        run: Duration,
    ) -> Result<Timing> {
        let every = self.positive_duration(every_raw, "`every`")?;
        let Some(length) = length else {
            return Err(self.error(
                every_raw.referenced,
                "expected `for` with `every` (how long each fault lasts), found none".into(),
            ));
        };
        if length >= every {
            return Err(self.error(
                length_location,
                format!(
                    "expected {} shorter than `every` ({}), found {}",
                    length_key(fault),
                    format_duration(every),
                    format_duration(length)
                ),
            ));
        }
        let from = match &fault.from {
            Some(from) => {
                let value = self.duration(from, "`from`")?;
                if value >= run {
                    return Err(self.error(
                        from.referenced,
                        format!(
                            "expected `from` within the run (before {}), found {}",
                            format_duration(run),
                            quoted(&from.value)
                        ),
                    ));
                }
                value
            }
            None => Duration::ZERO,
        };
        let until = match &fault.until {
            Some(until) => {
                let value = self.duration(until, "`until`")?;
                if value > run || value <= from {
                    return Err(self.error(
                        until.referenced,
                        format!(
                            "expected `until` after `from` ({}) and within the run ({}), found {}",
                            format_duration(from),
                            format_duration(run),
                            quoted(&until.value)
                        ),
                    ));
                }
                value
            }
            None => run,
        };
        self.fits(from, (length, length_key(fault)), until, length_location)?;
        let occurrences = ((until - from).as_nanos() / every.as_nanos()) as u64;
        if occurrences > MAX_OCCURRENCES {
            return Err(self.error(
                every_raw.referenced,
                format!("expected at most {MAX_OCCURRENCES} occurrences, found {occurrences}"),
            ));
        }
        Ok(Timing::Every { every, from, until })
    }
}

/// The time windows `[start, end)` of every occurrence of a fault, in order.
pub fn windows(fault: &FaultSpec, run: Duration) -> Vec<(Duration, Duration)> {
    match fault.timing {
        Timing::At(start) => vec![(start, fault.length.map_or(run, |l| start + l))],
        Timing::Every { every, from, until } => {
            let length = fault.length.expect("validated: every has a length");
            let mut out = Vec::new();
            let mut start = from;
            while start + length <= until {
                out.push((start, start + length));
                start += every;
            }
            out
        }
    }
}

/// What a fault holds: nodes (`None`: possibly any) as processes or as clocks, the
/// network's cuts, the links' impairments (delay, loss).
struct Holds {
    process: bool,
    clock: bool,
    nodes: Option<BTreeSet<String>>,
    network: bool,
    impairment: bool,
}

fn holds(fault: &FaultSpec) -> Holds {
    let nodes_of = |target: &TargetSpec| match target {
        TargetSpec::Node(node) => Some(BTreeSet::from([node.clone()])),
        _ => None,
    };
    match &fault.choice {
        FaultChoice::Process { target, .. } => Holds {
            process: true,
            clock: false,
            nodes: nodes_of(target),
            network: false,
            impairment: false,
        },
        FaultChoice::Partition(_) => Holds {
            process: false,
            clock: false,
            nodes: None,
            network: true,
            impairment: false,
        },
        FaultChoice::OneOf { kinds, target } => Holds {
            process: kinds.iter().any(|k| *k != FaultKind::Partition),
            clock: false,
            nodes: nodes_of(target),
            network: kinds.contains(&FaultKind::Partition),
            impairment: false,
        },
        FaultChoice::Clock { target, .. } => Holds {
            process: false,
            clock: true,
            nodes: nodes_of(target),
            network: false,
            impairment: false,
        },
        FaultChoice::Impair { .. } => Holds {
            process: false,
            clock: false,
            nodes: None,
            network: false,
            impairment: true,
        },
    }
}

/// The first time both sorted, internally disjoint window lists overlap.
fn first_overlap(
    a: &[(Duration, Duration)],
    b: &[(Duration, Duration)],
) -> Option<((Duration, Duration), (Duration, Duration))> {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].0 < b[j].1 && b[j].0 < a[i].1 {
            return Some((a[i], b[j]));
        }
        if a[i].1 <= b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    None
}

impl Validator<'_> {
    pub(super) fn check_overlaps(
        &self,
        entries: &[(Location, FaultSpec)],
        run: Duration,
    ) -> Result<()> {
        let all_windows: Vec<_> = entries.iter().map(|(_, f)| windows(f, run)).collect();
        for later in 0..entries.len() {
            for earlier in 0..later {
                let (a, b) = (holds(&entries[earlier].1), holds(&entries[later].1));
                let held_node = || match (&a.nodes, &b.nodes) {
                    (Some(x), Some(y)) => x.intersection(y).next().map(|n| format!("node {n}")),
                    (Some(x), None) | (None, Some(x)) => {
                        Some(format!("node {}", x.iter().next().expect("one node")))
                    }
                    (None, None) => Some("a node chosen at fault time".to_string()),
                };
                let held = if a.network && b.network {
                    Some("the network".to_string())
                } else if a.impairment && b.impairment {
                    Some("the links (a delay or loss)".to_string())
                } else if a.process && b.process {
                    held_node()
                } else if a.clock && b.clock {
                    held_node().map(|node| format!("the clock of {node}"))
                } else {
                    None
                };
                let Some(held) = held else { continue };
                if let Some((window, _)) = first_overlap(&all_windows[earlier], &all_windows[later])
                {
                    return Err(self.error(
                        entries[later].0,
                        format!(
                            "expected faults not to overlap, found {held} already held by the fault at line {} from {} to {}",
                            entries[earlier].1.line,
                            format_duration(window.0),
                            format_duration(window.1)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The key the user wrote for how long a fault lasts: `for`, or `restart_after` for a kill.
fn length_key(fault: &RawFault) -> &'static str {
    if fault.length.is_none() && fault.restart_after.is_some() {
        "`restart_after`"
    } else {
        "`for`"
    }
}
