//! The event bus hosts subscribe to; what passes on it is also kept as recent
//! history for hosts that open after a task started.

use tokio::sync::broadcast;

use crate::events::EngineEvent;
use crate::history::TaskHistory;

/// How many events a slow subscriber may fall behind before it misses some.
const CAPACITY: usize = 1024;

#[derive(Debug)]
pub(crate) struct EventBus {
    sender: broadcast::Sender<EngineEvent>,
    history: TaskHistory,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
            history: TaskHistory::default(),
        }
    }
}

impl EventBus {
    pub(crate) fn emit(&self, event: EngineEvent) {
        self.history.observe(&event);
        // No subscriber is not an error.
        let _ = self.sender.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.sender.subscribe()
    }

    pub(crate) fn history(&self) -> &TaskHistory {
        &self.history
    }
}
