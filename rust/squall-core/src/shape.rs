//! A plan by size alone: how many tasks each stage runs and what each of them reads, writes and
//! works through, from the plan's input sizes, without running anything. A metadata-only
//! simulation runs these shapes through the real scheduler (`squall_exec::sized`) and an
//! estimate prices them (`squall_exec::estimate`), so a 100 TB plan is modelled on a laptop.
//!
//! Requests are counted as the counted store counts them ([`s3_requests`] per read or write).
//! A Parquet input is read as its footer plus its columns' bytes; buckets are taken as equal
//! (keys spread evenly, as a sample sort's splitters aim for); a group-by's map output as big as
//! its input (no reduction assumed); a reducer per bucket, even where the driver would let
//! adjacent small buckets share one (a shuffle whose partition count nobody fixed). A sort, a
//! write, a collect and a count are counted exactly as they run (tests/test_model.py).

use serde::{Deserialize, Serialize};

use crate::budget::Budget;
use crate::codec::Format;
use crate::file_types::InputColumn;
use crate::merge::MergeLevel;
use crate::plan::{Exchange, Input, Plan, Sink, Source, Stage, Target, SAMPLE_ROWS_PER_PARTITION};
use crate::prices::{s3_put_requests, s3_requests};
use crate::spec::TaskIo;
use crate::stages::key_columns;
use crate::tier::Intermediates;

/// What one task does, by size: its requests and bytes, and the bytes it works through
/// (decodes, sorts, encodes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskSize {
    /// Its requests and the bytes they move.
    pub io: TaskIo,
    /// Decoded bytes it works through.
    pub work_bytes: u64,
}

/// One stage by size.
#[derive(Debug, Clone, PartialEq)]
pub struct StageShape {
    /// Its label, as the driver names the stage (`squall.sort (map)`).
    pub label: String,
    /// Its tasks.
    pub tasks: usize,
    /// What each task does.
    pub each: TaskSize,
    /// The share of each task's requests and bytes that touches the user's data (its input,
    /// its written output) rather than intermediate objects, which may live in another store.
    pub data: TaskIo,
    /// Requests the driver makes once the stage is done (reading a sort's samples, committing
    /// a written dataset, deleting intermediate objects).
    pub driver: TaskIo,
}

impl StageShape {
    /// The requests and bytes of all its tasks, and the driver's after it.
    pub fn total(&self) -> TaskIo {
        self.each.io * self.tasks as u64 + self.driver
    }

    /// The requests and bytes of all its tasks that touch the user's data.
    pub fn data_total(&self) -> TaskIo {
        self.data * self.tasks as u64
    }
}

/// Objects one LIST request covers.
const PER_LIST: u64 = 1000;
/// Bytes of one sampled key row, about.
const SAMPLE_ROW_BYTES: u64 = 16;

/// The URL scheme of a synthetic input's partitions, which hold no bytes.
pub const SYNTHETIC: &str = "synthetic://";

impl Plan {
    /// A plan over a synthetic input: `rows` rows of `columns` (name, bytes per row each) in
    /// `partitions` equal parts, sizes without bytes, for `Dataset.estimate` and
    /// `Dataset.simulate` (an action that would read it is refused).
    pub fn synthetic(columns: Vec<(String, u64)>, rows: u64, partitions: usize, source: String) -> Self {
        let row: u64 = columns.iter().map(|(_, w)| w).sum();
        let size = (rows * row).div_ceil(partitions.max(1) as u64);
        let inputs =
            (0..partitions).map(|p| Input::whole(format!("{SYNTHETIC}{source}/part-{p:06}"), Format::Parquet, size));
        let (names, widths): (Vec<String>, _) = columns.into_iter().unzip();
        let names = names.into_iter().map(|name| InputColumn { name, data_type: None }).collect();
        let mut plan = Plan::scan(inputs.collect(), source).with_schema(Some(names), 1.0);
        plan.widths = widths;
        plan
    }

