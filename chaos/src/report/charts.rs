//! The three charts of the report, drawn with `plotters` into SVG strings: latency of every
//! op over time, throughput over time, and the per-process timeline. All share one x axis
//! (seconds since the run began), one plot width and one band of fault labels above the
//! plot, so the charts line up when stacked on the page and a fault reads straight down.

use std::collections::HashMap;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::facts::{FaultWindow, OpSpan, Outcome, RunFacts, ns_to_ms, ns_to_s};
use super::sample::{LatencyPoint, merge_bars, sample_latency_points};

/// Width of every chart, in SVG pixels (the page scales it down to fit narrower windows).
pub(crate) const CHART_WIDTH_PX: u32 = 1200;
const MARGIN_PX: u32 = 14;
const Y_LABEL_AREA_PX: u32 = 104;
/// Width of the plotting area inside the axes: the same for every chart, so they line up.
const PLOT_WIDTH_PX: f64 = (CHART_WIDTH_PX - Y_LABEL_AREA_PX - 2 * MARGIN_PX) as f64;
const X_LABEL_AREA_PX: u32 = 40;
const LATENCY_HEIGHT_PX: u32 = 400;
const THROUGHPUT_HEIGHT_PX: u32 = 280;
const TIMELINE_ROW_PX: u32 = 18;
const FAULT_LANE_PX: u32 = 18;
const MAX_FAULT_LANES: usize = 6;
/// Rough width of one label character at the label font size, for laying labels out.
const LABEL_CHAR_PX: f64 = 7.0;

/// At most this many latency points are drawn; beyond it, a stratified sample.
pub(crate) const MAX_SCATTER_POINTS: usize = 4_000;
/// At most this many timeline rows are drawn.
pub(crate) const MAX_TIMELINE_ROWS: usize = 40;
/// Bars are merged harder until at most this many remain.
pub(crate) const MAX_TIMELINE_BARS: usize = 6_000;
/// Throughput buckets are 1 s wide unless the run is longer than this many seconds.
const MAX_THROUGHPUT_BUCKETS: f64 = 600.0;

pub(crate) const OK_COLOUR: RGBColor = RGBColor(44, 160, 44);
pub(crate) const FAIL_COLOUR: RGBColor = RGBColor(214, 39, 40);
pub(crate) const INFO_COLOUR: RGBColor = RGBColor(240, 154, 0);
const GRID_COLOUR: RGBColor = RGBColor(234, 236, 240);
const AXIS_COLOUR: RGBColor = RGBColor(110, 117, 128);
const TEXT_COLOUR: RGBColor = RGBColor(40, 44, 52);

type ChartResult<T> = Result<T, DrawingAreaErrorKind<std::io::Error>>;
type Root<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// One drawn chart: its SVG, and a sentence about what was left out, if anything.
pub(crate) struct Chart {
    pub svg: Result<String, String>,
    pub note: Option<String>,
}

/// The colour of an outcome class (in-flight ops are drawn as info).
pub(crate) fn outcome_colour(outcome: Outcome) -> RGBColor {
    match outcome.drawn_as() {
        Outcome::Ok => OK_COLOUR,
        Outcome::Fail => FAIL_COLOUR,
        _ => INFO_COLOUR,
    }
}

/// The colour a fault's window is shaded with, by kind of fault.
pub(crate) fn fault_colour(fault: &str) -> RGBColor {
    match fault {
        "partition" => RGBColor(123, 82, 196),
        "kill" | "crash" => RGBColor(90, 96, 108),
        "pause" => RGBColor(31, 119, 180),
        "latency" | "delay" | "slow" => RGBColor(23, 160, 175),
        "clock" | "skew" => RGBColor(140, 86, 75),
        _ => RGBColor(196, 78, 150),
    }
}

pub(crate) fn hex(colour: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", colour.0, colour.1, colour.2)
}

/// The x axis every chart shares, and where each fault's label goes above the plot.
pub(crate) struct TimeAxis {
    pub end_s: f64,
    lanes: Vec<usize>,
    lane_count: usize,
}

