//! Group commit for the database: requests that arrive together share one statement.
//!
//! A [`Batcher`] takes requests from any number of handlers and runs them in batches:
//! a worker takes every request waiting (up to a maximum) and hands them to the batch
//! function at once, so under load one round trip and one commit serve many requests,
//! and when idle a lone request goes at once (nothing waits for company). Several
//! workers run batches side by side.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::ApiError;

type Job<Req, Resp> = (Req, oneshot::Sender<Result<Resp, ApiError>>);

/// Runs requests in batches; cheap to clone.
pub struct Batcher<Req, Resp> {
    tx: mpsc::Sender<Job<Req, Resp>>,
}

impl<Req, Resp> Clone for Batcher<Req, Resp> {
    fn clone(&self) -> Self {
        Batcher {
            tx: self.tx.clone(),
        }
    }
}

impl<Req, Resp> std::fmt::Debug for Batcher<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Starts `workers` tasks (on the current tokio runtime) running batches of at most
    /// `max` requests through `run`, which answers each request of a batch, in order.
    pub fn spawn<F, Fut>(workers: usize, max: usize, run: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Resp>, ApiError>> + Send,
    {
        let (tx, rx) = mpsc::channel::<Job<Req, Resp>>(max * workers * 4);
        let rx = Arc::new(Mutex::new(rx));
        let run = Arc::new(run);
        for _ in 0..workers.max(1) {
            let (rx, run) = (rx.clone(), run.clone());
            tokio::spawn(async move {
                let mut reqs = Vec::with_capacity(max);
                let mut replies = Vec::with_capacity(max);
                loop {
                    {
                        let mut rx = rx.lock().await;
                        let Some((req, reply)) = rx.recv().await else {
                            return;
                        };
                        reqs.push(req);
                        replies.push(reply);
                        while reqs.len() < max {
                            match rx.try_recv() {
                                Ok((req, reply)) => {
                                    reqs.push(req);
                                    replies.push(reply);
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    let n = reqs.len();
                    match run(std::mem::take(&mut reqs)).await {
                        Ok(answers) if answers.len() == n => {
                            for (reply, answer) in replies.drain(..).zip(answers) {
                                let _ = reply.send(Ok(answer));
                            }
                        }
                        Ok(answers) => {
                            let e = ApiError::internal(format!(
                                "a batch of {n} answered {}",
                                answers.len()
                            ));
                            for reply in replies.drain(..) {
                                let _ = reply.send(Err(e.clone()));
                            }
                        }
                        Err(e) => {
                            for reply in replies.drain(..) {
                                let _ = reply.send(Err(e.clone()));
                            }
                        }
                    }
                    reqs = Vec::with_capacity(max);
                }
            });
        }
        Batcher { tx }
    }

    /// Runs `req` in the next batch; its answer.
    pub async fn call(&self, req: Req) -> Result<Resp, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((req, reply))
            .await
            .map_err(|_| ApiError::unavailable("database", "the batch writer stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::unavailable("database", "the batch writer stopped"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_that_arrive_together_share_a_batch_and_each_gets_its_answer() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let b = Batcher::spawn(1, 64, move |reqs: Vec<u32>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(reqs.len());
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                if reqs.contains(&13) {
                    return Err(ApiError::unprocessable("thirteen"));
                }
                Ok(reqs.iter().map(|r| r * 2).collect())
            }
        });
        let calls: Vec<_> = (0..200u32)
            .filter(|r| *r != 13)
            .map(|r| {
                let b = b.clone();
                tokio::spawn(async move { (r, b.call(r).await) })
            })
            .collect();
        for c in calls {
            let (r, answer) = c.await.unwrap();
            assert_eq!(answer.unwrap(), r * 2);
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 199);
        assert!(sizes.len() < 199, "batched: {sizes:?}");
        assert!(sizes.iter().all(|&n| n <= 64));
        // A failed batch fails every request in it, and the batcher goes on.
        let err = b.call(13).await.unwrap_err();
        assert_eq!(err.message, "thirteen");
        assert_eq!(b.call(4).await.unwrap(), 8);
    }
}
