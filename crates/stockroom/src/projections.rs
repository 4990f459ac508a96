//! `stockroom projections rebuild|verify`.

use std::time::Duration;

use anyhow::{anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use projector::rebuild::Progress;
use projector::registry::{rebuild_named, verify_named, NAMES};

use crate::cli::ProjectionsAction;

/// A terminal progress bar with rate and ETA (hidden when not a terminal).
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }
    fn advance(&self, done: u64) {
        if done > self.0.length().unwrap_or(0) {
            self.0.set_length(done);
        }
        self.0.set_position(done);
    }
}

/// Runs a projections tool.
pub async fn run(action: ProjectionsAction) -> anyhow::Result<()> {
    match action {
        ProjectionsAction::Rebuild { common, name } => {
            let pool = store::connect(&common.db())?;
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} events, {per_sec}, ETA {eta}",
                )?
                .progress_chars("=> "),
            );
            bar.set_message(format!("rebuilding {name}"));
            bar.enable_steady_tick(Duration::from_millis(200));
            let report = rebuild_named(&pool, &name, &Bar(bar.clone()))
                .await
                .ok_or_else(|| anyhow!("no projection {name}; known: {}", NAMES.join(", ")))??;
            bar.finish_and_clear();
            println!(
                "rebuilt {name}: {} events ({} skipped as undecodable), {} caught up during a {} ms swap",
                report.events, report.skipped, report.caught_up_during_swap, report.swap_millis
            );
            Ok(())
        }
        ProjectionsAction::Verify { common, name } => {
            let pool = store::connect(&common.db())?;
            let names: Vec<&str> = match &name {
                Some(n) => vec![n.as_str()],
                None => NAMES.to_vec(),
            };
            let mut differ = false;
            for n in names {
                let v = verify_named(&pool, n)
                    .await
                    .ok_or_else(|| anyhow!("no projection {n}; known: {}", NAMES.join(", ")))??;
                if v.differences.is_empty() {
                    println!("{n}: no differences ({} events recomputed)", v.events);
                }
                for d in &v.differences {
                    differ = true;
                    println!(
                        "{n}: table {} differs: {} rows only in the live model, {} only in the recomputed one",
                        d.table, d.only_live, d.only_recomputed
                    );
                }
            }
            if differ {
                bail!("read models differ from the event store");
            }
            Ok(())
        }
    }
}
