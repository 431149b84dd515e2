//! The run report: what a drill proved, built from the runner's events by `Recorder`, written
//! as `reports/<run-id>/report.json` and rendered by the renderers beside this file.

pub mod artifacts;
pub mod compare;
mod document;
mod gates;
pub mod html;
pub mod junit;
pub mod manifest;
pub mod markdown;
pub mod read;
mod recorder;
pub mod stats;
pub mod summary;
pub mod svg;
pub mod table;

pub use gates::evaluate;
pub use recorder::Recorder;
