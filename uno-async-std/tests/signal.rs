//! Real signals sent to a child process: running `uno_async_std::run_application`, it shuts down
//! gracefully and exits 0; waiting on `uno_async_std::signal::OsSignals`, it reports the signal sent. The
//! harness is `conformance_tests::signal` (`harness = false`: this binary is both the test and,
//! re-executed with `UNO_ASYNC_STD_SIGNAL_CHILD` set, the child).

use conformance_tests::signal;
use uno_async_std::signal::OsSignals;

#[allow(
    clippy::result_large_err,
    reason = "the error carries the shutdown report of a failed startup, by design"
)]
fn main() {
    signal::main(
        "UNO_ASYNC_STD_SIGNAL_CHILD",
        || uno_async_std::run_application(signal::startup, signal::cleanup),
        || uno_async_std::block_on(signal::wait_for_signal(OsSignals)),
    );
}
