//! Cases: [`AsyncRwLock`]: shared readers, exclusive writers, `try_*`, timeouts naming the lock,
//! writers dropped at every await point, and owned guards in spawned tasks.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_rwlock {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; rwlock:
            many_readers_at_once,
            writer_excludes_readers_and_writers,
            try_read_and_try_write,
            waiting_writer_holds_back_new_readers,
            timeouts_elapse_naming_the_lock,
            dropped_writer_does_not_block_readers,
            owned_guards_move_into_tasks,
        }
    };
}

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_lite::future::poll_once;
use uno_core::sync::{AsyncEvent, AsyncRwLock};

use crate::support::{DropPoint, assert_timed_out_after, drop_waiter_at, within};
use crate::{Env, poll_times};

/// Many readers, each in its own task, hold the lock at the same time.
pub async fn many_readers_at_once(env: Env) {
    const READERS: usize = 10;
    let lock = AsyncRwLock::new(42);
    // Two readers in this task, at once.
    let a = lock.read().await;
    let b = lock.try_read().expect("a second reader is let in");
    assert_eq!((*a, *b), (42, 42));
    drop((a, b));

    // Each task keeps its guard until every reader is inside: only possible if they share.
    let inside = Arc::new(AtomicUsize::new(0));
    let all_in = AsyncEvent::new();
    let tasks: Vec<_> = (0..READERS)
        .map(|_| {
            let (lock, inside, all_in) = (lock.clone(), inside.clone(), all_in.clone());
            env.rt().spawn(async move {
                let guard = lock.read().await;
                if inside.fetch_add(1, Ordering::SeqCst) + 1 == READERS {
                    all_in.set();
                }
                all_in.wait().await;
                *guard
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            within(&env, "readers sharing the lock", task)
                .await
                .unwrap(),
            42
        );
    }
    assert!(lock.try_write().is_some(), "every reader is gone");
}

/// A writer excludes readers and other writers until its guard is dropped; readers exclude writers.
pub async fn writer_excludes_readers_and_writers(env: Env) {
    let short = Duration::from_millis(10);
    let lock = AsyncRwLock::new(0);

    let mut writer = lock.write().await;
    assert!(lock.try_read().is_none());
    assert!(lock.try_write().is_none());
    assert!(lock.read_timeout(env.rt(), short).await.is_err());
    assert!(lock.write_timeout(env.rt(), short).await.is_err());
    let mut reader = env.rt().spawn({
        let lock = lock.clone();
        async move { *lock.read().await }
    });
    assert!(
        poll_times(&mut reader, 5).await.is_none(),
        "a reader got in past a writer"
    );
    *writer = 5;
    drop(writer);
    assert_eq!(within(&env, "the reader", reader).await.unwrap(), 5);

    let read = lock.read().await;
    assert!(lock.try_write().is_none());
    assert!(lock.write_timeout(env.rt(), short).await.is_err());
    let mut writer = env.rt().spawn({
        let lock = lock.clone();
        async move { *lock.write().await += 1 }
    });
    assert!(
        poll_times(&mut writer, 5).await.is_none(),
        "a writer got in past a reader"
    );
    assert_eq!(*read, 5);
    drop(read);
    within(&env, "the writer", writer).await.unwrap();
    assert_eq!(*lock.read().await, 6);
}

/// `try_read` shares with readers, `try_write` needs the lock free, both fail without waiting.
pub async fn try_read_and_try_write(_env: Env) {
    let lock = AsyncRwLock::new('x');
    let writer = lock.try_write().expect("a free lock is writable");
    assert!(lock.try_read().is_none());
    assert!(lock.try_write().is_none());
    drop(writer);
    let r1 = lock.try_read().expect("a free lock is readable");
    let r2 = lock.try_read().expect("readers share");
    assert!(lock.try_write().is_none());
    drop(r1);
    assert!(lock.try_write().is_none(), "one reader is left");
    drop(r2);
    assert!(lock.try_write().is_some());
}

/// Once a writer waits, new readers queue behind it (write preference), so writers are not
/// starved; they get in after the writer.
pub async fn waiting_writer_holds_back_new_readers(env: Env) {
    let lock = AsyncRwLock::new(0);
    let reader = lock.read().await;
    let mut writer = pin!(lock.write());
    assert!(poll_once(writer.as_mut()).await.is_none());
    assert!(
        lock.try_read().is_none(),
        "a new reader overtook a waiting writer"
    );
    let mut late_reader = pin!(lock.read());
    assert!(poll_once(late_reader.as_mut()).await.is_none());
    drop(reader);
    let mut guard = within(&env, "the waiting writer", writer).await;
    *guard = 1;
    assert!(poll_once(late_reader.as_mut()).await.is_none());
    drop(guard);
    assert_eq!(
        *within(&env, "the reader behind the writer", late_reader).await,
        1
    );
}

/// `read_timeout` and `write_timeout` fail after the duration with an `Elapsed` naming the lock.
pub async fn timeouts_elapse_naming_the_lock(env: Env) {
    let wait = Duration::from_millis(25);
    let lock = AsyncRwLock::named("config", ());

    let writer = lock.write().await;
    let start = env.rt().now();
    let err = lock.read_timeout(env.rt(), wait).await.unwrap_err();
    let took = env.rt().now() - start;
    assert!(
        err.message().contains("config"),
        "message: {:?}",
        err.message()
    );
    assert!(
        err.message().contains("read"),
        "message: {:?}",
        err.message()
    );
    assert_timed_out_after(&env, wait, err.elapsed(), took, "read_timeout");
    let err = lock.write_timeout(env.rt(), wait).await.unwrap_err();
    assert!(
        err.message().contains("config"),
        "message: {:?}",
        err.message()
    );
    assert!(
        err.message().contains("write"),
        "message: {:?}",
        err.message()
    );
    drop(writer);

    let reader = lock.read().await;
    let err = lock.write_timeout(env.rt(), wait).await.unwrap_err();
    assert!(err.to_string().contains("config"), "display: {err}");
    assert!(err.elapsed() >= wait);
    // The timed-out writer no longer holds readers back.
    assert!(lock.try_read().is_some());
    drop(reader);
    assert!(lock.try_write().is_some());
}

/// A writer dropped after any number of polls, while a reader or a writer holds the lock and is
/// released at any point, does not block the reader queued behind it, nor the lock afterwards.
pub async fn dropped_writer_does_not_block_readers(env: Env) {
    for holder_writes in [false, true] {
        for point in DropPoint::all(6) {
            let lock = AsyncRwLock::new(0);
            let release: Box<dyn FnOnce()> = if holder_writes {
                let guard = lock.write().await;
                Box::new(move || drop(guard))
            } else {
                let guard = lock.read().await;
                Box::new(move || drop(guard))
            };
            let mut behind = pin!(lock.read());
            let (writer, queued) =
                drop_waiter_at(point, lock.write(), behind.as_mut(), release).await;
            if let Some(mut guard) = writer {
                *guard += 1;
            }
            let guard = match queued {
                Some(guard) => guard,
                None => within(&env, "a reader behind a dropped writer", behind).await,
            };
            // Readers are not held back any more: another one gets in at once.
            assert!(
                lock.try_read().is_some(),
                "{point:?}, holder writes: {holder_writes}: readers still blocked"
            );
            drop(guard);
            assert!(
                lock.try_write().is_some(),
                "{point:?}, holder writes: {holder_writes}: the lock is stuck"
            );
        }
    }
}

/// Owned read and write guards move into spawned tasks, which release them there.
pub async fn owned_guards_move_into_tasks(env: Env) {
    let lock = AsyncRwLock::new(vec![1]);
    let writer = lock.write_owned().await;
    let rt = env.rt().clone();
    let task = env.rt().spawn(async move {
        let mut writer = writer;
        rt.sleep(Duration::from_millis(10)).await;
        writer.push(2);
    });
    // The task holds the write guard from the start, so this reader only gets in after the push.
    let len = within(&env, "a read behind a task's write guard", lock.read())
        .await
        .len();
    assert_eq!(len, 2);
    within(&env, "the task holding a write guard", task)
        .await
        .unwrap();

    let mut readers = Vec::new();
    for _ in 0..3 {
        let guard = lock.read_owned().await;
        let rt = env.rt().clone();
        readers.push(env.rt().spawn(async move {
            rt.sleep(Duration::from_millis(10)).await;
            guard.iter().sum::<i32>()
        }));
    }
    assert!(lock.try_write().is_none(), "tasks hold read guards");
    for reader in readers {
        assert_eq!(
            within(&env, "a task with a read guard", reader)
                .await
                .unwrap(),
            3
        );
    }
    assert!(
        lock.try_write().is_some(),
        "every task released its read guard"
    );
}
