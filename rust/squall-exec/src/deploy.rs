//! Lambda's control plane for `squall.deploy`: create or update the function, wait until it is
//! ready, and record the package's content hash in a tag so an unchanged deploy does nothing.
//! With SnapStart, each deploy publishes a version (Lambda snapshots its initialised
//! environment) and points the alias [`SNAPSTART_ALIAS`] at it: sessions invoke the alias.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, LastUpdateStatus, Runtime, SnapStart, SnapStartApplyOn, State,
};

use crate::lambda::client;
use crate::{Error, Result};
use squall_store::process::PerProcess;

/// The tag holding the deployed package's content hash.
pub const HASH_TAG: &str = "squall:hash";
/// The tag on a sharded deploy's first function holding how many functions it has.
pub const SHARDS_TAG: &str = "squall:shards";
/// Most functions one deploy may shard over.
pub const MAX_SHARDS: usize = 64;
/// The tag naming the alias sessions invoke (SnapStart runs published versions only).
pub const ALIAS_TAG: &str = "squall:alias";
/// The alias a SnapStart deploy points at the version it published.
pub const SNAPSTART_ALIAS: &str = "squall";

/// The names of the `shards` identical functions a deploy called `name` makes: `name` itself,
/// then `name-shard2`, `name-shard3`...
pub fn shard_names(name: &str, shards: usize) -> Vec<String> {
    let mut names = vec![name.to_string()];
    names.extend((2..=shards).map(|i| format!("{name}-shard{i}")));
    names
}

/// Longest wait for a function to become ready after a change.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Where the function's zip comes from.
#[derive(Debug, Clone)]
pub enum Code {
    /// The zip itself (at most 50 MB).
    Zip(Vec<u8>),
    /// An object in S3 (up to Lambda's unzipped limit).
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
}

/// The function `deploy` wants to exist.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Function name.
    pub name: String,
    /// Runtime identifier, e.g. `python3.11`.
    pub runtime: String,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// Handler, `squall._lambda.handler`.
    pub handler: String,
    /// Memory in MB.
    pub memory_mb: i32,
    /// Timeout in seconds.
    pub timeout_s: i32,
    /// Execution role ARN.
    pub role: String,
    /// The package.
    pub code: Code,
    /// Content hash of package and settings.
    pub hash: String,
    /// Environment variables of the function.
    pub environment: HashMap<String, String>,
    /// Reserved concurrency, or none.
    pub reserved_concurrency: Option<i32>,
    /// Lambda SnapStart on published versions (Python 3.12 and later).
    pub snapstart: bool,
}

fn failed<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    op: &'static str,
    function: &str,
    err: SdkError<E, R>,
) -> Error {
    let message = match (err.code(), err.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => format!("{}", aws_sdk_lambda::error::DisplayErrorContext(&err)),
    };
    Error::Lambda { op, function: function.to_string(), message }
}

/// The tags of function `name` (empty when it has none), or `None` when there is no such
/// function.
async fn tags_of(name: &str) -> Result<Option<HashMap<String, String>>> {
    match client().await.get_function().function_name(name).send().await {
        Ok(out) => Ok(Some(out.tags().cloned().unwrap_or_default())),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
        Err(e) => Err(failed("lookup", name, e)),
    }
}

/// The content hash recorded on function `name`, `Some("")` when it exists untagged, or `None`
/// when there is no such function.
pub async fn deployed_hash(name: &str) -> Result<Option<String>> {
    Ok(tags_of(name).await?.map(|t| t.get(HASH_TAG).cloned().unwrap_or_default()))
}

fn shards_in(tags: &HashMap<String, String>) -> usize {
    tags.get(SHARDS_TAG).and_then(|n| n.parse().ok()).unwrap_or(1).clamp(1, MAX_SHARDS)
}

/// How many functions the deploy of `name` made (1 when it was not sharded).
async fn deployed_shards(name: &str) -> Result<usize> {
    Ok(shards_in(&tags_of(name).await?.unwrap_or_default()))
}

