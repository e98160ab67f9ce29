//! The result of one run: the JSON written by `--json` (and read back by `throng bench
//! report`), and the human summary printed at the end of a run.

use crate::accounting::{LaneCounts, LANE_NAMES};
use crate::latency::LatencySummary;
use crate::procfs::Machine;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// Identifies the JSON layout; bumped when a field changes meaning.
pub const SCHEMA: &str = "throng-bench/1";

/// One run's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub scenario: String,
    /// `throng` or a peer's name.
    pub target: String,
    /// Seconds since the Unix epoch when the run started.
    pub started_at: u64,
    /// The scenario's parameters as given or derived (members, rate, payload, …).
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Subscribers whose join was acknowledged.
    pub connections: u64,
    /// Subscribers that failed to connect or join.
    pub connections_failed: u64,
    /// Acknowledged joins per second while connecting.
    pub connect_rate_per_sec: f64,
    /// Messages accepted by the server, per lane.
    pub published: Lanes,
    /// Publish attempts the server refused (rate limits and such).
    pub publish_refused: u64,
    /// Payloads received by all subscribers, duplicates included.
    pub deliveries: u64,
    /// Deliveries per second, from the first publish to the last delivery.
    pub deliveries_per_sec: f64,
    /// Deliveries the members that kept reading should have had.
    pub expected_deliveries: u64,
    /// Publish-to-receive latency of every delivery to a reading member.
    pub latency_ms: LatencySummary,
    /// Messages that never reached a member that kept reading, per lane.
    pub lost: Lanes,
    pub duplicates: u64,
    /// Payloads that matched nothing published (should be zero).
    pub unexpected: u64,
    /// Members that stopped reading on purpose (`--slow-share`), and what they missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow: Option<SlowConsumers>,
    /// Members joining and leaving (`join-storm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<Churn>,
    /// Reading members whose connection the server ended during the run.
    pub closed_by_server: u64,
    /// Server CPU seconds (user + system) from the first publish to the end of the run.
    pub server_cpu_s: Option<f64>,
    pub server_cpu_s_per_million: Option<f64>,
    /// Peak server RSS during the run.
    pub server_rss_bytes: Option<u64>,
    /// Server RSS before the subscribers connected and once they all had.
    pub server_rss_before_bytes: Option<u64>,
    pub server_rss_connected_bytes: Option<u64>,
    /// (RSS connected − RSS before) / connections.
    pub server_rss_per_connection_bytes: Option<f64>,
    /// Kernel TCP memory (`/proc/net/sockstat`, whole machine, both ends of every
    /// loopback connection) added by connecting, per connection.
    pub kernel_tcp_mem_per_connection_bytes: Option<f64>,
    pub kernel_tcp_mem_connected_bytes: u64,
    pub load_generator: LoadGenerator,
    /// True when the load generator, not the server, limited the run.
    pub loadgen_saturated: bool,
    pub machine: Machine,
    /// The machine's 1-minute load average when the run started.
    #[serde(default)]
    pub load_average_before: Option<f64>,
    /// Errors seen (a sample), to explain failed connections or refusals.
    pub errors: Vec<String>,
}

/// A count per priority lane with its total, as `lost` and `published` appear in JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lanes {
    pub total: u64,
    pub system: u64,
    pub high: u64,
    pub low: u64,
}

impl From<LaneCounts> for Lanes {
    fn from(counts: LaneCounts) -> Lanes {
        Lanes {
            total: counts.total(),
            system: counts.0[0],
            high: counts.0[1],
            low: counts.0[2],
        }
    }
}

/// Members that stopped reading when publishing began.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlowConsumers {
    pub members: u64,
    /// What they had not received by the end (they read again once publishing stopped).
    pub lost: Lanes,
    /// Slow members whose connection the server closed.
    pub closed_by_server: u64,
}

/// Join and leave figures of `join-storm`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Churn {
    pub joins: u64,
    pub join_failures: u64,
    pub joins_per_sec: f64,
    /// From opening the connection to the join's acknowledgement.
    pub join_latency_ms: LatencySummary,
}

