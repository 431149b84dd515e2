//! `defrag`: the targets' databases defragmented one at a time, under load (etcd's robustness
//! tests run it as a fault): how long each member was blocked.

use super::FaultNeeds;

plain_kind!(
    Defrag,
    "defrag",
    FaultNeeds::default()
);