/// The functions to spread invocations of `function` over: its shards when `squall.deploy`
/// sharded it, else itself, each qualified by its alias when deployed with SnapStart. A
/// qualified name or an ARN, or a function whose tags cannot be read, is used as given.
pub async fn functions_of(function: &str) -> Vec<String> {
    if function.contains(':') {
        return vec![function.to_string()];
    }
    let Ok(Some(tags)) = tags_of(function).await else { return vec![function.to_string()] };
    let names = shard_names(function, shards_in(&tags));
    match tags.get(ALIAS_TAG) {
        Some(alias) => names.into_iter().map(|n| format!("{n}:{alias}")).collect(),
        None => names,
    }
}

/// Deploys `spec` as `shards` identical functions (see [`shard_names`]): the extra shards first,
/// all at once, then the first function, whose tags record the shard count and the hash last,
/// so a deploy stopped half-way is redone next time. Shards an earlier deploy made beyond
/// `shards` are deleted. Returns `"created"` or `"updated"` (of the first function).
pub async fn deploy_shards(spec: &FunctionSpec, shards: usize) -> Result<&'static str> {
    if !(1..=MAX_SHARDS).contains(&shards) {
        return Err(Error::Lambda {
            op: "deployment",
            function: spec.name.clone(),
            message: format!("shards={shards}: use 1 to {MAX_SHARDS}"),
        });
    }
    let before = deployed_shards(&spec.name).await?;
    let names = shard_names(&spec.name, shards);
    let mut extra = tokio::task::JoinSet::new();
    for name in &names[1..] {
        let shard = FunctionSpec { name: name.clone(), ..spec.clone() };
        extra.spawn(async move { deploy(&shard, None).await });
    }
    while let Some(done) = extra.join_next().await {
        done.map_err(|e| Error::Lambda {
            op: "deployment",
            function: spec.name.clone(),
            message: format!("a shard's deploy stopped: {e}"),
        })??;
    }
    let outcome = deploy(spec, Some(shards)).await?;
    for name in shard_names(&spec.name, before).into_iter().skip(shards) {
        match client().await.delete_function().function_name(&name).send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(failed("removal of a former shard", &name, e)),
        }
    }
    Ok(outcome)
}

