//! The printed report: Markdown tables of the runs, and our figures as
//! ratios against the Python reference and the serde_json ceiling (the
//! targets they are held to are in BENCHMARKS.md, not here).

use std::fmt::Write;

use zeroeventhub_bench::{ceiling::Figures as Ceiling, stats::Summary};

use crate::workloads::{
    Case, IdleCase, LatencyCase, LoadRuns, Outcome, Side, StreamRuns, Table, Workload,
};

/// One workload measured on one side.
#[derive(Debug, Clone)]
pub(crate) struct Measurement {
    pub(crate) workload: Workload,
    pub(crate) side: Side,
    pub(crate) outcome: Outcome,
}

/// The whole report, as Markdown.
pub(crate) fn render(measurements: &[Measurement], ceiling: &Ceiling) -> String {
    let mut out = String::new();
    let has = |workloads: &[Workload]| measurements.iter().any(|m| workloads.contains(&m.workload));
    let in_table = |table: Table| measurements.iter().any(|m| m.workload.table() == table);
    // (--only may leave any table without a row.)
    if in_table(Table::Stream) {
        stream_table(&mut out, measurements);
    }
    if has(&[Workload::W3]) {
        load_table(&mut out, measurements);
    }
    for m in measurements.iter().filter(|m| m.side == Side::Ours) {
        match &m.outcome {
            Outcome::Latency(cases) => latency_table(&mut out, cases),
            Outcome::Idle(cases) => idle_table(&mut out, cases),
            other if matches!(m.workload.table(), Table::Latency | Table::Idle) => {
                let why = not_measured(other).unwrap_or_default();
                let _ = writeln!(out, "{}: {why}\n", m.workload.name());
            }
            _ => {}
        }
    }
    ceiling_line(&mut out, ceiling);
    client_cpu_line(&mut out, measurements, ceiling);
    if measurements.iter().any(|m| m.side == Side::Python) {
        ratios(&mut out, measurements);
    }
    out
}

fn find(measurements: &[Measurement], side: Side, workload: Workload) -> Option<&Outcome> {
    measurements
        .iter()
        .find(|m| m.side == side && m.workload == workload)
        .map(|m| &m.outcome)
}

fn stream(measurements: &[Measurement], side: Side, workload: Workload) -> Option<&StreamRuns> {
    match find(measurements, side, workload)? {
        Outcome::Stream(runs) => Some(runs),
        _ => None,
    }
}

fn load(measurements: &[Measurement], side: Side) -> Option<&LoadRuns> {
    match find(measurements, side, Workload::W3)? {
        Outcome::Load(runs) => Some(runs),
        _ => None,
    }
}

fn not_measured(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Skipped(why) => Some(format!("skipped: {why}")),
        Outcome::Failed(why) => Some(format!("FAILED: {why}")),
        Outcome::Stream(_) | Outcome::Load(_) | Outcome::Latency(_) | Outcome::Idle(_) => None,
    }
}

/// Why a case has no figures, for its row.
fn case_problem<T>(case: &Case<T>) -> Option<String> {
    match case {
        Case::Done(_) => None,
        Case::Skipped(why) => Some(format!("skipped: {why}")),
        Case::Failed(why) => Some(format!("FAILED: {why}")),
    }
}