    /// Whether the plan reads a synthetic input (see [`Plan::synthetic`]).
    pub fn is_synthetic(&self) -> bool {
        self.inputs.first().is_some_and(|i| i.url.starts_with(SYNTHETIC))
    }

    /// The plan's stages by size, run into `sink` under `budget` with intermediate objects as
    /// `tiers` places them; `verb` names the action in labels. A shuffle's merge level, when
    /// it gets one, is a stage of its own.
    pub fn shapes(&self, sink: &Sink, budget: &Budget, tiers: &Intermediates, verb: &str) -> Vec<StageShape> {
        let stages = self.stages();
        let total = self.decoded_bytes();
        let mut tasks: Vec<usize> = Vec::new();
        let mut out: Vec<StageShape> = Vec::new();
        let mut scratch_objects = 0u64;
        for (k, stage) in stages.iter().enumerate() {
            let n = match stage.source {
                Source::Inputs => self.inputs.len(),
                Source::Shuffle(i) => self.shuffles[i].exchange.partitions(),
                Source::Parts(j) => tasks[j],
            }
            .max(1);
            tasks.push(n);
            let per = total / n as u64;
            let mut each = TaskSize::default();
            let mut driver = TaskIo::default();
            let mut data = TaskIo::default();
            match stage.source {
                Source::Inputs => {
                    let bytes = self.inputs.iter().map(|i| i.bytes()).sum::<u64>() / n as u64;
                    let read = match self.inputs.first().map(|i| i.format) {
                        // Its footer, then each column's chunk (one row group each, about).
                        Some(Format::Parquet) => {
                            let chunks: Vec<u64> =
                                self.read_shares(stage).iter().map(|share| (bytes as f64 * share) as u64).collect();
                            each.io.gets = 1 + chunks.iter().map(|&c| s3_requests(c)).sum::<u64>();
                            chunks.iter().sum()
                        }
                        // An Arrow IPC file is read whole.
                        _ => {
                            each.io.gets = s3_requests(bytes);
                            bytes
                        }
                    };
                    each.io.bytes_read = read;
                    each.work_bytes = self.decoded(read);
                    data = each.io;
                }
                Source::Parts(_) => read_whole(&mut each, per),
                Source::Shuffle(i) => {
                    let m = stages.iter().position(|s| s.target == Target::Shuffle(i)).map_or(1, |j| tasks[j]);
                    let object = total / m as u64;
                    let mut objects = m;
                    if let Some(level) = MergeLevel::choose(m, n, object, budget.task_input(), tiers.two_level) {
                        let merges = level.tasks(m);
                        let bytes = total / merges as u64;
                        let mut merge = TaskSize::default();
                        merge.io.gets = level.group as u64 * s3_requests(bytes / level.group as u64);
                        merge.io.bytes_read = bytes;
                        write(&mut merge, bytes);
                        let name = self.shuffles[i].exchange.name();
                        let label = format!("squall.{name} (merge)");
                        // The merged map objects are deleted at once, one request each.
                        let driver = TaskIo { deletes: m as u64, ..Default::default() };
                        scratch_objects = scratch_objects.saturating_sub(m as u64);
                        let data = TaskIo::default();
                        out.push(StageShape { label, tasks: merges, each: merge, data, driver });
                        scratch_objects += merges as u64;
                        objects = m.div_ceil(level.group);
                    }
                    each.io.gets = objects as u64 * s3_requests(per / objects as u64);
                    each.io.bytes_read = per;
                    each.work_bytes = per;
                }
            }
            let written = each.work_bytes;
            match stage.target {
                Target::Sample(_) => {
                    write(&mut each, SAMPLE_ROWS_PER_PARTITION as u64 * SAMPLE_ROW_BYTES);
                    // The driver reads every sample and writes the splitters.
                    driver.gets += n as u64;
                    driver.bytes_read += n as u64 * each.io.bytes_written;
                    driver.puts += 1;
                    scratch_objects += n as u64 + 1;
                }
                Target::Shuffle(i) => {
                    if self.shuffles[i].exchange.sampled() {
                        each.io.gets += 1; // the splitters
                    }
                    write(&mut each, written);
                    scratch_objects += n as u64;
                }
                Target::Parts => {
                    write(&mut each, written);
                    scratch_objects += n as u64;
                }
                Target::Sink => match sink {
                    Sink::Count => {}
                    Sink::Collect => {
                        write(&mut each, written);
                        driver.gets += n as u64 * s3_requests(written);
                        driver.bytes_read += n as u64 * written;
                        scratch_objects += n as u64;
                    }
                    Sink::Write { .. } => {
                        let before = each.io;
                        write(&mut each, written);
                        data = data + (each.io - before);
                        driver = driver + commit_requests(n as u64);
                    }
                },
            }
            if k + 1 == stages.len() {
                // What is left in scratch is listed and deleted at the end, one request each.
                driver.lists += scratch_objects.div_ceil(PER_LIST).max(1);
                driver.deletes += scratch_objects;
            }
            out.push(StageShape { label: self.stage_label(&stages, k, verb), tasks: n, each, data, driver });
        }
        out
    }

