//! `throng bench report`: reads run reports and writes a Markdown comparison (Throng next
//! to each peer, with Throng/peer ratios) and PNG charts of latency and deliveries per
//! second against room size.

use crate::charts::{self, Marker, Series};
use crate::report::Report;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Arguments of `throng bench report`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// Run reports written with --json.
    #[arg(long, num_args = 1.., required = true)]
    pub inputs: Vec<PathBuf>,
    /// Folder for comparison.md and the charts.
    #[arg(long, default_value = "docs/bench")]
    pub out: PathBuf,
}

pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let reports = args
        .inputs
        .iter()
        .map(|path| Report::read_json(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let written = write_all(&reports, &args.out)?;
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Writes `comparison.md` and the charts into `out`; returns the files written.
pub fn write_all(reports: &[Report], out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut written = Vec::new();
    let markdown_path = out.join("comparison.md");
    std::fs::write(&markdown_path, markdown(reports))?;
    written.push(markdown_path);
    for (name, title, y_label, series) in chart_series(reports) {
        if series.iter().all(|s| s.points.is_empty()) {
            continue;
        }
        let path = out.join(name);
        let log_y = name == "latency.png";
        charts::line_chart(
            &path,
            &title,
            "members in the room",
            y_label,
            &series,
            log_y,
        )?;
        written.push(path);
    }
    Ok(written)
}

/// A run's target as tables and charts name it: runs where the load generator could use
/// every core (no `taskset`) are told apart from pinned runs.
pub fn target_label(report: &Report) -> String {
    let all_cores = report.load_generator.core_budget > 1
        && report.load_generator.core_budget >= report.machine.cores;
    if all_cores {
        format!("{} (all cores)", report.target)
    } else {
        report.target.clone()
    }
}

/// Target labels in report order, Throng first.
fn targets(reports: &[Report]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in reports {
        let label = target_label(r);
        if !names.contains(&label) {
            names.push(label);
        }
    }
    names.sort_by_key(|n| (!n.starts_with("throng"), n.clone()));
    names
}

/// What makes two runs comparable: the scenario and its parameters except the duration.
fn point_key(report: &Report) -> String {
    format!(
        "{} {}",
        report.scenario,
        shown_params(report, &["duration_s", "senders"])
    )
}

/// The parameters worth showing in a table cell: everything except `skip`, and shares
/// left at zero (no gifts, no slow members) are left out to keep rows short.
fn shown_params(report: &Report, skip: &[&str]) -> String {
    report
        .params
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .filter(|(k, v)| !(k.ends_with("_share") && v.as_f64() == Some(0.0)))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or("n/a".to_owned(), |v| format!("{v:.digits$}"))
}

fn mib(bytes: Option<u64>) -> Option<f64> {
    bytes.map(|b| b as f64 / (1024.0 * 1024.0))
}

/// Throng's value over the peer's, when both exist and the peer's is not zero.
fn ratio(throng: Option<f64>, peer: Option<f64>) -> String {
    match (throng, peer) {
        (Some(t), Some(p)) if p.abs() > f64::EPSILON => format!("{:.2}", t / p),
        _ => "n/a".to_owned(),
    }
}

pub fn markdown(reports: &[Report]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!-- written by `throng bench report`; do not edit by hand -->\n"
    );
    let mut by_scenario: BTreeMap<&str, Vec<&Report>> = BTreeMap::new();
    for r in reports {
        by_scenario.entry(r.scenario.as_str()).or_default().push(r);
    }
    let order = targets(reports);
    for (scenario, mut runs) in by_scenario {
        runs.sort_by(|a, b| {
            let members = |r: &Report| r.param_f64("members").unwrap_or(0.0);
            members(a)
                .total_cmp(&members(b))
                .then_with(|| point_key(a).cmp(&point_key(b)))
                .then_with(|| {
                    let pos = |r: &Report| order.iter().position(|t| *t == target_label(r));
                    pos(a).cmp(&pos(b))
                })
        });
        let _ = writeln!(out, "### {scenario}\n");
        let _ = writeln!(
            out,
            "| target | parameters | connections | published | deliveries/s | latency p50 / p99 / max (ms) | lost (system / high / low) | duplicates | server CPU s per million | server peak RSS (MiB) | RSS per connection (B) | load generator saturated | other processes (cores) |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in &runs {
            let _ = writeln!(
                out,
                "| {} | {} | {}{} | {} | {:.0} | {:.1} / {:.1} / {:.1} | {} ({} / {} / {}) | {} | {} | {} | {} | {} | {:.2} |",
                target_label(r),
                shown_params(r, &["duration_s"]),
                r.connections,
                if r.connections_failed > 0 {
                    format!(" ({} failed)", r.connections_failed)
                } else {
                    String::new()
                },
                r.published.total,
                r.deliveries_per_sec,
                r.latency_ms.p50,
                r.latency_ms.p99,
                r.latency_ms.max,
                r.lost.total,
                r.lost.system,
                r.lost.high,
                r.lost.low,
                r.duplicates,
                opt(r.server_cpu_s_per_million, 2),
                opt(mib(r.server_rss_bytes), 1),
                opt(r.server_rss_per_connection_bytes, 0),
                if r.loadgen_saturated { "yes" } else { "no" },
                r.load_generator.other_cpu_cores,
            );
        }
        let _ = writeln!(out);
        let ratios = ratio_rows(&runs);
        if !ratios.is_empty() {
            let _ = writeln!(
                out,
                "Throng / peer (deliveries/s: above 1 means Throng delivered more; latency, CPU and memory: below 1 means Throng used less):\n"
            );
            let _ = writeln!(
                out,
                "| parameters | peer | deliveries/s | p50 | p99 | CPU s per million | peak RSS | RSS per connection |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
            for row in ratios {
                let _ = writeln!(out, "{row}");
            }
            let _ = writeln!(out);
        }
    }
    out
}

/// One row per (parameters, peer) where both Throng (pinned) and the peer ran; where
/// either ran several times, the median of its runs is used.
fn ratio_rows(runs: &[&Report]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for r in runs.iter().filter(|r| target_label(r) == "throng") {
        let key = point_key(r);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut rows = Vec::new();
    for key in keys {
        let throng: Vec<&Report> = runs
            .iter()
            .copied()
            .filter(|r| target_label(r) == "throng" && point_key(r) == key)
            .collect();
        let mut peers: Vec<&str> = Vec::new();
        for r in runs.iter() {
            let is_peer = r.target != "throng" && target_label(r) == r.target;
            if is_peer && point_key(r) == key && !peers.contains(&r.target.as_str()) {
                peers.push(&r.target);
            }
        }
        for peer_name in peers {
            let peer: Vec<&Report> = runs
                .iter()
                .copied()
                .filter(|r| r.target == peer_name && point_key(r) == key)
                .collect();
            let both = |f: &dyn Fn(&Report) -> Option<f64>| {
                ratio(median_of(&throng, f), median_of(&peer, f))
            };
            rows.push(format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                key.split_once(' ').map_or("", |k| k.1),
                peer_name,
                both(&|r| Some(r.deliveries_per_sec)),
                both(&|r| Some(r.latency_ms.p50)),
                both(&|r| Some(r.latency_ms.p99)),
                both(&|r| r.server_cpu_s_per_million),
                both(&|r| mib(r.server_rss_bytes)),
                both(&|r| r.server_rss_per_connection_bytes),
            ));
        }
    }
    rows
}

/// The median of a figure over runs that have it.
fn median_of(runs: &[&Report], f: &dyn Fn(&Report) -> Option<f64>) -> Option<f64> {
    let values: Vec<f64> = runs.iter().filter_map(|r| f(r)).collect();
    (!values.is_empty()).then(|| median(values))
}

/// Whether a run is a plain live room (no gifts, low lane or slow members), the runs the
/// charts compare across room sizes.
fn is_plain_live_room(report: &Report) -> bool {
    report.scenario == "live-room"
        && ["gift_share", "low_share", "slow_share"]
            .iter()
            .all(|name| report.param_f64(name).unwrap_or(0.0) == 0.0)
}

/// The charts: (file name, title, y label, series), from plain `live-room` runs.
fn chart_series(reports: &[Report]) -> Vec<(&'static str, String, &'static str, Vec<Series>)> {
    let live: Vec<&Report> = reports.iter().filter(|r| is_plain_live_room(r)).collect();
    let order = targets(reports);
    let mut latency = Vec::new();
    let mut deliveries = Vec::new();
    for (color, target) in order.iter().enumerate() {
        let points = |f: &dyn Fn(&Report) -> f64| -> Vec<(f64, f64)> {
            let mut by_members: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
            for r in live.iter().filter(|r| &target_label(r) == target) {
                if let Some(members) = r.param_f64("members") {
                    by_members.entry(members as u64).or_default().push(f(r));
                }
            }
            // Several runs at one size: the median, as the method asks.
            by_members
                .into_iter()
                .map(|(members, values)| (members as f64, median(values)))
                .collect()
        };
        latency.push(Series {
            label: Some(target.clone()),
            color,
            marker: Marker::Circle,
            points: points(&|r| r.latency_ms.p99),
        });
        latency.push(Series {
            label: None,
            color,
            marker: Marker::Triangle,
            points: points(&|r| r.latency_ms.p50),
        });
        deliveries.push(Series {
            label: Some(target.clone()),
            color,
            marker: Marker::Circle,
            points: points(&|r| r.deliveries_per_sec),
        });
    }
    vec![
        (
            "latency.png",
            "live-room: publish-to-receive latency (circles p99, triangles p50)".to_owned(),
            "latency (ms, log scale)",
            latency,
        ),
        (
            "deliveries.png",
            "live-room: deliveries per second".to_owned(),
            "deliveries / s",
            deliveries,
        ),
    ]
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::LatencySummary;
    use crate::report::SCHEMA;

    fn run(target: &str, members: u64, p99: f64, per_sec: f64, cpu: Option<f64>) -> Report {
        let mut params = serde_json::Map::new();
        params.insert("members".into(), members.into());
        params.insert("rate".into(), 200.0.into());
        params.insert("duration_s".into(), 30.0.into());
        Report {
            schema: SCHEMA.into(),
            scenario: "live-room".into(),
            target: target.into(),
            params,
            connections: members,
            deliveries_per_sec: per_sec,
            latency_ms: LatencySummary {
                p50: p99 / 2.0,
                p99,
                max: p99 * 2.0,
                ..LatencySummary::default()
            },
            server_cpu_s_per_million: cpu,
            ..Report::default()
        }
    }

    #[test]
    fn markdown_puts_throng_first_and_computes_ratios() {
        let reports = vec![
            run("socketio", 1000, 80.0, 100_000.0, Some(8.0)),
            run("throng", 1000, 20.0, 200_000.0, Some(0.5)),
            run("throng", 18000, 120.0, 3_000_000.0, None),
        ];
        let text = markdown(&reports);
        let throng_row = text.find("| throng | members=1000").unwrap();
        let peer_row = text.find("| socketio | members=1000").unwrap();
        assert!(throng_row < peer_row, "{text}");
        assert!(text.find("| throng | members=18000").unwrap() > peer_row);
        // deliveries 2.00, p50 0.25, p99 0.25, CPU 0.06, RSS n/a.
        assert!(
            text.contains(
                "| members=1000 rate=200.0 | socketio | 2.00 | 0.25 | 0.25 | 0.06 | n/a | n/a |"
            ),
            "{text}"
        );
        // No peer ran at 18000: no ratio row for it.
        assert_eq!(text.matches("| socketio | 2.00").count(), 1);
        assert!(text.contains("| n/a |"), "missing figures print as n/a");
    }

    #[test]
    fn ratios_handle_missing_and_zero_values() {
        assert_eq!(ratio(Some(1.0), Some(4.0)), "0.25");
        assert_eq!(ratio(None, Some(4.0)), "n/a");
        assert_eq!(ratio(Some(1.0), Some(0.0)), "n/a");
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn charts_take_one_series_per_target_and_the_median_per_size() {
        let reports = vec![
            run("throng", 1000, 10.0, 1.0, None),
            run("throng", 1000, 30.0, 1.0, None),
            run("throng", 1000, 20.0, 1.0, None),
            run("nats", 1000, 50.0, 1.0, None),
        ];
        let charts = chart_series(&reports);
        let (_, _, _, latency) = &charts[0];
        let labels: Vec<Option<&str>> = latency.iter().map(|s| s.label.as_deref()).collect();
        assert_eq!(labels, [Some("throng"), None, Some("nats"), None]);
        assert_eq!(latency[0].points, vec![(1000.0, 20.0)]);
        assert_eq!(latency[2].points, vec![(1000.0, 50.0)]);
    }

    #[test]
    fn ratios_use_the_median_of_repeated_runs() {
        let reports = vec![
            run("throng", 1000, 10.0, 100.0, Some(1.0)),
            run("throng", 1000, 10.0, 300.0, Some(3.0)),
            run("throng", 1000, 10.0, 200.0, Some(2.0)),
            run("nats", 1000, 10.0, 100.0, Some(4.0)),
        ];
        let text = markdown(&reports);
        // One ratio row: deliveries 200/100, CPU 2/4.
        assert_eq!(text.matches("| nats | ").count(), 2, "{text}");
        assert!(
            text.contains("| nats | 2.00 | 1.00 | 1.00 | 0.50 |"),
            "{text}"
        );
    }

    #[test]
    fn unpinned_runs_are_labelled_apart() {
        let pinned = run("throng", 1000, 10.0, 1.0, None);
        let mut all_cores = run("throng", 1000, 99.0, 1.0, None);
        all_cores.machine.cores = 2;
        all_cores.load_generator.core_budget = 2;
        assert_eq!(target_label(&pinned), "throng");
        assert_eq!(target_label(&all_cores), "throng (all cores)");
        let charts = chart_series(&[pinned, all_cores]);
        let labels: Vec<Option<&str>> = charts[0].3.iter().map(|s| s.label.as_deref()).collect();
        assert_eq!(
            labels,
            [Some("throng"), None, Some("throng (all cores)"), None]
        );
        assert_eq!(charts[0].3[0].points, vec![(1000.0, 10.0)]);
    }

    #[test]
    fn charts_leave_out_runs_with_gifts_or_slow_members() {
        let mut mixed = run("throng", 1000, 900.0, 1.0, None);
        mixed.params.insert("slow_share".into(), 0.05.into());
        let reports = vec![run("throng", 1000, 10.0, 1.0, None), mixed];
        let charts = chart_series(&reports);
        assert_eq!(charts[0].3[0].points, vec![(1000.0, 10.0)]);
    }

    #[test]
    fn write_all_writes_markdown_and_pngs() {
        let dir = tempfile::tempdir().unwrap();
        let reports = vec![
            run("throng", 1000, 10.0, 5.0, None),
            run("throng", 5000, 30.0, 9.0, None),
        ];
        let written = write_all(&reports, dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["comparison.md", "latency.png", "deliveries.png"]);
        assert!(std::fs::read_to_string(dir.path().join("comparison.md"))
            .unwrap()
            .contains("### live-room"));
    }
}
