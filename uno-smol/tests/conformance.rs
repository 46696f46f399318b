//! The conformance suite on smol.

use std::future::Future;
use std::rc::Rc;

use conformance_tests::{Backend, Env};
use smol::LocalExecutor;
use uno_smol::SmolLocalSpawner;

struct Smol;

impl Backend for Smol {
    const NAME: &'static str = "smol";

    fn block_on<F, Fut>(test: F)
    where
        F: FnOnce(Env) -> Fut,
        Fut: Future<Output = ()>,
    {
        let local = Rc::new(LocalExecutor::new());
        let env = Env::new(Self::NAME, uno_smol::runtime())
            .with_local_spawner(SmolLocalSpawner::new(local.clone()));
        smol::block_on(local.run(test(env)));
    }
}

conformance_tests::suite!(Smol);
