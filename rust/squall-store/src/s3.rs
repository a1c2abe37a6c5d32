//! `s3://bucket/key`: Amazon S3 and compatible servers (LocalStack, moto, MinIO).
//!
//! Credentials, region and endpoint come from aws-config's standard chain (environment,
//! profiles, SSO, instance and Lambda roles; `AWS_ENDPOINT_URL` for another server). With a
//! custom endpoint, path-style addressing is used. Throttling and 5xx answers are retried by
//! the SDK with exponential backoff; large objects move in parallel parts.

use std::ops::Range;

use aws_config::retry::RetryConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use tokio::sync::OnceCell;

use squall_core::prices::{s3_upload_part_size, S3_MULTIPART_THRESHOLD};

use crate::process::PerProcess;
use crate::{check_range, in_parallel, BoxFuture, Error, Expect, ObjectMeta, Result, Store};

/// Size of one ranged GET of a large object (and the smallest uploaded part).
pub const PART_SIZE: usize = squall_core::prices::S3_PART_SIZE;
/// Attempts per request (throttling and 5xx are retried with backoff).
const MAX_ATTEMPTS: u32 = 6;

async fn client() -> &'static Client {
    static CLIENT: PerProcess<OnceCell<Client>> = PerProcess::new();
    CLIENT
        .get_or_init(OnceCell::new)
        .get_or_init(|| async {
            let custom_endpoint =
                std::env::var_os("AWS_ENDPOINT_URL_S3").is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some();
            let s3 = aws_sdk_s3::config::Builder::from(crate::aws_config().await)
                .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
                .force_path_style(custom_endpoint);
            Client::from_conf(s3.build())
        })
        .await
}

/// One bucket of S3.
#[derive(Debug, Clone)]
pub struct S3Store {
    bucket: String,
}

impl S3Store {
    /// The bucket `bucket`; the client is made on first use.
    pub fn new(bucket: &str) -> Self {
        S3Store { bucket: bucket.to_string() }
    }

    fn error<E, R>(&self, op: &'static str, key: &str, err: SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let url = self.url_of(key);
        let status = match &err {
            SdkError::ServiceError(e) => Some(format!("{:?}", e.raw())),
            _ => None,
        };
        let code = err.code().unwrap_or_default().to_string();
        let status_404 = status.as_deref().is_some_and(|s| s.contains("StatusCode(404)"));
        let status_403 = status.as_deref().is_some_and(|s| s.contains("StatusCode(403)"));
        match code.as_str() {
            "NoSuchBucket" => Error::NoSuchBucket { bucket: self.bucket.clone(), url },
            // 412, or 409 when another conditional write of the key was in flight.
            "PreconditionFailed" | "ConditionalRequestConflict" => Error::Precondition { url },
            "NoSuchKey" | "NotFound" => Error::NotFound { url },
            "AccessDenied" | "Forbidden" => Error::PermissionDenied { url },
            _ if status_404 => Error::NotFound { url },
            _ if status_403 => Error::PermissionDenied { url },
            _ => {
                let detail = match err.message() {
                    Some(m) => format!("{code}: {m}"),
                    None => format!("{}", aws_sdk_s3::error::DisplayErrorContext(&err)),
                };
                let transient = matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))
                    || matches!(code.as_str(), "SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestTimeout");
                Error::Remote { op, url, message: detail, transient }
            }
        }
    }

    async fn get_part(&self, key: &str, range: Range<u64>) -> Result<(Bytes, Option<u64>)> {
        let out = client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(|e| self.error("reading", key, e))?;
        let total = out.content_range().and_then(|r| r.rsplit('/').next()).and_then(|t| t.parse().ok());
        Ok((self.collect(key, out.body).await?, total))
    }

    /// The whole body of an answer about `key`; a connection lost on the way is transient.
    async fn collect(&self, key: &str, body: ByteStream) -> Result<Bytes> {
        let body = body.collect().await.map_err(|e| Error::Remote {
            op: "reading",
            url: self.url_of(key),
            message: e.to_string(),
            transient: true,
        })?;
        Ok(body.into_bytes())
    }

    /// Reads `ranges` of an object, several at once; each part with the object's size.
    async fn get_parts(&self, key: &str, ranges: Vec<Range<u64>>) -> Result<Vec<(Bytes, Option<u64>)>> {
        let jobs = ranges
            .into_iter()
            .map(|range| -> BoxFuture<'static, Result<(Bytes, Option<u64>)>> {
                let (store, key) = (self.clone(), key.to_string());
                Box::pin(async move { store.get_part(&key, range).await })
            })
            .collect();
        in_parallel(jobs).await
    }

    async fn put_multipart(&self, key: &str, data: Bytes) -> Result<()> {
        let c = client().await;
        let upload = c
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error("writing", key, e))?;
        let id = upload.upload_id().unwrap_or_default().to_string();
        let result = self.upload_parts(key, &id, data).await;
        match result {
            Ok(parts) => {
                let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
                c.complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&id)
                    .multipart_upload(done)
                    .send()
                    .await
                    .map_err(|e| self.error("writing", key, e))?;
                Ok(())
            }
            Err(e) => {
                // Nothing was published: the object appears only on completion.
                let _ = c.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(&id).send().await;
                Err(e)
            }
        }
    }

    async fn upload_parts(&self, key: &str, id: &str, data: Bytes) -> Result<Vec<CompletedPart>> {
        let part = s3_upload_part_size(data.len() as u64);
        let jobs = (0..data.len())
            .step_by(part)
            .enumerate()
            .map(|(i, start)| -> BoxFuture<'static, Result<CompletedPart>> {
                let chunk = data.slice(start..(start + part).min(data.len()));
                let (store, key, id) = (self.clone(), key.to_string(), id.to_string());
                Box::pin(async move {
                    let number = i as i32 + 1;
                    let sent = client()
                        .await
                        .upload_part()
                        .bucket(&store.bucket)
                        .key(&key)
                        .upload_id(id)
                        .part_number(number)
                        .body(ByteStream::from(chunk))
                        .send()
                        .await
                        .map_err(|e| store.error("writing", &key, e))?;
                    Ok(CompletedPart::builder().part_number(number).set_e_tag(sent.e_tag).build())
                })
            })
            .collect();
        in_parallel(jobs).await
    }
}

