//! Claims tasks while a concurrency slot is free and runs each on the task
//! tracker. Current servers get one batch claim per provider for all its
//! runtimes; seed servers are asked per runtime, round-robin, at most one task
//! per pass, as the Go daemon does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use multica_agents::Provider;
use multica_api::wire::{AgentTask, FailRequest};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::registry::{Registry, RuntimeBinding};
use crate::sync::lock;
use crate::task::{self, TaskKit};

/// What the claim loop needs besides the task kit.
#[derive(Debug)]
pub(crate) struct Claimer {
    pub(crate) kit: TaskKit,
    pub(crate) registry: Arc<Registry>,
    pub(crate) slots: Arc<Semaphore>,
    /// Which slot index each running task has (`MULTICA_TASK_SLOT`).
    pub(crate) slot_numbers: SlotNumbers,
    pub(crate) provider_slots: ProviderSlots,
    /// Where claimed tasks run; the engine waits on it at shutdown.
    pub(crate) tasks: TaskTracker,
    /// Stops the running agents when the shutdown grace period runs out.
    pub(crate) stop_tasks: CancellationToken,
}

impl Claimer {
    /// Runs until `shutdown`; tasks already claimed go on running.
    pub(crate) async fn run(self, shutdown: &CancellationToken) {
        let book = &self.kit.tasks;
        let mut rotation = Rotation::default();
        let mut idle_passes = 0u64;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            if book.is_paused() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = book.claims_wanted() => {}
                }
                continue;
            }
            let runtimes = self.registry.runtimes();
            let claimed = tokio::select! {
                () = shutdown.cancelled() => return,
                claimed = self.claim_pass(&runtimes, &mut rotation) => claimed,
            };
            if claimed {
                idle_passes = 0;
                continue;
            }
            idle_passes += 1;
            if idle_passes % 20 == 1 {
                debug!(runtimes = runtimes.len(), "no task to claim");
            }
            rotation.advance(runtimes.len());
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.kit.config.poll_interval) => {}
                () = book.claims_wanted() => {}
            }
        }
    }

    /// One pass over the runtimes; `true` when a task was claimed.
    async fn claim_pass(&self, runtimes: &[RuntimeBinding], rotation: &mut Rotation) -> bool {
        if runtimes.is_empty() {
            return false;
        }
        if self.kit.server.features.batch_claim.worth_trying()
            && let Some(count) = self.claim_batch(runtimes).await
        {
            return count > 0;
        }
        self.claim_per_runtime(runtimes, rotation).await
    }

    /// Current servers: one request per provider claims for all its runtimes, as
    /// many tasks as there are free slots (and room under the provider's cap).
    /// `None` when the server has no batch claim (then claims go per runtime).
    async fn claim_batch(&self, runtimes: &[RuntimeBinding]) -> Option<usize> {
        let server = &self.kit.server;
        let mut providers: Vec<Provider> = runtimes.iter().map(|r| r.provider.clone()).collect();
        providers.sort();
        providers.dedup();
        let mut claimed = 0;
        for provider in providers {
            let room = self
                .provider_slots
                .room(&provider, self.slots.available_permits());
            if room == 0 {
                continue;
            }
            let ids: Vec<String> = runtimes
                .iter()
                .filter(|runtime| runtime.provider == provider)
                .map(|runtime| runtime.id.clone())
                .collect();
            let result = server
                .client
                .claim_tasks(&self.kit.config.daemon_id, &ids, room)
                .await;
            server.note_answer(&result);
            if server.features.batch_claim.learn(&result) {
                info!("the server has no batch claim; claiming per runtime");
                return None;
            }
            let claimed_tasks = match result {
                Ok(claimed_tasks) => claimed_tasks,
                Err(error) => {
                    warn!(%error, "claiming tasks failed");
                    continue;
                }
            };
            for task in claimed_tasks {
                claimed += 1;
                let runtime = runtimes.iter().find(|r| r.id == task.runtime_id);
                let (Some(runtime), Ok(slot), Some(provider_slot)) = (
                    runtime,
                    Arc::clone(&self.slots).try_acquire_owned(),
                    self.provider_slots.try_take(&provider),
                ) else {
                    // Asked for no more than there was room for: this is a server
                    // answering beyond the request. The task cannot run here.
                    warn!(task_id = %task.id, "the server handed out a task beyond the request; failing it");
                    let server = Arc::clone(server);
                    self.tasks.spawn(async move {
                        let _ = server
                            .client
                            .fail_task(
                                &task.id,
                                &FailRequest::because("the daemon had no room for this task"),
                            )
                            .await;
                    });
                    continue;
                };
                self.spawn(task, runtime.clone(), slot, provider_slot);
            }
        }
        Some(claimed)
    }

    /// Seed servers: round-robin over the runtimes, at most one task per pass.
    async fn claim_per_runtime(
        &self,
        runtimes: &[RuntimeBinding],
        rotation: &mut Rotation,
    ) -> bool {
        let server = &self.kit.server;
        for index in rotation.order(runtimes.len()) {
            let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
                debug!(
                    max = self.kit.config.max_concurrent_tasks,
                    "all task slots busy"
                );
                return false;
            };
            let runtime = &runtimes[index];
            let Some(provider_slot) = self.provider_slots.try_take(&runtime.provider) else {
                debug!(provider = %runtime.provider, "the provider's task limit is reached");
                continue;
            };
            let claim = server.client.claim_task(&runtime.id).await;
            server.note_answer(&claim);
            match claim {
                Ok(Some(task)) => {
                    rotation.claimed_at(index, runtimes.len());
                    self.spawn(task, runtime.clone(), slot, provider_slot);
                    return true;
                }
                Ok(None) => {}
                Err(error) if error.is_not_found() => {
                    // Current servers delete runtimes that stayed offline.
                    warn!(runtime_id = %runtime.id, %error, "runtime unknown to the server; registering again");
                    self.registry.mark_stale(&runtime.workspace_id);
                }
                Err(error) => warn!(runtime_id = %runtime.id, %error, "claiming a task failed"),
            }
        }
        false
    }

    /// Runs a claimed task on the tracker; its slots are given back when it ends.
    fn spawn(
        &self,
        task: AgentTask,
        runtime: RuntimeBinding,
        slot: OwnedSemaphorePermit,
        provider_slot: ProviderSlot,
    ) {
        let kit = self.kit.clone();
        let stop = self.stop_tasks.clone();
        let number = self.slot_numbers.take();
        self.tasks.spawn(async move {
            task::run(&kit, task, runtime, number.index, stop).await;
            drop(number);
            drop(provider_slot);
            drop(slot);
            kit.tasks.want_claims();
        });
    }
}

