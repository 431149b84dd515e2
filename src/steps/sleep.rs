//! `sleep`: let time pass (the workload keeps writing), e.g. to make an RPO.

use super::StepError;
use crate::events::StepOutcome;
use std::time::Duration;

pub async fn run(duration: Duration) -> Result<StepOutcome, StepError> {
    tokio::time::sleep(duration).await;
    Ok(StepOutcome::Done(String::new()))
}
