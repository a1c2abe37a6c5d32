//! `explain()`: a readable account of how a plan runs, stage by stage.

use crate::budget::{task_peak, Budget, WORK_FACTOR};
use crate::merge::MergeLevel;
use crate::placement::{Place, Placement};
use crate::plan::{Exchange, Input, Op, Plan, Sink, Source, Stage, Target, SAMPLE_ROWS_PER_PARTITION};
use crate::spec::TaskIo;
use crate::tier::Intermediates;

impl Plan {
    /// A readable account of how the plan runs into `sink`, each stage placed by `placement`,
    /// with each stage's memory as `budget` allows it, and where its intermediate objects go
    /// (`tiers`).
    pub fn explain(&self, sink: &Sink, placement: &Placement, budget: &Budget, tiers: &Intermediates) -> String {
        let stages = self.stages();
        let shuffles: Vec<&str> = self.shuffles.iter().map(|s| s.exchange.name()).collect();
        let mut out = vec![match shuffles.len() {
            0 => "squall plan: 1 stage (every operator is narrow: no shuffle)".to_string(),
            _ => format!(
                "squall plan: {} stages ({} shuffle{}: {})",
                stages.len(),
                shuffles.len(),
                s(shuffles.len()),
                shuffles.join(", ")
            ),
        }];
        let mut tasks: Vec<usize> = Vec::new();
        for (k, stage) in stages.iter().enumerate() {
            let n = match stage.source {
                Source::Inputs => self.inputs.len(),
                Source::Shuffle(i) => self.shuffles[i].exchange.partitions(),
                Source::Parts(j) => tasks[j],
            };
            tasks.push(n);
            let placed = placement.place(self, sink, stage);
            let place = match &placed {
                Ok(p) => placement.describe(*p).to_string(),
                Err(e) => format!("nowhere: {e}"),
            };
            // A collected result made on the driver's threads is held in its memory (see the
            // driver's `result_root`).
            let held = matches!(placed, Ok(Place::Threads)) && tiers.store.is_none();
            let kind = match (stage.source, stage.target) {
                (_, Target::Sample(_)) => "sample ",
                (_, Target::Shuffle(_)) => "map ",
                (Source::Shuffle(_), _) => "reduce ",
                _ => "",
            };
            let fewer = match stage.source {
                Source::Shuffle(i) if self.shuffles[i].coalesce => " at most; adjacent small buckets share one",
                _ => "",
            };
            out.push(format!("stage {k}: {n} {kind}task{}{fewer}, on {place}", s(n)));
            self.read_lines(stage, &tasks, budget, tiers, &mut out);
            out.extend(explain_ops(&stage.ops));
            let held = held && stage.target == Target::Sink && *sink == Sink::Collect;
            match held {
                true => out.push(format!("  hold    {n} result part{} in this process's memory, for the driver", s(n))),
                false => self.write_lines(stage, n, sink, &mut out),
            }
            if let Some((bytes, reads)) = self.objects(stage, sink).filter(|_| !held) {
                out.push(format!("          to {}", tiers.describe(bytes, reads)));
            }
            out.push(memory_line(self.stage_input(stage), budget));
        }
        let io = self.shapes(sink, budget, tiers, "").iter().fold(TaskIo::default(), |io, s| io + s.total());
        out.push(format!(
            "requests: about {} GET, {} PUT, {} LIST (a request per part of a big object; Dataset.estimate() prices them)",
            io.gets, io.puts, io.lists
        ));
        out.push(match budget.shared() {
            Some(limit) => format!("memory: a budget of {} for all tasks at once (memory_limit)", human(limit)),
            None => format!("memory: a budget of {} for each function's task (memory_limit)", human(budget.limit)),
        });
        if let Err(refused) = self.check_budget(sink, budget) {
            out.push(format!("refused: {refused}"));
        }
        out.join("\n")
    }

