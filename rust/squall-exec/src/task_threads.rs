//! Threads kept for a session that run its in-process attempts, one at a time each.

use std::sync::{Arc, Mutex};

/// An attempt to run, and where its outcome goes.
type Job = Box<dyn FnOnce() + Send>;

/// Threads kept for the session that run one attempt at a time each. Each attempt's memory
/// comes from the allocator's heap of one of a few threads, which the next attempt there
/// reuses warm; tokio's blocking pool would spread attempts over dozens of threads, each
/// faulting in fresh pages of its own. A thread ends when the backend is dropped.
pub struct TaskThreads {
    jobs: std::sync::mpsc::Sender<Job>,
    /// Threads that started (none: every attempt fails, saying so).
    started: usize,
}

impl TaskThreads {
    /// `threads` threads, named `squall-task-<i>`.
    pub fn new(threads: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut started = 0;
        for i in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("squall-task-{i}")).spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                match next {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            });
            // A thread that cannot start leaves the others to take the queue.
            started += usize::from(spawned.is_ok());
        }
        TaskThreads { jobs, started }
    }

    /// Runs `f` on one of the threads; its value, or the panic's text.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| panic_text(&p));
            let _ = tx.send(out);
        });
        if self.started == 0 {
            return Err("no thread could be started to run it".into());
        }
        match self.jobs.send(job) {
            Ok(()) => rx.await.unwrap_or_else(|_| Err("its thread ended".into())),
            Err(_) => Err("the session's threads have ended".into()),
        }
    }
}

/// What a panic said (its text, when it was a string).
pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_run_on_the_same_few_threads_and_a_panic_is_reported() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let threads = TaskThreads::new(2);
        let names: std::collections::HashSet<String> = (0..20)
            .map(|_| rt.block_on(threads.run(|| std::thread::current().name().unwrap().to_string())).unwrap())
            .collect();
        assert!(!names.is_empty() && names.iter().all(|n| n == "squall-task-0" || n == "squall-task-1"), "{names:?}");
        let err = rt.block_on(threads.run(|| -> u8 { panic!("boom") })).unwrap_err();
        assert_eq!(err, "boom");
        assert_eq!(rt.block_on(threads.run(|| 7)).unwrap(), 7, "a panic leaves its thread running");
    }
}
