//! [`task_group`]: the scoped form — a body with a spawner, and every child awaited before it
//! returns.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;

use super::{ChildError, GroupError, GroupSpawner, TaskGroup};
use crate::rt::Runtime;

/// Runs `body` with a [`GroupSpawner`] into a fresh fail-fast group and **waits for every child**
/// before returning (trio's nursery): the body's output and the children's outputs in spawn order,
/// or the group's failure.
///
/// When a child fails, its siblings are cancelled and so is the body (it is dropped at its next
/// await point); when the body returns, the children run on until they finish. As in
/// [`TaskGroup`], a child not yet polled when the first failure is recorded never runs.
///
/// **Nothing outlives it**: dropping the returned future drops the body and then every child's
/// future before that drop returns, except a child being polled at that very moment, whose future
/// is dropped as soon as that poll returns (see [`TaskGroup`]). Rust has no async drop, so a child's clean-up that needs to `.await` must run
/// inside the child (or through [`shield`](crate::task::shield)), not in its `Drop`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::task::task_group;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async move {
///     let rt2 = rt.clone();
///     let (body, children) = task_group(&rt, |group| async move {
///         for i in 1..=3u64 {
///             let rt = rt2.clone();
///             group.spawn(format!("worker-{i}"), async move {
///                 rt.sleep(Duration::from_secs(i)).await;
///                 Ok::<_, std::io::Error>(i * 10)
///             });
///         }
///         "spawned"
///     })
///     .await
///     .unwrap();
///     assert_eq!(body, "spawned");
///     assert_eq!(children, [10, 20, 30]);
/// });
/// ```
///
/// # Cancel safety
///
/// Dropping the future drops the body and every child's future before the drop returns; nothing
/// outlives it, and the children's outcomes are lost with it.
pub async fn task_group<T, E, R, F, Fut>(
    rt: &Runtime,
    body: F,
) -> Result<(R, Vec<T>), GroupError<E>>
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnOnce(GroupSpawner<T, E>) -> Fut,
    Fut: Future<Output = R>,
{
    let group = TaskGroup::new(rt);
    let output = {
        let mut body = pin!(body(group.spawner()));
        let mut listener = None;
        poll_fn(|cx| {
            // The body first: if it finished in the same turn as a child failed, keep its output.
            if let Poll::Ready(output) = body.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            loop {
                if group.shared.state().failed.is_some() {
                    return Poll::Ready(None);
                }
                match &mut listener {
                    None => listener = Some(group.shared.changed.listen()),
                    Some(l) => {
                        if Pin::new(l).poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        listener = None;
                    }
                }
            }
        })
        .await
    };
    let failed = group.shared.state().failed.clone();
    let name = group.shared.name.shared();
    let children = group.join_all().await?;
    match output {
        Some(output) => Ok((output, children)),
        // The body is only abandoned after a failure; `join_all` saw none, so its outcome was
        // taken through a handle inside the body, and dropped with it.
        None => Err(GroupError {
            group: name,
            first: ChildError::AlreadyTaken {
                name: failed.as_deref().unwrap_or_default().to_owned(),
            },
            others: Vec::new(),
        }),
    }
}