fn latency_table(out: &mut String, cases: &[LatencyCase]) {
    out.push_str(
        "Commit to consumer, ms (every receipt; the last consumer of each event), one \
         partition; server CPU as % of one core over the measured window:\n\n\
         | log | appended by | asking | consumers | events | p50 | p99 | max | last p50 \
         | last p99 | last max | req/s | server CPU % | case s |\n\
         | --- | --- | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |\n",
    );
    for case in cases {
        let head = format!(
            "| {} | {} | {} | {} |",
            case.log.log(),
            case.log.appended_by(),
            case.asking.name(),
            case.consumers
        );
        let Case::Done(f) = &case.result else {
            let why = case_problem(&case.result).unwrap_or_default();
            let _ = writeln!(out, "{head} – | {why} | | | | | | | | |");
            continue;
        };
        let _ = writeln!(
            out,
            "{head} {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} |",
            f.events,
            number(f.all_ms.p50),
            number(f.all_ms.p99),
            number(f.all_ms.max),
            number(f.last_ms.p50),
            number(f.last_ms.p99),
            number(f.last_ms.max),
            rate(f.rps),
            100.0 * f.server_cpu_s / f.window_s,
            number(f.case_s),
        );
    }
    let notes: Vec<String> = cases
        .iter()
        .filter_map(|case| match &case.result {
            Case::Done(f) if f.errors > 0 || f.early > 0 => Some(format!(
                "{} ({}), {}, {} consumers: {} failed requests, {} receipts stamped before the commit",
                case.log.log(),
                case.log.appended_by(),
                case.asking.name(),
                case.consumers,
                f.errors,
                f.early
            )),
            _ => None,
        })
        .collect();
    let gaps: Vec<String> = cases
        .iter()
        .filter(|case| matches!(case.result, Case::Done(_)))
        .map(|case| format!("{} {} ms", case.asking.name(), number(case.gap_ms)))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let _ = writeln!(
        out,
        "\nMean gaps between appends (uniform, 0.5x to 1.5x): {}.",
        gaps.join(", ")
    );
    let peak = cases
        .iter()
        .filter_map(|case| match &case.result {
            Case::Done(f) => Some(f.server_peak_rss_kib),
            _ => None,
        })
        .max();
    if let Some(peak) = peak {
        let _ = writeln!(
            out,
            "Largest server peak RSS of the cases: {} MiB.",
            mib(peak)
        );
    }
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    out.push('\n');
}

fn idle_table(out: &mut String, cases: &[IdleCase]) {
    out.push_str(
        "Waiting consumers (each request asks to wait 60 s; none ends during the quiet period):\n\n\
         | log | waiting consumers | ramp-up s | quiet s | server CPU s | server CPU % \
         | server RSS MiB | server peak RSS MiB | requests meanwhile | client RSS MiB |\n\
         | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: |\n",
    );
    for case in cases {
        let head = format!("| {} | {} |", case.log, case.consumers);
        let Case::Done(f) = &case.result else {
            let why = case_problem(&case.result).unwrap_or_default();
            let _ = writeln!(out, "{head} – | {why} | | | | | | |");
            continue;
        };
        let _ = writeln!(
            out,
            "{head} {} | {} | {:.3} | {:.2} | {} | {} | {} | {} |",
            number(f.ramp_s),
            number(f.quiet_s),
            f.server_cpu_s,
            100.0 * f.server_cpu_s / f.quiet_s,
            mib(f.server_rss_kib),
            mib(f.server_peak_rss_kib),
            f.requests_meanwhile + f.errors,
            mib(f.client_rss_kib),
        );
    }
    out.push('\n');
}

fn stream_table(out: &mut String, measurements: &[Measurement]) {
    out.push_str(
        "| workload | impl | runs | wall s | events/s | MB/s | client CPU s | server CPU s \
         | client peak RSS MiB | server peak RSS MiB |\n\
         | --- | --- | --: | --: | --: | --: | --: | --: | --: | --: |\n",
    );
    for m in measurements
        .iter()
        .filter(|m| m.workload.table() == Table::Stream)
    {
        let head = format!("| {} | {} |", m.workload.name(), m.side.name());
        let Outcome::Stream(runs) = &m.outcome else {
            let why = not_measured(&m.outcome).unwrap_or_default();
            let _ = writeln!(out, "{head} – | {why} | | | | | | |");
            continue;
        };
        let walls: Vec<f64> = runs.samples.iter().map(|s| s.wall_s).collect();
        let rates: Vec<f64> = walls.iter().map(|w| runs.events as f64 / w).collect();
        let client_cpu: Vec<f64> = runs.samples.iter().filter_map(|s| s.client_cpu_s).collect();
        let server_cpu: Vec<f64> = runs.samples.iter().map(|s| s.server_cpu_s).collect();
        let client_rss = runs.samples.iter().filter_map(|s| s.client_rss_kib).max();
        let wall = Summary::of(&walls);
        let megabytes = match (runs.body_bytes, wall) {
            (Some(bytes), Some(wall)) => format!("{:.0}", bytes as f64 / 1e6 / wall.median),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "{head} {} | {} | {} | {megabytes} | {} | {} | {} | {} |",
            runs.samples.len(),
            cell(&walls, seconds),
            cell(&rates, rate),
            cell(&client_cpu, seconds),
            cell(&server_cpu, seconds),
            client_rss.map_or("–".into(), mib),
            mib(runs.server_rss_kib),
        );
    }
    out.push('\n');
}

