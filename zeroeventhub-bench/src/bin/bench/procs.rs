//! Child processes: a server started per workload and measured from the
//! outside, and clients run to completion.

use std::{
    env,
    io::{self, BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use zeroeventhub_bench::proc_stats::{Proc, reaped_children_cpu_seconds};

/// How long a server may take to print its `listening on` line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A server child process, killed when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts `command` and waits for its `listening on URL` line.
    pub(crate) fn start(mut command: Command) -> anyhow::Result<Server> {
        let program = format!("{command:?}");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let first = reader.read_line(&mut line).map(|_| line);
            let _ = sender.send(first);
            // Keep draining, so a chatty server never blocks on a full pipe.
            let _ = io::copy(&mut reader, &mut io::sink());
        });
        let mut server = Server {
            child,
            url: String::new(),
        };
        match receiver.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(line)) => match line.trim().strip_prefix("listening on ") {
                Some(url) => server.url = url.to_owned(),
                None => bail!("{program} printed {line:?} instead of `listening on URL`"),
            },
            Ok(Err(error)) => bail!("reading the output of {program}: {error}"),
            Err(_) => bail!("{program} did not start within {STARTUP_TIMEOUT:?}"),
        }
        Ok(server)
    }

    /// The feed's URL, without a query.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn proc(&self) -> Proc {
        Proc::Pid(self.child.id())
    }

    /// CPU seconds the server has used so far.
    pub(crate) fn cpu_seconds(&self) -> anyhow::Result<f64> {
        self.proc()
            .cpu_seconds()
            .context("reading the server's CPU time")
    }

    /// The server's peak RSS so far, in KiB.
    pub(crate) fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        self.proc()
            .peak_rss_kib()
            .context("reading the server's peak RSS")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Our own child, by its id.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` to completion; returns its stdout and its wall time.
pub(crate) fn run(mut command: Command) -> anyhow::Result<(String, f64)> {
    let program = format!("{command:?}");
    command.stdin(Stdio::null());
    let started = Instant::now();
    let output = command
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    let wall = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "{program} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok((String::from_utf8_lossy(&output.stdout).into_owned(), wall))
}

/// Runs `command` to completion like [`run`]; also returns the CPU
/// seconds (user + system) it used, with those of any children it waited
/// for. Nothing else may end and be waited for meanwhile: the figure is
/// the growth of this process's reaped children's CPU time.
pub(crate) fn run_with_cpu(command: Command) -> anyhow::Result<(String, f64, f64)> {
    let before = reaped_children_cpu_seconds().context("reading /proc/self/stat")?;
    let (stdout, wall) = run(command)?;
    let cpu = reaped_children_cpu_seconds().context("reading /proc/self/stat")? - before;
    Ok((stdout, wall, cpu))
}

/// Runs `command` and parses the last line of its stdout as JSON.
pub(crate) fn run_json(command: Command) -> anyhow::Result<serde_json::Value> {
    run_json_timed(command).map(|(json, _)| json)
}

/// [`run_json`], with the command's wall time.
pub(crate) fn run_json_timed(command: Command) -> anyhow::Result<(serde_json::Value, f64)> {
    let (stdout, wall) = run(command)?;
    let last = stdout.lines().rev().find(|line| !line.trim().is_empty());
    let last = last.context("the command printed nothing")?;
    let json = serde_json::from_str(last).with_context(|| format!("not a JSON line: {last:?}"))?;
    Ok((json, wall))
}

/// `name` on the `PATH`, if it is there.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_s_cpu_time_is_counted() {
        let mut busy = Command::new("sh");
        // About 0.2 s of shell arithmetic: many clock ticks.
        busy.args(["-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"]);
        let (_, wall, cpu) = run_with_cpu(busy).unwrap();
        assert!(wall > 0.0);
        assert!(cpu > 0.0, "the child's CPU time was not counted");
    }
}
