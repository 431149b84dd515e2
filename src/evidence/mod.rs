//! Evidence across runs, for auditors and on-call teams: the chain that ties each run to the
//! one before it (`chain`), the manifest's signature (`sign`), `verify-report` (`verify`) and
//! the trend over months (`history`). It reads run directories and reports; it never touches
//! Docker or etcd.

pub mod chain;
pub mod history;
pub mod history_render;
pub mod sign;
pub mod verify;

#[cfg(test)]
pub(crate) mod tests {
    use crate::record::RunReport;

    /// A report as a real run writes it, for a small scenario.
    pub fn report() -> RunReport {
        let yaml = "name: monthly\ncluster: { members: 3 }\nsteps:\n  - snapshot: { name: s }\n  - disaster: {}\n  - restore: { snapshot: s }\n  - verify: {}\n";
        let file = crate::scenario::load_str(std::path::Path::new("monthly.yaml"), yaml).unwrap();
        let plan = crate::plan::plan(file).unwrap();
        crate::report::Recorder::new(&plan, "r").finish()
    }
}
