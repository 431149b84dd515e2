//! `delete-prefix`: an operator's mistake, every key under a prefix deleted in one request. The
//! revision just before it is a point in time: the step reads the whole keyspace there (the
//! digest a point-in-time restore must give back) and names it for `restore: { before }`.

use super::{Ctx, StepError};
use crate::cluster::ClusterError;
use crate::events::{Point, StepOutcome};
use etcd_client::DeleteOptions;
use std::sync::atomic::AtomicU64;

pub async fn run(ctx: &mut Ctx<'_>, prefix: &str, name: &str) -> Result<StepOutcome, StepError> {
    let deleted = ctx
        .client
        .clone()
        .delete(prefix, Some(DeleteOptions::new().with_prefix()))
        .await
        .map_err(|source| ClusterError::Etcd {
            op: "delete",
            target: format!("the keys under {prefix}"),
            source,
        })?;
    let at_ms = ctx.clock.ms();
    if deleted.deleted() == 0 {
        return Err(StepError::Precondition(format!(
            "nothing under {prefix} to delete: the point before it would be no different"
        )));
    }
    let revision = deleted.header().map(|h| h.revision()).unwrap_or(0) - 1;
    // Read now, before anything compacts it away: what a restore to this point must hold.
    let (done, client) = (AtomicU64::new(0), ctx.client.clone());
    let read = crate::keyspace::digest_at(&client, revision, &done);
    let (keys, sha) = ctx
        .with_progress(
            "reading the keyspace before the deletion",
            "keys",
            0,
            &done,
            read,
        )
        .await?;
    let point = Point {
        name: name.to_string(),
        prefix: prefix.to_string(),
        deleted: deleted.deleted(),
        revision,
        at_ms,
        keyspace_keys: keys,
        keyspace_sha256: sha,
    };
    let said = format!(
        "{} keys under {prefix} deleted; point {name} is revision {revision}, {keys} keys",
        point.deleted
    );
    ctx.points.push(point);
    Ok(StepOutcome::Done(said))
}
