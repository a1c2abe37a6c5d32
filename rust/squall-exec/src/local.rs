//! The embedded default backend: long-lived local worker processes (`python -m squall._worker`),
//! like warm Lambda containers, fed one task at a time over a pipe and answering on another.
//!
//! A worker is trusted with nothing it could get wrong by accident: an answer that does not name
//! the job, task and attempt it was sent (a forked child's frame, a stale reply) loses the
//! worker, which is killed with its whole process group and replaced. What a task prints (the
//! worker's stderr, where its stdout points, up to the mark it writes after each task) is kept
//! with the attempt and goes to the driver's output queue when there is one; anything else goes
//! to this process's stderr as bytes, dropped rather than blocking when it is full or closed.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use squall_core::frame::{decode_header, decode_prefix, encode_header, encode_prefix, PREFIX_LEN};
use squall_core::{TaskReport, WorkerHello};
use squall_store::process::PerProcess;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;

use crate::backend::{bounded, BoxFuture};
use crate::output::{Capture, OutputQueue};
use crate::{Backend, Failure, Invocation, Reply};

/// What a worker writes to its stderr after each task, once its own buffers are flushed: the
/// lines before it are that task's output.
pub const TASK_END_MARK: &[u8] = b"\x1esquall-task-end\x1e\n";

/// How long to wait for a worker's end-of-task mark after its answer came.
const END_MARK_WAIT: Duration = Duration::from_millis(500);

/// Lines of a worker's stderr kept to explain its death.
const STDERR_TAIL: usize = 20;

/// Longest line of a worker's stderr forwarded at once; longer ones go in pieces.
const STDERR_LINE: usize = 64 << 10;

/// Lines waiting for this process's stderr; more are dropped.
const STDERR_BACKLOG: usize = 4096;

/// How to start local workers.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The Python interpreter that runs `-m squall._worker`.
    pub python: PathBuf,
    /// Number of worker processes.
    pub workers: usize,
    /// Extra environment for the workers (e.g. `PYTHONPATH`).
    pub env: Vec<(String, String)>,
    /// How long a worker may take to start.
    pub startup_timeout: Duration,
    /// Where tasks' output goes: this queue, for the driver to show (None: this process's
    /// stderr, as bytes).
    pub output: Option<Arc<OutputQueue>>,
}

/// A pool of local worker processes, started on first use and restarted when one dies.
pub struct LocalBackend {
    config: LocalConfig,
    idle: Mutex<Vec<Option<Worker>>>,
    permits: Semaphore,
    closed: AtomicBool,
    spawned: AtomicUsize,
}

impl LocalBackend {
    /// A pool of `config.workers` workers; none is started until the first task.
    pub fn new(config: LocalConfig) -> Self {
        let n = config.workers.max(1);
        LocalBackend {
            idle: Mutex::new((0..n).map(|_| None).collect()),
            permits: Semaphore::new(n),
            closed: AtomicBool::new(false),
            spawned: AtomicUsize::new(0),
            config,
        }
    }

    /// Worker processes started so far, restarts included.
    pub fn spawned(&self) -> usize {
        self.spawned.load(Ordering::Relaxed)
    }

    fn put_back(&self, worker: Option<Worker>) {
        let worker = worker.filter(|_| !self.closed.load(Ordering::Relaxed));
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(worker);
    }

    async fn run(&self, inv: Invocation) -> Result<Reply, Failure> {
        let _permit = self.permits.acquire().await.map_err(|_| Failure::Spawn("the session was closed".into()))?;
        let slot = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop().flatten();
        let mut worker = match slot {
            Some(w) => w,
            None => match Worker::spawn(&self.config, self.spawned.fetch_add(1, Ordering::Relaxed)).await {
                Ok(w) => w,
                Err(f) => {
                    self.put_back(None);
                    return Err(f);
                }
            },
        };
        match worker.run(inv).await {
            Ok(reply) => {
                self.put_back(Some(worker));
                Ok(reply)
            }
            Err(failure) => {
                worker.kill().await;
                self.put_back(None);
                Err(failure)
            }
        }
    }
}

impl Backend for LocalBackend {
    fn slots(&self) -> usize {
        self.config.workers.max(1)
    }

    fn invoke(&self, inv: Invocation) -> BoxFuture<'_, Result<Reply, Failure>> {
        Box::pin(self.run(inv))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.closed.store(true, Ordering::Relaxed);
            let idle: Vec<_> = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
            for mut w in idle.into_iter().flatten() {
                w.kill().await;
            }
        })
    }
}

struct Worker {
    name: String,
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    functions: HashSet<String>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// The output of the attempt it runs.
    capture: Arc<Mutex<Option<Capture>>>,
    /// Told when the end-of-task mark is read.
    ended: Arc<tokio::sync::Notify>,
    /// No task has run on it yet.
    fresh: bool,
    /// The process that started it: only that one stops it when it is dropped (a forked
    /// child's copy of this is dropped without a signal to its parent's worker).
    owner: u32,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if std::process::id() == self.owner {
            let _ = self.child.start_kill();
        }
    }
}

