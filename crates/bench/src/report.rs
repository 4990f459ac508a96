//! The results table, printed and written to `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::time::Duration;

use crate::stats::Summary;
use crate::BenchConfig;

/// What a stage's ratio must reach.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// ours / baseline throughput at least this.
    RatioAtLeast(f64),
    /// our p99 latency under this.
    P99Under(Duration),
    /// ours / baseline median latency at most this.
    RatioAtMost(f64),
    /// The whole job done within this.
    TookUnder(Duration),
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The stage.
    pub stage: String,
    /// Our figure.
    pub ours: String,
    /// The baseline's figure.
    pub baseline: String,
    /// ours / baseline (throughput, or latency for end to end).
    pub ratio: f64,
    /// The target, and whether it was met.
    pub target: Option<(Target, bool)>,
}

/// Everything measured in one run.
#[derive(Debug, Clone)]
pub struct Report {
    header: String,
    /// The table.
    pub rows: Vec<Row>,
    /// Stage summaries other stages build on (name → figures).
    pub summaries: Vec<(String, Summary)>,
    /// Charts to write beside the report: (file name, SVG).
    pub charts: Vec<(String, String)>,
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Throughput with latencies, as a cell.
pub fn throughput_cell(s: &Summary, unit: &str) -> String {
    if s.p99.is_zero() {
        // Backlog stages time the whole backlog, not single operations.
        return format!("{:.0} {unit}/s", s.per_second);
    }
    format!(
        "{:.0} {unit}/s, p50 {}, p99 {}",
        s.per_second,
        ms(s.p50),
        ms(s.p99)
    )
}

/// Latencies only, as a cell.
pub fn latency_cell(s: &Summary) -> String {
    format!("p50 {}, p99 {}", ms(s.p50), ms(s.p99))
}

impl Report {
    /// An empty report for `config`.
    pub fn new(config: &BenchConfig) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let header = format!(
            "Run on {} with {cores} cores; {} round(s) per figure, medians reported; \
             load stages run {:?} after a {:?} warm-up; relay and projector backlogs of {} events.",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
            config.rounds,
            config.duration,
            config.warmup,
            config.backlog,
        );
        Self {
            header,
            rows: Vec::new(),
            summaries: Vec::new(),
            charts: Vec::new(),
        }
    }

    /// Remembers a stage's figures under `name`.
    pub fn remember(&mut self, name: &str, summary: Summary) {
        self.summaries.push((name.to_owned(), summary));
    }

