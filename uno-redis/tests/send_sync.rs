//! Every public type is Send + Sync (and the futures Send + Unpin), as the runtimes require.

use uno_redis::*;

fn send_sync<T: Send + Sync>() {}
fn send_unpin<T: Send + Unpin>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Redis>();
    send_sync::<RedisBuilder>();
    send_sync::<RedisStats>();
    send_sync::<RedisError>();
    send_sync::<ConfigError>();
    send_sync::<FailurePolicy>();
    send_sync::<RedisRateLimiter>();
    send_sync::<RedisRateLimiterBuilder>();
    send_sync::<RedisRateLimiterStats>();
    send_sync::<LeaseConfig>();
    send_sync::<LeaseConfigBuilder>();
    send_sync::<Lease>();
    send_sync::<LeaderTerm>();
    send_unpin::<RedisAcquire>();
}
