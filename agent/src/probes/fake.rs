//! A fake exec runner for the prober's tests: every probe is an exec probe whose command
//! names the answer the test set for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::ExecRunner;
use crate::containerd::container::ExecOutput;

#[derive(Clone, Copy, Debug)]
pub enum Answer {
    Pass,
    Fail,
    Hang,
    Broken,
}

/// Answers each command with what the test set for it and records when it was called.
#[derive(Default)]
pub struct FakeExec {
    answers: Mutex<HashMap<String, Answer>>,
    calls: Mutex<Vec<(String, Duration)>>,
    origin: Mutex<Option<Instant>>,
}

impl FakeExec {
    pub fn new() -> Arc<Self> {
        let fake = Arc::new(Self::default());
        *fake.origin.lock().unwrap() = Some(Instant::now());
        fake
    }

    pub fn set(&self, cmd: &str, answer: Answer) {
        self.answers.lock().unwrap().insert(cmd.into(), answer);
    }

    /// Seconds since the test started at which `cmd` ran.
    pub fn calls(&self, cmd: &str) -> Vec<u64> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|(c, _)| c == cmd)
            .map(|(_, t)| t.as_secs())
            .collect()
    }
}

impl ExecRunner for FakeExec {
    fn exec<'a>(
        &'a self,
        _container_id: &'a str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ExecOutput, String>> {
        Box::pin(async move {
            let origin = self.origin.lock().unwrap().unwrap();
            self.calls
                .lock()
                .unwrap()
                .push((cmd[0].clone(), origin.elapsed()));
            let answer = self.answers.lock().unwrap().get(&cmd[0]).copied();
            let out = |code: i32, text: &str, timed_out| ExecOutput {
                exit_code: code,
                output: text.as_bytes().to_vec(),
                timed_out,
            };
            match answer.unwrap_or(Answer::Pass) {
                Answer::Pass => Ok(out(0, "ok", false)),
                Answer::Fail => Ok(out(1, "boom", false)),
                Answer::Hang => {
                    tokio::time::sleep(timeout).await;
                    Ok(out(137, "", true))
                }
                Answer::Broken => Err("runtime unavailable".into()),
            }
        })
    }
}
