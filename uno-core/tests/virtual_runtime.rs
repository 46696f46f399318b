//! The virtual-time runtime: auto-advance, ordering, local tasks, outside wake-ups.

use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uno_core::rt::{LocalSpawnerExt, VirtualRuntime};
use uno_core::time::{Timer, VirtualClock};

#[test]
fn sleeps_complete_in_deadline_order_at_exact_virtual_instants() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let log = Arc::new(Mutex::new(Vec::new()));
    vrt.block_on(async {
        let start = rt.now();
        let tasks: Vec<_> = [300u64, 100, 200]
            .into_iter()
            .map(|ms| {
                let (rt2, log) = (rt.clone(), log.clone());
                rt.spawn(async move {
                    rt2.sleep(Duration::from_millis(ms)).await;
                    log.lock().unwrap().push((ms, rt2.now() - start));
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        [100, 200, 300].map(|ms| (ms, Duration::from_millis(ms)))
    );
}

#[test]
fn a_long_virtual_wait_takes_no_real_time() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let wall = std::time::Instant::now();
    vrt.block_on(async {
        for _ in 0..1000 {
            rt.sleep(Duration::from_secs(3600)).await;
        }
    });
    // 1000 virtual hours; generous real bound only.
    assert!(wall.elapsed() < Duration::from_secs(30));
}

#[test]
fn local_tasks_run_non_send_futures() {
    let vrt = VirtualRuntime::new();
    let local = vrt.local_spawner();
    let shared = Rc::new(std::cell::Cell::new(0));
    let seen = shared.clone();
    vrt.block_on(async move {
        let t = local.spawn_local(async move { seen.set(seen.get() + 1) });
        t.await.unwrap();
    });
    assert_eq!(shared.get(), 1);
}

#[test]
fn the_runtime_parks_for_an_outside_wake_up_when_no_sleep_is_pending() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let out = vrt.block_on(async move { rt.spawn_blocking(|| 7).await });
    assert_eq!(out.unwrap(), 7);
}

#[test]
fn tasks_left_behind_are_dropped_with_the_runtime() {
    struct Flag(Arc<Mutex<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = true;
        }
    }
    let dropped = Arc::new(Mutex::new(false));
    {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let flag = Flag(dropped.clone());
        let task = rt.spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        task.detach();
        vrt.block_on(async {});
        assert!(!*dropped.lock().unwrap());
    }
    assert!(*dropped.lock().unwrap());
}

#[test]
fn a_shared_clock_can_be_advanced_by_hand() {
    let clock = VirtualClock::new();
    let vrt = VirtualRuntime::with_clock(clock.clone());
    let start = clock.now();
    clock.advance(Duration::from_secs(10));
    let rt = vrt.handle();
    assert_eq!(rt.now() - start, Duration::from_secs(10));
    assert_eq!(clock.pending_sleeps(), 0);
}

#[test]
fn block_on_can_be_called_again() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    assert_eq!(vrt.block_on(async { 1 }), 1);
    let task = rt.spawn(async { 2 });
    assert_eq!(vrt.block_on(task).unwrap(), 2);
}
