//! Down-sampling that keeps the page small without hiding what matters: scatter points
//! (stratified by outcome, slowest ops always kept, the rest evenly spaced in time) and
//! timeline bars (ops of one outcome closer than a few pixels merged into one bar).
//!
//! Both are deterministic, so the same history always gives the same page.

use super::facts::Outcome;

/// One latency point: invoke time, latency, and the outcome it is coloured by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LatencyPoint {
    pub invoke_s: f64,
    pub latency_ms: f64,
    pub outcome: Outcome,
}

/// Share of a class's budget spent on its slowest points before sampling the rest evenly.
const SLOWEST_SHARE: usize = 10;

/// Picks at most `budget` points. Classes (ok, fail, info) share the budget by water-filling:
/// small classes are kept whole and the large ones split what is left, so rare fail and info
/// points are never drowned by ok ones. Within a class, the slowest tenth of its share is
/// always kept (latency outliers are what a reader looks for), the rest is evenly spaced in
/// time. `points` must be in invoke order; the result keeps that order within a class.
pub(crate) fn sample_latency_points(points: &[LatencyPoint], budget: usize) -> Vec<LatencyPoint> {
    if points.len() <= budget {
        return points.to_vec();
    }
    let mut classes: Vec<Vec<LatencyPoint>> = [Outcome::Ok, Outcome::Fail, Outcome::Info]
        .iter()
        .map(|class| {
            points
                .iter()
                .filter(|p| p.outcome.drawn_as() == *class)
                .copied()
                .collect()
        })
        .collect();
    classes.sort_by_key(Vec::len);
    let mut remaining = budget;
    let mut kept = Vec::with_capacity(budget);
    let class_count = classes.len();
    for (done, class) in classes.iter().enumerate() {
        let share = remaining / (class_count - done);
        let take = class.len().min(share);
        remaining -= take;
        kept.extend(pick_within_class(class, take));
    }
    kept
}

fn pick_within_class(class: &[LatencyPoint], take: usize) -> Vec<LatencyPoint> {
    if take >= class.len() {
        return class.to_vec();
    }
    let slowest_count = take / SLOWEST_SHARE;
    let mut by_latency: Vec<usize> = (0..class.len()).collect();
    by_latency.sort_by(|&a, &b| class[b].latency_ms.total_cmp(&class[a].latency_ms));
    let mut chosen = vec![false; class.len()];
    for &index in &by_latency[..slowest_count] {
        chosen[index] = true;
    }
    let rest: Vec<usize> = (0..class.len()).filter(|&i| !chosen[i]).collect();
    let even_count = take - slowest_count;
    for step in 0..even_count {
        chosen[rest[step * rest.len() / even_count]] = true;
    }
    class
        .iter()
        .zip(chosen)
        .filter_map(|(point, keep)| keep.then_some(*point))
        .collect()
}

/// One drawn timeline bar: possibly several consecutive ops of the same outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bar {
    pub start_s: f64,
    pub end_s: f64,
    pub outcome: Outcome,
    pub ops: usize,
}

/// Turns one row's ops (start, end, outcome; in start order) into bars at least `min_width_s`
/// wide, merging neighbours of the same outcome whose gap is at most `merge_gap_s`.
pub(crate) fn merge_bars(
    row: &[(f64, f64, Outcome)],
    min_width_s: f64,
    merge_gap_s: f64,
) -> Vec<Bar> {
    let mut bars: Vec<Bar> = Vec::new();
    for &(start_s, end_s, outcome) in row {
        let outcome = outcome.drawn_as();
        let end_s = end_s.max(start_s + min_width_s);
        match bars.last_mut() {
            Some(last) if last.outcome == outcome && start_s - last.end_s <= merge_gap_s => {
                last.end_s = last.end_s.max(end_s);
                last.ops += 1;
            }
            _ => bars.push(Bar {
                start_s,
                end_s,
                outcome,
                ops: 1,
            }),
        }
    }
    bars
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(i: usize, latency_ms: f64, outcome: Outcome) -> LatencyPoint {
        LatencyPoint {
            invoke_s: i as f64,
            latency_ms,
            outcome,
        }
    }

    #[test]
    fn keeps_rare_classes_and_the_slowest_ok_points() {
        let mut points: Vec<LatencyPoint> =
            (0..10_000).map(|i| point(i, 1.0, Outcome::Ok)).collect();
        points[1234].latency_ms = 900.0;
        points[10].outcome = Outcome::Fail;
        points[20].outcome = Outcome::InFlight;
        let kept = sample_latency_points(&points, 500);
        assert_eq!(kept.len(), 500);
        assert!(kept.iter().any(|p| p.outcome == Outcome::Fail));
        assert!(kept.iter().any(|p| p.outcome == Outcome::InFlight));
        assert!(kept.iter().any(|p| p.latency_ms == 900.0));
        let last_ok = kept
            .iter()
            .filter(|p| p.outcome == Outcome::Ok)
            .map(|p| p.invoke_s);
        assert!(
            last_ok.fold(0.0, f64::max) > 9_000.0,
            "sample spans the whole run"
        );
    }

    #[test]
    fn small_inputs_are_kept_whole() {
        let points: Vec<LatencyPoint> = (0..10).map(|i| point(i, 1.0, Outcome::Ok)).collect();
        assert_eq!(sample_latency_points(&points, 10), points);
    }

    #[test]
    fn merges_only_close_bars_of_one_outcome() {
        let row = [
            (0.0, 0.1, Outcome::Ok),
            (0.15, 0.2, Outcome::Ok),
            (0.3, 0.4, Outcome::Fail),
            (2.0, 2.0, Outcome::Fail),
            (2.0, 3.0, Outcome::InFlight),
        ];
        let bars = merge_bars(&row, 0.01, 0.1);
        assert_eq!(bars.len(), 4);
        assert_eq!((bars[0].start_s, bars[0].end_s, bars[0].ops), (0.0, 0.2, 2));
        assert_eq!(bars[2].end_s, 2.01, "zero-length op gets the minimum width");
        assert_eq!(bars[3].outcome, Outcome::Info);
    }
}