    /// Figures remembered under `name`.
    pub fn recall(&self, name: &str) -> Summary {
        self.summaries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| *s)
            .unwrap_or_default()
    }

    /// Adds a throughput comparison.
    pub fn throughput(
        &mut self,
        stage: &str,
        unit: &str,
        ours: Summary,
        base: Summary,
        target: Option<f64>,
    ) {
        let ratio = ours.per_second / base.per_second.max(1e-9);
        self.rows.push(Row {
            stage: stage.to_owned(),
            ours: throughput_cell(&ours, unit),
            baseline: throughput_cell(&base, unit),
            ratio,
            target: target.map(|t| (Target::RatioAtLeast(t), ratio >= t)),
        });
    }

    /// Adds a latency comparison (end to end).
    pub fn latency(&mut self, stage: &str, ours: Summary, base: Summary, p99_under: Duration) {
        self.rows.push(Row {
            stage: stage.to_owned(),
            ours: format!(
                "{} ({:.0} orders/s achieved)",
                latency_cell(&ours),
                ours.per_second
            ),
            baseline: if base.p99.is_zero() {
                "— (stages not measured)".to_owned()
            } else {
                latency_cell(&base)
            },
            ratio: if base.p99.is_zero() {
                f64::NAN
            } else {
                ours.p99.as_secs_f64() / base.p99.as_secs_f64()
            },
            target: Some((Target::P99Under(p99_under), ours.p99 < p99_under)),
        });
    }

    /// Adds a latency comparison judged by the ratio of the medians.
    pub fn latency_ratio(&mut self, stage: &str, ours: Summary, base: Summary, at_most: f64) {
        let ratio = ours.p50.as_secs_f64() / base.p50.as_secs_f64().max(1e-9);
        self.rows.push(Row {
            stage: stage.to_owned(),
            ours: latency_cell(&ours),
            baseline: latency_cell(&base),
            ratio,
            target: Some((Target::RatioAtMost(at_most), ratio <= at_most)),
        });
    }

    /// Adds a latency comparison judged by the ratio of the p99s.
    pub fn p99_ratio(&mut self, stage: &str, ours: Summary, base: Summary, at_most: f64) {
        let ratio = ours.p99.as_secs_f64() / base.p99.as_secs_f64().max(1e-9);
        self.rows.push(Row {
            stage: stage.to_owned(),
            ours: latency_cell(&ours),
            baseline: latency_cell(&base),
            ratio,
            target: Some((Target::RatioAtMost(at_most), ratio <= at_most)),
        });
    }

    /// Adds a latency comparison judged by our p99 alone.
    pub fn latency_against(
        &mut self,
        stage: &str,
        ours: Summary,
        base: Summary,
        p99_under: Duration,
    ) {
        self.rows.push(Row {
            stage: stage.to_owned(),
            ours: throughput_cell(&ours, "requests"),
            baseline: throughput_cell(&base, "queries"),
            ratio: ours.p99.as_secs_f64() / base.p99.as_secs_f64().max(1e-9),
            target: Some((Target::P99Under(p99_under), ours.p99 < p99_under)),
        });
    }

    /// Adds a duration that must stay under a limit (there is no baseline
    /// doing the same work; the row before it compares the rate).
    pub fn deadline(&mut self, stage: &str, took: Duration, under: Duration) {
        self.rows.push(Row {
            stage: stage.to_owned(),
            ours: format!("{:.1} s", took.as_secs_f64()),
            baseline: "—".to_owned(),
            ratio: took.as_secs_f64() / under.as_secs_f64(),
            target: Some((Target::TookUnder(under), took < under)),
        });
    }

    /// Targets that were missed, in words.
    pub fn missed(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter_map(|r| match r.target {
                Some((t, false)) => Some(format!("{}: {}", r.stage, describe(t))),
                _ => None,
            })
            .collect()
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut out =
            String::from("# Benchmarks\n\nWritten by `stockroom bench` (see the README). ");
        out.push_str(&self.header);
        out.push_str(
            "\n\nEach stage runs beside a raw baseline doing the same work without Stockroom, \
             in the same run on the same machine; the ratio is ours / baseline (throughput; median latency for the long history; p99 \
             latency for end to end). Absolute figures are only context: these machines are shared. \
             The end-to-end stages run first, before the throughput stages fill the broker (tansu \
             keeps every record in memory and spends more CPU per record the more it holds). Before \
             each end-to-end stage, and before the throughput stages, the databases of the stages \
             before are dropped and Postgres checkpoints, so that their clean-up does not run during them.\n\n",
        );
        out.push_str(
            "| stage | ours | raw baseline | ours / baseline | target |\n|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            let target = match r.target {
                None => "—".to_owned(),
                Some((t, met)) => format!(
                    "{} — {}",
                    describe(t),
                    if met { "met" } else { "**MISSED**" }
                ),
            };
            // No ratio without a baseline (a stage run on its own).
            let ratio = if r.ratio.is_finite() {
                format!("{:.2}", r.ratio)
            } else {
                "—".to_owned()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {ratio} | {} |",
                r.stage, r.ours, r.baseline, target
            );
        }
        for (file, _) in &self.charts {
            let _ = writeln!(out, "\n![{file}]({file})");
        }
        let missed = self.missed();
        if missed.is_empty() {
            out.push_str("\nEvery target was met.\n");
        } else {
            out.push_str("\nMissed targets:\n\n");
            for m in missed {
                let _ = writeln!(out, "- {m}");
            }
        }
        out
    }
}

fn describe(t: Target) -> String {
    match t {
        Target::RatioAtLeast(r) => format!("≥ {r:.1} of baseline"),
        Target::P99Under(d) => format!("p99 < {}", ms(d)),
        Target::RatioAtMost(r) => format!("median ≤ {r:.1}× baseline"),
        Target::TookUnder(d) => format!("under {:.0} s", d.as_secs_f64()),
    }
}
