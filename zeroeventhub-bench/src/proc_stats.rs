//! CPU time and peak memory of a process, from `/proc` (Linux only; no
//! unsafe code, so no `getrusage`/`sysconf`).

use std::{fs, io, path::Path, process::Command, sync::OnceLock};

/// Which process to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc {
    /// The calling process.
    Current,
    /// Another process, by id.
    Pid(u32),
}

impl Proc {
    fn file(self, name: &str) -> String {
        match self {
            Proc::Current => format!("/proc/self/{name}"),
            Proc::Pid(pid) => format!("/proc/{pid}/{name}"),
        }
    }

    /// CPU seconds used so far by the process's threads: the sum of each
    /// live thread's `/proc/PID/task/TID/schedstat` (nanoseconds, user and
    /// system), or where the kernel lacks those, user + system time from
    /// `/proc/PID/stat` (resolution: one clock tick, usually 10 ms). The
    /// time of threads that have exited is not in the first figure: the
    /// suite's processes keep theirs; the running thread's may lag by up
    /// to a scheduler tick.
    ///
    /// # Errors
    ///
    /// Fails when neither can be read or parsed.
    pub fn cpu_seconds(self) -> io::Result<f64> {
        if let Some(nanos) = self.threads_run_nanos() {
            return Ok(nanos as f64 / 1e9);
        }
        self.cpu_seconds_in_ticks()
    }

    /// The sum of the first field of each thread's `schedstat`; `None`
    /// when the kernel has none. A thread that ends while they are read
    /// is left out, as one that ended before.
    fn threads_run_nanos(self) -> Option<u64> {
        let mut total = 0_u64;
        for task in fs::read_dir(self.file("task")).ok()?.flatten() {
            let path = task.path().join("schedstat");
            let Ok(schedstat) = fs::read_to_string(&path) else {
                if path.parent().is_some_and(Path::exists) {
                    return None; // the thread is there: no schedstat here
                }
                continue;
            };
            total += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
        }
        Some(total)
    }

    /// User + system CPU seconds from `/proc/PID/stat`, in clock ticks.
    fn cpu_seconds_in_ticks(self) -> io::Result<f64> {
        let stat = fs::read_to_string(self.file("stat"))?;
        let ticks = parse_cpu_ticks(&stat)
            .ok_or_else(|| io::Error::other(format!("unexpected /proc stat line: {stat}")))?;
        Ok(ticks as f64 / clock_ticks_per_second())
    }

    /// Peak resident set size in KiB (`VmHWM`).
    ///
    /// # Errors
    ///
    /// Fails when `/proc/PID/status` cannot be read or lacks `VmHWM`.
    pub fn peak_rss_kib(self) -> io::Result<u64> {
        self.status_kib("VmHWM:")
    }

    /// Resident set size now, in KiB (`VmRSS`).
    ///
    /// # Errors
    ///
    /// Fails when `/proc/PID/status` cannot be read or lacks `VmRSS`.
    pub fn rss_kib(self) -> io::Result<u64> {
        self.status_kib("VmRSS:")
    }

    fn status_kib(self, key: &str) -> io::Result<u64> {
        let status = fs::read_to_string(self.file("status"))?;
        parse_status_kib(&status, key)
            .ok_or_else(|| io::Error::other(format!("no {key} line in /proc status")))
    }
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    sum_of_stat_fields(stat, 14)
}

/// `cutime + cstime` (fields 16 and 17) of a `/proc/PID/stat` line: the
/// CPU time of children that have ended and been waited for.
fn parse_children_ticks(stat: &str) -> Option<u64> {
    sum_of_stat_fields(stat, 16)
}

/// The sum of fields `field` and `field + 1` (numbered from 1, as in
/// proc(5)) of a `/proc/PID/stat` line. The command name (field 2) may
/// hold spaces and parentheses: fields are counted after its last `)`.
fn sum_of_stat_fields(stat: &str, field: usize) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name comes field 3.
    let mut fields = after_name.split_whitespace().skip(field.checked_sub(3)?);
    let first: u64 = fields.next()?.parse().ok()?;
    let second: u64 = fields.next()?.parse().ok()?;
    Some(first + second)
}

/// User + system CPU seconds of this process's children that have ended
/// and been waited for (`cutime` + `cstime` of `/proc/self/stat`, as
/// `getrusage(RUSAGE_CHILDREN)` counts them; in clock ticks).
///
/// # Errors
///
/// Fails when `/proc/self/stat` cannot be read or parsed.
pub fn reaped_children_cpu_seconds() -> io::Result<f64> {
    // First, so that its one-off `getconf` is never counted.
    let ticks_per_second = clock_ticks_per_second();
    let stat = fs::read_to_string("/proc/self/stat")?;
    let ticks = parse_children_ticks(&stat)
        .ok_or_else(|| io::Error::other(format!("unexpected /proc stat line: {stat}")))?;
    Ok(ticks as f64 / ticks_per_second)
}

fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// CPU seconds the calling thread has run, in nanoseconds' precision
/// (`/proc/thread-self/schedstat`); `None` where the kernel lacks it.
pub fn thread_cpu_seconds() -> Option<f64> {
    let schedstat = fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = schedstat.split_whitespace().next()?.parse().ok()?;
    Some(nanos as f64 / 1e9)
}

/// Clock ticks per second (`getconf CLK_TCK`, run once; 100 if that fails).
pub fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .filter(|output| output.status.success())
            .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
            .filter(|&ticks: &f64| ticks > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let stat = "1234 (a (weird) name) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 30 0 0 20 0 1 0";
        assert_eq!(parse_cpu_ticks(stat), Some(280));
    }

    #[test]
    fn children_ticks_are_fields_16_and_17() {
        let stat = "1234 (a (weird) name) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 30 7 5 20 0 1 0";
        assert_eq!(parse_children_ticks(stat), Some(12));
        assert_eq!(parse_children_ticks("1234 (x) S 1"), None);
    }

    #[test]
    fn status_value_in_kib() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    4321 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM:"), Some(4321));
    }

    #[test]
    fn own_process_can_be_read() {
        // Some work, then a sleep: the kernel updates a thread's run time
        // when it leaves the CPU (or at the next scheduler tick).
        let sum: u64 = (0..2_000_000_u64).map(std::hint::black_box).sum();
        assert!(sum > 0);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(Proc::Current.cpu_seconds().unwrap() > 0.0);
        Proc::Current.cpu_seconds_in_ticks().unwrap();
        assert!(Proc::Current.peak_rss_kib().unwrap() > 0);
        assert!(Proc::Current.rss_kib().unwrap() > 0);
        assert!(thread_cpu_seconds().is_none_or(|seconds| seconds > 0.0));
    }
}
