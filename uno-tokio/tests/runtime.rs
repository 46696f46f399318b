//! Building the uno handle: a tokio runtime without its time driver is refused up front, so that
//! "timer missing at use" cannot happen (tokio itself panics at the first sleep).

use std::time::Duration;

use uno_tokio::RuntimeError;

#[test]
fn runtime_outside_tokio_is_a_typed_error() {
    assert_eq!(uno_tokio::runtime().unwrap_err(), RuntimeError::NoRuntime);
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
        assert_eq!(err, RuntimeError::TimerDisabled);
        assert!(err.to_string().contains("time driver"), "{err}");
    }
}

#[test]
fn runtime_without_time_driver_is_refused_from_inside() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = tokio.block_on(async { uno_tokio::runtime().unwrap_err() });
    assert_eq!(err, RuntimeError::TimerDisabled);
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