    /// Explains what `stage` reads, and a merge level before it.
    fn read_lines(
        &self,
        stage: &Stage,
        tasks: &[usize],
        budget: &Budget,
        inter: &Intermediates,
        out: &mut Vec<String>,
    ) {
        match stage.source {
            Source::Inputs => {
                let m = self.inputs.len();
                let bytes: u64 = self.inputs.iter().map(Input::bytes).sum();
                let formats: Vec<&str> = self.inputs.iter().map(|i| i.format.extension()).collect();
                let format = match formats.first() {
                    Some(f) if formats.iter().all(|g| g == f) => *f,
                    Some(_) => "mixed",
                    None => "no",
                };
                let files = m - self.inputs.windows(2).filter(|w| w[0].url == w[1].url).count();
                out.push(format!(
                    "  read    {files} {format} file{} ({}) from {}",
                    s(files),
                    human(bytes),
                    self.source
                ));
                if files < m {
                    let unit = if format == "parquet" { "row groups" } else { "record batches" };
                    out.push(format!("          as {m} partitions of {unit} (big files are split)"));
                }
                if !self.path_columns.is_empty() {
                    let names: Vec<&str> = self.path_columns.iter().map(|c| c.name.as_str()).collect();
                    out.push(format!(
                        "          with columns {} from their directories (name=value)",
                        names.join(", ")
                    ));
                }
                if matches!(stage.ops.first(), Some(Op::Filter { .. })) {
                    out.push("          skipping row groups whose statistics rule out the filter".to_string());
                }
                let keys_only = matches!(stage.target, Target::Sample(_)) && stage.ops.is_empty();
                match &self.scan_columns() {
                    _ if keys_only => out.push("          only the sort keys".to_string()),
                    Some(cols) => out.push(format!("          only columns {}", cols.join(", "))),
                    None => {}
                }
            }
            Source::Parts(j) => {
                out.push(format!("  read    the {} Arrow IPC file{} of stage {j}", tasks[j], s(tasks[j])));
            }
            Source::Shuffle(i) => {
                let m = self.map_tasks(i, tasks);
                let exchange = &self.shuffles[i].exchange;
                let r = exchange.partitions();
                let object = self.decoded_bytes() / m.max(1) as u64;
                let level = MergeLevel::choose(m, r, object, budget.task_input(), inter.two_level);
                let objects = match level {
                    Some(level) => {
                        let n = level.tasks(m);
                        out.push(format!(
                            "  first   {n} merge task{}: each takes {} of the map objects, {} range{} of buckets \
                             each ({} ranged GETs, {n} PUTs in all)",
                            s(n),
                            level.group,
                            level.ranges,
                            s(level.ranges),
                            m * level.ranges
                        ));
                        m.div_ceil(level.group)
                    }
                    None => m,
                };
                let what = if level.is_some() { "merged object" } else { "shuffle object" };
                out.push(format!("  read    its bucket of every {what}: up to {} ranged GETs in all", objects * r));
                out.push(match exchange {
                    Exchange::Sort { .. } => format!("  merge   {objects} sorted run{} (k-way)", s(objects)),
                    Exchange::GroupBy { .. } => "  merge   partial states per key, then finish".to_string(),
                    Exchange::Repartition { .. } => "  concat  the slices in map order".to_string(),
                });
            }
        }
    }

    /// About how big each intermediate object that `stage` writes is, and in how many
    /// requests it is read (None: it writes none): a sample of keys, read once; a shuffle
    /// object about as big as a task's input, read in a slice by each reducer; a part, read
    /// once.
    fn objects(&self, stage: &Stage, sink: &Sink) -> Option<(u64, u64)> {
        match (stage.target, sink) {
            (Target::Sample(_), _) => Some((SAMPLE_ROWS_PER_PARTITION as u64 * 16, 1)),
            (Target::Shuffle(i), _) => Some((self.stage_input(stage), self.shuffles[i].exchange.partitions() as u64)),
            (Target::Parts, _) | (Target::Sink, Sink::Collect) => Some((self.stage_input(stage), 1)),
            (Target::Sink, _) => None,
        }
    }

    /// Map tasks of shuffle `i`: the tasks of the stage that writes it.
    fn map_tasks(&self, i: usize, tasks: &[usize]) -> usize {
        let stages = self.stages();
        stages.iter().position(|s| s.target == Target::Shuffle(i)).map_or(0, |k| tasks[k])
    }

