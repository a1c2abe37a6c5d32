//! `explain()`: a readable account of how a plan runs.

use crate::plan::{Exchange, Op, Plan, Sink};

impl Plan {
    /// A readable account of how the plan runs into `sink`, its tasks on `runs_on` (such as
    /// "worker processes") unless its inputs are in this process's memory.
    pub fn explain(&self, sink: &Sink, runs_on: &str) -> String {
        let m = self.inputs.len();
        let bytes: u64 = self.inputs.iter().map(|i| i.size).sum();
        let formats: Vec<&str> = self.inputs.iter().map(|i| i.format.extension()).collect();
        let format = match formats.first() {
            Some(f) if formats.iter().all(|g| g == f) => *f,
            Some(_) => "mixed",
            None => "no",
        };
        let runs_on = if self.inputs.iter().any(|i| i.url.starts_with("memory://")) {
            "the driver's threads (memory:// is visible in this process only)"
        } else {
            runs_on
        };
        let read = format!("  read    {m} {format} file{} ({}) from {}", s(m), human(bytes), self.source);
        let mut narrow = vec![read];
        if let Some(cols) = &self.columns {
            narrow.push(format!("          only columns {}", cols.join(", ")));
        }
        narrow.extend(explain_ops(&self.ops));
        let written = match sink {
            Sink::Count => 0,
            _ => self.partitions(),
        };
        let write = |n: usize| match sink {
            Sink::Collect { .. } => {
                format!("  write   {n} Arrow IPC object{} to scratch; the driver reads them back", s(n))
            }
            Sink::Write { format, dir, compression } => {
                let (ext, many, codec) = (format.extension(), s(n), compression.name());
                format!("  write   {n} {ext} file{many} ({codec}) to {dir}, then _manifest.json")
            }
            Sink::Count => "  count   rows (nothing written)".to_string(),
        };
        let mut out = Vec::new();
        match &self.exchange {
            None => {
                out.push("squall plan: 1 stage (every operator is narrow: no shuffle)".to_string());
                out.push(format!("stage 0: {m} task{}, one per input, on {runs_on}", s(m)));
                out.extend(narrow);
                out.push(write(m));
                out.push(format!("requests: {m} GET, {written} PUT"));
            }
            Some((exchange, after)) => {
                let r = self.partitions();
                let (what, map_lines, combine) = match exchange {
                    Exchange::Repartition { keys, .. } => {
                        let how =
                            if keys.is_empty() { "round robin".into() } else { format!("by {}", keys.join(", ")) };
                        (
                            format!("repartition {how}"),
                            vec![format!("  write   {m} shuffle object{} ({r} buckets each)", s(m))],
                            None,
                        )
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
                        let lines = vec![
                            format!(
                                "  aggregate partially: {} (rows go as they are where keys barely repeat)",
                                aggs.join(", ")
                            ),
                            format!("  write   {m} shuffle object{} (hashed by key into {r} buckets)", s(m)),
                        ];
                        (
                            format!("group by {}", group.keys.join(", ")),
                            lines,
                            Some("  merge   partial states per key, then finish".to_string()),
                        )
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
                        let lines = vec![
                            format!("  sort    each run, cut it into {r} key range{}", s(r)),
                            format!(
                                "  write   {m} shuffle object{} (R buckets back to back, 256 hashed prefixes)",
                                s(m)
                            ),
                        ];
                        (
                            format!("sort by {}", by.join(", ")),
                            lines,
                            Some(format!("  merge   {m} sorted run{} (k-way)", s(m))),
                        )
                    }
                };
                // A sort first samples its keys: one more stage, and the inputs are read twice.
                let sampled = matches!(exchange, Exchange::Sort { .. });
                let map_stage = usize::from(sampled);
                out.push(format!("squall plan: {} stages ({what} is a shuffle, M={m} R={r})", map_stage + 2));
                if sampled {
                    out.push(format!(
                        "stage 0: {m} sample task{}: the same reads and operators, keep a sample of keys",
                        s(m)
                    ));
                    out.push(format!(
                        "         the driver picks {} splitter{} at the sample's quantiles",
                        r - 1,
                        s(r - 1)
                    ));
                }
                out.push(format!("stage {map_stage}: {m} map task{}, on {runs_on}", s(m)));
                out.extend(narrow);
                out.extend(map_lines);
                let fewer = if self.coalesce { " at most; adjacent small buckets share one" } else { "" };
                out.push(format!("stage {}: {r} reduce task{}{fewer}, on {runs_on}", map_stage + 1, s(r)));
                out.push(format!("  read    its bucket of every shuffle object: up to {} ranged GETs in all", m * r));
                out.extend(combine);
                out.extend(explain_ops(after));
                out.push(write(r));
                let samples = if sampled { format!("{m} GET + {m} PUT (samples), ") } else { String::new() };
                out.push(format!(
                    "requests: {samples}{} GET + {m} PUT (map), up to {} GET + {written} PUT (reduce)",
                    m * (map_stage + 1),
                    m * r
                ));
            }
        }
        out.join("\n")
    }
}

fn explain_ops(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .map(|op| match op {
            Op::Udf { kind, name, .. } => format!("  then    {kind}({name})  [Python]"),
            Op::Select { columns } => format!("  then    select({})", columns.join(", ")),
            Op::Limit { rows } => format!("  then    limit({rows}) per partition"),
            Op::TopK { rows, .. } => format!("  then    top {rows} rows per partition"),
        })
        .collect()
}

fn s(n: usize) -> &'static str {
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
