//! Committing a written dataset, after the output committers of Hadoop and Spark and the logs
//! of Delta and Iceberg: nothing a reader can see changes until one compare-and-swap of the
//! manifest, so a reader sees the old dataset or the new one, never a mix, whatever stops the
//! driver and whoever else writes.
//!
//! 1. `begin`: read the manifest (or list the files of a directory without one), refuse a
//!    target that holds data unless the mode says what to do with it, and record this job's
//!    owner in `_attempts/<job>/_job.json`; attempts of dead jobs found there are removed.
//! 2. The tasks' attempts write under `_attempts/<job>/` (hidden from readers).
//! 3. `publish`: a directory without a manifest first gets one that lists what it holds
//!    (created only where none is: the first of two writers wins), so that the files moved
//!    in next stay invisible; each partition's winning attempt moves to
//!    `part-NNNNN-<job>.<ext>` (job-unique: no reader's file is ever replaced); the new
//!    manifest replaces the one read at `begin` only if that is still there (else
//!    [`Error::Conflict`], and this job's files go); then the files it replaced, and this
//!    job's attempts, are deleted.
//!
//! A crash leaves invisible files only: `_attempts/<job>/` (removed by the next writer of the
//! directory once the job's process is gone) and, between the moves and the publish, parts
//! that no manifest lists (removed by `clean`, as are files an overwrite replaced).

use std::sync::Arc;

use squall_core::codec::{Compression, Format};
use squall_core::manifest::{Manifest, ManifestFile, MANIFEST};
use squall_core::plan::{Output, PartitionReport, TaskOutput, WriteMode, ATTEMPTS_DIR};
use squall_store::{in_parallel, BoxFuture, Bytes, Expect, ObjectMeta, Store, StoreUrl};

use crate::owner::{job_created, now_secs, Owner, STALE_AFTER};
use crate::runtime::runtime;
use crate::{Error, Result};

/// The file in a job's attempts folder that names its owner.
const JOB_FILE: &str = "_job.json";

/// A write of a dataset directory, from `begin` to `publish`.
pub struct Commit {
    store: Arc<dyn Store>,
    /// The directory's key, ending in `/` (empty: a bucket's root).
    dir: String,
    job: String,
    mode: WriteMode,
    format: Format,
    compression: Compression,
    /// The manifest and its tag when the job began (None: the directory had none).
    base: Option<(Manifest, String)>,
    /// The visible files of a directory without a manifest.
    plain: Vec<ObjectMeta>,
}

impl Commit {
    /// Starts job `job`'s write of `dir`, refusing a target that holds data in mode `error`.
    pub fn begin(dir: &str, mode: WriteMode, format: Format, compression: Compression, job: &str) -> Result<Commit> {
        let mut commit = Commit::open(dir, mode, format, compression, job)?;
        runtime()?.block_on(commit.start())?;
        Ok(commit)
    }

    fn open(dir: &str, mode: WriteMode, format: Format, compression: Compression, job: &str) -> Result<Commit> {
        let parsed = StoreUrl::parse(dir)?;
        let key = parsed.key().trim_end_matches('/');
        if key.is_empty() && matches!(parsed, StoreUrl::Local { .. }) {
            return Err(plan(format!("{dir}: refusing to write a dataset into the root directory; name a directory")));
        }
        let dir_key = if key.is_empty() { String::new() } else { format!("{key}/") };
        Ok(Commit {
            store: parsed.store(),
            dir: dir_key,
            job: job.to_string(),
            mode,
            format,
            compression,
            base: None,
            plain: Vec::new(),
        })
    }

