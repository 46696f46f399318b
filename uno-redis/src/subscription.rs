//! [`Subscription`]: the messages of a dedicated pub/sub connection, as a stream.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use redis::aio::PubSubStream;

/// The messages published on the channels of one [`subscribe`](crate::Redis) call, in order.
/// Owns its own connection (a subscribed connection can run no other command); the stream ends
/// when that connection is lost, and dropping it closes the connection.
#[must_use = "streams do nothing unless polled"]
pub(crate) struct Subscription {
    messages: PubSubStream,
}

impl Subscription {
    pub(crate) fn new(messages: PubSubStream) -> Self {
        Subscription { messages }
    }
}

impl Stream for Subscription {
    type Item = redis::Msg;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<redis::Msg>> {
        Pin::new(&mut self.messages).poll_next(cx)
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}
