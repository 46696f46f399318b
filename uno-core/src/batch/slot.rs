//! The one-shot slots through which a batch hands each item its result.
//!
//! Slots are allocated a block at a time ([`SlotBlock`]): a batch's items share a few blocks, so
//! queueing an item costs a reference count, not an allocation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use crate::loom::{Mutex, MutexGuard};
use atomic_waker::AtomicWaker;

/// Blocks never hold fewer slots than this (unless the batch size is smaller).
const MIN_BLOCK: usize = 8;
/// Nor more than this: a huge `max_batch_size` must not reserve memory for items that never come.
const MAX_BLOCK: usize = 1024;

/// Written once by the batch that carries the item, read once by the item's `AddItem` future.
struct Slot<T> {
    ready: AtomicBool,
    /// The value, and whether the waiter has gone (then a late value is dropped at once).
    value: Mutex<(Option<T>, bool)>,
    waker: AtomicWaker,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Slot {
            ready: AtomicBool::new(false),
            value: Mutex::new((None, false)),
            waker: AtomicWaker::new(),
        }
    }

    fn value(&self) -> MutexGuard<'_, (Option<T>, bool)> {
        // Only moves happen under this lock, so poisoning cannot leave it inconsistent.
        self.value.lock()
    }

    fn send(&self, value: T) {
        let unwanted = {
            let mut guard = self.value();
            let (slot, waiter_gone) = &mut *guard;
            if *waiter_gone {
                Some(value)
            } else {
                *slot = Some(value);
                None
            }
        };
        // Outside the lock: dropping the value runs the user's `Drop`.
        drop(unwanted);
        self.ready.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// Slots for consecutive items of one batch, in one allocation shared by their waiters.
struct SlotBlock<T> {
    slots: Box<[Slot<T>]>,
}

/// One item's slot, held by its `AddItem` future: a share of the block and a position in it.
///
/// A waiter that is dropped before taking its value marks the slot, so that the value (already
/// there or still to come) is dropped then, not kept until the whole block goes.
pub(super) struct SlotRef<T> {
    block: Arc<SlotBlock<T>>,
    index: usize,
    taken: bool,
}

impl<T> SlotRef<T> {
    fn slot(&self) -> &Slot<T> {
        &self.block.slots[self.index]
    }

    /// `Ready(None)` only if the value was already taken, which `AddItem` never does twice.
    pub(super) fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let slot = &self.block.slots[self.index];
        if !slot.ready.load(Ordering::Acquire) {
            // Register before the second check, so a `send` in between is not missed.
            slot.waker.register(cx.waker());
            if !slot.ready.load(Ordering::Acquire) {
                return Poll::Pending;
            }
        }
        self.taken = true;
        Poll::Ready(slot.value().0.take())
    }
}

impl<T> Drop for SlotRef<T> {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        let slot = self.slot();
        let unclaimed = {
            let mut guard = slot.value();
            guard.1 = true;
            guard.0.take()
        };
        drop(unclaimed);
        drop(slot.waker.take());
    }
}

/// The slots of one batch's items, in item order: the sending side of every [`SlotRef`] it
/// handed out.
pub(super) struct Slots<T> {
    /// Each block with how many of its slots are handed out; all but the last are full.
    blocks: Vec<(Arc<SlotBlock<T>>, usize)>,
    len: usize,
}

impl<T> Slots<T> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Hands out the next slot. A new block holds `first_block` slots if it is the batch's first,
    /// else as many as the batch already has (so a growing batch allocates O(log n) blocks); never
    /// more than `max_len` (the batch size) in all.
    pub(super) fn push(&mut self, first_block: usize, max_len: usize) -> SlotRef<T> {
        if let Some((block, used)) = self.blocks.last_mut()
            && *used < block.slots.len()
        {
            let index = *used;
            *used += 1;
            self.len += 1;
            return SlotRef {
                block: block.clone(),
                index,
                taken: false,
            };
        }
        let wanted = if self.len == 0 { first_block } else { self.len };
        let room = max_len.saturating_sub(self.len).max(1);
        let block_len = wanted.clamp(MIN_BLOCK, MAX_BLOCK).min(room);
        let block = Arc::new(SlotBlock {
            slots: (0..block_len).map(|_| Slot::new()).collect(),
        });
        self.blocks.push((block.clone(), 1));
        self.len += 1;
        SlotRef {
            block,
            index: 0,
            taken: false,
        }
    }

    /// Sends the `i`-th of `values` to the `i`-th slot handed out, for as many as both have.
    pub(super) fn send_each(self, values: impl IntoIterator<Item = T>) {
        let slots = self
            .blocks
            .iter()
            .flat_map(|(block, used)| &block.slots[..*used]);
        for (slot, value) in slots.zip(values) {
            slot.send(value);
        }
    }

    /// Sends every slot a value made by `value`, which is told whether it is making the last.
    pub(super) fn send_all(self, mut value: impl FnMut(bool) -> T) {
        let mut left = self.len;
        for (block, used) in &self.blocks {
            for slot in &block.slots[..*used] {
                left -= 1;
                slot.send(value(left == 0));
            }
        }
    }
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            blocks: Vec::new(),
            len: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use super::{MIN_BLOCK, Slots};

    fn take<T>(slot: &mut super::SlotRef<T>) -> Poll<Option<T>> {
        slot.poll_take(&mut Context::from_waker(Waker::noop()))
    }

    /// A batch larger than its first block spreads over several; every item still gets its own
    /// value, in order, and the blocks grow so a big batch allocates few of them.
    #[test]
    fn values_reach_their_own_slots_across_blocks() {
        let mut slots = Slots::default();
        let mut refs: Vec<_> = (0..100).map(|_| slots.push(0, 100)).collect();
        assert_eq!(slots.len(), 100);
        assert!(slots.blocks.len() <= 5, "{} blocks", slots.blocks.len());
        assert_eq!(slots.blocks[0].0.slots.len(), MIN_BLOCK);
        assert!(take(&mut refs[0]).is_pending());
        slots.send_each(0..100);
        for (i, slot) in refs.iter_mut().enumerate() {
            assert_eq!(take(slot), Poll::Ready(Some(i)));
        }
    }

    /// The first block takes the size hint, within the batch size.
    #[test]
    fn first_block_follows_the_hint() {
        let mut slots = Slots::<u8>::default();
        let _slot = slots.push(300, 256);
        assert_eq!(slots.blocks[0].0.slots.len(), 256);
        let mut slots = Slots::<u8>::default();
        let _slot = slots.push(3, 2);
        assert_eq!(slots.blocks[0].0.slots.len(), 2);
    }

    /// A waiter that leaves does not keep its value alive until its neighbours are done.
    #[test]
    fn an_abandoned_slot_drops_its_value_promptly() {
        let value = Arc::new(());
        let mut slots = Slots::default();
        let mut kept = slots.push(2, 2);
        let gone_before = slots.push(2, 2);
        drop(gone_before);
        slots.send_all(|_| value.clone());
        // Only the waiter still there holds a clone.
        assert_eq!(Arc::strong_count(&value), 2);

        let mut slots = Slots::default();
        let gone_after = slots.push(2, 2);
        slots.send_each([value.clone()]);
        assert_eq!(Arc::strong_count(&value), 3);
        drop(gone_after);
        assert_eq!(Arc::strong_count(&value), 2);

        assert!(matches!(take(&mut kept), Poll::Ready(Some(_))));
        drop(kept);
        assert_eq!(Arc::strong_count(&value), 1);
    }
}
