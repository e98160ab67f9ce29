//! `throng bench`: load scenarios against Throng and peer servers.
//!
//! (Being written; see the benchmark issue.)

pub mod peers;
pub mod target;

/// Arguments of `throng bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Scenario to run.
    pub scenario: String,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("scenario {:?} is not implemented yet", args.scenario)
}
