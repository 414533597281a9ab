//! Clock faults (`clock: { bump | strobe }`) and link impairments (`delay`, `loss`; and
//! `duplicate`, refused with the reason), with their `target` and `link`.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::super::raw::{RawClock, RawFault};
use super::super::{
    ClockFault, FaultChoice, Impairment, LinkSpec, SystemSpec, TargetSpec, parse_duration,
};
use super::{Result, Validator, quoted};
use crate::network::{Link, NetworkKind};

/// The largest clock bump or strobe delta: a day (beyond that, certificates and TTLs
/// rather than the protocol are what a test would find).
pub const MAX_CLOCK_OFFSET_MS: u64 = 24 * 3_600_000;
/// The shortest strobe period: the controller rewrites the clock file this often.
pub const MIN_STROBE_PERIOD_MS: u64 = 1;
/// The largest added latency (plus jitter) on a link.
pub const MAX_LATENCY_MS: u64 = 60_000;

impl Validator<'_> {
    /// The choice of a `clock`, `delay`, `loss` or `duplicate` entry; `None` for the others.
    pub(super) fn clock_or_impairment(
        &self,
        fault: &RawFault,
        system: &SystemSpec,
        network: NetworkKind,
    ) -> Result<Option<FaultChoice>> {
        if let Some(duplicate) = &fault.duplicate {
            return Err(self.error(
                duplicate.referenced,
                "expected no `duplicate`: the systems talk TCP, whose receiver drops a duplicated segment before the program sees it, so duplication cannot reach them (use `loss` or `delay`), found `duplicate`".into(),
            ));
        }
        let ours = fault.clock.is_some() || fault.delay.is_some() || fault.loss.is_some();
        if ours && let Some(grace) = &fault.grace {
            return Err(self.error(
                grace.referenced,
                "expected `grace` only with `partition: chase-leader`, found `grace`".into(),
            ));
        }
        if let Some(clock) = &fault.clock {
            if let Some(link) = &fault.link {
                return Err(self.error(
                    link.referenced,
                    "expected `link` only with `delay` or `loss`, found `link` with `clock`".into(),
                ));
            }
            if let Some(reason) = system.system().clock_refusal() {
                return Err(self.error(clock.referenced, reason));
            }
            let Some(target) = &fault.target else {
                return Err(self.error(
                    clock.referenced,
                    "expected `target` with `clock` (whose clock moves: n2, leader, random, ...), found none".into(),
                ));
            };
            let fault_kind = self.clock(clock)?;
            let target = self.target(target, system)?;
            return Ok(Some(FaultChoice::Clock {
                fault: fault_kind,
                target,
            }));
        }
        let impairment = if let Some(delay) = &fault.delay {
            if network == NetworkKind::Netns {
                return Err(self.error(
                    delay.referenced,
                    "expected `delay` only with `network: proxy`: the netns network can drop packets (nftables) but not hold them, and this kernel has no netem, found `delay` with `network: netns`".into(),
                ));
            }
            let latency = self.duration(&delay.value.latency, "the latency")?;
            let jitter = match &delay.value.jitter {
                Some(jitter) => self.duration(jitter, "the jitter")?,
                None => Duration::ZERO,
            };
            if jitter > latency {
                let at = delay.value.jitter.as_ref().expect("jitter given");
                return Err(self.error(
                    at.referenced,
                    format!(
                        "expected a jitter no larger than the latency ({}), found {}",
                        delay.value.latency.value,
                        quoted(&at.value)
                    ),
                ));
            }
            if (latency + jitter).as_millis() > u128::from(MAX_LATENCY_MS) || latency.is_zero() {
                return Err(self.error(
                    delay.value.latency.referenced,
                    format!(
                        "expected a latency above zero and, with the jitter, at most {MAX_LATENCY_MS} ms, found {}",
                        quoted(&delay.value.latency.value)
                    ),
                ));
            }
            Impairment::Delay { latency, jitter }
        } else if let Some(loss) = &fault.loss {
            Impairment::Loss {
                percent: self.percent(loss)?,
            }
        } else {
            return Ok(None);
        };
        let on = match (&fault.target, &fault.link) {
            (Some(_), Some(link)) => {
                return Err(self.error(
                    link.referenced,
                    "expected either `target` or `link`, found both".into(),
                ));
            }
            (Some(target), None) => match self.target(target, system)? {
                TargetSpec::All => LinkSpec::Every,
                target => LinkSpec::Around(target),
            },
            (None, Some(link)) => LinkSpec::One(self.link(link, system)?),
            (None, None) => LinkSpec::Every,
        };
        Ok(Some(FaultChoice::Impair { impairment, on }))
    }

    fn clock(&self, clock: &Spanned<RawClock>) -> Result<ClockFault> {
        match (&clock.value.bump, &clock.value.strobe) {
            (Some(_), Some(strobe)) => Err(self.error(
                strobe.referenced,
                "expected either `bump` or `strobe`, found both".into(),
            )),
            (None, None) => Err(self.error(
                clock.referenced,
                "expected `bump: 5s` (or `-5s`) or `strobe: { delta: 200ms, period: 10ms }`, found neither".into(),
            )),
            (Some(bump), None) => {
                let text = bump.value.trim();
                let (sign, magnitude) = match text.strip_prefix('-') {
                    Some(rest) => (-1, rest),
                    None => (1, text.strip_prefix('+').unwrap_or(text)),
                };
                let offset = parse_duration(magnitude)
                    .filter(|d| !d.is_zero() && d.as_millis() <= u128::from(MAX_CLOCK_OFFSET_MS))
                    .ok_or_else(|| {
                        self.error(
                            bump.referenced,
                            format!(
                                "expected the bump as a non-zero duration of at most a day, with an optional sign (5s, -500ms, +1m), found {}",
                                quoted(&bump.value)
                            ),
                        )
                    })?;
                Ok(ClockFault::Bump {
                    offset_ms: sign * offset.as_millis() as i64,
                })
            }
            (None, Some(strobe)) => {
                let delta = self.positive_duration(&strobe.value.delta, "the strobe's delta")?;
                if delta.as_millis() > u128::from(MAX_CLOCK_OFFSET_MS) {
                    return Err(self.error(
                        strobe.value.delta.referenced,
                        format!(
                            "expected the strobe's delta to be at most a day, found {}",
                            quoted(&strobe.value.delta.value)
                        ),
                    ));
                }
                let period = self.positive_duration(&strobe.value.period, "the strobe's period")?;
                if period.as_millis() < u128::from(MIN_STROBE_PERIOD_MS) {
                    return Err(self.error(
                        strobe.value.period.referenced,
                        format!(
                            "expected the strobe's period to be at least {MIN_STROBE_PERIOD_MS} ms, found {}",
                            quoted(&strobe.value.period.value)
                        ),
                    ));
                }
                Ok(ClockFault::Strobe { delta, period })
            }
        }
    }

    /// `10%`: a whole percentage from 1 to 100.
    fn percent(&self, loss: &Spanned<String>) -> Result<u8> {
        loss.value
            .trim()
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<u8>().ok())
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                self.error(
                    loss.referenced,
                    format!(
                        "expected the loss as a whole percentage from 1% to 100%, found {}",
                        quoted(&loss.value)
                    ),
                )
            })
    }

    /// `n1->n2`: two different nodes of the system.
    fn link(&self, link: &Spanned<String>, system: &SystemSpec) -> Result<Link> {
        let nodes = system.node_ids();
        let parsed = link
            .value
            .split_once("->")
            .map(|(from, to)| (from.trim(), to.trim()))
            .filter(|(from, to)| {
                from != to && nodes.iter().any(|n| n == from) && nodes.iter().any(|n| n == to)
            });
        match parsed {
            Some((from, to)) => Ok(Link::new(from, to)),
            None => Err(self.error(
                link.referenced,
                format!(
                    "expected a directed link between two different nodes ({}) such as `n1->n2`, found {}",
                    system.system().node_list(),
                    quoted(&link.value)
                ),
            )),
        }
    }
}