impl Store for S3Store {
    fn get_tagged<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(Bytes, String)>> {
        Box::pin(async move {
            let out = client()
                .await
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| self.error("reading", key, e))?;
            let tag = out.e_tag().unwrap_or_default().to_string();
            Ok((self.collect(key, out.body).await?, tag))
        })
    }

    fn put_if<'a>(&'a self, key: &'a str, data: Bytes, expect: Expect<'a>) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let put = client().await.put_object().bucket(&self.bucket).key(key).body(ByteStream::from(data));
            let put = match expect {
                Expect::Absent => put.if_none_match("*"),
                Expect::Tag(tag) => put.if_match(tag),
            };
            let out = put.send().await.map_err(|e| self.error("writing", key, e))?;
            Ok(out.e_tag().unwrap_or_default().to_string())
        })
    }

    fn url_of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if data.len() > S3_MULTIPART_THRESHOLD {
                return self.put_multipart(key, data).await;
            }
            client()
                .await
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::from(data))
                .send()
                .await
                .map_err(|e| self.error("writing", key, e))?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            // The first part tells the size; the rest, if any, is read in parallel.
            let first = match self.get_part(key, 0..PART_SIZE as u64).await {
                Ok(first) => first,
                // An empty object has no byte 0: read it whole.
                Err(Error::Remote { message, .. }) if message.contains("InvalidRange") => {
                    return Ok(Bytes::new());
                }
                Err(e) => return Err(e),
            };
            let (head, total) = first;
            let total = total.unwrap_or(head.len() as u64);
            if total <= head.len() as u64 {
                return Ok(head);
            }
            let starts = (head.len() as u64..total).step_by(PART_SIZE);
            let ranges = starts.map(|s| s..(s + PART_SIZE as u64).min(total)).collect();
            let parts = self.get_parts(key, ranges).await?;
            let mut out = BytesMut::with_capacity(total as usize);
            out.extend_from_slice(&head);
            for (p, _) in parts {
                out.extend_from_slice(&p);
            }
            Ok(out.freeze())
        })
    }

    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            if range.start > range.end {
                return Err(Error::BadRange { url: self.url_of(key), start: range.start, end: range.end, size: 0 });
            }
            if range.is_empty() {
                return Ok(Bytes::new());
            }
            // No HEAD first: S3 answers a range past the end short (or with InvalidRange).
            let ranges = (range.start..range.end).step_by(PART_SIZE).map(|s| s..(s + PART_SIZE as u64).min(range.end));
            let parts = match self.get_parts(key, ranges.collect()).await {
                Err(Error::Remote { message, .. }) if message.contains("InvalidRange") => Vec::new(),
                other => other?,
            };
            let data: Bytes = match parts.as_slice() {
                [(one, _)] => one.clone(),
                _ => parts.iter().map(|(p, _)| p.as_ref()).collect::<Vec<_>>().concat().into(),
            };
            if data.len() as u64 != range.end - range.start {
                let size = match parts.first() {
                    Some((_, Some(total))) => *total,
                    _ => self.head(key).await?.size,
                };
                check_range(self.url_of(key), &range, size)?;
            }
            Ok(data)
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move {
            let out = client()
                .await
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| self.error("inspecting", key, e))?;
            Ok(ObjectMeta { key: key.to_string(), size: out.content_length().unwrap_or(0) as u64 })
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut token = None;
            loop {
                let page = client()
                    .await
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(prefix)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .map_err(|e| self.error("listing", prefix, e))?;
                for o in page.contents() {
                    if let Some(key) = o.key() {
                        out.push(ObjectMeta { key: key.to_string(), size: o.size().unwrap_or(0) as u64 });
                    }
                }
                token = page.next_continuation_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            client()
                .await
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| self.error("deleting", key, e))?;
            Ok(())
        })
    }
    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let source = format!("{}/{}", self.bucket, encode_key(from));
            client()
                .await
                .copy_object()
                .bucket(&self.bucket)
                .key(to)
                .copy_source(source)
                .send()
                .await
                .map_err(|e| self.error("copying", from, e))?;
            self.delete(from).await
        })
    }
}

/// `key` percent-encoded for a copy source (`/` kept).
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
