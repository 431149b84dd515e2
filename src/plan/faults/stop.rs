//! `stop`: SIGTERM (a leader hands leadership over first), held, then started again.

use super::FaultNeeds;

plain_kind!(
    Stop,
    "stop",
    FaultNeeds {
        holds_members_down: true,
        ..Default::default()
    }
);
