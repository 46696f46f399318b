//! Containing user code's panics — in a call, in any poll of a future, and in the future's `Drop`
//! — so that they come back as values instead of unwinding into uno's bookkeeping.
//!
//! A panic that escapes a user's future into the code driving it (a cache flight, a batch runner,
//! a shutdown) skips whatever that code meant to do next: publish an outcome, free a slot, close
//! the next resource. [`Contained`] is the one place where a future's panics are turned into
//! `Err(message)`: it polls through [`CatchPanic`], and it drops the future itself, inside
//! `catch_unwind`, as soon as it completes, when it is [cancelled](Contained::cancel), or when the
//! wrapper is dropped — never wherever its owner happens to drop it. [`message`] is the one
//! conversion of a payload to its text (tasks, groups, the cache, the batcher, lifecycle);
//! [`catch`] and [`message_of`] are for the errors that keep the payload itself (`JoinError`,
//! `ChildError`), so it can be re-raised as it was.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The message of a caught panic: its `&str` or `String` payload, or
/// `"<non-string panic payload>"`.
pub(crate) fn message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => message_of(&*payload),
    }
}

/// The message of a caught panic, leaving the payload whole (for errors that keep it, so it can
/// be re-raised as it was).
pub(crate) fn message_of(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<String>() {
        return message.clone();
    }
    match payload.downcast_ref::<&'static str>() {
        Some(message) => (*message).to_owned(),
        None => "<non-string panic payload>".to_owned(),
    }
}

/// Calls `f`, returning its panic's payload instead of unwinding.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    catch_unwind(AssertUnwindSafe(f))
}

pin_project_lite::pin_project! {
    /// Runs a future, catching a panic in any of its polls as `Err(message)`.
    pub(crate) struct CatchPanic<F> {
        #[pin]
        future: F,
    }
}

impl<F> CatchPanic<F> {
    pub(crate) fn new(future: F) -> Self {
        CatchPanic { future }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(message(payload))),
        }
    }
}

/// Calls `f`, returning its panic's message instead of unwinding.
pub(crate) fn call<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(message)
}

/// Told, when a [`Contained`] future is dropped before it completed, the message of the panic
/// its `Drop` raised, if any.
type OnCancel = Box<dyn FnOnce(Option<String>) + Send>;

/// Drops the future in `slot` now, returning the message of a panic in its `Drop`.
fn drop_now<F>(mut slot: Pin<&mut Option<CatchPanic<F>>>) -> Result<(), String> {
    // If the drop panics, the assignment still leaves `None` behind: nothing is dropped twice.
    call(|| slot.set(None))
}

pin_project_lite::pin_project! {
    /// `future` with its panics contained: a panic in any poll, in its `Drop` once it completed,
    /// or in its `Drop` when it is abandoned, never unwinds into the caller.
    ///
    /// Resolves to `Ok(output)`, or `Err(message)` if a poll panicked or if dropping the completed
    /// future panicked (the output is then dropped too: a future whose drop panics has failed).
    pub(crate) struct Contained<F> {
        #[pin]
        future: Option<CatchPanic<F>>,
        on_cancel: Option<OnCancel>,
    }

    impl<F> PinnedDrop for Contained<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.future.is_some() {
                let panic = drop_now(this.future).err();
                if let Some(on_cancel) = this.on_cancel.take() {
                    on_cancel(panic);
                }
            }
        }
    }
}

impl<F> Contained<F> {
    pub(crate) fn new(future: F) -> Self {
        Contained {
            future: Some(CatchPanic::new(future)),
            on_cancel: None,
        }
    }

    /// Calls `on_cancel` if the future is dropped before it completes (by [`cancel`](Self::cancel)
    /// or with the wrapper), after it has been dropped, with its `Drop`'s panic message if any.
    pub(crate) fn on_cancel(
        mut self,
        on_cancel: impl FnOnce(Option<String>) + Send + 'static,
    ) -> Self {
        self.on_cancel = Some(Box::new(on_cancel));
        self
    }