impl TimeAxis {
    pub(crate) fn new(facts: &RunFacts) -> TimeAxis {
        // A run of zero length still gets a visible axis.
        let end_s = facts.duration_s().max(1.0);
        let (lanes, lane_count) = assign_label_lanes(&facts.faults, end_s, PLOT_WIDTH_PX);
        TimeAxis {
            end_s,
            lanes,
            lane_count,
        }
    }

    fn band_px(&self) -> u32 {
        self.lane_count as u32 * FAULT_LANE_PX + if self.lane_count > 0 { 4 } else { 0 }
    }

    fn seconds_per_px(&self) -> f64 {
        self.end_s / PLOT_WIDTH_PX
    }
}

/// Greedy interval layout of the labels: each goes in the first lane where it does not
/// overlap the label before it; past the lane limit, in the lane that frees up first.
fn assign_label_lanes(faults: &[FaultWindow], end_s: f64, plot_px: f64) -> (Vec<usize>, usize) {
    let mut lane_ends_px: Vec<f64> = Vec::new();
    let mut lanes = Vec::with_capacity(faults.len());
    for fault in faults {
        let (start_px, end_px) = label_extent_px(fault, end_s, plot_px);
        let lane = match lane_ends_px.iter().position(|&end| end <= start_px) {
            Some(free) => free,
            None if lane_ends_px.len() < MAX_FAULT_LANES => {
                lane_ends_px.push(0.0);
                lane_ends_px.len() - 1
            }
            None => (0..lane_ends_px.len())
                .min_by(|&a, &b| lane_ends_px[a].total_cmp(&lane_ends_px[b]))
                .unwrap_or(0),
        };
        lane_ends_px[lane] = end_px;
        lanes.push(lane);
    }
    (lanes, lane_ends_px.len())
}

/// Where a fault's label sits along the plot, in pixels, shifted left to stay inside it.
fn label_extent_px(fault: &FaultWindow, end_s: f64, plot_px: f64) -> (f64, f64) {
    let width_px = fault.label().chars().count() as f64 * LABEL_CHAR_PX + 10.0;
    let start_px = (ns_to_s(fault.start_ns) / end_s * plot_px).min(plot_px - width_px);
    let start_px = start_px.max(0.0);
    (start_px, start_px + width_px)
}

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&TEXT_COLOUR)
}

/// Renders `draw` into a fresh SVG of the given height; a drawing error becomes the message
/// shown in the chart's place.
fn render_svg(
    height_px: u32,
    draw: impl FnOnce(&Root<'_>) -> ChartResult<()>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (CHART_WIDTH_PX, height_px)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn time_chart<'a, 'b, Y: AsRangedCoord<Value = f64>>(
    root: &'a Root<'b>,
    axis: &TimeAxis,
    y_range: Y,
) -> ChartResult<ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y::CoordDescType>>> {
    ChartBuilder::on(root)
        .margin(MARGIN_PX)
        .margin_top(MARGIN_PX + axis.band_px())
        .x_label_area_size(X_LABEL_AREA_PX)
        .y_label_area_size(Y_LABEL_AREA_PX)
        .build_cartesian_2d(0.0..axis.end_s, y_range)
}

fn format_seconds(end_s: f64) -> impl Fn(&f64) -> String {
    move |x: &f64| {
        if end_s < 10.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.0}")
        }
    }
}

