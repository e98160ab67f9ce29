//! The progress bar a run draws on stderr (nothing when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(wanted: bool) -> Progress {
        let bar = (wanted && std::io::stderr().is_terminal())
            .then(|| ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()));
        Progress { bar }
    }

    pub fn connecting(&mut self, members: u64) {
        if let Some(bar) = &self.bar {
            bar.set_style(
                ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} {msg}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            bar.set_prefix("connecting");
            bar.set_length(members);
            bar.set_position(0);
        }
    }

    pub fn set_connected(&mut self, joined: u64, failed: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(joined + failed);
            if failed > 0 {
                bar.set_message(format!("({failed} failed)"));
            }
        }
    }

    pub fn publishing(&mut self, duration: Duration) {
        if let Some(bar) = &self.bar {
            bar.set_style(
                ProgressStyle::with_template("{prefix:>10} [{bar:40}] {msg}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            bar.set_prefix("running");
            bar.set_length(duration.as_millis() as u64);
            bar.set_position(0);
            bar.set_message("");
        }
    }

    pub fn set_publishing(&mut self, elapsed: Duration, deliveries: u64, mean_latency_ms: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(elapsed.as_millis() as u64);
            let rate = deliveries as f64 / elapsed.as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{deliveries} deliveries ({rate:.0}/s), latency {mean_latency_ms:.1} ms"
            ));
        }
    }

    pub fn finishing(&mut self) {
        if let Some(bar) = &self.bar {
            bar.set_prefix("draining");
        }
    }

    pub fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