    /// Explains what a stage of `n` tasks writes.
    fn write_lines(&self, stage: &Stage, n: usize, sink: &Sink, out: &mut Vec<String>) {
        match stage.target {
            Target::Sample(i) => {
                let r = self.shuffles[i].exchange.partitions();
                out.push("  keep    a sample of the sort keys".to_string());
                out.push(format!(
                    "          the driver picks {} splitter{} at the sample's quantiles",
                    r - 1,
                    s(r - 1)
                ));
            }
            Target::Parts => {
                out.push(format!("  write   {n} Arrow IPC file{} to scratch, for the next stages", s(n)));
            }
            Target::Shuffle(i) => {
                let r = self.shuffles[i].exchange.partitions();
                out.extend(match &self.shuffles[i].exchange {
                    Exchange::Repartition { keys, .. } => {
                        let how =
                            if keys.is_empty() { "round robin".into() } else { format!("by {}", keys.join(", ")) };
                        vec![format!("  write   {n} shuffle object{} ({r} buckets each, {how})", s(n))]
                    }
                    Exchange::GroupBy { group, .. } => {
                        let aggs: Vec<String> = group
                            .aggs
                            .iter()
                            .map(|a| {
                                format!("{}={:?}({})", a.name, a.func, a.column.as_deref().unwrap_or("*"))
                                    .to_lowercase()
                            })
                            .collect();
                        vec![
                            format!("  group   by {}", group.keys.join(", ")),
                            format!(
                                "  aggregate partially: {} (rows go as they are where keys barely repeat)",
                                aggs.join(", ")
                            ),
                            format!("  write   {n} shuffle object{} (hashed by key into {r} buckets)", s(n)),
                        ]
                    }
                    Exchange::Sort { keys, .. } => {
                        let by: Vec<String> = keys
                            .iter()
                            .map(|k| {
                                let dir = if k.descending { "desc" } else { "asc" };
                                let nulls = if k.nulls_first { "nulls first" } else { "nulls last" };
                                format!("{} {dir} {nulls}", k.column)
                            })
                            .collect();
                        vec![
                            format!("  sort    each run by {}, cut it into {r} key range{}", by.join(", "), s(r)),
                            format!(
                                "  write   {n} shuffle object{} (R buckets back to back, 256 hashed prefixes)",
                                s(n)
                            ),
                        ]
                    }
                });
            }
            Target::Sink => match sink {
                Sink::Collect => {
                    out.push(format!("  write   {n} Arrow IPC object{} to scratch; the driver reads them back", s(n)));
                }
                Sink::Write { format, dir, compression, mode } => {
                    let (ext, many, codec, mode) = (format.extension(), s(n), compression.name(), mode.name());
                    out.push(format!("  write   {n} {ext} file{many} ({codec}) to {dir} (mode {mode})"));
                    out.push("  commit  one attempt per partition, then publish _manifest.json".to_string());
                }
                Sink::Count => {
                    out.push("  count   rows (nothing written)".to_string());
                }
            },
        }
    }
}

/// A stage's estimated memory: its largest task's, and how many such tasks run at once.
fn memory_line(input: u64, budget: &Budget) -> String {
    let peak = task_peak(input);
    let at_once = budget.at_once(peak);
    format!(
        "  memory  about {} per task ({} decoded input x {WORK_FACTOR}), {at_once} at once",
        human(peak),
        human(input)
    )
}

fn explain_ops(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .map(|op| match op {
            Op::Udf { kind, name, .. } => format!("  then    {kind}({name})  [Python]"),
            Op::Select { columns } => format!("  then    select({})", columns.join(", ")),
            Op::Limit { rows } => format!("  then    limit({rows}) per partition"),
            Op::Filter { expr } => format!("  then    filter({expr})"),
            Op::Compute { columns } => {
                let each: Vec<String> = columns.iter().map(|(name, e)| format!("{name} = {e}")).collect();
                format!("  then    compute {}", each.join(", "))
            }
            Op::TopK { rows, .. } => format!("  then    top {rows} rows per partition"),
        })
        .collect()
}

