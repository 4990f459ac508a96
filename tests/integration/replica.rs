//! The query API on a streaming replica (the hot standby `scripts/test`
//! runs): read-your-writes holds through it under load, and `doctor` reports
//! its lag. (Tests that pause or stop the standby are fault tests: the
//! standby is shared.)

use crate::read_your_writes::{every_order_is_read_back_at_its_position, load};
use crate::support::process::run_tool;
use crate::support::standby;

#[tokio::test(flavor = "multi_thread")]
async fn every_order_read_back_at_its_position_through_the_replica_is_found_under_open_loop_load() {
    let (rate, seconds) = load();
    let sys = standby::system(&[], &["projector", "reserver"]).await;
    every_order_is_read_back_at_its_position(&sys, rate, seconds).await;
    let (_, doctor) = run_tool(&["doctor"], &sys.env).await;
    assert!(
        doctor
            .lines()
            .any(|l| l.starts_with("[ok]") && l.contains("query replica:")),
        "doctor shows the replica's lag: {doctor}"
    );
}
