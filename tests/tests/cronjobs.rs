//! CronJobs on a joined node with real containers: the notes' invalid schedule (and an
//! unknown time zone) refused at apply with the field path; a CronJob running every minute
//! starts a Job at the next minute boundary that completes (`get cronjobs` shows its LAST
//! SCHEDULE, `get jobs` lists it); a second CronJob with successfulJobsHistoryLimit 0 has
//! its finished Job deleted; `create job --from=cronjob/hello` runs its template by hand;
//! a Forbid CronJob whose Job outlasts a minute skips the next run (`JobAlreadyActive`).
//! Two minute boundaries: the file takes about 80-150 s.

use std::time::Duration;

use anyhow::{bail, ensure};
use serde_json::Value;
use skiff_e2e::{wait_for, ClusterEnv, TestControlPlane};

/// The next minute boundary, the Job's start and its pod's run.
const WAIT: Duration = Duration::from_secs(150);
const POLL: Duration = Duration::from_millis(500);

fn cron_job(name: &str, schedule: &str, extra: &str) -> String {
    running(name, schedule, extra, &format!("echo hello from {name}"))
}

/// A CronJob whose pods run `command`.
fn running(name: &str, schedule: &str, extra: &str, command: &str) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: CronJob
metadata:
  name: {name}
spec:
  schedule: "{schedule}"
  {extra}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: hello
            image: busybox
            command: ["sh", "-c", "{command}"]
"#
    )
}

