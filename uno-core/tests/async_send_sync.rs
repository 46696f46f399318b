//! Every public type is `Send`/`Sync`/`Unpin` where it should be (tokio's `async_send_sync` habit).

use uno_core::rt::Runtime;
use uno_core::sync::{
    Acquire, AcquireOwned, AsyncEvent, AsyncLock, AsyncRwLock, AsyncSemaphore, Cancellable,
    CancellationToken, DropGuard, EventWait, OwnedSemaphorePermit, RunUntilCancelled,
    RunUntilCancelledOwned, SemaphorePermit, WaitForCancellation, WaitForCancellationOwned,
};
use uno_core::task::{
    AbortHandle, BlockingJob, ChildError, GroupError, JoinError, PanicPayload, Task, TaskGroup,
    TaskManager, TaskManagerBuilder, YieldNow,
};
use uno_core::time::{Elapsed, Timeout, VirtualClock};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}

macro_rules! all {
    ($($t:ty),* $(,)?) => { $( send::<$t>(); sync::<$t>(); )* };
}

#[test]
fn handles_are_send_and_sync() {
    all!(
        Runtime,
        Task<u32>,
        JoinError,
        AbortHandle,
        PanicPayload,
        ChildError<std::io::Error>,
        GroupError<std::io::Error>,
        TaskGroup<u32, std::io::Error>,
        TaskManager,
        TaskManagerBuilder,
        Elapsed,
        VirtualClock,
        AsyncLock<u32>,
        AsyncRwLock<u32>,
        AsyncSemaphore,
        SemaphorePermit<'static>,
        OwnedSemaphorePermit,
        AsyncEvent,
        CancellationToken,
        DropGuard,
    );
    send::<BlockingJob>();
}

#[test]
fn futures_are_send_and_sync() {
    all!(
        Acquire<'static>,
        AcquireOwned,
        EventWait<'static>,
        WaitForCancellation<'static>,
        WaitForCancellationOwned,
        RunUntilCancelled<'static, std::future::Ready<u32>>,
        RunUntilCancelledOwned<std::future::Ready<u32>>,
        YieldNow,
        Timeout<std::future::Ready<u32>>,
        Cancellable<std::future::Ready<u32>>,
    );
}

#[test]
fn handles_and_named_futures_are_unpin() {
    unpin::<Task<std::rc::Rc<u32>>>();
    unpin::<Acquire<'static>>();
    unpin::<AcquireOwned>();
    unpin::<EventWait<'static>>();
    unpin::<WaitForCancellation<'static>>();
    unpin::<WaitForCancellationOwned>();
    unpin::<RunUntilCancelledOwned<std::future::Ready<u32>>>();
    unpin::<AbortHandle>();
    unpin::<YieldNow>();
    unpin::<Timeout<std::future::Ready<u32>>>();
}

#[test]
fn a_task_of_a_non_send_output_is_not_send() {
    // Compile-time property, checked by the trait-selection trick below: `Task<Rc<_>>` must not be
    // Send, or a !Send value could cross threads.
    trait AmbiguousIfSend<A> {
        fn some_item() {}
    }
    impl<T: ?Sized> AmbiguousIfSend<()> for T {}
    impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
    <Task<std::rc::Rc<u32>> as AmbiguousIfSend<_>>::some_item();
}

#[test]
fn cache_and_batcher_types_are_send_sync_and_unpin() {
    use std::sync::Arc;
    use uno_core::batch::{
        AddItem, AsyncBatcher, BatchConfigError, BatchError, BatcherBuilder, BatcherStats,
        ShutdownReport,
    };
    use uno_core::cache::{
        AsyncCache, CacheBuilder, CacheConfigError, CacheError, CacheStats, Get,
    };
    type Fetch = fn() -> std::future::Ready<Result<u32, String>>;
    all!(
        AsyncCache<String, Arc<str>, std::io::Error>,
        CacheBuilder<String, Arc<str>, std::io::Error>,
        CacheError<std::io::Error>,
        CacheConfigError,
        CacheStats,
        Get<'static, String, u32, String, Fetch>,
        AsyncBatcher<String, Vec<u8>, Arc<std::io::Error>>,
        BatcherBuilder<String, Vec<u8>, Arc<std::io::Error>>,
        BatchError<String>,
        BatchConfigError,
        BatcherStats,
        ShutdownReport,
    );
    send::<AddItem<'static, String, u32, String>>();
    unpin::<Get<'static, String, u32, String, Fetch>>();
    unpin::<AddItem<'static, std::marker::PhantomPinned, u32, String>>();
}

#[test]
fn limits_and_their_tower_layers_are_send_sync_and_unpin() {
    use std::future::Ready;
    use uno_core::resilience::{
        BulkheadAcquire, KeyedAcquire, KeyedRateLimiter, KeyedRateLimiterBuilder,
        KeyedRateLimiterStats, LimitError, LimitUnavailable, LocalAcquire, RateLimitAcquireOwned,
    };
    use uno_core::tower::{
        BulkheadFuture, BulkheadLayer, BulkheadService, KeyedRateLimitLayer, RateLimitFuture,
        RateLimitLayer, RateLimitService, TimeoutFuture, TimeoutLayer, TimeoutService,
    };
    type Call = Ready<Result<u32, std::io::Error>>;
    all!(
        LimitError,
        LimitUnavailable,
        KeyedRateLimiter<String>,
        KeyedRateLimiterBuilder<String>,
        KeyedRateLimiterStats,
        KeyedAcquire<String>,
        LocalAcquire<KeyedAcquire<String>>,
        RateLimitAcquireOwned,
        BulkheadAcquire,
        TimeoutLayer,
        TimeoutService<u32>,
        TimeoutFuture<Call>,
        RateLimitLayer,
        RateLimitService<u32>,
        RateLimitFuture<Call, std::io::Error>,
        KeyedRateLimitLayer<KeyedRateLimiter<String>, fn(&u32) -> String>,
        BulkheadLayer,
        BulkheadService<u32>,
        BulkheadFuture<Call, std::io::Error>,
    );
    unpin::<RateLimitAcquireOwned>();
    unpin::<BulkheadAcquire>();
    unpin::<KeyedAcquire<std::marker::PhantomPinned>>();
    unpin::<RateLimitService<u32>>();
    unpin::<BulkheadService<u32>>();
}