/// How hard the load generator itself worked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadGenerator {
    pub workers: usize,
    /// Subscribers ran inside the coordinating process (small runs and tests).
    pub in_process: bool,
    /// The busiest worker's CPU while publishing, in cores (1.0 = one core fully busy).
    pub max_worker_cpu_cores: f64,
    /// The coordinating process (publishers) while publishing, in cores.
    pub coordinator_cpu_cores: f64,
    /// Whole-machine CPU use while publishing, as a share of all cores.
    pub machine_cpu_busy_share: f64,
    /// The server's CPU while publishing, in cores.
    #[serde(default)]
    pub server_cpu_cores: f64,
    /// The whole load generator (workers and coordinator) while publishing, in cores.
    #[serde(default)]
    pub cpu_cores: f64,
    /// Cores the load generator could run on (its CPU affinity).
    #[serde(default)]
    pub core_budget: usize,
    /// The kernel's softirq threads (`ksoftirqd/N`), which carry part of the loopback
    /// network work of both ends, while publishing, in cores.
    #[serde(default)]
    pub kernel_softirq_cpu_cores: f64,
    /// CPU used meanwhile by everything else on the machine (neither the server nor the
    /// load generator), in cores: other tenants of a shared machine.
    #[serde(default)]
    pub other_cpu_cores: f64,
    /// Mean latency of the last third of the run over the first third's; well above 1
    /// means receivers fell further behind as the run went on.
    pub latency_growth: Option<f64>,
    /// Why the run counts as load-generator bound, if it does.
    pub saturated_reasons: Vec<String>,
}

