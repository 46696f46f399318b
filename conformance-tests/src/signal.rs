//! A real-signal test for an adapter's `run_application` and its signal source, written once.
//!
//! The adapter's `tests/signal.rs` (with `harness = false`) is both the test and the application:
//! [`main`] re-executes the test binary as a child with an environment variable set, waits until
//! the child is ready, sends it SIGTERM and then (in a second child) SIGINT, and checks that
//!
//! - the application shut down gracefully — cleanup, then the background task stopped, then the
//!   resource closed, then its report — and exited 0;
//! - the adapter's [`SignalSource`] reported the signal sent ([`Signal::Terminate`],
//!   [`Signal::Interrupt`]) to a child that only waits for it ([`wait_for_signal`]).
//!
//! ```text
//! // uno-tokio/tests/signal.rs
//! use conformance_tests::signal;
//!
//! fn main() {
//!     signal::main(
//!         "UNO_TOKIO_SIGNAL_CHILD",
//!         || uno_tokio::run_application(signal::startup, signal::cleanup),
//!         || uno_tokio::block_on(signal::wait_for_signal(uno_tokio::signal::OsSignals)).unwrap(),
//!     );
//! }
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use uno_core::lifecycle::{
    ApplicationError, ApplicationReport, AsyncManager, LifecycleError, ShutdownReason, Signal,
    SignalSource, on_close,
};

/// The child application's startup: one resource (`db`) and one background task (`worker`).
///
/// # Errors
///
/// A [`LifecycleError`] if the manager refuses the registration.
///
/// # Cancel safety
///
/// Runs inside `run_application`, which never drops it half-way.
pub async fn startup(manager: AsyncManager) -> Result<(), LifecycleError> {
    manager.register_resource(
        "db",
        on_close(|| async {
            println!("closing db");
            Ok(())
        }),
    )?;
    let token = manager.shutdown_token();
    manager.spawn_task("worker", async move {
        token.cancelled().await;
        println!("worker stopped");
        Ok::<_, String>(())
    })?;
    println!("ready");
    Ok(())
}

/// The child application's cleanup: says that it ran.
///
/// # Cancel safety
///
/// Runs inside `run_application`, which never drops it half-way.
pub async fn cleanup(_manager: AsyncManager) {
    println!("cleanup");
}

/// The child's other mode: installs `source`'s handlers, says it is ready, and returns the signal
/// they report.
///
/// # Panics
///
/// If the handlers cannot be installed: this is the test's failure.
///
/// # Cancel safety
///
/// Runs as the child's whole program, which never drops it half-way.
pub async fn wait_for_signal(source: impl SignalSource) -> Signal {
    let signal = source.install().expect("install the signal handlers");
    println!("ready");
    signal.await
}

/// The test binary's `main`: in the child (when `child_env` is set) runs the application through
/// `run_app` and prints its report, or waits through `wait_signal` (an adapter's `block_on` of
/// [`wait_for_signal`]) and prints the signal; otherwise runs the signal tests against itself.
///
/// # Panics
///
/// When the application does not shut down gracefully, or the signal reported is not the one
/// sent: this is the test's failure.
pub fn main(
    child_env: &str,
    run_app: impl FnOnce() -> Result<ApplicationReport, ApplicationError<LifecycleError>>,
    wait_signal: impl FnOnce() -> Signal,
) {
    match std::env::var(child_env).as_deref() {
        Ok(WAIT_FOR_SIGNAL) => {
            println!("SIGNAL {:?}", wait_signal());
            return;
        }
        Ok(_) => {
            match run_app() {
                Ok(report) if report.reason == ShutdownReason::Signal && report.is_clean() => {
                    println!("REPORT {}", report.to_string().replace('\n', " | "));
                }
                other => {
                    eprintln!("unexpected outcome: {other:?}");
                    std::process::exit(1);
                }
            }
            return;
        }
        Err(_) => {}
    }
    #[cfg(unix)]
    {
        use rustix::process::Signal as Sig;
        let sent = [
            (Sig::TERM, "SIGTERM", Signal::Terminate),
            (Sig::INT, "SIGINT", Signal::Interrupt),
        ];
        for (signal, label, _) in sent {
            graceful_shutdown_on(child_env, signal, label);
            println!("test signal::graceful_shutdown_on_{label} ... ok");
        }
        for (signal, label, expected) in sent {
            signal_reported(child_env, signal, label, expected);
            println!("test signal::source_reports_{label} ... ok");
        }
        println!("4 passed, 0 failed");
    }
    #[cfg(not(unix))]
    println!("skipped: real-signal tests need a Unix platform");
}

/// The value of the child's environment variable that selects [`wait_for_signal`].
const WAIT_FOR_SIGNAL: &str = "wait-for-signal";

/// A child started in `mode`, once it said `ready`: the child, its output lines so far and the
/// rest to come, and the thread reading them.
#[cfg(unix)]
struct ReadyChild {
    child: std::process::Child,
    seen: Vec<String>,
    lines: mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<()>,
}

/// Generous: the child only has to start a runtime and run a trivial startup.
#[cfg(unix)]
const PATIENCE: Duration = Duration::from_secs(30);

#[cfg(unix)]
fn start_ready(child_env: &str, mode: &str, label: &str) -> ReadyChild {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(exe)
        .env(child_env, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(PATIENCE) {
            Ok(line) if line == "ready" => break,
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("{label}: the child never became ready; output so far: {seen:?}");
            }
        }
    }
    ReadyChild {
        child,
        seen,
        lines,
        reader,
    }
}

/// Sends `signal` to the ready child and waits for it to exit: its whole output, once it exited 0.
#[cfg(unix)]
fn signal_and_wait(ready: ReadyChild, signal: rustix::process::Signal, label: &str) -> Vec<String> {
    let ReadyChild {
        mut child,
        mut seen,
        lines,
        reader,
    } = ready;
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a valid pid");
    rustix::process::kill_process(pid, signal).expect("send the signal");
    while let Ok(line) = lines.recv_timeout(PATIENCE) {
        seen.push(line);
    }
    let status = child.wait().expect("wait for the child");
    reader.join().expect("the reader thread");
    assert!(
        status.success(),
        "{label}: child exited with {status}; output: {seen:?}"
    );
    seen
}

#[cfg(unix)]
fn signal_reported(
    child_env: &str,
    signal: rustix::process::Signal,
    label: &str,
    expected: Signal,
) {
    let ready = start_ready(child_env, WAIT_FOR_SIGNAL, label);
    let seen = signal_and_wait(ready, signal, label);
    let wanted = format!("SIGNAL {expected:?}");
    assert!(
        seen.contains(&wanted),
        "{label}: `{wanted}` missing from the output {seen:?}"
    );
}

#[cfg(unix)]
fn graceful_shutdown_on(child_env: &str, signal: rustix::process::Signal, label: &str) {
    let ready = start_ready(child_env, "run-application", label);
    let seen = signal_and_wait(ready, signal, label);
    let position = |needle: &str| {
        seen.iter()
            .position(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("{label}: `{needle}` missing from the output {seen:?}"))
    };
    let (cleanup, worker, db, report) = (
        position("cleanup"),
        position("worker stopped"),
        position("closing db"),
        // The report names the signal the adapter's source received.
        position(&format!("REPORT graceful shutdown on {label}")),
    );
    assert!(
        cleanup < db && worker < db && db < report,
        "{label}: wrong order {seen:?}"
    );
    let report_line = &seen[report];
    assert!(
        report_line.contains("shut down cleanly") && report_line.contains("\"db\""),
        "{label}: {report_line}"
    );
}