/// Shades each fault window over the plot and writes its label in the band above it.
fn draw_fault_windows<Y>(
    root: &Root<'_>,
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, Y>>,
    axis: &TimeAxis,
    faults: &[FaultWindow],
) -> ChartResult<()>
where
    Y: Ranged<ValueType = f64>,
{
    let y = chart.y_range();
    let (y_low, y_high) = (y.start.min(y.end), y.start.max(y.end));
    let min_width_s = axis.seconds_per_px();
    for (fault, &lane) in faults.iter().zip(&axis.lanes) {
        let colour = fault_colour(&fault.fault);
        let start_s = ns_to_s(fault.start_ns);
        let stop_s = ns_to_s(fault.stop_ns).max(start_s + min_width_s);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(start_s, y_low), (stop_s, y_high)],
            colour.mix(0.13).filled(),
        )))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(start_s, y_low), (start_s, y_high)],
            colour.mix(0.7).stroke_width(1),
        )))?;
        let plot_left_px = chart.backend_coord(&(0.0, y_high)).0;
        let (label_px, _) = label_extent_px(fault, axis.end_s, PLOT_WIDTH_PX);
        let label_y = (MARGIN_PX + lane as u32 * FAULT_LANE_PX) as i32;
        root.draw(&Text::new(
            fault.label(),
            (plot_left_px + label_px as i32 + 2, label_y),
            ("sans-serif", 15)
                .into_font()
                .color(&colour)
                .pos(Pos::new(HPos::Left, VPos::Top)),
        ))?;
    }
    Ok(())
}

fn configure_mesh<Y>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, Y>>,
    axis: &TimeAxis,
    y_desc: &str,
    y_format: &dyn Fn(&f64) -> String,
) -> ChartResult<()>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let x_format = format_seconds(axis.end_s);
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc(y_desc)
        .x_labels(16)
        .y_labels(8)
        .x_label_formatter(&x_format)
        .y_label_formatter(y_format)
        .light_line_style(WHITE)
        .bold_line_style(GRID_COLOUR)
        .axis_style(AXIS_COLOUR)
        .label_style(font(16))
        .axis_desc_style(font(17))
        .draw()
}

/// Latency of every op (scatter, log scale when latencies span more than a decade or so).
pub(crate) fn latency_chart(facts: &RunFacts, axis: &TimeAxis) -> Chart {
    // An op still in flight at the end has an age, not a latency: it is left to the timeline.
    let all: Vec<LatencyPoint> = facts
        .spans
        .iter()
        .filter(|span| span.outcome != Outcome::InFlight)
        .map(latency_point)
        .collect();
    let points = sample_latency_points(&all, MAX_SCATTER_POINTS);
    let note = (points.len() < all.len()).then(|| {
        format!(
            "{} of {} completed ops drawn: a stratified sample (rare outcomes kept whole, the slowest ops \
             always kept, the rest evenly spaced in time).",
            points.len(),
            all.len()
        )
    });
    let (low_ms, high_ms) = latency_bounds(&points);
    let svg = render_svg(LATENCY_HEIGHT_PX + axis.band_px(), |root| {
        if high_ms / low_ms > 20.0 {
            // Some room beyond the extremes, so that no point sits on the frame.
            let range = (low_ms / 1.6)..(high_ms * 1.6);
            draw_latency(root, axis, facts, &points, range.log_scale())
        } else {
            draw_latency(root, axis, facts, &points, 0.0..high_ms * 1.1)
        }
    });
    Chart { svg, note }
}

fn latency_point(span: &OpSpan) -> LatencyPoint {
    LatencyPoint {
        invoke_s: ns_to_s(span.invoke_ns),
        latency_ms: ns_to_ms(span.latency_ns()),
        outcome: span.outcome,
    }
}

/// Latencies below a microsecond are drawn at one microsecond so that the log axis holds them.
const MIN_DRAWN_LATENCY_MS: f64 = 0.001;

fn latency_bounds(points: &[LatencyPoint]) -> (f64, f64) {
    let drawn = points
        .iter()
        .map(|p| p.latency_ms.max(MIN_DRAWN_LATENCY_MS));
    let low = drawn.clone().fold(f64::INFINITY, f64::min);
    let high = drawn.fold(0.0, f64::max);
    if points.is_empty() {
        (1.0, 10.0)
    } else {
        (low, high.max(low * 1.01))
    }
}

