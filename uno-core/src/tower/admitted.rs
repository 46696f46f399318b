//! [`AdmittedCall`]: the call of an inner service after a layer's admission, holding what
//! admitted it until the call ends, or the layer's refusal, answered at once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::resilience::ResilienceError;

/// Polls a wait that was just made, where it stands: its answer if it is ready at once, or the
/// wait itself if it is pending, for the layer to keep and poll again. A wait answered at once is
/// never moved into the service.
pub(crate) fn poll_fresh<F: Future + Unpin>(
    mut wait: F,
    cx: &mut Context<'_>,
) -> Result<F::Output, F> {
    match Pin::new(&mut wait).poll(cx) {
        Poll::Ready(answer) => Ok(answer),
        Poll::Pending => Err(wait),
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future with the admission `H` (a bulkhead slot, or nothing for a
    /// limiter, whose admission is spent) held beside it: released when the call completes or
    /// the future is dropped (cancelled, or unwinding from a panic in the inner service).
    #[project = AdmittedCallProj]
    pub(crate) enum AdmittedCall<F, H, E> {
        Called {
            #[pin]
            call: F,
            held: Option<H>,
        },
        Refused {
            refusal: Option<ResilienceError<E>>,
        },
    }
}

impl<F, H, E> AdmittedCall<F, H, E> {
    pub(crate) fn called(call: F, held: H) -> Self {
        AdmittedCall::Called {
            call,
            held: Some(held),
        }
    }

    pub(crate) fn refused(refusal: ResilienceError<E>) -> Self {
        AdmittedCall::Refused {
            refusal: Some(refusal),
        }
    }
}

impl<T, E, F, H> Future for AdmittedCall<F, H, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AdmittedCallProj::Called { call, held } => {
                let out = std::task::ready!(call.poll(cx));
                // Released as soon as the call is done, not when the caller drops the future.
                *held = None;
                Poll::Ready(out.map_err(ResilienceError::Inner))
            }
            AdmittedCallProj::Refused { refusal } => Poll::Ready(Err(refusal
                .take()
                .expect("a refused call polled after it completed"))),
        }
    }
}
