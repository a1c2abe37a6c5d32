//! The `lambda` backend: each attempt is one synchronous (RequestResponse) invocation of a
//! deployed function whose handler is `squall._lambda.handler`, or of the least busy of its
//! shards when `squall.deploy(shards=k)` made several.
//!
//! The event is JSON: `{"spec": ..., "body": base64}` with the pickled function and arguments, or
//! `"body_url"` naming an object in the scratch store when they exceed what a synchronous payload
//! may carry. The answer is `{"report": ..., "body": base64 | "body_url": url, "worker": id}`.
//! Throttling (429), service errors (5xx) and function errors (`FunctionError: Unhandled`: a
//! crash, out of memory, the function's timeout) are infrastructure failures for the scheduler.
//! Credentials, region and endpoint come from aws-config (`AWS_ENDPOINT_URL` targets LocalStack);
//! they never enter an event.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_lambda::Client;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use squall_core::{TaskReport, TaskSpec};
use squall_store::process::PerProcess;
use squall_store::Store;
use tokio::sync::OnceCell;

use crate::backend::{bounded, BoxFuture};
use crate::output::{Capture, OutputQueue};
use crate::spread::Spread;
use crate::window::Window;
use crate::{Backend, Failure, Invocation, Reply};

/// Largest function + arguments sent inside the event (base64 grows it by a third; Lambda's
/// synchronous request limit is 6 MB).
pub const INLINE_LIMIT: usize = 4 << 20;

/// The shared Lambda client. The SDK does not retry: the scheduler owns retries and backoff.
pub async fn client() -> &'static Client {
    static CLIENT: PerProcess<OnceCell<Client>> = PerProcess::new();
    CLIENT
        .get_or_init(OnceCell::new)
        .get_or_init(|| async {
            let config = aws_sdk_lambda::config::Builder::from(squall_store::aws_config().await)
                .retry_config(RetryConfig::disabled());
            Client::from_conf(config.build())
        })
        .await
}

/// Where and how to invoke.
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    /// The function's name or ARN (optionally `name:qualifier`), then its other shards.
    pub functions: Vec<String>,
    /// Invocations in flight at once.
    pub concurrency: usize,
    /// The scratch store (`s3://bucket/prefix`) for events and answers too large to inline.
    pub scratch: String,
    /// Where the lines tasks print go, for the driver to show (None: only the attempt's record).
    pub output: Option<Arc<OutputQueue>>,
}

/// The event sent to the handler.
#[derive(Serialize)]
struct Event<'a> {
    spec: &'a TaskSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_url: Option<String>,
    /// Where the handler puts an answer too large to return inline.
    scratch: &'a str,
}

/// The handler's answer.
#[derive(Deserialize)]
struct Answer {
    report: TaskReport,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_url: Option<String>,
    #[serde(default)]
    worker: String,
    #[serde(default)]
    cold: bool,
    /// What the task printed (its last 64 KB), captured by the handler.
    #[serde(default)]
    output: String,
}

/// Lambda's error document for `FunctionError` answers.
#[derive(Deserialize, Default)]
struct FunctionErrorDoc {
    #[serde(default, rename = "errorType")]
    error_type: String,
    #[serde(default, rename = "errorMessage")]
    error_message: String,
}

/// Invokes a deployed function, at most `concurrency` at once; fewer while Lambda throttles.
pub struct LambdaBackend {
    config: LambdaConfig,
    window: Window,
    scratch: Arc<dyn Store>,
    scratch_key: String,
    spread: Spread,
}

impl LambdaBackend {
    /// A backend over `config`; fails when the scratch URL is not a store URL.
    pub fn new(config: LambdaConfig) -> crate::Result<Self> {
        let (scratch, scratch_key) = squall_store::open(&config.scratch)?;
        let window = Window::new(config.concurrency);
        if config.functions.is_empty() {
            return Err(crate::Error::Lambda {
                op: "invocation",
                function: String::new(),
                message: "no function was named".into(),
            });
        }
        let spread = Spread::new(config.functions.len());
        Ok(LambdaBackend { config, window, scratch, scratch_key, spread })
    }