impl Worker {
    async fn spawn(config: &LocalConfig, index: usize) -> Result<Worker, Failure> {
        let python = config.python.display().to_string();
        let mut child = Command::new(&config.python)
            .args(["-m", "squall._worker"])
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C in the terminal reaches the driver only, which
            // then decides what to stop.
            .process_group(0)
            .spawn()
            .map_err(|e| Failure::Spawn(format!("`{python} -m squall._worker` did not start: {e}")))?;
        let stdin = BufWriter::new(child.stdin.take().expect("stdin is piped"));
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let capture = Arc::new(Mutex::new(None));
        let ended = Arc::new(tokio::sync::Notify::new());
        let sinks = Sinks {
            tail: stderr_tail.clone(),
            capture: capture.clone(),
            ended: ended.clone(),
            queue: config.output.clone(),
        };
        tokio::spawn(forward_stderr(stderr, sinks));
        let name = format!("local-{index}");
        let functions = HashSet::new();
        let owner = std::process::id();
        let mut worker =
            Worker { name, child, stdin, stdout, functions, stderr_tail, capture, ended, fresh: true, owner };
        let hello = tokio::time::timeout(config.startup_timeout, read_frame(&mut worker.stdout)).await;
        let why = match hello {
            Ok(Ok((header, _))) => match decode_header::<WorkerHello>(&header) {
                Ok(_) => return Ok(worker),
                Err(e) => format!("its first message was not a greeting ({e})"),
            },
            Ok(Err(e)) => format!("it stopped during start-up ({e})"),
            Err(_) => format!("it did not answer within {:?}", config.startup_timeout),
        };
        let detail = worker.death().await;
        Err(Failure::Spawn(format!(
            "`{python} -m squall._worker` failed: {why}; {detail}. Is squall installed for that interpreter?"
        )))
    }

    async fn run(&mut self, inv: Invocation) -> Result<Reply, Failure> {
        let Invocation { mut spec, func, input, timeout, mut cancel } = inv;
        let send_func = !self.functions.contains(&func.hash);
        spec.func_len = if send_func { func.bytes.len() as u64 } else { 0 };
        let header = encode_header(&spec).map_err(|e| Failure::WorkerLost(e.to_string()))?;
        *lock(&self.capture) = Some(Capture::new(spec.job, spec.task as u32));
        let exchange = async {
            let body_len = spec.func_len as usize + input.len();
            self.stdin.write_all(&encode_prefix(header.len(), body_len)).await?;
            self.stdin.write_all(&header).await?;
            if send_func {
                self.stdin.write_all(&func.bytes).await?;
            }
            self.stdin.write_all(&input).await?;
            self.stdin.flush().await?;
            read_frame(&mut self.stdout).await
        };
        let (header, body) = match bounded(exchange, timeout, &mut cancel).await? {
            Ok(frame) => frame,
            Err(e) => {
                let death = self.death().await;
                return Err(Failure::WorkerLost(format!("{}: {e}; {death}", self.name)));
            }
        };
        let report: TaskReport = decode_header(&header)
            .map_err(|e| Failure::WorkerLost(format!("{} sent a malformed report: {e}", self.name)))?;
        if !report.answers(&spec) {
            return Err(Failure::WorkerLost(format!(
                "{} answered job {} task {} attempt {} when asked for job {} task {} attempt {} (did the \
                 task fork, or write to the worker's reply pipe?)",
                self.name, report.job, report.task, report.attempt, spec.job, spec.task, spec.attempt
            )));
        }
        if send_func {
            self.functions.insert(func.hash.clone());
        }
        let cold = std::mem::replace(&mut self.fresh, false);
        let output = self.take_output().await;
        Ok(Reply { report, body, worker: self.name.clone(), cold, output })
    }

    /// The output of the attempt that just answered, once the worker's end mark is read (or
    /// after a short wait: lines that come later go to no task).
    async fn take_output(&mut self) -> String {
        let deadline = tokio::time::Instant::now() + END_MARK_WAIT;
        loop {
            let notified = self.ended.notified();
            if lock(&self.capture).as_ref().is_none_or(|c| c.ended) {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        lock(&self.capture).take().map(|c| c.text()).unwrap_or_default()
    }

    /// Waits briefly for the process to end and describes how it ended.
    async fn death(&mut self) -> String {
        let status = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
        let how = match status {
            Ok(Ok(s)) => match (s.code(), s.signal()) {
                (Some(code), _) => format!("the process exited with code {code}"),
                (None, Some(9)) => {
                    "the process was killed by signal 9 (SIGKILL; out of memory, or killed by hand)".to_string()
                }
                (None, Some(sig)) => format!("the process was killed by signal {sig}"),
                _ => "the process ended".to_string(),
            },
            Ok(Err(e)) => format!("its exit status is unknown ({e})"),
            Err(_) => "the process is still running but stopped answering".to_string(),
        };
        // Give the stderr forwarder a moment to collect the last words.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let tail = self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.is_empty() {
            how
        } else {
            let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
            format!("{how}; its last output:\n{}", lines.join("\n"))
        }
    }

    /// Kills the worker and everything it started (its process group: subprocesses, forked
    /// children), and reaps it.
    async fn kill(&mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on the group this worker leads (spawned with process_group(0)).
            unsafe {
                libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
            }
        }
        let _ = self.child.kill().await;
    }
}

