//! Correctness checkers that run beside the drill. Each is plain logic fed by what a client
//! saw, so a test can feed it a violation; the live parts only collect.

pub mod divergence;
pub mod hashkv;
pub mod watch;
