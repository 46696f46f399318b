//! A real signal sent to a child process running `uno_tokio::run_application`: it shuts down
//! gracefully — cleanup, tasks stopped, resources closed — prints its report and exits 0.
//!
//! `harness = false`: this binary is both the test and, re-executed with `UNO_TOKIO_SIGNAL_CHILD` set, the
//! application under test.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use uno_core::lifecycle::{ShutdownReason, on_close};

const CHILD_ENV: &str = "UNO_TOKIO_SIGNAL_CHILD";

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child_app();
        return;
    }
    #[cfg(unix)]
    {
        use rustix::process::Signal;
        for (signal, label) in [(Signal::TERM, "SIGTERM"), (Signal::INT, "SIGINT")] {
            graceful_shutdown_on(signal, label);
            println!("test signal::graceful_shutdown_on_{label} ... ok");
        }
    }
}

/// The application: one resource, one background task, a cleanup; prints each step.
fn child_app() {
    let result = uno_tokio::run_application(
        |manager| async move {
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
            Ok::<_, uno_core::lifecycle::LifecycleError>(())
        },
        |_manager| async {
            println!("cleanup");
        },
    );
    match result {
        Ok(report) if report.reason == ShutdownReason::Signal && report.is_clean() => {
            println!("REPORT {}", report.to_string().replace('\n', " | "));
        }
        other => {
            eprintln!("unexpected outcome: {other:?}");
            std::process::exit(1);
        }
    }
}

#[cfg(unix)]
fn graceful_shutdown_on(signal: rustix::process::Signal, label: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(exe)
        .env(CHILD_ENV, "1")
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