    /// The share of an input's bytes of each column `stage` reads: a sort's sample with no
    /// operators before it reads only its keys; otherwise the columns the plan uses.
    fn read_shares(&self, stage: &Stage) -> Vec<f64> {
        let Some(all) = &self.input_names() else { return vec![1.0] };
        let read = match (stage.target, &self.shuffles) {
            (Target::Sample(i), shuffles) if stage.ops.is_empty() => match &shuffles[i].exchange {
                Exchange::Sort { keys, .. } => Some(key_columns(keys)),
                _ => None,
            },
            _ => self.scan_columns(),
        };
        let read = read.unwrap_or_else(|| all.clone());
        let width = |c: &String| match self.widths.is_empty() {
            true => 1.0,
            false => all.iter().position(|a| a == c).map_or(0.0, |j| self.widths[j] as f64),
        };
        let whole: f64 = all.iter().map(width).sum();
        match whole > 0.0 {
            true => read.iter().map(|c| width(c) / whole).collect(),
            false => vec![1.0],
        }
    }

    /// Stage `k` of `stages`' label in progress bars and job records, e.g. `squall.sort (map)`;
    /// `verb` names the action.
    pub fn stage_label(&self, stages: &[Stage], k: usize, verb: &str) -> String {
        let shuffles = &self.shuffles;
        match (stages[k].source, stages[k].target) {
            (_, Target::Sample(i)) => format!("squall.{} (sample)", shuffles[i].exchange.name()),
            (Source::Shuffle(j), Target::Shuffle(i)) => {
                format!("squall.{} (reduce) + {} (map)", shuffles[j].exchange.name(), shuffles[i].exchange.name())
            }
            (_, Target::Shuffle(i)) => format!("squall.{} (map)", shuffles[i].exchange.name()),
            (Source::Shuffle(j), Target::Parts) => format!("squall.{} (reduce)", shuffles[j].exchange.name()),
            (Source::Shuffle(_), Target::Sink) => format!("squall.{verb} (reduce)"),
            _ => format!("squall.{verb}"),
        }
    }
}

/// The driver's requests to commit `n` files into a new directory (see `squall_exec::commit`):
/// it reads the manifest (there is none), lists the directory and the attempts of earlier
/// jobs, records its own; then writes a first manifest of what is there, moves each attempt to
/// its final name (a copy, billed as a PUT, and a delete), writes the new manifest, and lists
/// and deletes its attempts' folder.
fn commit_requests(n: u64) -> TaskIo {
    TaskIo { gets: 1, lists: 3, puts: 1 + 1 + n + 1, deletes: n + 1, ..Default::default() }
}