fn load_table(out: &mut String, measurements: &[Measurement]) {
    out.push_str(
        "| workload | impl | generator | runs | req/s | p50 ms | p99 ms | server CPU s \
         | server peak RSS MiB |\n\
         | --- | --- | --- | --: | --: | --: | --: | --: | --: |\n",
    );
    for m in measurements.iter().filter(|m| m.workload == Workload::W3) {
        let head = format!("| {} | {} |", m.workload.name(), m.side.name());
        let Outcome::Load(runs) = &m.outcome else {
            let why = not_measured(&m.outcome).unwrap_or_default();
            let _ = writeln!(out, "{head} – | – | {why} | | | | | |");
            continue;
        };
        let rps: Vec<f64> = runs.runs.iter().map(|r| r.rps).collect();
        let p50: Vec<f64> = runs.runs.iter().map(|r| r.p50_ms).collect();
        let p99: Vec<f64> = runs.runs.iter().map(|r| r.p99_ms).collect();
        let _ = writeln!(
            out,
            "{head} {} | {} | {} | {} | {} | {} | {} |",
            runs.generator,
            runs.runs.len(),
            cell(&rps, rate),
            cell(&p50, number),
            cell(&p99, number),
            cell(&runs.server_cpu_s, seconds),
            mib(runs.server_rss_kib),
        );
    }
    out.push('\n');
}

/// Our W1 client's CPU time as a multiple of the typed ceiling.
fn client_cpu_line(out: &mut String, measurements: &[Measurement], ceiling: &Ceiling) {
    let Some(w1) = stream(measurements, Side::Ours, Workload::W1) else {
        return;
    };
    let cpu: Vec<f64> = w1.samples.iter().filter_map(|s| s.client_cpu_s).collect();
    let Some(cpu) = Summary::of(&cpu).map(|s| s.median) else {
        return;
    };
    if ceiling.typed_s > 0.0 {
        let _ = writeln!(
            out,
            "W1 client CPU (median): {} s, {:.2}x the typed ceiling.\n",
            seconds(cpu),
            cpu / ceiling.typed_s
        );
    }
}

fn ceiling_line(out: &mut String, ceiling: &Ceiling) {
    let megabytes = ceiling.body_bytes as f64 / 1e6;
    let clock = if ceiling.cpu_time {
        "CPU time of the thread"
    } else {
        "wall time"
    };
    let _ = writeln!(
        out,
        "Ceiling: serde_json on the same W1 body in one thread of the orchestrator \
         ({megabytes:.1} MB, lines split with memchr, best of 5, {clock}): \
         typed {} s = {:.0} MB/s, raw data {} s = {:.0} MB/s.\n",
        seconds(ceiling.typed_s),
        megabytes / ceiling.typed_s,
        seconds(ceiling.raw_s),
        megabytes / ceiling.raw_s,
    );
}

fn ratios(out: &mut String, ms: &[Measurement]) {
    out.push_str("Ours against the Python reference (medians):\n\n");
    let median = |values: Vec<f64>| Summary::of(&values).map(|s| s.median);
    let wall = |side, workload| {
        stream(ms, side, workload)
            .and_then(|r| median(r.samples.iter().map(|s| s.wall_s).collect()))
    };
    let client_cpu = |side| {
        stream(ms, side, Workload::W1)
            .and_then(|r| median(r.samples.iter().filter_map(|s| s.client_cpu_s).collect()))
    };
    let client_rss = |side| {
        stream(ms, side, Workload::W1)
            .and_then(|r| r.samples.iter().filter_map(|s| s.client_rss_kib).max())
            .map(|kib| kib as f64)
    };
    let server_rss = |side| stream(ms, side, Workload::W1).map(|r| r.server_rss_kib as f64);
    let w3 = |side, pick: fn(&crate::load::LoadFigures) -> f64| {
        load(ms, side).and_then(|r| median(r.runs.iter().map(pick).collect()))
    };
    let lines = [
        (
            "W1 bulk replay wall",
            wall(Side::Ours, Workload::W1),
            wall(Side::Python, Workload::W1),
            Unit::Seconds,
        ),
        (
            "W1 server alone wall",
            wall(Side::Ours, Workload::W1ServerAlone),
            wall(Side::Python, Workload::W1ServerAlone),
            Unit::Seconds,
        ),
        (
            "W2 paged wall",
            wall(Side::Ours, Workload::W2),
            wall(Side::Python, Workload::W2),
            Unit::Seconds,
        ),
        (
            "W1 client CPU",
            client_cpu(Side::Ours),
            client_cpu(Side::Python),
            Unit::CpuSeconds,
        ),
        (
            "W1 client peak RSS",
            client_rss(Side::Ours),
            client_rss(Side::Python),
            Unit::KiB,
        ),
        (
            "W1 server peak RSS",
            server_rss(Side::Ours),
            server_rss(Side::Python),
            Unit::KiB,
        ),
        (
            "W3 requests/s",
            w3(Side::Ours, |f| f.rps),
            w3(Side::Python, |f| f.rps),
            Unit::PerSecond,
        ),
        (
            "W3 p99 latency",
            w3(Side::Ours, |f| f.p99_ms),
            w3(Side::Python, |f| f.p99_ms),
            Unit::Millis,
        ),
    ];
    for (what, ours, theirs, unit) in lines {
        let (Some(ours), Some(theirs)) = (ours, theirs) else {
            let _ = writeln!(out, "- {what}: not measured on both sides");
            continue;
        };
        let _ = writeln!(
            out,
            "- {what}: {} vs {} = {}",
            unit.show(ours),
            unit.show(theirs),
            unit.compare(ours, theirs)
        );
    }
    out.push('\n');
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    Seconds,
    CpuSeconds,
    KiB,
    PerSecond,
    Millis,
}