    /// Queues the lines an attempt printed for the driver, and keeps its last ones for its
    /// record.
    fn keep_output(&self, mut reply: Reply) -> Reply {
        let mut capture = Capture::new(reply.report.job, reply.report.task as u32);
        for line in reply.output.lines() {
            capture.add(line);
            if let Some(queue) = &self.config.output {
                queue.push((reply.report.job, reply.report.task as u32, line.to_string()));
            }
        }
        reply.output = capture.text();
        reply
    }

    fn scratch_key(&self, name: &str) -> String {
        let prefix = self.scratch_key.trim_end_matches('/');
        if prefix.is_empty() {
            format!("lambda-io/{name}")
        } else {
            format!("{prefix}/lambda-io/{name}")
        }
    }

    async fn run(&self, inv: Invocation) -> Result<Reply, Failure> {
        let permit = self.window.acquire().await.map_err(|_| Failure::Setup("the session was closed".into()))?;
        let result = self.attempt(inv).await;
        self.window.release(permit, matches!(result, Err(Failure::Throttled(_))));
        result
    }

    async fn attempt(&self, inv: Invocation) -> Result<Reply, Failure> {
        let Invocation { mut spec, func, input, timeout, mut cancel } = inv;
        spec.func_len = func.bytes.len() as u64;
        let mut body = Vec::with_capacity(func.bytes.len() + input.len());
        body.extend_from_slice(&func.bytes);
        body.extend_from_slice(&input);
        let name = format!("{}-{}-{}-{}.in", spec.job, spec.task, spec.attempt, unique());
        let staged = (body.len() > INLINE_LIMIT).then(|| self.scratch_key(&name));
        let event = match &staged {
            Some(key) => {
                self.scratch.put(key, body.into()).await.map_err(|e| Failure::Service(e.to_string()))?;
                Event {
                    spec: &spec,
                    body: None,
                    body_url: Some(self.scratch.url_of(key)),
                    scratch: &self.config.scratch,
                }
            }
            None => Event { spec: &spec, body: Some(B64.encode(&body)), body_url: None, scratch: &self.config.scratch },
        };
        let payload = serde_json::to_vec(&event).map_err(|e| Failure::Setup(e.to_string()))?;
        let shard = self.spread.pick();
        let function = &self.config.functions[shard.index];
        let result = bounded(self.invoke(function, payload), timeout, &mut cancel).await.and_then(|r| r);
        drop(shard);
        let result = result.and_then(|reply| match reply.report.answers(&spec) {
            true => Ok(self.keep_output(reply)),
            false => Err(Failure::WorkerLost(format!(
                "the function answered job {} task {} attempt {} when asked for job {} task {} attempt {}",
                reply.report.job, reply.report.task, reply.report.attempt, spec.job, spec.task, spec.attempt
            ))),
        });
        if let Some(key) = staged {
            let _ = self.scratch.delete(&key).await;
        }
        result
    }

    async fn invoke(&self, function: &str, payload: Vec<u8>) -> Result<Reply, Failure> {
        let out = client()
            .await
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| sdk_failure(function, e))?;
        let data = out.payload().map(|b| b.as_ref()).unwrap_or_default();
        if let Some(kind) = out.function_error() {
            let doc: FunctionErrorDoc = serde_json::from_slice(data).unwrap_or_default();
            let what = format!("{} ({kind}): {}", doc.error_type, doc.error_message);
            if let Some(after) = doc.error_message.split("Task timed out after ").nth(1) {
                let secs = after.split_whitespace().next().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
                return Err(Failure::Timeout(Duration::from_secs_f64(secs)));
            }
            return Err(Failure::WorkerLost(format!("the function failed: {what}")));
        }
        let answer: Answer = serde_json::from_slice(data).map_err(|e| {
            let head = String::from_utf8_lossy(&data[..data.len().min(300)]).to_string();
            Failure::WorkerLost(format!(
                "the function's answer is not a squall report ({e}): {head}; is its handler \
                 squall._lambda.handler and its squall version the driver's?"
            ))
        })?;
        let body = self.body_of(answer.body, answer.body_url).await?;
        Ok(Reply { report: answer.report, body, worker: answer.worker, cold: answer.cold, output: answer.output })
    }

    /// The body of an answer: inline (base64), or an object the handler wrote. Only an object
    /// under this session's scratch prefix is read (then deleted); an answer naming anything
    /// else is a broken or hostile function, and what it names is never touched.
    async fn body_of(&self, inline: Option<String>, url: Option<String>) -> Result<Vec<u8>, Failure> {
        match (inline, url) {
            (Some(b), _) => {
                B64.decode(b).map_err(|e| Failure::WorkerLost(format!("the function's answer is garbled: {e}")))
            }
            (None, Some(url)) => {
                let ours = self.scratch.url_of(&self.scratch_key(""));
                let name = url
                    .strip_prefix(&ours)
                    .filter(|n| !n.is_empty() && n.split('/').all(|p| !p.is_empty() && p != ".."));
                let Some(name) = name else {
                    return Err(Failure::WorkerLost(format!(
                        "the function's answer names {url:?}, outside this session's scratch space {ours}: \
                         it was not read"
                    )));
                };
                let key = self.scratch_key(name);
                let bytes = self.scratch.get(&key).await.map_err(|e| Failure::Service(e.to_string()))?;
                let _ = self.scratch.delete(&key).await;
                Ok(bytes.to_vec())
            }
            (None, None) => Ok(Vec::new()),
        }
    }
}