pub(crate) fn s(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Bytes as B, KB, MB, GB.
pub fn human(bytes: u64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use crate::budget::Budget;
    use crate::codec::{Compression, Format};
    use crate::placement::Placement;
    use crate::plan::{Exchange, Input, Plan, RowGroups, Sink};
    use crate::sort::SortKey;
    use crate::tier::Intermediates;

    fn plan() -> Plan {
        let input = |i: usize| Input::whole(format!("file:///d/{i}.parquet"), Format::Parquet, 1500);
        Plan::scan((0..3).map(input).collect(), "file:///d/".into())
    }

    const LOCAL: Placement = Placement { in_process: true, remote: false };
    const BUDGET: Budget = Budget { limit: 1 << 30, workers: 2, per_task: false };

    #[test]
    fn one_stage_reads_and_writes_each_partition() {
        let sink = Sink::Write {
            format: Format::Parquet,
            dir: "file:///out/".into(),
            compression: Compression::Zstd,
            mode: Default::default(),
        };
        let text = plan().explain(&sink, &LOCAL, &BUDGET, &Intermediates::default());
        assert!(text.contains("3 parquet files (4.5 KB)") && text.contains("7 GET, 9 PUT"), "{text}");
        assert!(text.contains("on the driver's threads") && text.contains("_manifest.json"), "{text}");
    }

    #[test]
    fn a_sort_explains_its_sample_map_and_reduce_with_m_by_r_requests() {
        let key = SortKey { column: "t".into(), descending: false, nulls_first: false };
        let p = plan().then_exchange(Exchange::Sort { keys: vec![key], partitions: 2 }, false).unwrap();
        let text = p.explain(&Sink::Count, &LOCAL, &BUDGET, &Intermediates::default());
        assert!(text.contains("squall plan: 3 stages (1 shuffle: sort)"), "{text}");
        assert!(text.contains("stage 0: 3 sample tasks") && text.contains("1 splitter "), "{text}");
        assert!(text.contains("stage 2: 2 reduce tasks") && text.contains("up to 6 ranged GETs"), "{text}");
        // Footer and data of each file, twice (sample, map), the samples, the splitters, 2 x 3 slices.
        assert!(text.contains("requests: about 24 GET, 7 PUT, 1 LIST"), "{text}");
        assert_eq!(text.matches("to this machine's memory or disk").count(), 2, "{text}");
        let text = p.explain(&Sink::Collect, &LOCAL, &BUDGET, &Intermediates::default());
        assert!(text.contains("hold    2 result parts in this process's memory, for the driver"), "{text}");
        assert_eq!(text.matches("to this machine's memory or disk").count(), 2, "sample, map: {text}");
        let tiers =
            Intermediates { store: Some("s3://b/s".into()), fast: Some("redis://h:1/s".into()), two_level: None };
        let text = p.explain(&Sink::Collect, &LOCAL, &BUDGET, &tiers);
        assert_eq!(text.matches("to redis://h:1/s/ (about").count(), 3, "sample, map, collect: {text}");
        // A merge level: 3 map objects in one group, so 1 x 2 reads by the reducers.
        let text = p.explain(&Sink::Count, &LOCAL, &BUDGET, &Intermediates { two_level: Some(true), ..tiers });
        assert!(text.contains("first   1 merge task: each takes 3 of the map objects"), "{text}");
        assert!(text.contains("every merged object: up to 2 ranged GETs"), "{text}");
        assert!(text.contains("requests: about 23 GET, 8 PUT"), "the merge reads 3, the reducers 2: {text}");
    }

    #[test]
    fn a_split_file_is_one_file_read_as_several_partitions() {
        let piece = |start: usize| Input {
            row_groups: Some(RowGroups { start, end: start + 1, bytes: 500 }),
            ..Input::whole("file:///d/big.parquet".into(), Format::Parquet, 1500)
        };
        let p = Plan::scan((0..3).map(piece).collect(), "file:///d/big.parquet".into());
        let text = p.explain(&Sink::Count, &LOCAL, &BUDGET, &Intermediates::default());
        assert!(text.contains("read    1 parquet file (1.5 KB)"), "{text}");
        assert!(text.contains("as 3 partitions of row groups"), "{text}");
    }
}