/// Reads one frame: (header, body). Its buffers grow with the bytes that arrive, not with what
/// the prefix announces: garbage on the pipe cannot make this process allocate its claim.
async fn read_frame(r: &mut BufReader<ChildStdout>) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut prefix = [0u8; PREFIX_LEN];
    r.read_exact(&mut prefix).await?;
    let (h, b) = decode_prefix(&prefix).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let mut header = vec![0u8; h];
    r.read_exact(&mut header).await?;
    let mut body = Vec::with_capacity(b.min(64 << 20));
    (&mut *r).take(b as u64).read_to_end(&mut body).await?;
    if body.len() != b {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok((header, body))
}

/// The queue to the thread that writes workers' output to this process's stderr. A write to a
/// full or closed stderr only ever blocks or fails that thread; lines that find the queue full
/// are dropped.
fn stderr_queue() -> Option<&'static SyncSender<Vec<u8>>> {
    static QUEUE: PerProcess<Option<SyncSender<Vec<u8>>>> = PerProcess::new();
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = sync_channel::<Vec<u8>>(STDERR_BACKLOG);
            let writer = move || {
                let mut err = std::io::stderr();
                for line in rx {
                    let _ = err.write_all(&line);
                }
            };
            std::thread::Builder::new().name("squall-stderr".into()).spawn(writer).ok().map(|_| tx)
        })
        .as_ref()
}

/// Reads up to a newline (kept) or `cap` bytes into `line`; 0 at the end of the stream.
async fn read_line_capped(
    r: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<usize> {
    line.clear();
    while line.len() < cap {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            break;
        }
        let room = (cap - line.len()).min(buf.len());
        let (take, done) = match buf[..room].iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (room, false),
        };
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            break;
        }
    }
    Ok(line.len())
}

/// Where a worker's stderr goes.
struct Sinks {
    /// Its last lines, to explain its death.
    tail: Arc<Mutex<VecDeque<String>>>,
    /// The attempt it runs, if any.
    capture: Arc<Mutex<Option<Capture>>>,
    /// Told when the end-of-task mark is read.
    ended: Arc<tokio::sync::Notify>,
    /// The driver's queue of tasks' output (None: this process's stderr).
    queue: Option<Arc<OutputQueue>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Copies a worker's stderr line by line, as bytes, to this process's stderr, or, for the lines
/// a task printed, to the driver's queue; keeps the last lines (decoded lossily) for error
/// messages and each attempt's record; until the worker closes it.
async fn forward_stderr(stderr: tokio::process::ChildStderr, sinks: Sinks) {
    let mut r = BufReader::new(stderr);
    let mut line = Vec::new();
    while let Ok(n) = read_line_capped(&mut r, &mut line, STDERR_LINE).await {
        if n == 0 {
            break;
        }
        let marked = line.ends_with(TASK_END_MARK);
        if marked {
            line.truncate(line.len() - TASK_END_MARK.len());
        }
        if !line.is_empty() {
            forward_line(&line, &sinks);
        }
        if marked {
            if let Some(c) = lock(&sinks.capture).as_mut() {
                c.ended = true;
            }
            sinks.ended.notify_one();
        }
    }
}

fn forward_line(line: &[u8], sinks: &Sinks) {
    let mut bytes = line.to_vec();
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    let text = String::from_utf8_lossy(line).trim_end_matches(['\n', '\r']).to_string();
    let mut capture = lock(&sinks.capture);
    match (capture.as_mut(), &sinks.queue) {
        (Some(c), Some(queue)) => {
            c.add(&text);
            queue.push((c.job, c.task, text.clone()));
        }
        (Some(c), None) => {
            c.add(&text);
            if let Some(queue) = stderr_queue() {
                let _ = queue.try_send(bytes.clone());
            }
        }
        (None, _) => {
            if let Some(queue) = stderr_queue() {
                let _ = queue.try_send(bytes.clone());
            }
        }
    }
    drop(capture);
    let mut tail = lock(&sinks.tail);
    if tail.len() == STDERR_TAIL {
        tail.pop_front();
    }
    tail.push_back(text);
}
