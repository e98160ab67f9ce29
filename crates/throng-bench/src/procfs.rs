//! Samples of a process and of the machine from `/proc`: CPU seconds, resident memory,
//! kernel TCP memory, busy CPU, and the machine's description for reports.
//!
//! Parsing is separate from reading so that it is tested on captured text.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// Text from `/proc` that did not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("unexpected format in {what}: {detail}")]
    Format { what: &'static str, detail: String },
}

fn format_error(what: &'static str, detail: impl Into<String>) -> ProcError {
    ProcError::Format {
        what,
        detail: detail.into(),
    }
}

/// User plus system CPU time of a process, in clock ticks, from `/proc/<pid>/stat`.
///
/// The command name (field 2) is in parentheses and may itself contain spaces and
/// parentheses, so fields are counted from the last `)`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Result<u64, ProcError> {
    let after_name = stat
        .rfind(')')
        .map(|end| &stat[end + 1..])
        .ok_or_else(|| format_error("stat", "no ')' after the command name"))?;
    // After the name: state is field 3, utime field 14, stime field 15 (1-based).
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| -> Result<u64, ProcError> {
        fields
            .get(n - 3)
            .ok_or_else(|| format_error("stat", format!("only {} fields", fields.len() + 2)))?
            .parse::<u64>()
            .map_err(|e| format_error("stat", format!("field {n}: {e}")))
    };
    Ok(field(14)? + field(15)?)
}

/// Resident set size in bytes from `/proc/<pid>/status` (`VmRSS: N kB`).
pub fn parse_status_rss_bytes(status: &str) -> Result<u64, ProcError> {
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .ok_or_else(|| format_error("status", "no VmRSS line"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = words
        .next()
        .ok_or_else(|| format_error("status", "VmRSS has no value"))?
        .parse()
        .map_err(|e| format_error("status", format!("VmRSS: {e}")))?;
    match words.next() {
        Some("kB") => Ok(value * 1024),
        other => Err(format_error("status", format!("VmRSS unit {other:?}"))),
    }
}

/// TCP figures from `/proc/net/sockstat`: sockets in use and memory in pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpSockstat {
    pub inuse: u64,
    pub mem_pages: u64,
}

/// Parses the `TCP: inuse N orphan N tw N alloc N mem N` line of `/proc/net/sockstat`.
pub fn parse_sockstat_tcp(sockstat: &str) -> Result<TcpSockstat, ProcError> {
    let line = sockstat
        .lines()
        .find(|line| line.starts_with("TCP:"))
        .ok_or_else(|| format_error("sockstat", "no TCP line"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let value = |name: &str| -> Result<u64, ProcError> {
        let at = words
            .iter()
            .position(|w| *w == name)
            .ok_or_else(|| format_error("sockstat", format!("no {name} on the TCP line")))?;
        words
            .get(at + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format_error("sockstat", format!("{name} has no number")))
    };
    Ok(TcpSockstat {
        inuse: value("inuse")?,
        mem_pages: value("mem")?,
    })
}

/// Busy and total ticks of all CPUs together, from the first line of `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub busy: u64,
    pub total: u64,
}

pub fn parse_proc_stat_cpu(stat: &str) -> Result<CpuTimes, ProcError> {
    let line = stat
        .lines()
        .find(|line| line.starts_with("cpu "))
        .ok_or_else(|| format_error("/proc/stat", "no cpu line"))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|e| format_error("/proc/stat", e.to_string()))?;
    if values.len() < 4 {
        return Err(format_error("/proc/stat", "fewer than 4 cpu columns"));
    }
    // Columns: user nice system idle iowait irq softirq steal guest guest_nice. Steal time
    // (the hypervisor ran someone else) is neither ours nor idle, so it is left out; guest time
    // is already inside user and nice, so it is not added again.
    let total: u64 = values.iter().take(7).sum();
    let idle = values[3] + values.get(4).copied().unwrap_or(0);
    Ok(CpuTimes {
        busy: total - idle,
        total,
    })
}

/// Number of CPUs the machine has (`cpuN` lines of `/proc/stat`), whatever this
/// process's affinity (`taskset`) allows it to use.
pub fn parse_proc_stat_cpu_count(stat: &str) -> usize {
    stat.lines()
        .filter(|line| {
            line.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count()
}

/// The 1-minute load average, the first field of `/proc/loadavg`.
pub fn parse_loadavg(loadavg: &str) -> Result<f64, ProcError> {
    loadavg
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format_error("loadavg", "no number"))
}

pub fn load_average() -> Result<f64, ProcError> {
    parse_loadavg(&read("/proc/loadavg")?)
}

/// `MemTotal` in bytes from `/proc/meminfo`.
pub fn parse_meminfo_total_bytes(meminfo: &str) -> Result<u64, ProcError> {
    let line = meminfo
        .lines()
        .find(|line| line.starts_with("MemTotal:"))
        .ok_or_else(|| format_error("meminfo", "no MemTotal line"))?;
    let kb: u64 = line["MemTotal:".len()..]
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format_error("meminfo", "MemTotal has no number"))?;
    Ok(kb * 1024)
}

/// The CPU model name from `/proc/cpuinfo`, if it has one.
pub fn parse_cpuinfo_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, name)| name.trim().to_owned())
}

