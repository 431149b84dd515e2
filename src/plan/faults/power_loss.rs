//! `power-loss`: the target loses every write it had not fsynced, held down, then restarted.

use super::FaultNeeds;

plain_kind!(
    PowerLoss,
    "power-loss",
    FaultNeeds {
        holds_members_down: true,
        disk_layer: true,
        ..Default::default()
    }
);