/// What a refused or failed invocation of `function` is to the scheduler.
fn sdk_failure(function: &str, err: SdkError<InvokeError>) -> Failure {
    let code = err.code().unwrap_or_default().to_string();
    let message = err.message().unwrap_or_default().to_string();
    match err.as_service_error() {
        Some(InvokeError::TooManyRequestsException(_)) => Failure::Throttled(format!("{code}: {message}")),
        Some(InvokeError::ResourceNotFoundException(_)) => Failure::Setup(format!(
            "Lambda function `{function}` was not found ({message}): run squall.deploy() first, \
                 or pass the deployed function's name"
        )),
        Some(InvokeError::RequestTooLargeException(_)) => {
            Failure::Setup(format!("the event for `{function}` is too large: {message}"))
        }
        Some(
            InvokeError::InvalidParameterValueException(_)
            | InvokeError::InvalidRequestContentException(_)
            | InvokeError::InvalidRuntimeException(_),
        ) => Failure::Setup(format!("Lambda refused the invocation of `{function}`: {code}: {message}")),
        _ => {
            let detail = if code.is_empty() {
                format!("{}", aws_sdk_lambda::error::DisplayErrorContext(&err))
            } else {
                format!("{code}: {message}")
            };
            Failure::Service(format!("invoking `{function}` failed: {detail}"))
        }
    }
}

impl Backend for LambdaBackend {
    fn slots(&self) -> usize {
        self.config.concurrency.max(1)
    }

    fn invoke(&self, inv: Invocation) -> BoxFuture<'_, Result<Reply, Failure>> {
        Box::pin(self.run(inv))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.window.close() })
    }
}

/// A process-unique suffix for staged objects, so attempts never share a key.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn backend(concurrency: usize) -> LambdaBackend {
        let scratch = "memory://lambda-window-test/".to_string();
        LambdaBackend::new(LambdaConfig { functions: vec!["f".into()], concurrency, scratch, output: None }).unwrap()
    }

    #[test]
    fn an_answer_may_only_name_objects_in_the_sessions_scratch_space() {
        let b = backend(1);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let ours = b.scratch.url_of(&b.scratch_key("1-2-0-x.out"));
            b.scratch.put(&b.scratch_key("1-2-0-x.out"), Bytes::from_static(b"result")).await.unwrap();
            let (victim, _) = squall_store::open("memory://lambda-victim/data.bin").unwrap();
            victim.put("data.bin", Bytes::from_static(b"precious")).await.unwrap();
            for hostile in [
                "memory://lambda-victim/data.bin",
                "s3://other-bucket/lambda-io/x",
                "memory://lambda-window-test/lambda-io/../../lambda-victim/data.bin",
                "memory://lambda-window-test/lambda-io/",
                "file:///etc/passwd",
            ] {
                let err = b.body_of(None, Some(hostile.into())).await.unwrap_err();
                assert!(matches!(err, Failure::WorkerLost(ref m) if m.contains("not read")), "{hostile}: {err}");
            }
            assert_eq!(victim.get("data.bin").await.unwrap(), Bytes::from_static(b"precious"), "never deleted");
            assert_eq!(b.body_of(None, Some(ours.clone())).await.unwrap(), b"result".to_vec());
            assert!(b.scratch.get(&b.scratch_key("1-2-0-x.out")).await.is_err(), "read once, then deleted");
        });
    }
}
