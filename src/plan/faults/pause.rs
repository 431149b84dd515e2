//! `pause`: the member's processes frozen (the cgroup freezer), held, then thawed.

use super::FaultNeeds;

plain_kind!(
    Pause,
    "pause",
    FaultNeeds {
        holds_members_down: true,
        ..Default::default()
    }
);