    async fn start(&mut self) -> Result<()> {
        if let Some(file) = self.dir.strip_suffix('/') {
            if self.store.head(file).await.is_ok() {
                let url = squall_core::redact::redact(&self.store.url_of(file));
                return Err(plan(format!(
                    "{url} is a file: name a directory for the dataset (a new one, or one that holds a dataset)"
                )));
            }
        }
        self.reap_attempts().await?;
        step(0);
        match self.store.get_tagged(&self.key(MANIFEST)).await {
            Ok((data, tag)) => self.base = Some((Manifest::parse(&data, &self.url(MANIFEST))?, tag)),
            Err(e) if e.is_not_found() => self.plain = self.visible().await?,
            Err(e) => return Err(e.into()),
        }
        let held = self.base.as_ref().map_or(self.plain.len(), |(m, _)| m.files.len());
        match (self.mode, &self.base) {
            (WriteMode::Error, _) if held > 0 => {
                return Err(plan(format!(
                    "{} already holds a dataset ({held} file{}): pass mode=\"overwrite\" to replace it, or \
                     mode=\"append\" to add to it",
                    self.url(""),
                    if held == 1 { "" } else { "s" }
                )))
            }
            (WriteMode::Append, Some((m, _))) if m.format != self.format && !m.files.is_empty() => {
                return Err(plan(format!(
                    "{} holds {} files: append {} files to it, or write elsewhere",
                    self.url(""),
                    m.format.extension(),
                    m.format.extension()
                )))
            }
            _ => {}
        }
        let owner = serde_json::to_vec(&Owner::this_process()).expect("an owner serialises");
        self.store.put(&self.attempts_key(JOB_FILE), Bytes::from(owner)).await?;
        Ok(())
    }

    /// Where partition `p`'s attempts write (the attempt number is added to the name).
    pub fn attempt_output(&self, p: usize) -> TaskOutput {
        TaskOutput::File(Output {
            format: self.format,
            url: self.store.url_of(&self.attempts_key(&format!("part-{p:05}.{}", self.format.extension()))),
            compression: self.compression,
            result: true,
        })
    }

    /// Publishes the committed attempts of every partition (`reports`, in partition order) as
    /// the dataset's new manifest; on any failure, this job's files are removed.
    pub fn publish(&self, reports: &[PartitionReport]) -> Result<Manifest> {
        let rt = runtime()?;
        let published = rt.block_on(self.publish_async(reports));
        if published.is_err() {
            let _ = rt.block_on(self.remove_own(reports));
        }
        rt.block_on(self.delete_all(&self.attempts_key("")))?;
        published
    }

    /// Removes this job's attempts (a failed or cancelled job).
    pub fn abort(&self) {
        if let Ok(rt) = runtime() {
            let _ = rt.block_on(self.delete_all(&self.attempts_key("")));
        }
    }

    async fn publish_async(&self, reports: &[PartitionReport]) -> Result<Manifest> {
        let kept = self.agreeing(reports)?;
        step(1);
        let (base, base_tag) = match &self.base {
            Some((m, tag)) => (m.clone(), tag.clone()),
            None => {
                // No manifest yet: one that lists what is there, before anything moves in.
                let adopted = self.manifest(0, self.plain.iter().map(|o| self.file_of(o)).collect(), Vec::new(), None);
                let tag = self.swap(&adopted, Expect::Absent).await?;
                step(2);
                (adopted, tag)
            }
        };
        let moves: Vec<(String, String)> = kept
            .iter()
            .map(|r| (self.key_of(r.url.as_deref().unwrap_or_default()), self.final_key(r.partition)))
            .collect();
        self.moved(&moves).await?;
        step(4);
        let new: Vec<ManifestFile> = kept
            .iter()
            .map(|r| ManifestFile {
                name: self.name_of(&self.final_key(r.partition)),
                rows: Some(r.rows),
                bytes: r.bytes_written,
            })
            .collect();
        let schema = kept.iter().find(|r| r.rows > 0).or(kept.first()).and_then(|r| r.schema.clone());
        if let (WriteMode::Append, Some(old), Some(new)) = (self.mode, &base.schema, &schema) {
            if old != new && !base.files.is_empty() {
                return Err(data(self.url(""), format!("its files have the columns {old}; the appended ones {new}")));
            }
        }
        let (files, replaced) = match self.mode {
            WriteMode::Append => (base.files.iter().cloned().chain(new).collect(), Vec::new()),
            _ => (new, base.files.iter().map(|f| f.name.clone()).collect()),
        };
        let manifest = self.manifest(base.version + 1, files, replaced, schema);
        self.swap(&manifest, Expect::Tag(&base_tag)).await?;
        step(5);
        let gone: Vec<String> =
            manifest.replaced.iter().map(|n| self.key_of(&Manifest::url_of(&self.url(""), n))).collect();
        self.delete_keys(gone).await?;
        step(6);
        Ok(manifest)
    }