/// Creates or updates the function to match `spec` and waits until it can be invoked; with
/// `shards`, tags it as the first of that many. Returns `"created"` or `"updated"`.
async fn deploy(spec: &FunctionSpec, shards: Option<usize>) -> Result<&'static str> {
    let lambda = client().await;
    let name = spec.name.as_str();
    let exists = deployed_hash(name).await?.is_some();
    let code = match &spec.code {
        Code::Zip(zip) => FunctionCode::builder().zip_file(Blob::new(zip.clone())).build(),
        Code::S3 { bucket, key } => FunctionCode::builder().s3_bucket(bucket).s3_key(key).build(),
    };
    let env = Environment::builder().set_variables(Some(spec.environment.clone())).build();
    let arch = Architecture::from(spec.architecture.as_str());
    let apply_on = if spec.snapstart { SnapStartApplyOn::PublishedVersions } else { SnapStartApplyOn::None };
    let snapstart = SnapStart::builder().apply_on(apply_on).build();
    let outcome = if exists {
        let update = lambda.update_function_code().function_name(name).architectures(arch);
        let update = match &spec.code {
            Code::Zip(zip) => update.zip_file(Blob::new(zip.clone())),
            Code::S3 { bucket, key } => update.s3_bucket(bucket).s3_key(key),
        };
        update.send().await.map_err(|e| failed("code update", name, e))?;
        settle(name).await?;
        // SnapStart is named only when on, or to turn it off: Lambda refuses the setting, even
        // off, for runtimes without SnapStart.
        let had_snapstart = snapstart_of(name, None).await?;
        lambda
            .update_function_configuration()
            .function_name(name)
            .set_snap_start((spec.snapstart || had_snapstart).then_some(snapstart))
            .runtime(Runtime::from(spec.runtime.as_str()))
            .handler(&spec.handler)
            .memory_size(spec.memory_mb)
            .timeout(spec.timeout_s)
            .role(&spec.role)
            .environment(env)
            .send()
            .await
            .map_err(|e| failed("configuration update", name, e))?;
        "updated"
    } else {
        // A role created moments ago takes a few seconds to become assumable by Lambda.
        let started = Instant::now();
        loop {
            let created = lambda
                .create_function()
                .function_name(name)
                .set_snap_start(spec.snapstart.then(|| snapstart.clone()))
                .runtime(Runtime::from(spec.runtime.as_str()))
                .architectures(arch.clone())
                .handler(&spec.handler)
                .memory_size(spec.memory_mb)
                .timeout(spec.timeout_s)
                .role(&spec.role)
                .environment(env.clone())
                .code(code.clone())
                .send()
                .await;
            match created {
                Ok(_) => break,
                Err(e)
                    if e.message().is_some_and(|m| m.contains("cannot be assumed"))
                        && started.elapsed() < Duration::from_secs(60) =>
                {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => return Err(failed("creation", name, e)),
            }
        }
        "created"
    };
    settle(name).await?;
    let arn = configuration(name, None).await?.function_arn().unwrap_or(name).to_string();
    match spec.reserved_concurrency {
        Some(n) => {
            lambda
                .put_function_concurrency()
                .function_name(name)
                .reserved_concurrent_executions(n)
                .send()
                .await
                .map_err(|e| failed("concurrency setting", name, e))?;
        }
        None => {
            lambda
                .delete_function_concurrency()
                .function_name(name)
                .send()
                .await
                .map_err(|e| failed("concurrency setting", name, e))?;
        }
    }
    let alias = publish(name, spec.snapstart).await?;
    if alias.is_none() {
        lambda
            .untag_resource()
            .resource(&arn)
            .tag_keys(ALIAS_TAG)
            .send()
            .await
            .map_err(|e| failed("tagging", name, e))?;
    }
    // The hash goes on last: a deploy that stopped half-way is redone next time.
    let tagging = lambda.tag_resource().resource(arn);
    let tagging = match shards {
        Some(n) => tagging.tags(SHARDS_TAG, n.to_string()),
        None => tagging,
    };
    let tagging = match alias {
        Some(alias) => tagging.tags(ALIAS_TAG, alias),
        None => tagging,
    };
    tagging.tags(HASH_TAG, &spec.hash).send().await.map_err(|e| failed("tagging", name, e))?;
    Ok(outcome)
}

/// Whether SnapStart applies to the published versions of function `name` (at `version`, or as
/// now configured).
async fn snapstart_of(name: &str, version: Option<&str>) -> Result<bool> {
    let conf = configuration(name, version).await?;
    Ok(conf.snap_start().and_then(|s| s.apply_on()) == Some(&SnapStartApplyOn::PublishedVersions))
}

/// Function `name`'s configuration (at `version`, else its latest).
async fn configuration(name: &str, version: Option<&str>) -> Result<GetFunctionConfigurationOutput> {
    let lookup = client().await.get_function_configuration().function_name(name);
    lookup.set_qualifier(version.map(str::to_string)).send().await.map_err(|e| failed("lookup", name, e))
}

/// With `snapstart`, publishes a version of function `name` (Lambda initialises and snapshots
/// it), waits until it can be invoked and points [`SNAPSTART_ALIAS`] at it, deleting the
/// version the alias named before; returns the alias. Without, deletes the alias and its
/// version if an earlier deploy made them; returns None.
async fn publish(name: &str, snapstart: bool) -> Result<Option<&'static str>> {
    let lambda = client().await;
    let before = match lambda.get_alias().function_name(name).name(SNAPSTART_ALIAS).send().await {
        Ok(alias) => alias.function_version().map(str::to_string),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => None,
        Err(e) => return Err(failed("alias lookup", name, e)),
    };
    let drop_version = |version: String| async move {
        // A version something else still refers to stays (and costs only its storage).
        let _ = lambda.delete_function().function_name(name).qualifier(version).send().await;
    };
    if !snapstart {
        if let Some(version) = before {
            lambda
                .delete_alias()
                .function_name(name)
                .name(SNAPSTART_ALIAS)
                .send()
                .await
                .map_err(|e| failed("alias removal", name, e))?;
            drop_version(version).await;
        }
        return Ok(None);
    }
    let published =
        lambda.publish_version().function_name(name).send().await.map_err(|e| failed("publishing", name, e))?;
    let version = published.version().unwrap_or_default().to_string();
    settle_at(name, Some(&version)).await?;
    if !snapstart_of(name, Some(&version)).await? {
        return Err(Error::Lambda {
            op: "publishing",
            function: name.into(),
            message: format!("version {version} was published without SnapStart"),
        });
    }
    match &before {
        Some(_) => {
            let update = lambda.update_alias().function_name(name).name(SNAPSTART_ALIAS).function_version(&version);
            update.send().await.map_err(|e| failed("alias update", name, e))?;
        }
        None => {
            let create = lambda.create_alias().function_name(name).name(SNAPSTART_ALIAS).function_version(&version);
            create.send().await.map_err(|e| failed("alias creation", name, e))?;
        }
    }
    if let Some(old) = before.filter(|old| *old != version) {
        drop_version(old).await;
    }
    Ok(Some(SNAPSTART_ALIAS))
}

