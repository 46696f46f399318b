//! Models of the cancellation token tree (`src/sync/cancel/tree.rs`): loom for the tree, shuttle for
//! the wake-ups.
//!
//! Run: `RUSTFLAGS="--cfg uno_loom" cargo test -p uno-core --release --test loom_cancel` (the
//! tree) and `RUSTFLAGS="--cfg uno_shuttle" cargo test -p uno-core --release --test loom_cancel`
//! (the wake-ups).
//!
//! loom (`tree`), every interleaving up to the preemption bound: `cancel` of a parent racing a
//! child's creation, a sibling's drop, the unwinding of a whole branch (a leaf's drop unlinking
//! its parent from the root) and the cancellation of another ancestor. Each model asserts that
//! every token below a cancelled one ends up cancelled, and that the tree stays usable (a child
//! made afterwards is born cancelled). The tree's lock and flags are loom's; the nodes' `Arc`/
//! `Weak` counts are std's (loom's `Arc` has no `Weak`), so the upgrade of a dying child is one
//! step between loom's, not modelled itself.
//!
//! shuttle (`wake_up`), every interleaving (depth-first, exhaustive): a task waiting on
//! `cancelled()` or in `cancellable` is woken when an ancestor is cancelled, also when it made its
//! token during the cancel, and a dropped waiter does not take another's wake-up. loom cannot
//! check these: the waiting goes through event-listener, whose std lock loom does not see, so loom
//! would report impossible interleavings (and would deadlock on that lock when a loom waker is
//! woken inside it). shuttle explores interleavings with sequentially consistent memory, treating
//! each event-listener call as one step; event-listener's own code is checked by its authors.

#![cfg(any(uno_loom, uno_shuttle))]

mod loom_support;

#[cfg(uno_loom)]
mod tree {
    use loom::thread;
    use uno_core::sync::CancellationToken;

    use crate::loom_support::model;

    #[test]
    fn a_child_made_while_its_parent_is_cancelled_ends_up_cancelled() {
        model(|| {
            let parent = CancellationToken::new();
            let maker = {
                let parent = parent.clone();
                thread::spawn(move || {
                    let child = parent.child_token();
                    let grandchild = child.child_token();
                    (child, grandchild)
                })
            };
            parent.cancel();
            let (child, grandchild) = maker.join().unwrap();
            assert!(child.is_cancelled() && grandchild.is_cancelled());
        });
    }

    #[test]
    fn cancel_reaches_a_child_while_its_sibling_drops() {
        model(|| {
            let parent = CancellationToken::new();
            let kept = parent.child_token();
            let gone = parent.child_token();
            let dropper = thread::spawn(move || drop(gone));
            parent.cancel();
            dropper.join().unwrap();
            assert!(kept.is_cancelled());
            assert!(parent.child_token().is_cancelled());
        });
    }

    #[test]
    fn cancel_reaches_a_branch_while_another_branch_unwinds() {
        model(|| {
            let root = CancellationToken::new();
            let leaf_a = root.child_token().child_token(); // the leaf holds its parent's node
            let mid_b = root.child_token();
            let leaf_b = mid_b.child_token();
            // Dropping the leaf drops its parent's node too, which unlinks it from the root.
            let dropper = thread::spawn(move || drop(leaf_a));
            root.cancel();
            dropper.join().unwrap();
            assert!(mid_b.is_cancelled() && leaf_b.is_cancelled());
            assert!(leaf_b.child_token().is_cancelled());
        });
    }

    #[test]
    fn two_ancestors_cancelled_at_once_cancel_the_leaf() {
        model(|| {
            let root = CancellationToken::new();
            let child = root.child_token();
            let leaf = child.child_token();
            let other = {
                let child = child.clone();
                thread::spawn(move || child.cancel())
            };
            root.cancel();
            other.join().unwrap();
            assert!(child.is_cancelled() && leaf.is_cancelled());
        });
    }
}

#[cfg(uno_shuttle)]
mod wake_up {
    use shuttle::future::block_on;
    use shuttle::thread;
    use uno_core::sync::{CancellationToken, Cancelled, cancellable};

    use crate::loom_support::{flag_waker, poll_with};

    /// Every interleaving: these two-thread models have few steps.
    fn model(f: impl Fn() + Send + Sync + 'static) {
        shuttle::check_dfs(f, None);
    }

    /// Three threads are too many steps to enumerate in seconds (about a minute, depth-first):
    /// PCT's random schedules, which find any bug of up to `depth` ordering constraints with a
    /// known probability per run.
    fn model_sampled(f: impl Fn() + Send + Sync + 'static) {
        shuttle::check_pct(f, 100_000, 3);
    }

    #[test]
    fn cancel_wakes_a_waiter_on_a_descendant() {
        model(|| {
            let root = CancellationToken::new();
            let leaf = root.child_token().child_token();
            let waiter = thread::spawn(move || block_on(leaf.cancelled()));
            root.cancel();
            waiter.join().unwrap(); // a lost wake-up leaves it blocked: a reported deadlock
        });
    }

    #[test]
    fn a_waiter_on_a_child_made_during_the_cancel_is_woken() {
        model(|| {
            let root = CancellationToken::new();
            let waiter = {
                let root = root.clone();
                thread::spawn(move || {
                    let child = root.child_token();
                    block_on(child.cancelled());
                })
            };
            root.cancel();
            waiter.join().unwrap();
        });
    }

    #[test]
    fn cancellable_stops_a_pending_future_when_an_ancestor_is_cancelled() {
        model(|| {
            let root = CancellationToken::new();
            let child = root.child_token();
            let waiter =
                thread::spawn(move || block_on(cancellable(&child, std::future::pending::<()>())));
            root.cancel();
            assert_eq!(waiter.join().unwrap(), Err(Cancelled));
        });
    }

    #[test]
    fn a_dropped_waiter_does_not_take_the_wake_up_of_another() {
        model_sampled(|| {
            let token = CancellationToken::new();
            let dropped = {
                let token = token.clone();
                thread::spawn(move || {
                    let (waker, _) = flag_waker();
                    let mut wait = Box::pin(token.cancelled());
                    let _ = poll_with(&mut wait, &waker);
                })
            };
            let waiter = {
                let token = token.clone();
                thread::spawn(move || block_on(token.cancelled()))
            };
            token.cancel();
            dropped.join().unwrap();
            waiter.join().unwrap();
        });
    }
}