    /// Drops the future now if it has not completed, returning the message of a panic in its
    /// `Drop`. For a caller that gives up on it (a time limit) and wants to know.
    pub(crate) fn cancel(self: Pin<&mut Self>) -> Result<(), String> {
        let this = self.project();
        if this.future.is_none() {
            return Ok(());
        }
        let dropped = drop_now(this.future);
        if let Some(on_cancel) = this.on_cancel.take() {
            on_cancel(dropped.clone().err());
        }
        dropped
    }
}

impl<F: Future> Future for Contained<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let future = this
            .future
            .as_mut()
            .as_pin_mut()
            .expect("`Contained` polled after it completed");
        let output = std::task::ready!(future.poll(cx));
        // Completed: dropped here, inside the guard, and not reported as cancelled.
        let dropped = drop_now(this.future);
        *this.on_cancel = None;
        Poll::Ready(match (output, dropped) {
            (Ok(output), Ok(())) => Ok(output),
            (Err(message), _) | (Ok(_), Err(message)) => Err(message),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::{Future, pending, ready};
    use std::pin::pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};

    use super::{Contained, call};

    struct PanicOnDrop;

    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("drop bomb");
            }
        }
    }

    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_plain_future_passes_through() {
        let future = pin!(Contained::new(ready(7)));
        assert_eq!(poll_once(future), Poll::Ready(Ok(7)));
    }

    #[test]
    fn a_panic_in_poll_is_a_value() {
        let future = pin!(Contained::new(async { panic!("in poll") }));
        assert_eq!(
            poll_once(future),
            Poll::Ready(Err::<(), _>("in poll".into()))
        );
    }

    #[test]
    fn a_panic_in_the_drop_of_a_completed_future_is_a_value() {
        let bomb = PanicOnDrop;
        let future = pin!(Contained::new(async move {
            let _bomb = bomb;
            1
        }));
        assert_eq!(poll_once(future), Poll::Ready(Err("drop bomb".into())));
    }

    #[test]
    fn cancel_reports_a_panic_in_drop_once() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let bomb = PanicOnDrop;
        let mut future = pin!(
            Contained::new(async move {
                let _bomb = bomb;
                pending::<()>().await;
            })
            .on_cancel(move |panic| log.lock().unwrap().push(panic))
        );
        assert!(poll_once(future.as_mut()).is_pending());
        assert_eq!(future.as_mut().cancel(), Err("drop bomb".into()));
        assert_eq!(future.as_mut().cancel(), Ok(()), "nothing left to drop");
        assert_eq!(*seen.lock().unwrap(), [Some("drop bomb".to_string())]);
    }

    #[test]
    fn dropping_the_wrapper_contains_the_panic_and_tells_the_hook() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let bomb = PanicOnDrop;
        let future = Contained::new(async move {
            let _bomb = bomb;
        })
        .on_cancel(move |panic| log.lock().unwrap().push(panic));
        drop(future); // never polled: dropping it must not unwind
        assert_eq!(*seen.lock().unwrap(), [Some("drop bomb".to_string())]);

        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let quiet =
            Contained::new(ready(())).on_cancel(move |panic| log.lock().unwrap().push(panic));
        drop(quiet);
        assert_eq!(*seen.lock().unwrap(), [None]);
    }

    #[test]
    fn a_completed_future_is_not_reported_as_cancelled() {
        let seen = Arc::new(Mutex::new(0));
        let log = seen.clone();
        let mut future =
            pin!(Contained::new(ready(())).on_cancel(move |_| *log.lock().unwrap() += 1));
        assert_eq!(poll_once(future.as_mut()), Poll::Ready(Ok(())));
        assert_eq!(future.as_mut().cancel(), Ok(()));
        assert_eq!(*seen.lock().unwrap(), 0);
    }

    #[test]
    fn call_returns_the_message() {
        assert_eq!(call(|| 3), Ok(3));
        assert_eq!(call(|| -> u8 { panic!("sync") }), Err("sync".into()));
        let formatted = call(|| -> u8 { panic!("code {}", 7) });
        assert_eq!(formatted, Err("code 7".into()));
    }
}