impl Unit {
    fn show(self, value: f64) -> String {
        match self {
            Unit::Seconds => format!("{} s", seconds(value)),
            Unit::CpuSeconds => format!("{} CPU-s", seconds(value)),
            Unit::KiB => format!("{} MiB", mib(value as u64)),
            Unit::PerSecond => format!("{} req/s", rate(value)),
            Unit::Millis => format!("{} ms", number(value)),
        }
    }

    /// "Nx faster" and the like; `ours` and `theirs` are both positive.
    fn compare(self, ours: f64, theirs: f64) -> String {
        let (better, worse) = match self {
            Unit::Seconds => ("faster", "slower"),
            Unit::CpuSeconds => ("less", "more"),
            Unit::KiB => ("smaller", "larger"),
            Unit::PerSecond => ("more", "fewer"),
            Unit::Millis => ("lower", "higher"),
        };
        let higher_is_better = matches!(self, Unit::PerSecond);
        let ratio = if higher_is_better {
            ours / theirs
        } else {
            theirs / ours
        };
        if !ratio.is_finite() {
            "no ratio (a zero reading)".into()
        } else if ratio >= 1.0 {
            format!("{}x {better}", number(ratio))
        } else {
            format!("{}x {worse}", number(1.0 / ratio))
        }
    }
}

/// `median (min–max)` of `values`, or just the value for one run.
fn cell(values: &[f64], show: fn(f64) -> String) -> String {
    match Summary::of(values) {
        None => "–".into(),
        Some(s) if values.len() == 1 => show(s.median),
        Some(s) => format!("{} ({}–{})", show(s.median), show(s.min), show(s.max)),
    }
}

/// Seconds with three significant digits or so.
fn seconds(value: f64) -> String {
    match value {
        v if v < 1.0 => format!("{v:.3}"),
        v if v < 10.0 => format!("{v:.2}"),
        v => format!("{v:.1}"),
    }
}

/// A rate with about three significant digits: `952k`, `10.4k`, `1.05M`, `276`.
pub(crate) fn rate(value: f64) -> String {
    match value {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e5 => format!("{:.0}k", v / 1e3),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

pub(crate) fn number(value: f64) -> String {
    match value {
        v if v < 10.0 => format!("{v:.2}"),
        v if v < 100.0 => format!("{v:.1}"),
        v => format!("{v:.0}"),
    }
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(seconds(0.1049), "0.105");
        assert_eq!(rate(952_381.0), "952k");
        assert_eq!(rate(10_420.0), "10.4k");
        assert_eq!(rate(1_050_000.0), "1.05M");
        assert_eq!(mib(16 * 1024), "16.0");
        assert_eq!(cell(&[0.2, 0.1, 0.3], seconds), "0.200 (0.100–0.300)");
        assert_eq!(Unit::Seconds.compare(0.1, 5.6), "56.0x faster");
        assert_eq!(Unit::PerSecond.compare(100.0, 400.0), "4.00x fewer");
    }
}
