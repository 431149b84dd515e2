//! `kill`: SIGKILL, held, then the member restarted on its data.

use super::FaultNeeds;

plain_kind!(
    Kill,
    "kill",
    FaultNeeds {
        holds_members_down: true,
        ..Default::default()
    }
);
