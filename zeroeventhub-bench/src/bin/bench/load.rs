//! W3's load generators: `wrk` when installed, else the suite's `bench load`.

use std::{path::PathBuf, process::Command};

use anyhow::{Context, bail};

use crate::procs::{run, run_json};

/// W3's concurrency.
pub(crate) const CONNECTIONS: u32 = 16;

/// Which program generates W3's load.
#[derive(Debug, Clone)]
pub(crate) enum Generator {
    /// `wrk` (Debian package `wrk`).
    Wrk(PathBuf),
    /// The suite's own `bench load` (the path of this executable).
    Rust(PathBuf),
}

/// What one W3 run measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadFigures {
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

impl Generator {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Generator::Wrk(_) => "wrk",
            Generator::Rust(_) => "bench load",
        }
    }

    /// Requests `url` over [`CONNECTIONS`] keep-alive connections for `seconds`.
    pub(crate) fn run(&self, url: &str, seconds: f64) -> anyhow::Result<LoadFigures> {
        match self {
            Generator::Wrk(wrk) => {
                let mut command = Command::new(wrk);
                // wrk takes whole seconds.
                let seconds = seconds.round().max(1.0);
                command.args([
                    "-t2".to_owned(),
                    format!("-c{CONNECTIONS}"),
                    format!("-d{seconds}s"),
                    "--latency".to_owned(),
                    url.to_owned(),
                ]);
                let (output, _) = run(command)?;
                parse_wrk(&output).with_context(|| format!("unexpected wrk output:\n{output}"))
            }
            Generator::Rust(load) => {
                let mut command = Command::new(load);
                command
                    .args(["load", "--url", url, "--connections"])
                    .arg(CONNECTIONS.to_string())
                    .arg("--seconds")
                    .arg(seconds.to_string());
                let report = run_json(command)?;
                if report["errors"].as_u64() != Some(0) {
                    bail!("bench load saw failed requests: {report}");
                }
                let field = |name: &str| {
                    report[name]
                        .as_f64()
                        .with_context(|| format!("no {name} in {report}"))
                };
                Ok(LoadFigures {
                    rps: field("rps")?,
                    p50_ms: field("p50_ms")?,
                    p99_ms: field("p99_ms")?,
                })
            }
        }
    }
}

/// Requests/s and the 50th and 99th latency percentiles of `wrk --latency`.
fn parse_wrk(output: &str) -> anyhow::Result<LoadFigures> {
    let (mut rps, mut p50, mut p99) = (None, None, None);
    for line in output.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(value)) => rps = value.parse().ok(),
            (Some("50%"), Some(value)) => p50 = Some(millis(value)?),
            (Some("99%"), Some(value)) => p99 = Some(millis(value)?),
            (Some("Non-2xx"), _) => bail!("wrk saw failed requests: {line}"),
            _ => {}
        }
    }
    Ok(LoadFigures {
        rps: rps.context("no Requests/sec line")?,
        p50_ms: p50.context("no 50% line")?,
        p99_ms: p99.context("no 99% line")?,
    })
}

/// A wrk duration (`635.00us`, `1.20ms`, `2.00s`, `1.00m`) in milliseconds.
fn millis(text: &str) -> anyhow::Result<f64> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in {text:?}"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("bad number {text:?}"))?;
    let scale = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        _ => bail!("unknown unit in {text:?}"),
    };
    Ok(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 10s test @ http://127.0.0.1:1/feed/v1?n=1
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.12ms  401.22us  12.40ms   80.00%
    Req/Sec     7.20k   300.00     8.00k    70.00%
  Latency Distribution
     50%  635.00us
     75%    1.00ms
     90%    1.50ms
     99%    3.25ms
  143210 requests in 10.00s, 3.10GB read
Requests/sec:  14321.00
Transfer/sec:    317.00MB
";

    #[test]
    fn wrk_output_is_parsed() {
        let figures = parse_wrk(WRK).unwrap();
        assert!((figures.rps - 14321.0).abs() < 1e-9);
        assert!((figures.p50_ms - 0.635).abs() < 1e-9);
        assert!((figures.p99_ms - 3.25).abs() < 1e-9);
    }

    #[test]
    fn wrk_failures_are_errors() {
        let failed = WRK.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 5\nRequests/sec",
        );
        assert!(parse_wrk(&failed).is_err());
        assert!(parse_wrk("nothing").is_err());
        assert!(millis("3.0h").is_err());
        assert!((millis("2.00s").unwrap() - 2000.0).abs() < 1e-9);
    }
}