/// A task that reads one whole object of `bytes`.
fn read_whole(each: &mut TaskSize, bytes: u64) {
    each.io.gets = s3_requests(bytes);
    each.io.bytes_read = bytes;
    each.work_bytes = bytes;
}

/// A task that writes one object of `bytes`.
fn write(each: &mut TaskSize, bytes: u64) {
    each.io.puts += s3_put_requests(bytes);
    each.io.bytes_written += bytes;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sort::SortKey;

    /// A TeraSort-shaped plan: `m` inputs of `bytes` with 10-byte keys and 90-byte values,
    /// sorted into `r` partitions and written.
    fn terasort(m: usize, bytes: u64, r: usize) -> Plan {
        let inputs = (0..m).map(|i| Input::whole(format!("synthetic://t/{i}"), Format::Parquet, bytes)).collect();
        let columns = ["key", "value"].map(|name| InputColumn { name: name.into(), data_type: None });
        let mut plan = Plan::scan(inputs, "t".into()).with_schema(Some(columns.to_vec()), 1.0);
        plan.widths = vec![10, 90];
        let key = SortKey { column: "key".into(), descending: false, nulls_first: false };
        plan.then_exchange(Exchange::Sort { keys: vec![key], partitions: r }, false).unwrap()
    }

    fn write() -> Sink {
        let dir = "s3://out/sorted".into();
        Sink::Write { format: Format::Parquet, dir, compression: Default::default(), mode: Default::default() }
    }

    #[test]
    fn a_sort_samples_keys_maps_and_reduces_by_size() {
        let plan = terasort(100, 64 << 20, 100);
        let budget = Budget { limit: 8 << 30, workers: 100, per_task: true };
        let shapes = plan.shapes(&write(), &budget, &Intermediates::default(), "write_parquet");
        let labels: Vec<&str> = shapes.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["squall.sort (sample)", "squall.sort (map)", "squall.write_parquet (reduce)"]);
        let [sample, map, reduce] = &shapes[..] else { panic!() };
        assert_eq!(sample.each.io.bytes_read, (64 << 20) / 10, "the keys are a tenth of each row");
        assert_eq!((sample.driver.gets, sample.driver.puts), (100, 1));
        assert_eq!(map.each.io.gets, 1 + 1 + 8 + 1, "footer, the keys, 8 parts of 8 MB of values, splitters");
        assert_eq!(map.each.io.puts, 8 + 2, "a multipart upload of 8 parts");
        assert_eq!(reduce.each.io.gets, 100, "one slice of each map object");
        assert_eq!(reduce.each.io.bytes_read, 64 << 20);
        assert_eq!((reduce.driver.puts, reduce.driver.lists), (100 + 3, 3 + 1), "commit, then clean up");
        assert_eq!(reduce.driver.deletes, 100 + 1 + 100 + 1 + 100, "moves, attempts, samples, splitters, maps");
    }

    #[test]
    fn a_big_shuffle_gets_a_merge_stage_that_cuts_the_reducers_reads() {
        // 1 TB in 10,000 partitions of 100 MB, into 10,000.
        let (m, bytes) = (10_000, 100 << 20);
        let plan = terasort(m, bytes, m);
        let budget = Budget { limit: 3 << 30, workers: m, per_task: true };
        let shapes = plan.shapes(&write(), &budget, &Intermediates::default(), "write_parquet");
        let merge = shapes.iter().find(|s| s.label == "squall.sort (merge)").expect("a merge level");
        let reduce = shapes.last().unwrap();
        let level = MergeLevel::choose(m, m, bytes, budget.task_input(), None).unwrap();
        assert_eq!(merge.tasks, level.tasks(m));
        let objects = m.div_ceil(level.group) as u64;
        assert_eq!(reduce.each.io.gets, objects, "a slice of each merged object");
        let reads = merge.tasks as u64 * merge.each.io.gets + reduce.tasks as u64 * reduce.each.io.gets;
        assert!(reads <= (m * m / 16) as u64, "{reads} GETs");
    }
}
