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

    /// User + system CPU seconds used so far by the whole process, the
    /// threads that have exited included (`/proc/PID/stat`, in clock
    /// ticks: usually 10 ms). Coarser than [`cpu_seconds`](Proc::cpu_seconds),
    /// but it never goes down when a thread ends: the figure to take
    /// differences of over a long run, in which a pool's threads may come
    /// and go.
    ///
    /// # Errors
    ///
    /// Fails when `/proc/PID/stat` cannot be read or parsed.
    pub fn total_cpu_seconds(self) -> io::Result<f64> {
        self.cpu_seconds_in_ticks()
    }

    /// The file descriptors the process holds open: the entries of
    /// `/proc/PID/fd` (sockets, files, pipes, epoll and event fds).
    ///
    /// # Errors
    ///
    /// Fails when the directory cannot be read (the process is gone, or
    /// belongs to another user).
    pub fn open_fds(self) -> io::Result<usize> {
        let mut count = 0;
        for entry in fs::read_dir(self.file("fd"))? {
            entry?;
            count += 1;
        }
        Ok(count)
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

/// The whole machine's CPU time so far, from the first line of
/// `/proc/stat`: the seconds the cores ran processes (user, nice and
/// system time, as processes' own `utime` and `stime` count it) and all
/// seconds, summed over the cores (in clock ticks). Interrupt time is
/// left out of the first: the kernel counts it apart from any process
/// (on loopback, much of it is the benchmark's own network traffic).
/// Between two readings, the first difference less that of some processes
/// is what the others ran.
///
/// # Errors
///
/// Fails when `/proc/stat` cannot be read or parsed.
pub fn machine_cpu_seconds() -> io::Result<(f64, f64)> {
    let stat = fs::read_to_string("/proc/stat")?;
    let (busy, all) = parse_machine_ticks(&stat)
        .ok_or_else(|| io::Error::other("unexpected first line in /proc/stat"))?;
    let ticks_per_second = clock_ticks_per_second();
    Ok((
        busy as f64 / ticks_per_second,
        all as f64 / ticks_per_second,
    ))
}

/// Process and all ticks of the `cpu` line of `/proc/stat`: `user nice
/// system idle iowait irq softirq steal` (guest time is already in user).
fn parse_machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    let all: u64 = ticks.iter().sum();
    let processes = ticks.iter().take(3).sum();
    (ticks.len() >= 4).then_some((processes, all))
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
    fn machine_ticks_of_processes_leave_out_idle_and_interrupts() {
        let stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n";
        assert_eq!(parse_machine_ticks(stat), Some((155, 1181)));
        assert_eq!(parse_machine_ticks("intr 1 2 3"), None);
        let (busy, all) = machine_cpu_seconds().unwrap();
        assert!(all > 0.0 && busy <= all);
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
        assert!(Proc::Current.total_cpu_seconds().unwrap() >= 0.0);
        // At least stdout, stderr and the directory being read (other
        // tests of this process open and close files meanwhile: no exact
        // count).
        assert!(Proc::Current.open_fds().unwrap() >= 3);
        assert!(thread_cpu_seconds().is_none_or(|seconds| seconds > 0.0));
    }
}
