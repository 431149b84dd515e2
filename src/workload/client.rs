//! One operation against etcd: run the request, and classify what came back (done, refused,
//! or indeterminate: applied or not, nobody knows).

use crate::record::Outcome;
use crate::record::Request;
use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp, TxnOpResponse};

/// What an operation's answer (or its timeout) says happened.
pub(super) fn outcome(
    result: &Result<Result<Outcome, etcd_client::Error>, tokio::time::error::Elapsed>,
) -> Outcome {
    match result {
        Ok(Ok(o)) => o.clone(),
        // etcd refused it (a lease that no longer exists): it did not happen.
        Ok(Err(e)) if error_kind(e) == "grpc NotFound" => Outcome::Failed {
            error: e.to_string(),
        },
        Ok(Err(e)) => Outcome::Unknown {
            error: error_kind(e),
        },
        Err(_) => Outcome::Unknown {
            error: "timeout".into(),
        },
    }
}

/// What the key held, from a range response.
fn read_of(revision: i64, kvs: &[etcd_client::KeyValue]) -> Outcome {
    let kv = kvs.first();
    Outcome::Read {
        revision,
        value: kv.map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
        mod_revision: kv.map(|kv| kv.mod_revision()).unwrap_or(0),
    }
}

/// Runs one request.
pub(super) async fn execute(
    mut client: Client,
    request: &Request,
) -> Result<Outcome, etcd_client::Error> {
    let rev = |h: Option<&etcd_client::ResponseHeader>| h.map(|h| h.revision()).unwrap_or(0);
    Ok(match request {
        Request::Put { key, value, lease } => {
            let options = lease.map(|l| etcd_client::PutOptions::new().with_lease(l));
            let resp = client.put(key.as_str(), value.as_str(), options).await?;
            Outcome::Wrote {
                revision: rev(resp.header()),
            }
        }
        Request::List {
            start,
            end,
            limit,
            revision,
        } => list(&mut client, (start, end), *limit, *revision).await?,
        Request::LeaseGrant { ttl } => {
            let resp = client.lease_grant(*ttl, None).await?;
            Outcome::Granted {
                lease: resp.id(),
                ttl: resp.ttl(),
            }
        }
        Request::LeaseKeepAlive { lease } => keep_alive(&mut client, *lease).await?,
        Request::LeaseRevoke { lease } => {
            let resp = client.lease_revoke(*lease).await?;
            Outcome::Wrote {
                revision: rev(resp.header()),
            }
        }
        Request::Get { key, serializable } => {
            let options = serializable.then(|| GetOptions::new().with_serializable());
            let resp = client.get(key.as_str(), options).await?;
            read_of(rev(resp.header()), resp.kvs())
        }
        Request::Delete { key } => {
            let resp = client.delete(key.as_str(), None).await?;
            let revision = rev(resp.header());
            if resp.deleted() > 0 {
                Outcome::Wrote { revision }
            } else {
                read_of(revision, &[])
            }
        }
        Request::Update { key, expect, value } => update(&mut client, key, *expect, value).await?,
    })
}

/// A page of a range read, at the revision asked for (0: the store's current one).
async fn list(
    client: &mut Client,
    (start, end): (&str, &str),
    limit: i64,
    revision: i64,
) -> Result<Outcome, etcd_client::Error> {
    let mut options = GetOptions::new().with_range(end).with_limit(limit);
    if revision > 0 {
        options = options.with_revision(revision);
    }
    let resp = client.get(start, Some(options)).await?;
    Ok(Outcome::Listed {
        // A page at a pinned revision holds that revision's state (the header says the
        // store's current one).
        revision: if revision > 0 {
            revision
        } else {
            resp.header().map(|h| h.revision()).unwrap_or(0)
        },
        kvs: resp
            .kvs()
            .iter()
            .map(|kv| crate::record::ListedKv {
                key: String::from_utf8_lossy(kv.key()).into_owned(),
                value: String::from_utf8_lossy(kv.value()).into_owned(),
                mod_revision: kv.mod_revision(),
            })
            .collect(),
        more: resp.more(),
    })
}

/// One keep-alive of a lease: opening the stream sends one and takes its answer, refusing a
/// lease that is gone; a second one brings the TTL it starts again from.
async fn keep_alive(client: &mut Client, lease: i64) -> Result<Outcome, etcd_client::Error> {
    let (mut keeper, mut answers) = match client.lease_keep_alive(lease).await {
        Err(etcd_client::Error::LeaseKeepAliveError(e)) if e.contains("not found") => {
            return Ok(Outcome::KeptAlive { ttl: 0 });
        }
        r => r?,
    };
    keeper.keep_alive().await?;
    Ok(match answers.message().await? {
        Some(resp) => Outcome::KeptAlive { ttl: resp.ttl() },
        None => Outcome::Unknown {
            error: "keep-alive stream closed".into(),
        },
    })
}

/// A compare-and-swap: the put when the key's mod revision is `expect`, else what it holds.
async fn update(
    client: &mut Client,
    key: &str,
    expect: i64,
    value: &str,
) -> Result<Outcome, etcd_client::Error> {
    let txn = Txn::new()
        .when([Compare::mod_revision(key, CompareOp::Equal, expect)])
        .and_then([TxnOp::put(key, value, None)])
        .or_else([TxnOp::get(key, None)]);
    let resp = client.txn(txn).await?;
    let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
    Ok(if resp.succeeded() {
        Outcome::Wrote { revision }
    } else {
        match resp.op_responses().into_iter().next() {
            Some(TxnOpResponse::Get(g)) => read_of(revision, g.kvs()),
            _ => read_of(revision, &[]),
        }
    })
}

/// A short, stable name for an error, to count failures by kind.
pub(super) fn error_kind(e: &etcd_client::Error) -> String {
    match e {
        etcd_client::Error::GRpcStatus(s) => format!("grpc {:?}", s.code()),
        etcd_client::Error::TransportError(_) => "transport".into(),
        other => {
            let s = other.to_string();
            s.split(':').next().unwrap_or("error").to_string()
        }
    }
}
