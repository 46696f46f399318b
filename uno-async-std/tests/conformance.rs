//! The conformance suite on async-std.

use std::future::Future;

use conformance_tests::{Backend, Env};
use uno_async_std::AsyncStdLocalSpawner;

struct AsyncStd;

impl Backend for AsyncStd {
    const NAME: &'static str = "async-std";

    fn block_on<F, Fut>(test: F)
    where
        F: FnOnce(Env) -> Fut,
        Fut: Future<Output = ()>,
    {
        let env =
            Env::new(Self::NAME, uno_async_std::runtime()).with_local_spawner(AsyncStdLocalSpawner);
        async_std::task::block_on(test(env));
    }
}

conformance_tests::suite!(AsyncStd);
