//! Bridges between uno's [`CancellationToken`](UnoToken) and tokio-util's
//! ([`tokio_util::sync::CancellationToken`]), so tokio code and uno code can share one
//! cancellation: uno's shutdown token handed to a tokio library, or a tokio-util token from a
//! tokio framework handed to uno's policies and tasks. Needs the `tokio-util` feature.
//!
//! - [`to_tokio_util`]: a tokio-util token cancelled when the uno token is;
//! - [`from_tokio_util`]: a uno token cancelled when the tokio-util token is.
//!
//! Each bridge is one way and behaves as a **child token** of its source: cancelling the source
//! cancels the bridged token and all of its children; cancelling the bridged token (or its
//! children) leaves the source alone.
//!
//! # Cost
//!
//! Neither token type has a callback to hook, so a bridge spawns **one waiter task** on `rt` (a
//! small boxed future holding a clone of each token). It ends as soon as either token is
//! cancelled: the source (after cancelling the bridged token) or the bridged token (nothing is
//! left to do). A source already cancelled spawns nothing. A bridge whose tokens are never
//! cancelled keeps its waiter parked until the runtime shuts down, so bridge long-lived tokens
//! once (the shutdown token, at startup); for short-lived ones, cancel the bridged token when done
//! with it, which ends the waiter without touching the source.
//!
//! # When the runtime shuts down
//!
//! The waiter is a task of `rt`: once that runtime is shut down (a tokio runtime dropped), the
//! waiter is dropped and the bridge stops carrying cancellation. Tokens cancelled before stay
//! cancelled; a source cancelled afterwards no longer reaches the bridged token. Neither token
//! is cancelled by the shutdown itself.
//!
//! # Examples
//!
//! ```
//! use uno_core::sync::CancellationToken;
//! use uno_tokio::cancel::{from_tokio_util, to_tokio_util};
//!
//! uno_tokio::run(|rt| async move {
//!     // uno's token, for a tokio library that takes tokio-util's:
//!     let shutdown = CancellationToken::new();
//!     let for_tokio = to_tokio_util(&rt, &shutdown);
//!     shutdown.cancel();
//!     for_tokio.cancelled().await;
//!
//!     // A tokio framework's token, for uno's tasks and policies:
//!     let framework = tokio_util::sync::CancellationToken::new();
//!     let for_uno = from_tokio_util(&rt, &framework);
//!     framework.cancel();
//!     for_uno.cancelled().await;
//! })
//! .unwrap();
//! ```

use tokio_util::sync::CancellationToken as TokioUtilToken;
use uno_core::Runtime;
use uno_core::sync::CancellationToken as UnoToken;

/// One bridge: a `$target` token cancelled when `$token` is (a waiter task on `$rt` that ends when
/// either token is cancelled; nothing spawned when `$token` already is).
macro_rules! bridge {
    ($rt:expr, $token:expr, $target:ty, $cancelled:ident) => {{
        let bridged = <$target>::new();
        if $token.is_cancelled() {
            bridged.cancel();
            return bridged;
        }
        let (source, target) = ($token.clone(), bridged.clone());
        $rt.spawn(async move {
            // Checks the target first: a bridged token cancelled on its own ends the waiter.
            if target
                .run_until_cancelled(source.$cancelled())
                .await
                .is_some()
            {
                target.cancel();
            }
        })
        .detach();
        bridged
    }};
}

/// A tokio-util token cancelled when `token` is, as a child of it would be: cancelling the
/// returned token (or its children) does not cancel `token`.
///
/// Spawns one waiter task on `rt` unless `token` is already cancelled; see the
/// [module docs](self) for its cost and for what happens when `rt` shuts down.
///
/// # Examples
///
/// ```
/// use uno_core::sync::CancellationToken;
/// use uno_tokio::cancel::to_tokio_util;
///
/// uno_tokio::run(|rt| async move {
///     let token = CancellationToken::new();
///     let bridged = to_tokio_util(&rt, &token);
///     let child = bridged.child_token();
///     child.cancel(); // a child's cancel reaches neither its parent nor the source
///     assert!(!bridged.is_cancelled() && !token.is_cancelled());
///
///     token.cancel();
///     bridged.cancelled().await;
///     assert!(bridged.is_cancelled());
/// })
/// .unwrap();
/// ```
pub fn to_tokio_util(rt: &Runtime, token: &UnoToken) -> TokioUtilToken {
    bridge!(rt, token, TokioUtilToken, cancelled)
}

/// A uno token cancelled when `token` is, as a child of it would be: cancelling the returned
/// token (or its children) does not cancel `token`.
///
/// Spawns one waiter task on `rt` unless `token` is already cancelled; see the
/// [module docs](self) for its cost and for what happens when `rt` shuts down.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::sync::cancellable;
/// use uno_tokio::cancel::from_tokio_util;
///
/// uno_tokio::run(|rt| async move {
///     let framework = tokio_util::sync::CancellationToken::new();
///     let token = from_tokio_util(&rt, &framework);
///     let canceller = framework.clone();
///     rt.spawn(async move { canceller.cancel() }).detach();
///     // A uno future that stops when the framework cancels:
///     let outcome = cancellable(&token, rt.sleep(Duration::from_secs(3600))).await;
///     assert!(outcome.is_err());
/// })
/// .unwrap();
/// ```
pub fn from_tokio_util(rt: &Runtime, token: &TokioUtilToken) -> UnoToken {
    bridge!(rt, token, UnoToken, cancelled_owned)
}
