//! A real signal sent to a child process running `uno_smol::run_application`: it shuts down
//! gracefully and exits 0. The harness is `conformance_tests::signal` (`harness = false`: this
//! binary is both the test and, re-executed with `UNO_SMOL_SIGNAL_CHILD` set, the application).

use conformance_tests::signal;

#[allow(
    clippy::result_large_err,
    reason = "the error carries the shutdown report of a failed startup, by design"
)]
fn main() {
    signal::main("UNO_SMOL_SIGNAL_CHILD", || {
        uno_smol::run_application(signal::startup, signal::cleanup)
    });
}
