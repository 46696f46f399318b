//! Cancellation tokens at scale: deep chains and wide fans.

use uno_core::sync::CancellationToken;

#[test]
fn dropping_a_deep_chain_of_children_does_not_overflow_the_stack() {
    let root = CancellationToken::new();
    let mut leaf = root.child_token();
    for _ in 0..200_000 {
        leaf = leaf.child_token(); // each intermediate handle is dropped here
    }
    root.cancel();
    assert!(
        leaf.is_cancelled(),
        "cancellation reaches through dropped intermediates"
    );
    drop(leaf); // unwinds 200k links
}

#[test]
fn dropped_children_are_forgotten_by_their_parent() {
    let root = CancellationToken::new();
    for _ in 0..10_000 {
        let child = root.child_token();
        drop(child);
    }
    let kept = root.child_token();
    root.cancel();
    assert!(kept.is_cancelled());
}