fn draw_latency<Y>(
    root: &Root<'_>,
    axis: &TimeAxis,
    facts: &RunFacts,
    points: &[LatencyPoint],
    y_range: Y,
) -> ChartResult<()>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = time_chart(root, axis, y_range)?;
    configure_mesh(&mut chart, axis, "latency (ms)", &format_ms)?;
    draw_fault_windows(root, &mut chart, axis, &facts.faults)?;
    // Rarer outcomes last, so that they are drawn on top of the ok cloud.
    for class in [Outcome::Ok, Outcome::Fail, Outcome::Info] {
        let style = outcome_colour(class).mix(0.6).filled();
        chart.draw_series(
            points
                .iter()
                .filter(|p| p.outcome.drawn_as() == class)
                .map(|p| {
                    Circle::new(
                        (p.invoke_s, p.latency_ms.max(MIN_DRAWN_LATENCY_MS)),
                        2,
                        style,
                    )
                }),
        )?;
    }
    Ok(())
}

fn format_ms(ms: &f64) -> String {
    if *ms >= 10.0 || ms.fract() == 0.0 {
        format!("{ms:.0}")
    } else if *ms >= 1.0 {
        format!("{ms:.1}")
    } else {
        let text = format!("{ms:.3}");
        text.trim_end_matches('0').to_string()
    }
}

