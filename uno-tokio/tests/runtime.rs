//! Building the uno handle: a tokio runtime without its time driver is refused up front, so that
//! "timer missing at use" cannot happen (tokio itself panics at the first sleep); likewise signal
//! handlers in a runtime without its I/O driver.

use std::time::Duration;

use uno_tokio::RuntimeError;

#[test]
fn runtime_outside_tokio_is_a_typed_error() {
    assert!(matches!(uno_tokio::runtime(), Err(RuntimeError::NoRuntime)));
    assert!(matches!(
        uno_tokio::spawn_blocking(|| 1),
        Err(RuntimeError::NoRuntime)
    ));
}

#[test]
fn runtime_without_time_driver_is_refused_by_runtime_from() {
    for tokio in [
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap(),
    ] {
        let err = uno_tokio::runtime_from(tokio.handle().clone()).unwrap_err();
        assert!(matches!(err, RuntimeError::TimerDisabled));
        assert!(err.to_string().contains("time driver"), "{err}");
    }
}

#[test]
fn runtime_without_time_driver_is_refused_from_inside() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = tokio.block_on(async { uno_tokio::runtime().unwrap_err() });
    assert!(matches!(err, RuntimeError::TimerDisabled));
}

#[test]
fn runtime_with_time_driver_sleeps() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio.handle().clone()).unwrap();
    tokio.block_on(rt.sleep(Duration::from_millis(1)));
}

/// The `RuntimeError` inside the `io::Error` of a refused `shutdown_signal`.
fn runtime_error(error: &std::io::Error) -> Option<&RuntimeError> {
    error.get_ref().and_then(|inner| inner.downcast_ref())
}

#[test]
fn signals_outside_tokio_are_a_typed_error() {
    let error = uno_tokio::signal::shutdown_signal().unwrap_err();
    assert!(matches!(
        runtime_error(&error),
        Some(RuntimeError::NoRuntime)
    ));
}

#[cfg(unix)]
#[test]
fn signals_without_io_driver_are_a_typed_error_not_a_panic() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let error = tokio.block_on(async { uno_tokio::signal::shutdown_signal().unwrap_err() });
    assert!(
        matches!(runtime_error(&error), Some(RuntimeError::IoDisabled)),
        "{error}"
    );
    assert!(error.to_string().contains("I/O driver"), "{error}");
}

#[test]
fn block_on_and_spawn_blocking_run_on_a_fresh_runtime() {
    let out = uno_tokio::block_on(async {
        let rt = uno_tokio::runtime().unwrap();
        let blocking = uno_tokio::spawn_blocking(|| 20).unwrap();
        rt.sleep(Duration::from_millis(1)).await;
        blocking.await.unwrap() + rt.spawn(async { 1 }).await.unwrap()
    })
    .unwrap();
    assert_eq!(out, 21);
}

/// The messages of `error` and its sources; none repeats the next (std's rule: an inner error is
/// printed by `Display` or returned by `source`, never both).
fn chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut messages = vec![error.to_string()];
    let mut next = error.source();
    while let Some(e) = next {
        let message = e.to_string();
        let last = messages.last().unwrap();
        assert!(!last.contains(&message), "{last:?} repeats {message:?}");
        messages.push(message);
        next = e.source();
    }
    messages
}

#[test]
fn runtime_errors_say_what_failed_once_and_leave_the_cause_to_source() {
    let build = RuntimeError::Build(std::io::Error::other("too many open files"));
    assert_eq!(
        chain(&build),
        ["could not build a tokio runtime", "too many open files"]
    );
    assert_eq!(
        chain(&RuntimeError::NoRuntime),
        ["no tokio runtime is running on this thread"]
    );
    assert_eq!(
        chain(&RuntimeError::TimerDisabled),
        ["tokio runtime has no time driver"]
    );
    assert_eq!(
        chain(&RuntimeError::IoDisabled),
        ["tokio runtime has no I/O driver"]
    );
    // Carried in an `io::Error` (the signal handlers' error), it is still said once.
    let carried = std::io::Error::other(RuntimeError::NoRuntime);
    assert_eq!(
        chain(&carried),
        ["no tokio runtime is running on this thread"]
    );
}
