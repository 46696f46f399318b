//! A real-signal test for an adapter's `run_application`, written once.
//!
//! The adapter's `tests/signal.rs` (with `harness = false`) is both the test and the application:
//! [`main`] re-executes the test binary as a child with an environment variable set, waits until
//! the child's application is ready, sends it SIGTERM and then (in a second child) SIGINT, and checks
//! that it shut down gracefully — cleanup, then the background task stopped, then the resource
//! closed, then its report — and exited 0.
//!
//! ```text
//! // uno-tokio/tests/signal.rs
//! use conformance_tests::signal;
//!
//! fn main() {
//!     signal::main("UNO_TOKIO_SIGNAL_CHILD", || {
//!         uno_tokio::run_application(signal::startup, signal::cleanup)
//!     });
//! }
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use uno_core::lifecycle::{
    ApplicationError, ApplicationReport, AsyncManager, LifecycleError, ShutdownReason, on_close,
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

/// The test binary's `main`: in the child (when `child_env` is set) runs the application through
/// `run_app` and prints its report; otherwise runs the signal tests against itself.
///
/// # Panics
///
/// When the application does not shut down gracefully: this is the test's failure.
pub fn main(
    child_env: &str,
    run_app: impl FnOnce() -> Result<ApplicationReport, ApplicationError<LifecycleError>>,
) {
    if std::env::var_os(child_env).is_some() {
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
    #[cfg(unix)]
    {
        use rustix::process::Signal;
        for (signal, label) in [(Signal::TERM, "SIGTERM"), (Signal::INT, "SIGINT")] {
            graceful_shutdown_on(child_env, signal, label);
            println!("test signal::graceful_shutdown_on_{label} ... ok");
        }
        println!("2 passed, 0 failed");
    }
    #[cfg(not(unix))]
    println!("skipped: real-signal tests need a Unix platform");
}

#[cfg(unix)]
fn graceful_shutdown_on(child_env: &str, signal: rustix::process::Signal, label: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(exe)
        .env(child_env, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child application");
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // Generous: the child only has to start a runtime and run a trivial startup.
    let patience = Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(patience) {
            Ok(line) if line == "ready" => break,
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("{label}: the child never became ready; output so far: {seen:?}");
            }
        }
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a valid pid");
    rustix::process::kill_process(pid, signal).expect("send the signal");
    while let Ok(line) = lines.recv_timeout(patience) {
        seen.push(line);
    }
    let status = child.wait().expect("wait for the child");
    reader.join().expect("the reader thread");
    assert!(
        status.success(),
        "{label}: child exited with {status}; output: {seen:?}"
    );
    let position = |needle: &str| {
        seen.iter()
            .position(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("{label}: `{needle}` missing from the output {seen:?}"))
    };
    let (cleanup, worker, db, report) = (
        position("cleanup"),
        position("worker stopped"),
        position("closing db"),
        position("REPORT graceful shutdown (Signal)"),
    );
    assert!(
        cleanup < db && worker < db && db < report,
        "{label}: wrong order {seen:?}"
    );
    let report_line = &seen[report];
    assert!(
        report_line.contains("shutdown clean") && report_line.contains("\"db\""),
        "{label}: {report_line}"
    );
}