/// Who may assume a squall function's role: the Lambda service.
const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
/// The name of the inline policy `ensure_role` writes.
pub const ROLE_POLICY_NAME: &str = "squall-store-access";

async fn iam() -> &'static aws_sdk_iam::Client {
    static CLIENT: PerProcess<tokio::sync::OnceCell<aws_sdk_iam::Client>> = PerProcess::new();
    CLIENT
        .get_or_init(Default::default)
        .get_or_init(|| async { aws_sdk_iam::Client::new(squall_store::aws_config().await) })
        .await
}

/// Creates role `name` for Lambda (or reuses it) and sets its inline policy to `policy` (JSON);
/// returns the role's ARN and whether it was created.
pub async fn ensure_role(name: &str, policy: &str) -> Result<(String, bool)> {
    let client = iam().await;
    let fail = |op: &'static str, message: String| Error::Lambda { op, function: format!("role {name}"), message };
    let (arn, created) = match client.get_role().role_name(name).send().await {
        Ok(out) => (out.role().map(|r| r.arn().to_string()).unwrap_or_default(), false),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {
            let out = client
                .create_role()
                .role_name(name)
                .assume_role_policy_document(LAMBDA_TRUST)
                .description("Execution role of a squall function: logs and its store prefix only")
                .send()
                .await
                .map_err(|e| fail("role creation", format!("{}", aws_sdk_iam::error::DisplayErrorContext(&e))))?;
            (out.role().map(|r| r.arn().to_string()).unwrap_or_default(), true)
        }
        Err(e) => return Err(fail("role lookup", format!("{}", aws_sdk_iam::error::DisplayErrorContext(&e)))),
    };
    client
        .put_role_policy()
        .role_name(name)
        .policy_name(ROLE_POLICY_NAME)
        .policy_document(policy)
        .send()
        .await
        .map_err(|e| fail("role policy", format!("{}", aws_sdk_iam::error::DisplayErrorContext(&e))))?;
    Ok((arn, created))
}

/// Waits until the function is Active and no update is in progress.
async fn settle(name: &str) -> Result<()> {
    settle_at(name, None).await
}

/// Waits until the function (at `version`, else its latest) is Active and no update is in
/// progress.
async fn settle_at(name: &str, version: Option<&str>) -> Result<()> {
    let started = Instant::now();
    loop {
        let conf = configuration(name, version).await?;
        let reason = || conf.state_reason().or(conf.last_update_status_reason()).unwrap_or("no reason given");
        if conf.state() == Some(&State::Failed) || conf.last_update_status() == Some(&LastUpdateStatus::Failed) {
            return Err(Error::Lambda { op: "deployment", function: name.into(), message: reason().to_string() });
        }
        let active = conf.state() == Some(&State::Active);
        let updating = conf.last_update_status() == Some(&LastUpdateStatus::InProgress);
        if active && !updating {
            return Ok(());
        }
        if started.elapsed() > SETTLE_TIMEOUT {
            return Err(Error::Lambda {
                op: "deployment",
                function: name.into(),
                message: format!("not ready after {} s ({})", SETTLE_TIMEOUT.as_secs(), reason()),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