/// The indexes of the engine's task slots, handed out first-in first-out as
/// upstream's daemon does, so a task can pick a shared resource (a GPU, a port
/// range) by `MULTICA_TASK_SLOT`.
#[derive(Debug, Clone)]
pub(crate) struct SlotNumbers {
    free: Arc<Mutex<std::collections::VecDeque<usize>>>,
    /// Handed out when none is free, which the semaphore rules out; kept so a
    /// miscount can never stop a task.
    overflow: usize,
}

impl SlotNumbers {
    pub(crate) fn new(count: usize) -> Self {
        Self {
            free: Arc::new(Mutex::new((0..count).collect())),
            overflow: count,
        }
    }

    fn take(&self) -> SlotNumber {
        let index = lock(&self.free).pop_front();
        SlotNumber {
            index: index.unwrap_or(self.overflow),
            free: index.map(|_| Arc::clone(&self.free)),
        }
    }
}

/// A task's slot index; goes back to the end of the queue on drop.
#[derive(Debug)]
struct SlotNumber {
    index: usize,
    free: Option<Arc<Mutex<std::collections::VecDeque<usize>>>>,
}

impl Drop for SlotNumber {
    fn drop(&mut self) {
        if let Some(free) = &self.free {
            lock(free).push_back(self.index);
        }
    }
}

/// Where the next per-runtime pass starts: after the runtime that got the last
/// task, or one further after an idle pass, so no runtime starves another.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rotation {
    offset: usize,
}

impl Rotation {
    /// The runtime indexes of one pass, starting at the offset.
    fn order(self, count: usize) -> impl Iterator<Item = usize> {
        (0..count).map(move |step| (self.offset + step) % count)
    }

    fn claimed_at(&mut self, index: usize, count: usize) {
        self.offset = (index + 1) % count;
    }

    fn advance(&mut self, count: usize) {
        if count > 0 {
            self.offset = (self.offset + 1) % count;
        }
    }
}

/// The per-provider caps (`max_concurrent_tasks` of an agent's settings) and how
/// many tasks each provider runs now.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderSlots {
    caps: BTreeMap<Provider, usize>,
    running: Arc<Mutex<BTreeMap<Provider, usize>>>,
}

