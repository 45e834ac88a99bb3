//! Calls per second through the real aws-sdk-ec2 client on loopback, for describe and mutate
//! calls. `cargo run -p cloudnet-mockcloud --example throughput [--release] -- [calls] [concurrency]`

use std::sync::Arc;
use std::time::Instant;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;
use cloudnet_mockcloud::{Config, MockCloud, World};

const ENI: &str = "subnet-0c10d0e70000000a2";

async fn measure<F, Fut>(name: &str, calls: usize, concurrency: usize, f: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let f = Arc::new(f);
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(calls);
    for i in 0..calls {
        let (f, limit) = (f.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _p = limit.acquire().await;
            f(i).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name}: {calls} calls in {secs:.2}s = {:.0} calls/s",
        calls as f64 / secs
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let h = MockCloud::start(Config::ephemeral(World::default())).await?;
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
        .subnet_id(ENI)
        .send()
        .await?
        .network_interface()
        .and_then(|e| e.network_interface_id())
        .unwrap_or_default()
        .to_string();
    let c1 = c.clone();
    measure("DescribeNetworkInterfaces", calls, concurrency, move |_| {
        let c = c1.clone();
        async move {
            let _ = c.describe_network_interfaces().send().await;
        }
    })
    .await;
    let c2 = c.clone();
    measure("CreateTags", calls, concurrency, move |i| {
        let (c, eni) = (c2.clone(), eni.clone());
        async move {
            let _ = c
                .create_tags()
                .resources(eni)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(format!("k{}", i % 40))
                        .value(i.to_string())
                        .build(),
                )
                .send()
                .await;
        }
    })
    .await;
    h.shutdown().await;
    Ok(())
}