impl Report {
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
    }

    pub fn read_json(path: &Path) -> anyhow::Result<Report> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let report: Report = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not a bench report: {e}", path.display()))?;
        anyhow::ensure!(
            report.schema == SCHEMA,
            "{} has schema {:?}, this build reads {SCHEMA:?}",
            path.display(),
            report.schema
        );
        Ok(report)
    }

    /// A parameter as a number, for grouping runs in comparisons.
    pub fn param_f64(&self, name: &str) -> Option<f64> {
        self.params.get(name).and_then(|v| v.as_f64())
    }

    /// Several lines for a terminal.
    pub fn summary_text(&self) -> String {
        let mut out = String::new();
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            out,
            "{} against {}  ({})",
            self.scenario,
            self.target,
            params.join(" ")
        );
        let _ = writeln!(
            out,
            "  connections   {} joined, {} failed, {:.0} joins/s",
            self.connections, self.connections_failed, self.connect_rate_per_sec
        );
        if self.published.total > 0 || self.deliveries > 0 {
            let _ = writeln!(
                out,
                "  published     {} (system {}, high {}, low {}), {} refused",
                self.published.total,
                self.published.system,
                self.published.high,
                self.published.low,
                self.publish_refused
            );
            let _ = writeln!(
                out,
                "  deliveries    {} ({} expected by the reading members), {:.0}/s",
                self.deliveries, self.expected_deliveries, self.deliveries_per_sec
            );
            let l = &self.latency_ms;
            let _ = writeln!(
                out,
                "  latency ms    p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
                l.p50, l.p90, l.p99, l.max
            );
            let lost: Vec<String> = LANE_NAMES
                .iter()
                .zip([self.lost.system, self.lost.high, self.lost.low])
                .map(|(name, n)| format!("{name} {n}"))
                .collect();
            let _ = writeln!(
                out,
                "  lost          {} ({}), duplicates {}, unexpected {}",
                self.lost.total,
                lost.join(", "),
                self.duplicates,
                self.unexpected
            );
        }
        if let Some(slow) = &self.slow {
            let _ = writeln!(
                out,
                "  slow members  {}: missed {} (high {}, low {}, system {}), {} closed by the server",
                slow.members,
                slow.lost.total,
                slow.lost.high,
                slow.lost.low,
                slow.lost.system,
                slow.closed_by_server
            );
        }
        if let Some(churn) = &self.churn {
            let _ = writeln!(
                out,
                "  churn         {} joins ({:.0}/s), {} failed, join p50 {:.1} ms p99 {:.1} ms",
                churn.joins,
                churn.joins_per_sec,
                churn.join_failures,
                churn.join_latency_ms.p50,
                churn.join_latency_ms.p99
            );
        }
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        match (self.server_cpu_s, self.server_rss_bytes) {
            (Some(cpu), Some(rss)) => {
                let per_million = self
                    .server_cpu_s_per_million
                    .map_or("n/a".to_owned(), |v| format!("{v:.2}"));
                let _ = writeln!(
                    out,
                    "  server        {cpu:.2} CPU s ({per_million} per million deliveries), peak RSS {:.1} MiB",
                    mib(rss)
                );
            }
            _ => {
                let _ = writeln!(out, "  server        not sampled (no server pid)");
            }
        }
        if let Some(per_conn) = self.server_rss_per_connection_bytes {
            let kernel = self
                .kernel_tcp_mem_per_connection_bytes
                .map_or("n/a".to_owned(), |v| format!("{v:.0}"));
            let _ = writeln!(
                out,
                "  per connection {per_conn:.0} B server RSS, {kernel} B kernel TCP memory"
            );
        }
        let g = &self.load_generator;
        let _ = writeln!(
            out,
            "  load gen      {} workers, {:.2} of {} cores (busiest worker {:.2}, coordinator {:.2}){}",
            g.workers,
            g.cpu_cores,
            g.core_budget,
            g.max_worker_cpu_cores,
            g.coordinator_cpu_cores,
            if g.in_process { " (in process)" } else { "" }
        );
        let _ = writeln!(
            out,
            "  machine       {:.0}% busy: server {:.2} cores, kernel softirq {:.2}, other processes {:.2}{}",
            g.machine_cpu_busy_share * 100.0,
            g.server_cpu_cores,
            g.kernel_softirq_cpu_cores,
            g.other_cpu_cores,
            self.load_average_before.map_or(String::new(), |l| format!(
                ", load average {l:.2} before the run"
            ))
        );
        if let Some(growth) = g.latency_growth.filter(|g| *g >= 2.0) {
            let _ = writeln!(
                out,
                "  NOTE: receive latency grew {growth:.1}x from the first third of the run to the last: \
                 deliveries fell behind (see the CPU figures for who was short)"
            );
        }
        if g.other_cpu_cores >= 0.3 {
            let _ = writeln!(
                out,
                "  NOTE: other processes used {:.2} cores during the run: figures are contended",
                g.other_cpu_cores
            );
        }
        if self.loadgen_saturated {
            let _ = writeln!(
                out,
                "  WARNING: the load generator was saturated: {}",
                g.saturated_reasons.join("; ")
            );
        }
        for error in &self.errors {
            let _ = writeln!(out, "  error: {error}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut params = serde_json::Map::new();
        params.insert("members".into(), 300.into());
        params.insert("rate".into(), 50.0.into());
        Report {
            schema: SCHEMA.into(),
            scenario: "live-room".into(),
            target: "throng".into(),
            params,
            connections: 300,
            published: LaneCounts([3, 40, 7]).into(),
            deliveries: 15_000,
            deliveries_per_sec: 5000.0,
            expected_deliveries: 15_000,
            latency_ms: LatencySummary {
                count: 15_000,
                p50: 1.5,
                p90: 3.0,
                p99: 9.0,
                p999: 12.0,
                max: 20.0,
                mean: 2.0,
            },
            lost: LaneCounts([0, 2, 5]).into(),
            server_cpu_s: Some(1.5),
            server_cpu_s_per_million: Some(100.0),
            server_rss_bytes: Some(50 << 20),
            loadgen_saturated: true,
            load_generator: LoadGenerator {
                workers: 1,
                saturated_reasons: vec!["worker 0 used 0.97 cores".into()],
                ..LoadGenerator::default()
            },
            ..Report::default()
        }
    }

    #[test]
    fn json_has_the_documented_fields_and_round_trips() {
        let report = sample();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/run.json");
        report.write_json(&path).unwrap();
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (pointer, expect) in [
            ("/schema", serde_json::json!(SCHEMA)),
            ("/deliveries_per_sec", serde_json::json!(5000.0)),
            ("/latency_ms/p50", serde_json::json!(1.5)),
            ("/latency_ms/p99", serde_json::json!(9.0)),
            ("/latency_ms/max", serde_json::json!(20.0)),
            ("/lost/total", serde_json::json!(7)),
            ("/lost/high", serde_json::json!(2)),
            ("/lost/low", serde_json::json!(5)),
            ("/published/system", serde_json::json!(3)),
            ("/duplicates", serde_json::json!(0)),
            ("/server_cpu_s_per_million", serde_json::json!(100.0)),
            ("/server_rss_bytes", serde_json::json!(50 << 20)),
            ("/connections", serde_json::json!(300)),
            ("/params/members", serde_json::json!(300)),
            ("/target", serde_json::json!("throng")),
            ("/loadgen_saturated", serde_json::json!(true)),
        ] {
            assert_eq!(value.pointer(pointer), Some(&expect), "{pointer}");
        }
        assert_eq!(value.get("slow"), None, "absent sections are left out");
        assert_eq!(Report::read_json(&path).unwrap(), report);
    }

    #[test]
    fn reading_refuses_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("not-json.json", "hello".to_owned()),
            ("other-schema.json", {
                let mut r = sample();
                r.schema = "something/9".into();
                serde_json::to_string(&r).unwrap()
            }),
        ];
        for (name, text) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            assert!(Report::read_json(&path).is_err(), "{name}");
        }
        assert!(Report::read_json(&dir.path().join("missing.json")).is_err());
    }

    #[test]
    fn summary_mentions_loss_and_saturation() {
        let text = sample().summary_text();
        for needle in [
            "live-room against throng",
            "lost          7 (system 0, high 2, low 5)",
            "p99 9.0",
            "WARNING: the load generator was saturated: worker 0 used 0.97 cores",
        ] {
            assert!(text.contains(needle), "{needle:?} not in:\n{text}");
        }
    }
}