impl ProviderSlots {
    pub(crate) fn new(caps: impl IntoIterator<Item = (Provider, usize)>) -> Self {
        Self {
            caps: caps.into_iter().collect(),
            running: Arc::default(),
        }
    }

    /// How many more tasks the provider may take, given `free` engine slots.
    fn room(&self, provider: &Provider, free: usize) -> usize {
        let Some(cap) = self.caps.get(provider) else {
            return free;
        };
        let running = lock(&self.running).get(provider).copied().unwrap_or(0);
        cap.saturating_sub(running).min(free)
    }

    /// `None` when the provider already runs as many tasks as it may.
    fn try_take(&self, provider: &Provider) -> Option<ProviderSlot> {
        let mut running = lock(&self.running);
        let count = running.entry(provider.clone()).or_insert(0);
        if self.caps.get(provider).is_some_and(|cap| *count >= *cap) {
            return None;
        }
        *count += 1;
        Some(ProviderSlot {
            running: Arc::clone(&self.running),
            provider: provider.clone(),
        })
    }
}

/// A running task's place under its provider's cap; given back on drop.
#[derive(Debug)]
pub(crate) struct ProviderSlot {
    running: Arc<Mutex<BTreeMap<Provider, usize>>>,
    provider: Provider,
}

impl Drop for ProviderSlot {
    fn drop(&mut self) {
        if let Some(count) = lock(&self.running).get_mut(&self.provider) {
            *count = count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_without_a_cap_takes_what_the_engine_has() {
        let slots = ProviderSlots::new([]);
        assert_eq!(slots.room(&Provider::claude(), 3), 3);
        let held: Vec<_> = (0..10)
            .filter_map(|_| slots.try_take(&Provider::claude()))
            .collect();
        assert_eq!(held.len(), 10);
    }

    #[test]
    fn a_capped_provider_takes_no_more_than_its_cap_and_gets_slots_back() {
        let slots = ProviderSlots::new([(Provider::codex(), 2)]);
        assert_eq!(slots.room(&Provider::codex(), 5), 2);
        assert_eq!(
            slots.room(&Provider::codex(), 1),
            1,
            "never more than the engine has"
        );
        let first = slots.try_take(&Provider::codex()).expect("one");
        let _second = slots.try_take(&Provider::codex()).expect("two");
        assert!(slots.try_take(&Provider::codex()).is_none());
        assert_eq!(slots.room(&Provider::codex(), 5), 0);
        assert_eq!(
            slots.room(&Provider::claude(), 5),
            5,
            "other providers are not held back"
        );
        drop(first);
        assert_eq!(slots.room(&Provider::codex(), 5), 1);
        assert!(slots.try_take(&Provider::codex()).is_some());
    }

    #[test]
    fn slot_numbers_go_round_first_in_first_out() {
        let numbers = SlotNumbers::new(3);
        let a = numbers.take();
        let b = numbers.take();
        assert_eq!((a.index, b.index), (0, 1));
        drop(a);
        let c = numbers.take();
        assert_eq!(c.index, 2, "the freed 0 waits behind 2");
        let d = numbers.take();
        assert_eq!(d.index, 0);
        let e = numbers.take();
        assert_eq!(e.index, 3, "past the count: never blocks a task");
        drop((b, c, d, e));
        let again: Vec<usize> = (0..3)
            .map(|_| numbers.take())
            .map(|n| {
                let index = n.index;
                std::mem::forget(n);
                index
            })
            .collect();
        assert_eq!(again, [1, 2, 0], "returned in the order the tasks ended");
    }

    #[test]
    fn the_rotation_starts_after_the_runtime_that_got_the_last_task() {
        let mut rotation = Rotation::default();
        assert_eq!(rotation.order(3).collect::<Vec<_>>(), [0, 1, 2]);
        rotation.claimed_at(1, 3);
        assert_eq!(rotation.order(3).collect::<Vec<_>>(), [2, 0, 1]);
        rotation.claimed_at(2, 3);
        assert_eq!(rotation.order(3).collect::<Vec<_>>(), [0, 1, 2]);
        rotation.advance(3);
        assert_eq!(rotation.order(3).collect::<Vec<_>>(), [1, 2, 0]);
        rotation.advance(0);
        assert_eq!(rotation.order(0).count(), 0);
    }
}
