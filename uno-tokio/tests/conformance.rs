//! The conformance suite on tokio, in both flavours.

use std::future::Future;
use std::rc::Rc;

use conformance_tests::{Backend, Env};
use tokio::task::LocalSet;
use uno_tokio::TokioLocalSpawner;

fn run_on<F, Fut>(name: &'static str, tokio: tokio::runtime::Runtime, test: F)
where
    F: FnOnce(Env) -> Fut,
    Fut: Future<Output = ()>,
{
    let local = Rc::new(LocalSet::new());
    let env = Env::new(
        name,
        uno_tokio::runtime_from(tokio.handle().clone()).unwrap(),
    )
    .with_local_spawner(TokioLocalSpawner::new(local.clone()));
    local.block_on(&tokio, test(env));
}

struct TokioCurrentThread;

impl Backend for TokioCurrentThread {
    const NAME: &'static str = "tokio-current-thread";

    fn block_on<F, Fut>(test: F)
    where
        F: FnOnce(Env) -> Fut,
        Fut: Future<Output = ()>,
    {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        run_on(Self::NAME, tokio, test);
    }
}

struct TokioMultiThread;

impl Backend for TokioMultiThread {
    const NAME: &'static str = "tokio-multi-thread";

    fn block_on<F, Fut>(test: F)
    where
        F: FnOnce(Env) -> Fut,
        Fut: Future<Output = ()>,
    {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        run_on(Self::NAME, tokio, test);
    }
}

mod current_thread {
    conformance_tests::suite!(super::TokioCurrentThread);
}

mod multi_thread {
    conformance_tests::suite!(super::TokioMultiThread);
}
