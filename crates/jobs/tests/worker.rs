//! Workers on both backends: running handlers, failures and panics, two workers at once,
//! wake-ups by notification, heartbeats, shutdown and a worker killed mid-job.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{at, queue, t0};
use kontor_jobs::{
    Handler, Handlers, JobError, JobId, LogStatus, NewJob, Outcome, Queue, Status, Worker,
    handler_fn,
};
use kontor_store::Db;
use kontor_testkit::for_each_backend;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

/// A handler that reports each run on a channel and answers by the `answer` parameter.
struct Scripted {
    runs: mpsc::UnboundedSender<JobId>,
}

impl Handler for Scripted {
    async fn run(&self, job: &kontor_jobs::Claimed) -> Result<Outcome, JobError> {
        let _ = self.runs.send(job.id());
        match job.params()["answer"].as_str().unwrap_or("finished") {
            "idle" => Ok(Outcome::Idle),
            "fail" => Err(JobError::failed("the other side timed out")),
            "permanent" => Err(JobError::permanent("the order does not exist")),
            "panic" => panic!("kaboom"),
            "block" => std::future::pending().await,
            _ => Ok(Outcome::Finished),
        }
    }
}

fn scripted() -> (Handlers, mpsc::UnboundedReceiver<JobId>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Handlers::new().register("scripted", Scripted { runs: tx }), rx)
}

fn job(answer: &str) -> NewJob {
    NewJob::new("scripted", json!({ "answer": answer })).rerun_delay(Duration::from_secs(30))
}

#[tokio::test]
async fn run_once_runs_a_due_job_with_its_handler_and_records_the_outcome() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let (handlers, mut runs) = scripted();
        let worker = Worker::new(q.clone(), handlers).with_id("w1");
        assert_eq!(worker.run_once(t0()).await.unwrap(), None, "nothing is due");

        let id = q.enqueue(job("finished")).await.unwrap();
        assert_eq!(worker.run_once(t0()).await.unwrap(), Some(id));
        assert_eq!(runs.try_recv().unwrap(), id);
        assert_eq!(q.get(id).await.unwrap().unwrap().status, Status::Finished);
        let log = q.log_entries(id, 0).await.unwrap();
        assert_eq!((log[0].status, log[0].worker.as_str()), (LogStatus::Success, "w1"));
        assert_eq!(worker.run_once(t0()).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_worker_leaves_kinds_it_has_no_handler_for() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let id = q.enqueue(NewJob::new("unknown", json!({}))).await.unwrap();
        let (handlers, _runs) = scripted();
        let worker = Worker::new(q.clone(), handlers);
        assert_eq!(worker.run_once(t0()).await.unwrap(), None);
        assert_eq!(q.get(id).await.unwrap().unwrap().status, Status::Ready);
    })
    .await;
}

