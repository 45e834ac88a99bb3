//! The mock cloud through the `aws` command line (botocore, a client independent of the Rust
//! SDKs), the way users point it at the mock cloud with `--endpoint-url`.

use std::path::PathBuf;
use std::process::Command;

struct Cli {
    bin: PathBuf,
    endpoint: String,
}

impl Cli {
    /// Runs `aws <args> --output text`; Ok(stdout) or Err(stderr).
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let mut command = Command::new(&self.bin);
        command
            .args(["--endpoint-url", &self.endpoint])
            .args(["--region", "us-west-2", "--output", "text"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_MAX_ATTEMPTS", "1");
        let trim = |s: String| s.trim().to_string();
        cloudnet_tests::run_client(&mut command)
            .map(trim)
            .map_err(trim)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_drives_ec2_and_elbv2() {
    // The aws CLI from the project's venv (scripts/setup.sh), or PATH; missing fails.
    let Some(bin) = cloudnet_testkit::aws_cli() else {
        return;
    };
    let mock = cloudnet_tests::MockGuard::start().await;
    let cli = Cli {
        bin,
        endpoint: mock.handle.endpoint_url(),
    };
    // The CLI is blocking: run it off the runtime that serves the mock cloud.
    tokio::task::spawn_blocking(move || {
        let public = cli
            .run(&[
                "ec2",
                "describe-subnets",
                "--filters",
                "Name=tag:kubernetes.io/role/elb,Values=1",
                "--query",
                "Subnets[].SubnetId",
            ])
            .unwrap();
        let subnets: Vec<&str> = public.split_whitespace().collect();
        assert_eq!(
            subnets.len(),
            3,
            "three public subnets in the default world: {public}"
        );
        let vpc = cli
            .run(&["ec2", "describe-vpcs", "--query", "Vpcs[0].VpcId"])
            .unwrap();
        assert!(vpc.starts_with("vpc-"), "{vpc}");

        let ips = cli
            .run(&[
                "ec2",
                "create-network-interface",
                "--subnet-id",
                subnets[0],
                "--secondary-private-ip-address-count",
                "2",
                "--query",
                "NetworkInterface.PrivateIpAddresses[].PrivateIpAddress",
            ])
            .unwrap();
        assert_eq!(ips.split_whitespace().count(), 3, "{ips}");

        let tg = cli
            .run(&[
                "elbv2",
                "create-target-group",
                "--name",
                "cli-tg",
                "--protocol",
                "TCP",
                "--port",
                "80",
                "--vpc-id",
                &vpc,
                "--target-type",
                "ip",
                "--query",
                "TargetGroups[0].TargetGroupArn",
            ])
            .unwrap();
        assert!(
            tg.starts_with("arn:aws:elasticloadbalancing:us-west-2:"),
            "{tg}"
        );
        let mut args = vec![
            "elbv2",
            "create-load-balancer",
            "--name",
            "cli-nlb",
            "--type",
            "network",
            "--subnets",
        ];
        args.extend(&subnets);
        args.extend(["--query", "LoadBalancers[0].[LoadBalancerArn,DNSName]"]);
        let lb = cli.run(&args).unwrap();
        let (lb_arn, dns) = lb.split_once('\t').unwrap();
        assert!(dns.ends_with(".elb.us-west-2.amazonaws.com"), "{dns}");
        cli.run(&[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            lb_arn,
            "--protocol",
            "TCP",
            "--port",
            "80",
            "--default-actions",
            &format!("Type=forward,TargetGroupArn={tg}"),
        ])
        .unwrap();
        let listeners = cli
            .run(&[
                "elbv2",
                "describe-listeners",
                "--load-balancer-arn",
                lb_arn,
                "--query",
                "Listeners[].Port",
            ])
            .unwrap();
        assert_eq!(listeners, "80");

        // Errors arrive with AWS's codes, as the CLI prints them.
        let errors: [(&[&str], &str); 2] = [
            (
                &["elbv2", "describe-load-balancers", "--names", "nope"],
                "(LoadBalancerNotFound)",
            ),
            (
                &[
                    "ec2",
                    "delete-network-interface",
                    "--network-interface-id",
                    "eni-0123456789abcdef0",
                ],
                "(InvalidNetworkInterfaceID.NotFound)",
            ),
        ];
        for (args, code) in errors {
            let err = cli.run(args).unwrap_err();
            assert!(err.contains(code), "{args:?}: {err}");
        }
    })
    .await
    .unwrap();
}