/// Completed ops per second, stacked by outcome (ok at the bottom, then fail, then info).
pub(crate) fn throughput_chart(facts: &RunFacts, axis: &TimeAxis) -> Chart {
    let bucket_s = (axis.end_s / MAX_THROUGHPUT_BUCKETS).ceil().max(1.0);
    let buckets = (axis.end_s / bucket_s).ceil() as usize;
    let mut rates = vec![[0.0f64; 3]; buckets.max(1)];
    for span in facts
        .spans
        .iter()
        .filter(|s| s.outcome != Outcome::InFlight)
    {
        let bucket = ((ns_to_s(span.end_ns) / bucket_s) as usize).min(rates.len() - 1);
        rates[bucket][class_slot(span.outcome)] += 1.0;
    }
    // Counts to rates; the last bucket may be cut short by the end of the run.
    for (i, bucket) in rates.iter_mut().enumerate() {
        let width_s = (axis.end_s - i as f64 * bucket_s).clamp(f64::EPSILON, bucket_s);
        bucket.iter_mut().for_each(|count| *count /= width_s);
    }
    let peak = rates
        .iter()
        .map(|r| r.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let note = (bucket_s > 1.0).then(|| format!("Buckets are {bucket_s:.0} s wide."));
    let svg = render_svg(THROUGHPUT_HEIGHT_PX + axis.band_px(), |root| {
        let mut chart = time_chart(root, axis, 0.0..(peak * 1.15).max(1.0))?;
        configure_mesh(&mut chart, axis, "completed ops/s", &|v| format!("{v:.0}"))?;
        draw_fault_windows(root, &mut chart, axis, &facts.faults)?;
        for (slot, class) in [Outcome::Ok, Outcome::Fail, Outcome::Info]
            .into_iter()
            .enumerate()
        {
            let layer = stacked_layer(&rates, slot, bucket_s, axis.end_s);
            let colour = outcome_colour(class);
            chart.draw_series(std::iter::once(Polygon::new(
                layer,
                colour.mix(0.55).filled(),
            )))?;
        }
        Ok(())
    });
    Chart { svg, note }
}

fn class_slot(outcome: Outcome) -> usize {
    match outcome.drawn_as() {
        Outcome::Ok => 0,
        Outcome::Fail => 1,
        _ => 2,
    }
}

/// The outline of one stacked layer as a step shape: its top edge left to right, then its
/// bottom edge (the layers below it) right to left.
fn stacked_layer(rates: &[[f64; 3]], slot: usize, bucket_s: f64, end_s: f64) -> Vec<(f64, f64)> {
    let below = |r: &[f64; 3]| r[..slot].iter().sum::<f64>();
    let top = |r: &[f64; 3]| r[..=slot].iter().sum::<f64>();
    let edges = |i: usize| {
        (
            (i as f64 * bucket_s).min(end_s),
            ((i + 1) as f64 * bucket_s).min(end_s),
        )
    };
    let mut outline = Vec::with_capacity(rates.len() * 4);
    for (i, r) in rates.iter().enumerate() {
        let (left, right) = edges(i);
        outline.push((left, top(r)));
        outline.push((right, top(r)));
    }
    for (i, r) in rates.iter().enumerate().rev() {
        let (left, right) = edges(i);
        outline.push((right, below(r)));
        outline.push((left, below(r)));
    }
    outline
}

/// One timeline row: the processes that ran one after another in it, and their ops.
struct TimelineRow {
    processes: Vec<u64>,
    spans: Vec<(f64, f64, Outcome)>,
    busy_until_ns: u64,
}

impl TimelineRow {
    fn label(&self) -> String {
        match self.processes.as_slice() {
            [only] => format!("p{only}"),
            [first, second] => format!("p{first}, p{second}"),
            [first, .., last] => format!("p{first} … p{last} ({})", self.processes.len()),
            [] => String::new(),
        }
    }
}

/// Packs processes into rows: a process whose first op starts after another's last op ended
/// shares its row. A client that got `info` continues under a fresh process id, so in
/// practice each row is one logical client thread, labelled with the ids it went through.
fn pack_rows(spans: &[OpSpan]) -> Vec<TimelineRow> {
    let mut order: Vec<u64> = Vec::new();
    let mut by_process: HashMap<u64, Vec<&OpSpan>> = HashMap::new();
    for span in spans {
        let entry = by_process.entry(span.process).or_default();
        if entry.is_empty() {
            order.push(span.process);
        }
        entry.push(span);
    }
    let mut rows: Vec<TimelineRow> = Vec::new();
    for process in order {
        let ops = &by_process[&process];
        let first_ns = ops.iter().map(|s| s.invoke_ns).min().unwrap_or(0);
        let last_ns = ops.iter().map(|s| s.end_ns).max().unwrap_or(0);
        // Best fit: the row that went idle most recently before this process started.
        let fit = rows
            .iter()
            .enumerate()
            .filter(|(_, row)| row.busy_until_ns <= first_ns)
            .max_by_key(|(_, row)| row.busy_until_ns)
            .map(|(at, _)| at);
        let at = fit.unwrap_or_else(|| {
            rows.push(TimelineRow {
                processes: Vec::new(),
                spans: Vec::new(),
                busy_until_ns: 0,
            });
            rows.len() - 1
        });
        let row = &mut rows[at];
        row.processes.push(process);
        row.busy_until_ns = last_ns;
        row.spans.extend(
            ops.iter()
                .map(|s| (ns_to_s(s.invoke_ns), ns_to_s(s.end_ns), s.outcome)),
        );
    }
    rows
}

/// Each client thread a row; ops as bars from invoke to completion, coloured by outcome.
pub(crate) fn timeline_chart(facts: &RunFacts, axis: &TimeAxis) -> Chart {
    let mut rows = pack_rows(&facts.spans);
    let total_rows = rows.len();
    rows.truncate(MAX_TIMELINE_ROWS);
    let (bars, merged_gap_px) = bars_within_cap(&rows, axis);
    let drawn_ops: usize = rows.iter().map(|r| r.spans.len()).sum();
    let drawn_bars: usize = bars.iter().map(Vec::len).sum();
    let mut notes = Vec::new();
    if total_rows > rows.len() {
        notes.push(format!(
            "The first {} of {total_rows} rows are drawn.",
            rows.len()
        ));
    }
    if drawn_bars < drawn_ops {
        notes.push(format!(
            "{drawn_ops} ops drawn as {drawn_bars} bars: consecutive ops of one outcome less \
             than {merged_gap_px:.0} px apart share a bar."
        ));
    }
    let height = TIMELINE_ROW_PX * rows.len().max(1) as u32 + X_LABEL_AREA_PX + 2 * MARGIN_PX;
    let svg = render_svg(height + axis.band_px(), |root| {
        draw_timeline(root, axis, facts, &rows, &bars)
    });
    Chart {
        svg,
        note: (!notes.is_empty()).then(|| notes.join(" ")),
    }
}

/// Merges bars harder (doubling the gap) until the whole timeline fits the bar cap.
fn bars_within_cap(rows: &[TimelineRow], axis: &TimeAxis) -> (Vec<Vec<super::sample::Bar>>, f64) {
    let px = axis.seconds_per_px();
    let mut gap_px = 2.0;
    loop {
        let bars: Vec<_> = rows
            .iter()
            .map(|r| merge_bars(&r.spans, px, gap_px * px))
            .collect();
        let count: usize = bars.iter().map(Vec::len).sum();
        if count <= MAX_TIMELINE_BARS || gap_px >= 1024.0 {
            return (bars, gap_px);
        }
        gap_px *= 2.0;
    }
}

fn draw_timeline(
    root: &Root<'_>,
    axis: &TimeAxis,
    facts: &RunFacts,
    rows: &[TimelineRow],
    bars: &[Vec<super::sample::Bar>],
) -> ChartResult<()> {
    let row_count = rows.len().max(1) as f64;
    let mut chart = time_chart(root, axis, 0.0..row_count)?;
    let x_format = format_seconds(axis.end_s);
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .x_labels(16)
        .x_label_formatter(&x_format)
        .y_labels(0)
        .disable_y_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID_COLOUR)
        .axis_style(AXIS_COLOUR)
        .label_style(font(16))
        .axis_desc_style(font(17))
        .draw()?;
    draw_fault_windows(root, &mut chart, axis, &facts.faults)?;
    // Row 0 at the top.
    let row_bottom = |row: usize| row_count - row as f64 - 1.0;
    for (row, row_bars) in bars.iter().enumerate() {
        let y = row_bottom(row);
        chart.draw_series(row_bars.iter().map(|bar| {
            Rectangle::new(
                [(bar.start_s, y + 0.18), (bar.end_s, y + 0.82)],
                outcome_colour(bar.outcome).mix(0.85).filled(),
            )
        }))?;
    }
    for (row, timeline_row) in rows.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(0.0, row_bottom(row) + 0.5));
        root.draw(&Text::new(
            timeline_row.label(),
            (x - 8, y),
            font(15).pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(fault: &str, start_s: u64, stop_s: u64) -> FaultWindow {
        FaultWindow {
            id: None,
            fault: fault.to_string(),
            description: "n1".to_string(),
            details: String::new(),
            start_ns: start_s * 1_000_000_000,
            stop_ns: stop_s * 1_000_000_000,
            open_at_end: false,
        }
    }

    #[test]
    fn overlapping_labels_take_separate_lanes_and_far_ones_share() {
        let faults = [
            window("partition", 0, 10),
            window("kill", 1, 2),
            window("pause", 50, 55),
        ];
        let (lanes, count) = assign_label_lanes(&faults, 100.0, 1000.0);
        assert_eq!(lanes, [0, 1, 0]);
        assert_eq!(count, 2);
    }

    #[test]
    fn a_thread_that_changed_process_id_keeps_its_row() {
        let span = |process, invoke_s: u64, end_s: u64, outcome| OpSpan {
            process,
            f: "read".to_string(),
            invoke_ns: invoke_s * 1_000_000_000,
            end_ns: end_s * 1_000_000_000,
            outcome,
            error: None,
        };
        let spans = [
            span(0, 0, 1, Outcome::Ok),
            span(1, 0, 5, Outcome::Info),
            span(0, 2, 3, Outcome::Ok),
            span(11, 6, 7, Outcome::Ok),
        ];
        let rows = pack_rows(&spans);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].label(), "p0");
        assert_eq!(rows[1].label(), "p1, p11");
        assert_eq!(rows[1].spans.len(), 2);
    }

    #[test]
    fn throughput_layers_stack_without_overlap() {
        let rates = [[3.0, 1.0, 2.0], [4.0, 0.0, 0.0]];
        let fail_layer = stacked_layer(&rates, 1, 1.0, 2.0);
        assert_eq!(
            fail_layer,
            [
                (0.0, 4.0),
                (1.0, 4.0),
                (1.0, 4.0),
                (2.0, 4.0),
                (2.0, 4.0),
                (1.0, 4.0),
                (1.0, 3.0),
                (0.0, 3.0)
            ]
        );
    }
}