#[tokio::test]
async fn handler_errors_and_panics_fail_the_run_and_permanent_errors_go_to_error() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let (handlers, _runs) = scripted();
        let worker = Worker::new(q.clone(), handlers);
        let failing = q.enqueue(job("fail")).await.unwrap();
        let permanent = q.enqueue(job("permanent")).await.unwrap();
        let panicking = q.enqueue(job("panic")).await.unwrap();
        let idle = q.enqueue(job("idle")).await.unwrap();
        while worker.run_once(t0()).await.unwrap().is_some() {}

        let entry = |id| {
            let q = q.clone();
            async move { q.get(id).await.unwrap().unwrap() }
        };
        let e = entry(failing).await;
        assert_eq!((e.status, e.run_at), (Status::Ready, at(30)));
        assert_eq!(e.last_error.as_deref(), Some("the other side timed out"));
        let e = entry(permanent).await;
        assert_eq!(
            (e.status, e.last_error.as_deref()),
            (Status::Error, Some("the order does not exist"))
        );
        let e = entry(panicking).await;
        assert_eq!(
            (e.status, e.last_error.as_deref()),
            (Status::Ready, Some("the job panicked: kaboom"))
        );
        assert_eq!(entry(idle).await.status, Status::Finished);
        assert_eq!(q.log_entries(idle, 0).await.unwrap()[0].status, LogStatus::Idle);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_workers_run_each_job_exactly_once() {
    for_each_backend(|url, name| async move {
        let (q, _) = queue(&url).await;
        let runs: Arc<Mutex<HashMap<JobId, u32>>> = Arc::default();
        let counter = runs.clone();
        let handlers = Handlers::new().register(
            "count",
            handler_fn(move |job| {
                let counter = counter.clone();
                async move {
                    tokio::task::yield_now().await;
                    *counter.lock().unwrap().entry(job.id()).or_default() += 1;
                    tokio::task::yield_now().await;
                    Ok(Outcome::Finished)
                }
            }),
        );
        let mut ids = Vec::new();
        for n in 0..100 {
            ids.push(q.enqueue(NewJob::new("count", json!({ "n": n }))).await.unwrap());
        }
        let tasks: Vec<_> = ["w1", "w2"]
            .into_iter()
            .map(|id| {
                let worker = Worker::new(q.clone(), handlers.clone()).with_id(id);
                tokio::spawn(async move {
                    let mut n = 0;
                    while worker.run_once(t0()).await.unwrap().is_some() {
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut per_worker = Vec::new();
        for task in tasks {
            per_worker.push(task.await.unwrap());
        }
        println!("{name}: jobs run per worker: {per_worker:?}");
        assert_eq!(per_worker.iter().sum::<u32>(), 100);
        let runs = runs.lock().unwrap().clone();
        assert_eq!(runs.len(), 100);
        assert!(runs.values().all(|n| *n == 1), "a job ran twice: {runs:?}");
        for id in ids {
            assert_eq!(q.get(id).await.unwrap().unwrap().status, Status::Finished);
            assert_eq!(q.log_entries(id, 0).await.unwrap().len(), 1);
        }
    })
    .await;
}

/// A queue on `url` with the system clock (for the worker loops).
async fn live_queue(url: &str) -> Queue {
    let q = Queue::new(Db::connect(url).await.unwrap());
    q.migrate().await.unwrap();
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_loops_share_the_jobs_and_start_a_new_job_within_a_second() {
    for_each_backend(|url, name| async move {
        let q = live_queue(&url).await;
        let (handlers, mut runs) = scripted();
        let mut stops = Vec::new();
        let mut loops = Vec::new();
        for id in ["w1", "w2"] {
            // A long poll interval: only notifications wake the loops in time.
            let worker = Worker::new(q.clone(), handlers.clone())
                .with_id(id)
                .with_poll_interval(Duration::from_secs(600));
            let (stop, stopped) = oneshot::channel::<()>();
            stops.push(stop);
            loops.push(tokio::spawn(async move {
                worker
                    .run(async move {
                        let _ = stopped.await;
                    })
                    .await
            }));
        }
        let mut ids = Vec::new();
        for _ in 0..40 {
            ids.push(q.enqueue(job("finished")).await.unwrap());
        }
        let mut seen = HashMap::<JobId, u32>::new();
        for _ in 0..40 {
            let id =
                tokio::time::timeout(Duration::from_secs(30), runs.recv()).await.unwrap().unwrap();
            *seen.entry(id).or_default() += 1;
        }

        // The loops are asleep now. A job enqueued in this process wakes them at once; on
        // PostgreSQL so does a job enqueued through another queue (another process), by NOTIFY.
        let mut sources = vec![("this queue", q.clone())];
        if name == "postgres" {
            sources.push(("another queue", live_queue_on(&q)));
        }
        for (source, other) in sources {
            let started = std::time::Instant::now();
            let id = other.enqueue(job("finished")).await.unwrap();
            let ran = tokio::time::timeout(Duration::from_secs(1), runs.recv()).await;
            assert_eq!(
                ran.ok().flatten(),
                Some(id),
                "{name}: a job enqueued by {source} did not start within a second"
            );
            println!("{name}: a job enqueued by {source} started after {:?}", started.elapsed());
            ids.push(id);
            *seen.entry(id).or_default() += 1;
        }

        for stop in stops {
            let _ = stop.send(());
        }
        for it in loops {
            tokio::time::timeout(Duration::from_secs(10), it).await.unwrap().unwrap().unwrap();
        }
        assert!(seen.values().all(|n| *n == 1), "a job ran twice: {seen:?}");
        for id in ids {
            // The handler reports before the run is recorded; the loops have stopped since.
            assert_eq!(q.get(id).await.unwrap().unwrap().status, Status::Finished);
        }
    })
    .await;
}

/// Another `Queue` on the same database: it shares no in-process notifier with `q`.
fn live_queue_on(q: &Queue) -> Queue {
    Queue::new(q.db().clone())
}

#[tokio::test]
async fn shutdown_releases_the_job_in_flight() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let (handlers, mut runs) = scripted();
        let id = q.enqueue(job("block")).await.unwrap();
        let worker = Worker::new(q.clone(), handlers).with_shutdown_grace(Duration::ZERO);
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(async move {
            worker
                .run(async move {
                    let _ = stopped.await;
                })
                .await
        });
        assert_eq!(runs.recv().await, Some(id));
        assert_eq!(q.get(id).await.unwrap().unwrap().status, Status::InProcess);
        stop.send(()).unwrap();
        running.await.unwrap().unwrap();

        let entry = q.get(id).await.unwrap().unwrap();
        assert_eq!(
            (entry.status, entry.attempts, entry.locked_by, entry.run_at),
            (Status::Ready, 0, None, t0())
        );
        assert_eq!(q.log_entries(id, 0).await.unwrap()[0].status, LogStatus::Released);
    })
    .await;
}

#[tokio::test]
async fn a_job_that_ends_within_the_shutdown_grace_is_completed_not_released() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let (started_tx, mut started) = mpsc::unbounded_channel();
        let finish = Arc::new(tokio::sync::Notify::new());
        let go = finish.clone();
        let handlers = Handlers::new().register(
            "slow",
            handler_fn(move |_| {
                let (started_tx, go) = (started_tx.clone(), go.clone());
                async move {
                    let notified = go.notified();
                    let _ = started_tx.send(());
                    notified.await;
                    Ok(Outcome::Finished)
                }
            }),
        );
        let id = q.enqueue(NewJob::new("slow", json!({}))).await.unwrap();
        let worker = Worker::new(q.clone(), handlers).with_shutdown_grace(Duration::from_secs(60));
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(async move {
            worker
                .run(async move {
                    let _ = stopped.await;
                })
                .await
        });
        started.recv().await.unwrap();
        stop.send(()).unwrap();
        tokio::task::yield_now().await;
        finish.notify_waiters();
        running.await.unwrap().unwrap();
        assert_eq!(q.get(id).await.unwrap().unwrap().status, Status::Finished);
    })
    .await;
}