/// The CronJob's Jobs (its name and a dash, then the scheduled minute).
fn jobs_of(cp: &TestControlPlane, cron_job: &str) -> anyhow::Result<Vec<Value>> {
    let list: Value = serde_json::from_str(&cp.skiff(&["get", "jobs", "-o", "json"])?)?;
    let prefix = format!("{cron_job}-");
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|j| {
            j["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .cloned()
        .collect())
}

fn complete(job: &Value) -> bool {
    job["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Complete" && c["status"] == "True")
}

#[test]
fn bad_schedules_are_refused_and_cron_jobs_run_every_minute_forbid_skipping_a_run() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        let refused = cp
            .apply_yaml("bad.yaml", &cron_job("bad", "1/* * * * *", ""))
            .expect_err("the notes' schedule is refused");
        let message = format!("{refused:#}");
        ensure!(
            message.contains(r#"spec.schedule: Invalid value: "1/* * * * *": minute field "1/*""#),
            "{message}"
        );
        let refused = cp
            .apply_yaml(
                "mars.yaml",
                &cron_job("mars", "* * * * *", "timeZone: Mars/Base"),
            )
            .expect_err("an unknown zone is refused");
        ensure!(
            format!("{refused:#}").contains(
                r#"spec.timeZone: Invalid value: "Mars/Base": unknown time zone Mars/Base"#
            ),
            "{refused:#}"
        );
        ensure!(jobs_of(cp, "bad")?.is_empty() && jobs_of(cp, "mars")?.is_empty());

        cp.apply_yaml("hello.yaml", &cron_job("hello", "* * * * *", ""))?;
        cp.apply_yaml(
            "tidy.yaml",
            &cron_job("tidy", "* * * * *", "successfulJobsHistoryLimit: 0"),
        )?;
        // Forbid: slow's first Job still runs at the second minute boundary.
        cp.apply_yaml(
            "slow.yaml",
            &running("slow", "* * * * *", "concurrencyPolicy: Forbid", "sleep 90"),
        )?;
        let listed = cp.skiff(&["get", "cronjobs"])?;
        ensure!(
            listed.starts_with("NAME") && listed.contains("LAST SCHEDULE"),
            "{listed}"
        );
        ensure!(
            listed
                .lines()
                .any(|l| l.starts_with("hello ") && l.contains("<none>")),
            "never run yet: {listed}"
        );

        // The next minute boundary starts a Job, named for its minute, that completes.
        let job = wait_for("hello's job complete", WAIT, POLL, || {
            let jobs = jobs_of(cp, "hello")?;
            match jobs.iter().find(|j| complete(j)) {
                Some(job) => Ok(job.clone()),
                None => bail!("jobs: {jobs:?}"),
            }
        })?;
        let name = job["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let minutes: i64 = name.trim_start_matches("hello-").parse()?;
        let scheduled = job["metadata"]["annotations"]
            ["batch.kubernetes.io/cronjob-scheduled-timestamp"]
            .as_str()
            .unwrap_or_default()
            .parse::<jiff::Timestamp>()?;
        ensure!(
            scheduled.as_second() == minutes * 60,
            "{name} at {scheduled}"
        );
        ensure!(
            job["metadata"]["ownerReferences"][0]["kind"] == "CronJob",
            "{job}"
        );
        let listed = cp.skiff(&["get", "jobs"])?;
        ensure!(
            listed
                .lines()
                .any(|l| l.starts_with(&format!("{name} ")) && l.contains("Complete")),
            "get jobs: {listed}"
        );
        let pods: Value = serde_json::from_str(&cp.skiff(&[
            "get",
            "pods",
            "-l",
            &format!("job-name={name}"),
            "-o",
            "json",
        ])?)?;
        let pod = pods["items"][0]["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let logs = cp.skiff(&["logs", &pod])?;
        ensure!(logs.contains("hello from hello"), "logs: {logs}");

        let cj = wait_for("hello's status", WAIT, POLL, || {
            let cj = cp.get_json("cronjob", "hello")?;
            match cj["status"]["lastSuccessfulTime"].as_str() {
                Some(_) => Ok(cj),
                None => bail!("status: {}", cj["status"]),
            }
        })?;
        ensure!(cj["status"]["lastScheduleTime"].is_string(), "{cj}");
        let listed = cp.skiff(&["get", "cj"])?;
        let line = listed
            .lines()
            .find(|l| l.starts_with("hello "))
            .unwrap_or_default();
        let cols: Vec<&str> = line.split_whitespace().collect();
        // NAME, 5 schedule fields, TIMEZONE SUSPEND ACTIVE, LAST SCHEDULE (an age), AGE
        ensure!(
            cols.get(6..8) == Some(&["<none>", "False"][..])
                && cols
                    .get(9)
                    .is_some_and(|age| age.ends_with('s') || age.ends_with('m')),
            "get cj: {listed}"
        );
        let described = cp.skiff(&["describe", "cronjob", "hello"])?;
        ensure!(
            described.contains(&format!("Created job {name}")),
            "{described}"
        );

        // A Job run by hand from the CronJob's template, as `kubectl create job --from`.
        cp.skiff(&["create", "job", "hello-by-hand", "--from=cronjob/hello"])?;
        let by_hand = wait_for("the job by hand complete", WAIT, POLL, || {
            let job = cp.get_json("job", "hello-by-hand")?;
            match complete(&job) {
                true => Ok(job),
                false => bail!("status: {}", job["status"]),
            }
        })?;
        ensure!(
            by_hand["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
                && by_hand["metadata"]["ownerReferences"][0]["name"] == "hello",
            "{by_hand}"
        );

        // History limit 0: tidy's finished Job is deleted once the controller sees it.
        wait_for("tidy's finished job deleted", WAIT, POLL, || {
            let cj = cp.get_json("cronjob", "tidy")?;
            let jobs = jobs_of(cp, "tidy")?;
            if cj["status"]["lastSuccessfulTime"].is_string() && jobs.is_empty() {
                Ok(())
            } else {
                bail!("status: {}, jobs: {jobs:?}", cj["status"])
            }
        })?;
        let described = cp.skiff(&["describe", "cronjob", "tidy"])?;
        ensure!(described.contains("SuccessfulDelete"), "{described}");

        // The second minute boundary finds slow's Job active: skipped, with an event.
        let described = wait_for("slow skipping a run", WAIT, POLL, || {
            let described = cp.skiff(&["describe", "cronjob", "slow"])?;
            match described.contains("JobAlreadyActive") {
                true => Ok(described),
                false => bail!("{described}"),
            }
        })?;
        let slow = jobs_of(cp, "slow")?;
        ensure!(slow.len() == 1, "{described}\njobs: {slow:?}");
        Ok(())
    });
}
