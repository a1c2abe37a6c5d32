//! The AWS settings every client of the process shares: credentials, region and endpoint from
//! aws-config's standard chain (`AWS_PROFILE`, SSO, `AWS_ENDPOINT_URL`...), resolved once.

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

use crate::process::PerProcess;

/// The process's AWS settings, loaded on first use; the region defaults to us-east-1.
pub async fn aws_config() -> &'static SdkConfig {
    // Its HTTP client's connections are this process's own (see `process`).
    static CONFIG: PerProcess<OnceCell<SdkConfig>> = PerProcess::new();
    CONFIG
        .get_or_init(OnceCell::new)
        .get_or_init(|| async {
            let region = RegionProviderChain::default_provider().or_else("us-east-1");
            aws_config::defaults(BehaviorVersion::latest()).region(region).load().await
        })
        .await
}