#[tokio::test]
async fn a_worker_killed_mid_job_leaves_it_to_another_worker_after_the_lease() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let (started_tx, mut started) = mpsc::unbounded_channel();
        // Hangs on its first attempt (the worker is then killed), succeeds on the next.
        let handlers = Handlers::new().register(
            "flaky",
            handler_fn(move |job| {
                let started_tx = started_tx.clone();
                async move {
                    let _ = started_tx.send(job.attempt());
                    if job.attempt() == 1 {
                        std::future::pending::<()>().await;
                    }
                    Ok(Outcome::Finished)
                }
            }),
        );
        let id = q.enqueue(NewJob::new("flaky", json!({}))).await.unwrap();
        let lease = Duration::from_secs(120);
        let doomed = Worker::new(q.clone(), handlers.clone()).with_id("doomed").with_lease(lease);
        let running = tokio::spawn(async move { doomed.run(std::future::pending()).await });
        assert_eq!(started.recv().await, Some(1));
        running.abort(); // killed: no release, no completion
        let _ = running.await;
        let entry = q.get(id).await.unwrap().unwrap();
        assert_eq!((entry.status, entry.locked_by.as_deref()), (Status::InProcess, Some("doomed")));

        let survivor = Worker::new(q.clone(), handlers).with_id("survivor");
        assert_eq!(survivor.run_once(at(119)).await.unwrap(), None, "the lease still holds");
        assert_eq!(survivor.run_once(at(120)).await.unwrap(), Some(id));
        assert_eq!(started.recv().await, Some(2));
        let entry = q.get(id).await.unwrap().unwrap();
        assert_eq!((entry.status, entry.attempts), (Status::Finished, 0));
        let log = q.log_entries(id, 0).await.unwrap();
        let summary: Vec<_> =
            log.iter().map(|it| (it.worker.as_str(), it.attempt, it.status)).collect();
        assert_eq!(
            summary,
            vec![("survivor", 2, LogStatus::Success), ("doomed", 1, LogStatus::Error)]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_long_job_leased() {
    for_each_backend(|url, _| async move {
        let q = live_queue(&url).await;
        let (started_tx, mut started) = mpsc::unbounded_channel();
        let finish = Arc::new(tokio::sync::Notify::new());
        let go = finish.clone();
        let handlers = Handlers::new().register(
            "long",
            handler_fn(move |_| {
                let (started_tx, go) = (started_tx.clone(), go.clone());
                async move {
                    let notified = go.notified();
                    let _ = started_tx.send(());
                    notified.await;
                    Ok(Outcome::Finished)
                }
            }),
        );
        let id = q.enqueue(NewJob::new("long", json!({}))).await.unwrap();
        // A 300 ms lease, renewed every 100 ms, outlives a 900 ms job.
        let worker = Worker::new(q.clone(), handlers).with_lease(Duration::from_millis(300));
        let running =
            tokio::spawn(async move { worker.run_once(Queue::clock(worker.queue()).now()).await });
        started.recv().await.unwrap();
        tokio::time::sleep(Duration::from_millis(900)).await;
        let now = q.clock().now();
        assert!(
            q.claim("thief", now, Duration::from_secs(1)).await.unwrap().is_none(),
            "the lease expired"
        );
        let entry = q.get(id).await.unwrap().unwrap();
        assert!(entry.locked_until.unwrap() > now);
        finish.notify_waiters();
        assert_eq!(running.await.unwrap().unwrap(), Some(id));
        assert_eq!(q.get(id).await.unwrap().unwrap().status, Status::Finished);
    })
    .await;
}
