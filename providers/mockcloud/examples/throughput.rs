//! Calls per second through the real aws-sdk-ec2 client on loopback, for describe and mutate
//! calls. `cargo run -p cloudnet-mockcloud --example throughput [--release] -- [calls] [concurrency]`
//! (`MOCKCLOUD_WORLD=<file>` starts from that world, faults included, instead of the default.)
//!
//! Only calls that succeeded and answered what the cloud holds count towards calls/s. A failed
//! call, a wrong answer (a describe that misses the interface) or a broken invariant at the end
//! (the cloud's call counter, the tags left on the interface) is reported and makes the run
//! exit non-zero: a fast figure from a cloud that answers errors would be worthless.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, bail};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use cloudnet_mockcloud::{Config, MockCloud, World};

const SUBNET: &str = "subnet-0c10d0e70000000a2";
/// CreateTags cycles through this many keys.
const TAG_KEYS: usize = 40;

/// What one measured run gave.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    /// Failures by kind (the cloud's error code, or "wrong answer: ..."), a small set.
    failed: BTreeMap<String, usize>,
}

impl Tally {
    fn failed_total(&self) -> usize {
        self.failed.values().sum()
    }
}

async fn measure<F, Fut>(name: &str, calls: usize, concurrency: usize, f: F) -> Tally
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let f = Arc::new(f);
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let failed = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(calls);
    for i in 0..calls {
        let (f, limit, failed) = (f.clone(), limit.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let outcome = match limit.acquire().await {
                Ok(_permit) => f(i).await,
                Err(_) => Err("semaphore closed".to_string()),
            };
            if let Err(kind) = outcome {
                let mut failed = failed.lock().unwrap_or_else(|e| e.into_inner());
                *failed.entry(kind).or_default() += 1;
            }
        }));
    }
    let mut panicked = 0;
    for t in tasks {
        if t.await.is_err() {
            panicked += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mut failed = std::mem::take(&mut *failed.lock().unwrap_or_else(|e| e.into_inner()));
    if panicked > 0 {
        failed.insert("task panicked".into(), panicked);
    }
    let tally = Tally {
        ok: calls - failed.values().sum::<usize>(),
        failed,
    };
    println!(
        "{name}: {} ok of {calls} calls in {secs:.2}s = {:.0} calls/s; {} failed",
        tally.ok,
        tally.ok as f64 / secs,
        tally.failed_total()
    );
    for (kind, n) in &tally.failed {
        println!("  failed: {n} x {kind}");
    }
    tally
}

fn error_kind<E: ProvideErrorMetadata + std::fmt::Debug>(e: &E) -> String {
    match e.code() {
        Some(code) => code.to_string(),
        // A transport failure has no code; its Debug text would make every failure its own
        // kind, so it is one kind.
        None => "no answer (transport failure)".to_string(),
    }
}

fn parse_arg(arg: Option<String>, name: &str, default: usize) -> anyhow::Result<usize> {
    match arg {
        None => Ok(default),
        Some(a) => match a.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => bail!("{name} must be a positive whole number, got {a:?}"),
        },
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let calls = parse_arg(args.next(), "calls", 5000)?;
    let concurrency = parse_arg(args.next(), "concurrency", 32)?;
    let world = match std::env::var_os("MOCKCLOUD_WORLD") {
        Some(path) => World::load(std::path::Path::new(&path))?,
        None => World::default(),
    };
    let h = MockCloud::start(Config::ephemeral(world)).await?;
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .region("us-west-2")
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "bench"))
        .endpoint_url(h.endpoint_url())
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    let c = aws_sdk_ec2::Client::new(&conf);
    let eni = c
        .create_network_interface()
        .subnet_id(SUBNET)
        .send()
        .await
        .context("CreateNetworkInterface")?
        .network_interface()
        .and_then(|e| e.network_interface_id())
        .context("CreateNetworkInterface answered no interface id")?
        .to_string();

    let (c1, eni1) = (c.clone(), eni.clone());
    let describe = measure("DescribeNetworkInterfaces", calls, concurrency, move |_| {
        let (c, eni) = (c1.clone(), eni1.clone());
        async move {
            let out = c
                .describe_network_interfaces()
                .send()
                .await
                .map_err(|e| error_kind(&e))?;
            let seen = out
                .network_interfaces()
                .iter()
                .any(|n| n.network_interface_id() == Some(eni.as_str()));
            if seen {
                Ok(())
            } else {
                Err("wrong answer: the interface is missing".to_string())
            }
        }
    })
    .await;

    let (c2, eni2) = (c.clone(), eni.clone());
    let tagging = measure("CreateTags", calls, concurrency, move |i| {
        let (c, eni) = (c2.clone(), eni2.clone());
        async move {
            c.create_tags()
                .resources(eni)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(format!("k{}", i % TAG_KEYS))
                        .value(i.to_string())
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error_kind(&e))
        }
    })
    .await;

    let broken = invariants(&h, &c, &eni, calls).await?;
    h.shutdown().await;
    for b in &broken {
        println!("invariant broken: {b}");
    }
    let failed = describe.failed_total() + tagging.failed_total();
    if failed > 0 || !broken.is_empty() {
        bail!(
            "{failed} calls failed and {} invariants broke; the calls/s figures above count only the calls that succeeded",
            broken.len()
        );
    }
    Ok(())
}

/// What must hold after the run, read back from the cloud: every call was counted once by
/// the server, and the interface carries exactly the tag keys written, each with a value
/// some call wrote for that key.
async fn invariants(
    h: &cloudnet_mockcloud::Handle,
    c: &aws_sdk_ec2::Client,
    eni: &str,
    calls: usize,
) -> anyhow::Result<Vec<String>> {
    let mut broken = Vec::new();
    let counted = h.with_cloud(|cloud| {
        ["ec2:DescribeNetworkInterfaces", "ec2:CreateTags"].map(|k| {
            (
                k,
                usize::try_from(cloud.calls.get(k).copied().unwrap_or(0)).unwrap_or(usize::MAX),
            )
        })
    });
    for (key, n) in counted {
        if n != calls {
            broken.push(format!(
                "the server counted {n} {key} calls, {calls} were made"
            ));
        }
    }
    let out = c
        .describe_network_interfaces()
        .network_interface_ids(eni)
        .send()
        .await
        .context("DescribeNetworkInterfaces of the tagged interface")?;
    let tags: BTreeMap<String, String> = out
        .network_interfaces()
        .iter()
        .flat_map(|n| n.tag_set())
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect();
    let want_keys = calls.min(TAG_KEYS);
    if tags.len() != want_keys {
        broken.push(format!(
            "the interface has {} tags, {want_keys} keys were written",
            tags.len()
        ));
    }
    for (key, value) in &tags {
        let written = key
            .strip_prefix('k')
            .and_then(|k| k.parse::<usize>().ok())
            .zip(value.parse::<usize>().ok())
            .is_some_and(|(k, v)| v < calls && v % TAG_KEYS == k);
        if !written {
            broken.push(format!("tag {key}={value} was not written by any call"));
        }
    }
    Ok(broken)
}
