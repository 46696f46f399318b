//! Every public type of uno-hyper is `Send + Sync + Unpin` (for `UnoIo`, as its stream is), so
//! it crosses threads and fits in any connection future.

use uno_hyper::mem::{DuplexStream, ZeroCapacity};
use uno_hyper::{UnoExecutor, UnoIo, UnoTimer};

fn send_sync_unpin<T: Send + Sync + Unpin>() {}

#[test]
fn public_types_are_send_sync_and_unpin() {
    send_sync_unpin::<UnoExecutor>();
    send_sync_unpin::<UnoTimer>();
    send_sync_unpin::<UnoIo<DuplexStream>>();
    send_sync_unpin::<DuplexStream>();
    send_sync_unpin::<ZeroCapacity>();
}

#[test]
fn the_executor_and_the_timer_are_what_hyper_builders_take() {
    // hyper's builders require `Executor + Clone + Send + Sync + 'static` and `Timer + Send + Sync`.
    fn timer<T: hyper::rt::Timer + Clone + Send + Sync + 'static>() {}
    fn executor<E: hyper::rt::Executor<std::future::Ready<()>> + Clone + Send + Sync + 'static>() {}
    timer::<UnoTimer>();
    executor::<UnoExecutor>();
}
