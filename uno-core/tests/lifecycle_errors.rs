//! The lifecycle's errors follow std's rule: an inner error is printed by `Display` or returned by
//! `source()`, never both; messages are short lowercase phrases that name the manager or group.

mod common {
    pub(crate) mod chain;
}

use std::error::Error;
use std::fmt;
use std::io;
use std::time::Duration;

use uno_core::lifecycle::{
    ApplicationError, AsyncContextGroup, AsyncManager, ConfigError, LifecycleError, ShutdownSignal,
    SignalSource, context_group, on_close, run_application, run_application_with,
};
use uno_core::rt::VirtualRuntime;

use common::chain::chain;

/// A user's error with a cause of its own.
#[derive(Debug)]
struct FlushFailed(io::Error);

impl fmt::Display for FlushFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("flush failed")
    }
}

impl Error for FlushFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

fn flush_failed() -> FlushFailed {
    FlushFailed(io::Error::other("disk full"))
}

#[test]
fn a_failed_close_is_the_resource_then_the_users_error_and_its_cause() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let manager = AsyncManager::builder(&rt)
        .close_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    manager
        .register_resource("log", on_close(|| async { Err(flush_failed().into()) }))
        .unwrap();
    manager
        .register_resource("hung", on_close(std::future::pending))
        .unwrap();
    manager
        .register_resource("bad", on_close(|| async { panic!("bad state") }))
        .unwrap();
    let report = vrt.block_on(manager.shutdown(Duration::from_secs(1)));
    assert_eq!(
        chain(&report.failed[0]),
        [r#"could not close resource "bad""#, "panicked: bad state"]
    );
    let hung = chain(&report.failed[1]);
    assert_eq!(hung[0], r#"could not close resource "hung""#);
    assert!(hung[1].contains("timed out"), "{hung:?}");
    assert_eq!(
        chain(&report.failed[2]),
        [
            r#"could not close resource "log""#,
            "flush failed",
            "disk full"
        ]
    );
    let text = report.to_string();
    assert!(text.starts_with(r#"async manager "async_manager" shut down with problems"#));
    assert!(
        text.contains(r#"could not close resource "log": flush failed: disk full"#),
        "{text}"
    );
}

#[test]
fn context_group_errors_are_transparent_over_the_body_and_the_closes() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    // A body's error passes through as it is, cause and all.
    let err = vrt
        .block_on(context_group(&rt, |_scope| async {
            Err::<(), _>(flush_failed())
        }))
        .unwrap_err();
    assert_eq!(chain(&err), ["flush failed", "disk full"]);

    // Closes that fail after a successful body: the group's summary, then the first failure.
    let group = AsyncContextGroup::builder(&rt)
        .name("request")
        .build()
        .unwrap();
    let err = vrt
        .block_on(group.scoped(|scope| async move {
            scope.enter_named("first", on_close(|| async { Err(flush_failed().into()) }));
            scope.enter_named("second", on_close(|| async { Err("socket reset".into()) }));
            Ok::<_, FlushFailed>(())
        }))
        .unwrap_err();
    assert_eq!(
        chain(&err),
        [
            r#"2 resources of context group "request" did not close"#,
            r#"could not close resource "second""#,
            "socket reset",
        ]
    );
    let close = err.close_error().unwrap();
    assert_eq!(close.errors.len(), 2, "every failure is kept");
    assert_eq!(&*close.name, "request");
}

/// A signal source that cannot install its handlers.
struct Refused;

impl SignalSource for Refused {
    fn install(&self) -> io::Result<ShutdownSignal> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "no signals here",
        ))
    }
}

#[test]
fn application_errors_say_which_step_failed_and_leave_the_cause_to_source() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let err = vrt
        .block_on(run_application(
            &rt,
            |_manager| async { Err(flush_failed()) },
            |_manager| async {},
            std::future::pending::<()>(),
            Duration::from_secs(1),
        ))
        .unwrap_err();
    assert_eq!(
        chain(&err),
        ["application startup failed", "flush failed", "disk full"]
    );
    let err = vrt
        .block_on(run_application_with(
            &rt,
            |_manager| async { Ok::<_, FlushFailed>(()) },
            |_manager| async {},
            Refused,
            Duration::from_secs(1),
        ))
        .unwrap_err();
    assert!(matches!(err, ApplicationError::Setup(_)));
    assert_eq!(
        chain(&err),
        ["could not set up the application", "no signals here"]
    );
}

#[test]
fn misuse_and_configuration_errors_are_short_and_name_the_manager() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let manager = AsyncManager::builder(&rt).name("api").build().unwrap();
    manager
        .spawn_task("poller", std::future::pending::<Result<(), String>>())
        .unwrap();
    let duplicate = manager
        .register_resource("poller", on_close(|| async { Ok(()) }))
        .map(drop);
    // Resources and tasks have separate names: a resource may share a task's.
    assert!(duplicate.is_ok());
    let err = manager
        .spawn_task("poller", async { Ok::<_, String>(()) })
        .unwrap_err();
    assert_eq!(
        chain(&err),
        [r#"async manager "api" already has a resource or task named "poller""#]
    );
    assert_eq!(err.manager(), "api");
    vrt.block_on(manager.shutdown(Duration::from_secs(1)));
    let err = manager
        .register_resource("late", on_close(|| async { Ok(()) }))
        .unwrap_err();
    assert_eq!(
        err,
        LifecycleError::ShuttingDown {
            manager: "api".into()
        }
    );
    assert_eq!(chain(&err), [r#"async manager "api" is shutting down"#]);

    let configs = [
        (
            ConfigError::ZeroCloseTimeout,
            "close timeout must be greater than zero",
        ),
        (
            ConfigError::UnboundedCloseTimeout,
            "close timeout must be less than Duration::MAX",
        ),
        (ConfigError::EmptyName, "name must not be empty"),
    ];
    for (error, text) in configs {
        assert_eq!(chain(&error), [text]);
    }
}