    /// The reports whose files go into the dataset: every partition with rows must have the
    /// same columns; empty partitions whose columns differ (a function that was never called
    /// there) are left out.
    fn agreeing<'a>(&self, reports: &'a [PartitionReport]) -> Result<Vec<&'a PartitionReport>> {
        let first = reports.iter().find(|r| r.rows > 0).or(reports.first());
        let want = first.and_then(|r| r.schema.as_deref());
        if let Some(other) = reports.iter().find(|r| r.rows > 0 && r.schema.as_deref() != want) {
            let first = first.expect("a report with rows");
            return Err(data(
                self.url(""),
                format!(
                    "partition {} has the columns {}, partition {} the columns {}: a dataset's files must agree \
                     (make the function return the same columns for every batch)",
                    first.partition,
                    want.unwrap_or("?"),
                    other.partition,
                    other.schema.as_deref().unwrap_or("?")
                ),
            ));
        }
        Ok(reports.iter().filter(|r| r.schema.as_deref() == want).collect())
    }

    /// Moves each attempt's file to its final name: the first alone (a crash after it is the
    /// test's "some moved, some not"), then the rest several at once.
    async fn moved(&self, moves: &[(String, String)]) -> Result<()> {
        let jobs = |moves: &[(String, String)]| -> Vec<BoxFuture<'static, squall_store::Result<()>>> {
            moves
                .iter()
                .map(|(from, to)| -> BoxFuture<'static, squall_store::Result<()>> {
                    let (store, from, to) = (self.store.clone(), from.clone(), to.clone());
                    Box::pin(async move { store.rename(&from, &to).await })
                })
                .collect()
        };
        let (first, rest) = moves.split_at(moves.len().min(1));
        in_parallel(jobs(first)).await?;
        step(3);
        in_parallel(jobs(rest)).await?;
        Ok(())
    }

    /// Replaces the manifest with `manifest` if it is as `expect` says. A lost race is a
    /// conflict, unless the manifest there is this job's own (an answer lost on the way back).
    async fn swap(&self, manifest: &Manifest, expect: Expect<'_>) -> Result<String> {
        let key = self.key(MANIFEST);
        match self.store.put_if(&key, Bytes::from(manifest.to_json()), expect).await {
            Ok(tag) => Ok(tag),
            Err(squall_store::Error::Precondition { .. }) => {
                let (data, tag) = self.store.get_tagged(&key).await?;
                match Manifest::parse(&data, &self.url(MANIFEST)) {
                    Ok(there) if there.job == manifest.job && there.version == manifest.version => Ok(tag),
                    Ok(there) => Err(Error::Conflict {
                        url: self.url(""),
                        why: format!(
                            "another job ({}) wrote this dataset while this one ran; this job's files were \
                             removed and the dataset is as that job left it: run this write again",
                            if there.job.is_empty() { "of another tool" } else { &there.job }
                        ),
                    }),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    fn manifest(
        &self,
        version: u64,
        files: Vec<ManifestFile>,
        replaced: Vec<String>,
        schema: Option<String>,
    ) -> Manifest {
        let rows = files.iter().map(|f| f.rows).sum::<Option<u64>>();
        Manifest {
            version,
            job: if version == 0 { String::new() } else { self.job.clone() },
            mode: self.mode,
            format: self.format,
            compression: self.compression,
            created: iso_now(),
            rows,
            schema,
            files,
            replaced,
        }
    }

    /// Removes what this job moved in or left (after a failed publish).
    async fn remove_own(&self, reports: &[PartitionReport]) -> Result<()> {
        let mine: Vec<String> = reports.iter().map(|r| self.final_key(r.partition)).collect();
        self.delete_keys(mine).await
    }

    /// Removes the attempts of jobs whose process is gone (or, elsewhere, that are a day old);
    /// returns the jobs whose attempts still live.
    async fn reap_attempts(&self) -> Result<Vec<String>> {
        let prefix = self.key(&format!("{ATTEMPTS_DIR}/"));
        let listed = self.store.list(&prefix).await?;
        let mut jobs: Vec<&str> = listed.iter().filter_map(|o| o.key[prefix.len()..].split('/').next()).collect();
        jobs.dedup();
        let mut live = Vec::new();
        for job in jobs {
            let owner = match self.store.get(&format!("{prefix}{job}/{JOB_FILE}")).await {
                Ok(data) => serde_json::from_slice::<Owner>(&data).ok(),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.into()),
            };
            let alive = match owner {
                Some(owner) => owner.is_alive(STALE_AFTER),
                // Late attempts of a finished job: kept a day, as their job might still run.
                None => job_created(job).is_some_and(|t| now_secs().saturating_sub(t) < STALE_AFTER.as_secs()),
            };
            match alive {
                true => live.push(job.to_string()),
                false => self.delete_all(&format!("{prefix}{job}/")).await?,
            }
        }
        Ok(live)
    }

    /// Removes the attempts of dead jobs, the files the manifest replaced, and squall's part
    /// files that no manifest lists and no live job is about to publish.
    async fn clean(&self) -> Result<Vec<String>> {
        let before: Vec<String> = self.store.list(&self.dir).await?.into_iter().map(|o| o.key).collect();
        let live = self.reap_attempts().await?;
        let listed = match self.store.get(&self.key(MANIFEST)).await {
            Ok(data) => Some(Manifest::parse(&data, &self.url(MANIFEST))?),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(manifest) = listed {
            let dir = self.url("");
            let key = |name: &str| self.key_of(&Manifest::url_of(&dir, name));
            let kept: std::collections::HashSet<String> = manifest.files.iter().map(|f| key(&f.name)).collect();
            let replaced = manifest.replaced.iter().map(|n| key(n)).filter(|k| !kept.contains(k));
            let orphans = self.visible().await?.into_iter().map(|o| o.key).filter(|k| {
                let name = k.rsplit('/').next().unwrap_or(k);
                let tag = part_tag(name);
                !kept.contains(k) && tag.is_some_and(|t| !live.iter().any(|job| job.ends_with(t)))
            });
            let gone: Vec<String> = replaced.chain(orphans).collect();
            self.delete_keys(gone).await?;
        }
        let after: std::collections::HashSet<String> =
            self.store.list(&self.dir).await?.into_iter().map(|o| o.key).collect();
        Ok(before.into_iter().filter(|k| !after.contains(k)).map(|k| self.store.url_of(&k)).collect())
    }

    /// The visible files under the directory (as a reader without a manifest sees them).
    async fn visible(&self) -> Result<Vec<ObjectMeta>> {
        let listed = self.store.list(&self.dir).await?;
        let hidden = |k: &str| k.split('/').any(|p| p.starts_with('_') || p.starts_with('.'));
        Ok(listed.into_iter().filter(|o| !hidden(&o.key[self.dir.len()..])).collect())
    }

    /// Deletes every object under `prefix` (a folder of `_attempts/`), and the folders.
    async fn delete_all(&self, prefix: &str) -> Result<()> {
        let keys = self.store.list(prefix).await?.into_iter().map(|o| o.key).collect();
        self.delete_keys(keys).await?;
        self.store.prune(&self.key(&format!("{ATTEMPTS_DIR}/"))).await?;
        Ok(())
    }

    async fn delete_keys(&self, keys: Vec<String>) -> Result<()> {
        let jobs = keys
            .into_iter()
            .map(|key| -> BoxFuture<'static, squall_store::Result<()>> {
                let store = self.store.clone();
                Box::pin(async move { store.delete(&key).await })
            })
            .collect();
        in_parallel(jobs).await?;
        Ok(())
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.dir)
    }

    fn url(&self, name: &str) -> String {
        self.store.url_of(&self.key(name))
    }

    fn attempts_key(&self, name: &str) -> String {
        self.key(&format!("{ATTEMPTS_DIR}/{}/{name}", self.job))
    }

    /// The committed name of partition `p`: job-unique, so no reader's file is replaced.
    fn final_key(&self, p: usize) -> String {
        let tag = self.job.rsplit('-').next().unwrap_or(&self.job);
        self.key(&format!("part-{p:05}-{tag}.{}", self.format.extension()))
    }

    fn key_of(&self, url: &str) -> String {
        StoreUrl::parse(url).map(|u| u.key().to_string()).unwrap_or_default()
    }

    fn name_of(&self, key: &str) -> String {
        key.strip_prefix(&self.dir).unwrap_or(key).to_string()
    }

    fn file_of(&self, o: &ObjectMeta) -> ManifestFile {
        ManifestFile { name: self.name_of(&o.key), rows: None, bytes: o.size }
    }
}

/// The job tag in the name of a committed part file (`part-00003-3fa2b1c9d0e1.parquet`).
fn part_tag(name: &str) -> Option<&str> {
    let stem = name.strip_prefix("part-")?.split('.').next()?;
    let (number, tag) = stem.split_once('-')?;
    let ok = number.len() == 5 && number.bytes().all(|b| b.is_ascii_digit()) && tag.len() == 12;
    (ok && tag.bytes().all(|b| b.is_ascii_hexdigit())).then_some(tag)
}

/// Removes what crashed or cancelled jobs left in the dataset directory `dir`: attempts of jobs
/// whose process is gone, files its manifest replaced, and part files that no manifest lists
/// and no live job is about to publish. Returns the URLs removed.
pub fn clean(dir: &str) -> Result<Vec<String>> {
    let commit = Commit::open(dir, WriteMode::Append, Format::Parquet, Compression::None, "")?;
    runtime()?.block_on(commit.clean())
}

/// Test hook: `SQUALL_TEST_COMMIT_KILL=<n>` kills this process (SIGKILL, as `kill -9` would)
/// when the commit reaches step `n`, so that tests can check what every crash leaves.
fn step(n: u32) {
    if std::env::var("SQUALL_TEST_COMMIT_KILL").ok().and_then(|v| v.parse().ok()) == Some(n) {
        // SAFETY: kill(2) of this very process.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

fn iso_now() -> String {
    // Days to a civil date (Howard Hinnant's algorithm), so no date crate is needed.
    let secs = now_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn plan(message: String) -> Error {
    squall_core::Error::Plan(message).into()
}

fn data(url: String, message: String) -> Error {
    squall_core::Error::Data { url, what: "write the dataset".into(), message }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_carry_their_jobs_tag() {
        assert_eq!(part_tag("part-00003-3fa2b1c9d0e1.parquet"), Some("3fa2b1c9d0e1"));
        assert_eq!(part_tag("part-00003.parquet"), None);
        assert_eq!(part_tag("part-0003-3fa2b1c9d0e1.parquet"), None);
        assert_eq!(part_tag("data.csv"), None);
    }

    #[test]
    fn dates_are_iso_utc() {
        let text = iso_now();
        assert_eq!(text.len(), 20, "{text}");
        assert!(text.starts_with("20") && text.ends_with('Z') && text.as_bytes()[10] == b'T', "{text}");
    }
}
