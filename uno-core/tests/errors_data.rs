//! The cache's and the batcher's errors follow std's rule: each cause is printed once, either by
//! `Display` or by `source()`, never both; messages are concise lowercase phrases carrying the
//! component's name.

mod common {
    pub(crate) mod chain;
}

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use uno_core::batch::{AsyncBatcher, BatchConfigError, BatchError};
use uno_core::cache::{AsyncCache, CacheBuilder, CacheConfigError, CacheError};
use uno_core::rt::VirtualRuntime;

use common::chain::{assert_each_cause_once, chain};

/// A user error with a cause of its own, like a driver error wrapping an `io::Error`.
#[derive(Debug, Clone)]
struct BackendError {
    cause: Arc<std::io::Error>,
}

impl BackendError {
    fn refused() -> Self {
        BackendError {
            cause: Arc::new(std::io::Error::other("connection refused")),
        }
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("backend unavailable")
    }
}

impl Error for BackendError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.cause)
    }
}

type Profiles = CacheBuilder<u32, u32, BackendError>;

/// The error of a fetch by a cache named "profiles" (`configure` finishing its builder) that
/// `fetch` fails.
fn profiles_fetch_error<F, Fut>(
    configure: impl FnOnce(Profiles) -> Profiles,
    fetch: F,
) -> CacheError<BackendError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<u32, BackendError>> + Send + 'static,
{
    let vrt = VirtualRuntime::new();
    let builder = AsyncCache::builder(&vrt.handle())
        .name("profiles")
        .max_capacity(8);
    let cache = configure(builder).build().unwrap();
    vrt.block_on(cache.get(1, fetch)).unwrap_err()
}

#[test]
fn a_failed_fetch_prints_the_cache_then_the_users_chain() {
    let err = profiles_fetch_error(|b| b, || async { Err(BackendError::refused()) });
    assert_eq!(err.name(), "profiles");
    let messages = chain(&err);
    assert_eq!(
        messages,
        [
            r#"fetch for cache "profiles" failed"#,
            "backend unavailable",
            "connection refused",
        ]
    );
    assert_each_cause_once(&messages);
}

#[test]
fn a_timed_out_fetch_has_the_elapsed_time_as_its_source() {
    let err = profiles_fetch_error(
        |b| b.fetch_timeout(Duration::from_secs(2)),
        std::future::pending,
    );
    assert!(
        matches!(&err, CacheError::TimedOut { elapsed, .. } if elapsed.elapsed() == Duration::from_secs(2))
    );
    let messages = chain(&err);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(
        messages[0],
        r#"fetch for cache "profiles" exceeded its time limit"#
    );
    assert!(messages[1].contains("2s"), "{messages:?}");
    assert_each_cause_once(&messages);
}

#[test]
fn cache_errors_without_a_cause_say_everything_in_their_message() {
    let name: Arc<str> = Arc::from("profiles");
    let panicked = CacheError::<BackendError>::Panicked {
        name: name.clone(),
        message: "loader bug".into(),
    };
    assert_eq!(
        chain(&panicked),
        [r#"fetch for cache "profiles" panicked: loader bug"#]
    );
    let cancelled = CacheError::<BackendError>::Cancelled { name };
    assert_eq!(
        chain(&cancelled),
        [r#"fetch for cache "profiles" was dropped before it finished"#]
    );
    assert_each_cause_once(&chain(&cancelled));
}

#[test]
fn a_batch_wide_error_prints_the_batcher_then_the_users_chain() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let messages = vrt.block_on(async move {
        let batcher = AsyncBatcher::builder(&rt, 4, Duration::from_millis(1))
            .name("orders")
            .build(|_: Vec<u32>| async { Err::<Vec<u32>, _>(BackendError::refused()) })
            .unwrap();
        let err = batcher.add_item(1).await.unwrap_err();
        assert_eq!(err.name(), "orders");
        chain(&err)
    });
    assert_eq!(
        messages,
        [
            r#"batch operation of batcher "orders" failed"#,
            "backend unavailable",
            "connection refused",
        ]
    );
    assert_each_cause_once(&messages);
}

#[test]
fn every_batch_error_names_its_batcher() {
    let name: Arc<str> = Arc::from("orders");
    let errors: [BatchError<BackendError>; 5] = [
        BatchError::ResultCount {
            name: name.clone(),
            expected: 3,
            actual: 2,
        },
        BatchError::Panicked {
            name: name.clone(),
            message: "bug".into(),
        },
        BatchError::Rejected { name: name.clone() },
        BatchError::Closed { name: name.clone() },
        BatchError::Cancelled { name: name.clone() },
    ];
    let messages: Vec<_> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            r#"batch operation of batcher "orders" returned 2 results for 3 items"#,
            r#"batch operation of batcher "orders" panicked: bug"#,
            r#"batcher "orders" queue is full"#,
            r#"batcher "orders" is closed"#,
            r#"batch of batcher "orders" was dropped before it finished"#,
        ]
    );
    for error in &errors {
        assert_eq!(error.name(), "orders");
        assert!(error.source().is_none(), "{error}");
        assert_each_cause_once(&chain(error));
    }
}

#[test]
fn configuration_errors_are_short_lowercase_phrases() {
    let cache = [
        CacheConfigError::MissingCapacity,
        CacheConfigError::ZeroCapacity,
        CacheConfigError::ZeroTtl,
        CacheConfigError::ZeroRefreshAfter,
        CacheConfigError::RefreshNotBeforeTtl {
            refresh_after: Duration::from_secs(5),
            ttl: Duration::from_secs(5),
        },
        CacheConfigError::ZeroNegativeTtl,
        CacheConfigError::ZeroFetchTimeout,
    ];
    let batch = [
        BatchConfigError::ZeroBatchSize,
        BatchConfigError::ZeroInFlight,
        BatchConfigError::ZeroQueue,
        BatchConfigError::QueueSmallerThanBatch {
            max_queued: 3,
            max_batch_size: 4,
        },
    ];
    let messages: Vec<_> = cache
        .iter()
        .map(|e| chain(e))
        .chain(batch.iter().map(|e| chain(e)))
        .collect();
    for message in &messages {
        assert_eq!(message.len(), 1, "no cause: {message:?}");
        assert_each_cause_once(message);
        assert!(
            !message[0].contains("use ") && !message[0].contains("call "),
            "advice belongs in the docs: {message:?}"
        );
    }
    assert_eq!(
        cache[4].to_string(),
        "cache refresh_after (5s) is not shorter than its ttl (5s)"
    );
    assert_eq!(
        batch[3].to_string(),
        "batcher max_queued (3) is smaller than its max_batch_size (4)"
    );
}