fn read(path: impl AsRef<Path>) -> Result<String, ProcError> {
    let path = path.as_ref();
    std::fs::read_to_string(path).map_err(|e| ProcError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// A `getconf` value, or `fallback` when the command is missing or says something odd.
fn getconf(name: &str, fallback: u64) -> u64 {
    Command::new("getconf")
        .arg(name)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(fallback)
}

/// Clock ticks per second (`CLK_TCK`), asked once. The usual value on Linux is 100.
pub fn clock_ticks_per_sec() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| getconf("CLK_TCK", 100))
}

/// The memory page size, for `/proc/net/sockstat`'s page counts.
pub fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| getconf("PAGESIZE", 4096))
}

/// One look at a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessSample {
    /// User plus system CPU seconds since the process started.
    pub cpu_s: f64,
    pub rss_bytes: u64,
}

pub fn sample_process(pid: u32) -> Result<ProcessSample, ProcError> {
    let ticks = parse_stat_cpu_ticks(&read(format!("/proc/{pid}/stat"))?)?;
    let rss_bytes = parse_status_rss_bytes(&read(format!("/proc/{pid}/status"))?)?;
    Ok(ProcessSample {
        cpu_s: ticks as f64 / clock_ticks_per_sec() as f64,
        rss_bytes,
    })
}

/// CPU seconds this process has used so far.
pub fn own_cpu_s() -> Result<f64, ProcError> {
    let ticks = parse_stat_cpu_ticks(&read("/proc/self/stat")?)?;
    Ok(ticks as f64 / clock_ticks_per_sec() as f64)
}

pub fn sample_sockstat() -> Result<TcpSockstat, ProcError> {
    parse_sockstat_tcp(&read("/proc/net/sockstat")?)
}

pub fn sample_cpu_times() -> Result<CpuTimes, ProcError> {
    parse_proc_stat_cpu(&read("/proc/stat")?)
}

/// CPU seconds used so far by the kernel's softirq threads (`ksoftirqd/N`), which do part
/// of the loopback network work when softirqs pile up; it belongs to neither process.
pub fn softirq_threads_cpu_s() -> Result<f64, ProcError> {
    let entries = std::fs::read_dir("/proc").map_err(|e| ProcError::Read {
        path: "/proc".into(),
        message: e.to_string(),
    })?;
    let mut ticks = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if is_softirq_thread(&stat) {
            ticks += parse_stat_cpu_ticks(&stat).unwrap_or(0);
        }
    }
    Ok(ticks as f64 / clock_ticks_per_sec() as f64)
}

/// Whether a `/proc/<pid>/stat` line is a `ksoftirqd/N` kernel thread's.
pub fn is_softirq_thread(stat: &str) -> bool {
    stat.split_once(" (")
        .is_some_and(|(_, rest)| rest.starts_with("ksoftirqd/"))
}

/// The machine a run happened on, as reports show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_bytes: u64,
    pub kernel: String,
    pub cpu_model: Option<String>,
}

