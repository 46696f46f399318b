//! A real signal sent to a child process running `uno_tokio::run_application`: it shuts down
//! gracefully and exits 0. The harness is `conformance_tests::signal` (`harness = false`: this
//! binary is both the test and, re-executed with `UNO_TOKIO_SIGNAL_CHILD` set, the application).

use conformance_tests::signal;

#[allow(
    clippy::result_large_err,
    reason = "the error carries the shutdown report of a failed startup, by design"
)]
fn main() {
    signal::main("UNO_TOKIO_SIGNAL_CHILD", || {
        uno_tokio::run_application(signal::startup, signal::cleanup)
    });
}
