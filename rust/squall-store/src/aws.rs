//! The AWS settings every client of the process shares: credentials, region and endpoint from
//! aws-config's standard chain (`AWS_PROFILE`, SSO, `AWS_ENDPOINT_URL`...), resolved once.

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

/// The process's AWS settings, loaded on first use; the region defaults to us-east-1.
pub async fn aws_config() -> &'static SdkConfig {
    static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();
    CONFIG
        .get_or_init(|| async {
            let region = RegionProviderChain::default_provider().or_else("us-east-1");
            aws_config::defaults(BehaviorVersion::latest()).region(region).load().await
        })
        .await
}
