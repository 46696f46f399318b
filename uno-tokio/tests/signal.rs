//! Real signals sent to a child process: running `uno_tokio::run_application`, it shuts down
//! gracefully and exits 0; waiting on `uno_tokio::signal::OsSignals`, it reports the signal sent. The
//! harness is `conformance_tests::signal` (`harness = false`: this binary is both the test and,
//! re-executed with `UNO_TOKIO_SIGNAL_CHILD` set, the child).

use conformance_tests::signal;
use uno_tokio::signal::OsSignals;

#[allow(
    clippy::result_large_err,
    reason = "the error carries the shutdown report of a failed startup, by design"
)]
fn main() {
    signal::main(
        "UNO_TOKIO_SIGNAL_CHILD",
        || uno_tokio::run_application(signal::startup, signal::cleanup),
        || uno_tokio::block_on(signal::wait_for_signal(OsSignals)).unwrap(),
    );
}
