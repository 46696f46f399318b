//! The tree under [`CancellationToken`](super::CancellationToken): one node per token, and how a
//! cancellation reaches every descendant.
//!
//! # Implementation notes
//!
//! - **A node per token**: its `cancelled` flag, an `Event` its waiters listen on, weak links to
//!   its children in a slab ([`Children`]), and a strong link to its parent with its own key in
//!   the parent's slab, so a dropped child unregisters itself and a long-lived parent does not
//!   grow.
//! - **A child is registered or born cancelled, never lost**: [`Node::child`] checks the
//!   parent's flag under the parent's `children` lock, and [`Node::cancel`] sets the flag before
//!   it takes the children under that lock. A child is either in the slab when they are taken,
//!   or sees the flag.
//! - **Iterative both ways**: a cancellation walks the tree with a stack, stopping at nodes
//!   already cancelled (their subtree was reached before), and a node's drop unlinks a chain of
//!   parents it held last in a loop; a deep chain of children overflows neither.
//! - **Waiting** ([`Node::poll_cancelled`]) listens, then checks the flag again, so a cancel in
//!   between is not missed.
//! - Modelled by `tests/loom_cancel.rs` (loom for the tree, shuttle for the wake-ups). loom's
//!   `Arc` has no `Weak`, so the tree keeps std's `Arc`/`Weak`: its reference counts are not
//!   modelled, its lock and flag are.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, ready};

use event_listener::{Event, EventListener};
use slab::Slab;

use crate::loom::atomic::{AtomicBool, Ordering};
use crate::loom::{Mutex, MutexGuard};

/// One token's place in the tree.
#[derive(Default)]
pub(super) struct Node {
    cancelled: AtomicBool,
    event: Event,
    children: Mutex<Children>,
    /// The parent and our key in its `children`, so we can unregister on drop.
    parent: Option<(Arc<Node>, usize)>,
}

/// Weak links to the children in a slab: a key is an index, freed keys are reused. Cheaper than
/// a hash map for the common pattern of many short-lived children (one per task or request), and
/// it never grows past the most children alive at once.
///
/// A key is removed only by its own node's drop, and `cancel` empties the slab for good (no child
/// registers after it), so a stale key never removes another child's link.
#[derive(Default)]
struct Children {
    slab: Slab<Weak<Node>>,
}

impl Children {
    /// The key the next [`insert`](Self::insert) will use.
    fn vacant_key(&self) -> usize {
        self.slab.vacant_key()
    }

    fn insert(&mut self, child: Weak<Node>) {
        self.slab.insert(child);
    }

    fn remove(&mut self, key: usize) {
        self.slab.try_remove(key);
        if self.slab.is_empty() {
            // Keep the capacity, drop the free list: keys start from 0 again.
            self.slab.clear();
        }
    }

    fn into_children(self) -> impl Iterator<Item = Arc<Node>> {
        self.slab.into_iter().filter_map(|(_, weak)| weak.upgrade())
    }
}

impl Node {
    fn new(cancelled: bool, parent: Option<(Arc<Node>, usize)>) -> Arc<Self> {
        Arc::new(Node {
            cancelled: AtomicBool::new(cancelled),
            event: Event::new(),
            children: Mutex::default(),
            parent,
        })
    }

    fn children(&self) -> MutexGuard<'_, Children> {
        self.children.lock()
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// A new child of this node, registered with it — or, if this node is cancelled, a node born
    /// cancelled and registered nowhere.
    pub(super) fn child(self: &Arc<Self>) -> Arc<Node> {
        let mut children = self.children();
        // Checked under the lock that `cancel` takes after setting the flag: a child is either
        // registered before the parent's children are taken, or sees the flag.
        if self.is_cancelled() {
            return Node::new(true, None);
        }
        let key = children.vacant_key();
        let node = Node::new(false, Some((self.clone(), key)));
        children.insert(Arc::downgrade(&node));
        node
    }

    /// Cancels this node and every descendant, waking everything that waits on them.
    pub(super) fn cancel(self: &Arc<Self>) {
        // Iterative, so a deep chain of children cannot overflow the stack.
        let mut pending = vec![self.clone()];
        while let Some(node) = pending.pop() {
            if node.cancelled.swap(true, Ordering::AcqRel) {
                continue;
            }
            node.event.notify(usize::MAX);
            let children = std::mem::take(&mut *node.children());
            pending.extend(children.into_children());
        }
    }

    /// Waits on this node; the shared half of every future that waits for a cancellation.
    pub(super) fn poll_cancelled(
        &self,
        listener: &mut Option<EventListener>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        loop {
            if self.is_cancelled() {
                *listener = None;
                return Poll::Ready(());
            }
            match listener {
                // Listen, then re-check: a cancel in between is not missed.
                None => *listener = Some(self.event.listen()),
                Some(l) => {
                    ready!(Pin::new(l).poll(cx));
                    *listener = None;
                }
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Unregister from the parent. When we held the parent's last reference, unlink its own
        // parent before it drops, so a long chain of children unwinds in a loop, not recursively
        // (which would overflow the stack).
        let mut link = self.parent.take();
        while let Some((parent, key)) = link {
            parent.children().remove(key);
            link = match Arc::try_unwrap(parent) {
                Ok(mut parent) => parent.parent.take(),
                Err(_) => None,
            };
        }
    }
}
