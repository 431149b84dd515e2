//! Every correctness check of a drill, one file each. A check is plain logic from what was
//! observed to a verdict, so a test can feed it a violation; where a check needs to observe
//! the cluster first (HashKV, the keyspace of each member, which acknowledged keys are still
//! there), the collecting function sits beside it and only collects.

pub mod digest;
pub mod divergence;
pub mod durability;
pub mod hashkv;
pub mod linearizable;
pub mod revision_order;
pub mod rpo;
pub mod watch;