/// Reads the machine's description; fields that cannot be read stay empty.
pub fn machine() -> Machine {
    Machine {
        cores: read("/proc/stat")
            .map(|text| parse_proc_stat_cpu_count(&text))
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(0, |n| n.get())),
        memory_bytes: read("/proc/meminfo")
            .and_then(|text| parse_meminfo_total_bytes(&text))
            .unwrap_or(0),
        kernel: read("/proc/sys/kernel/osrelease")
            .map(|text| text.trim().to_owned())
            .unwrap_or_default(),
        cpu_model: read("/proc/cpuinfo")
            .ok()
            .and_then(|text| parse_cpuinfo_model(&text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_ticks_count_fields_after_the_name() {
        let cases: &[(&str, Result<u64, ()>)] = &[
            (
                "12345 (throng) S 1 12345 12345 0 -1 4194560 5000 0 0 0 731 219 0 0 20 0 3 0 \
                 100 200000 3000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0",
                Ok(950),
            ),
            // A command name with spaces and parentheses.
            (
                "77 (tokio (rt) w) R 1 77 77 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1",
                Ok(11),
            ),
            ("77 (short) R 1 2 3", Err(())),
            ("no parenthesis at all", Err(())),
            ("1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 6 0", Err(())),
        ];
        for (text, expect) in cases {
            assert_eq!(
                parse_stat_cpu_ticks(text).map_err(|_| ()),
                *expect,
                "{text}"
            );
        }
    }

    #[test]
    fn status_rss_is_read_in_bytes() {
        let status =
            "Name:\tthrong\nVmPeak:\t  900000 kB\nVmRSS:\t   51234 kB\nRssAnon:\t 40000 kB\n";
        assert_eq!(parse_status_rss_bytes(status), Ok(51234 * 1024));
        assert!(parse_status_rss_bytes("Name:\tx\n").is_err());
        assert!(parse_status_rss_bytes("VmRSS:\t 12 MB\n").is_err());
        assert!(parse_status_rss_bytes("VmRSS:\n").is_err());
    }

    #[test]
    fn sockstat_tcp_line() {
        let text = "sockets: used 36211\n\
                    TCP: inuse 36020 orphan 0 tw 12 alloc 36022 mem 4417\n\
                    UDP: inuse 2 mem 1\n";
        assert_eq!(
            parse_sockstat_tcp(text),
            Ok(TcpSockstat {
                inuse: 36020,
                mem_pages: 4417
            })
        );
        assert!(parse_sockstat_tcp("UDP: inuse 2 mem 1\n").is_err());
        assert!(parse_sockstat_tcp("TCP: inuse 3 orphan 0\n").is_err());
    }

    #[test]
    fn proc_stat_busy_excludes_idle_and_iowait() {
        let text = "cpu  100 5 50 800 20 3 2 0 7 0\ncpu0 50 2 25 400 10 1 1 0 0 0\n";
        assert_eq!(
            parse_proc_stat_cpu(text),
            Ok(CpuTimes {
                busy: 160,
                total: 980
            })
        );
        assert!(parse_proc_stat_cpu("cpu0 1 2 3 4\n").is_err());
        assert_eq!(parse_proc_stat_cpu_count(text), 1);
        assert_eq!(
            parse_proc_stat_cpu_count("cpu  1 2 3 4\ncpu0 1 2 3 4\ncpu1 1 2 3 4\nintr 5\n"),
            2
        );
        assert!(parse_proc_stat_cpu("cpu  1 2\n").is_err());
    }

    #[test]
    fn softirq_threads_are_recognised_by_name() {
        assert!(is_softirq_thread(
            "14 (ksoftirqd/1) S 2 0 0 0 -1 69238880 0 0 0 0 0 371 0 0"
        ));
        assert!(!is_softirq_thread(
            "15 (kworker/1:0) I 2 0 0 0 -1 0 0 0 0 0 0 1 0 0"
        ));
        assert!(!is_softirq_thread(
            "99 (throng) S 1 99 99 0 -1 0 0 0 0 0 5 6 0 0"
        ));
        assert!(softirq_threads_cpu_s().is_ok());
    }

    #[test]
    fn loadavg_first_field() {
        assert_eq!(parse_loadavg("6.74 6.30 6.04 11/181 22153\n"), Ok(6.74));
        assert!(parse_loadavg("").is_err());
        assert!(parse_loadavg("x 1 2").is_err());
    }

    #[test]
    fn meminfo_and_cpuinfo() {
        let meminfo = "MemTotal:       24563636 kB\nMemFree:        18000000 kB\n";
        assert_eq!(parse_meminfo_total_bytes(meminfo), Ok(24563636 * 1024));
        assert!(parse_meminfo_total_bytes("MemFree: 1 kB\n").is_err());
        let cpuinfo = "processor\t: 0\nmodel name\t: Example CPU @ 2.00GHz\nflags\t: fpu\n";
        assert_eq!(
            parse_cpuinfo_model(cpuinfo).as_deref(),
            Some("Example CPU @ 2.00GHz")
        );
        assert_eq!(parse_cpuinfo_model("processor\t: 0\n"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sample = sample_process(std::process::id()).unwrap();
        assert!(sample.rss_bytes > 0);
        assert!(sample.cpu_s >= 0.0);
        assert!(clock_ticks_per_sec() > 0);
        assert!(sample_sockstat().is_ok());
        let times = sample_cpu_times().unwrap();
        assert!(times.total >= times.busy);
    }
}
