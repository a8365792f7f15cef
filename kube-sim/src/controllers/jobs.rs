//! Jobs: pods run to completion, `parallelism` at a time, until `completions` succeed (the
//! Job is Complete) or more than `backoffLimit` fail (Failed, its running pods deleted).
//! The step to take and the status are pure functions of the Job and its pods.

use super::*;

/// Marks a job finished: its criterion condition and its final one, for one reason.
fn conclude(conds: &mut Vec<Value>, (criterion, last): (&str, &str), reason: &str, message: &str) {
    cond_update(conds, criterion, "True", reason, message, false);
    cond_update(conds, last, "True", reason, message, false);
}

fn phase(p: &Value) -> &str {
    p.pointer("/status/phase").and_then(Value::as_str).unwrap_or("")
}

/// What one pass does for an unfinished Job.
#[derive(Debug, PartialEq)]
pub(super) enum JobStep {
    /// `completions` pods succeeded.
    Complete,
    /// More than `backoffLimit` pods failed: the active ones are deleted.
    Fail,
    /// Still running: create this many more pods.
    Run(i64),
}

pub(super) fn job_step(job: &Value, pods: &[Value]) -> JobStep {
    let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
    let failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i64;
    let active = pods.iter().filter(|p| pod_active(p)).count() as i64;
    let completions = i64_at(job, "/spec/completions", 1);
    let parallelism = i64_at(job, "/spec/parallelism", 1);
    if succeeded >= completions {
        JobStep::Complete
    } else if failed > i64_at(job, "/spec/backoffLimit", 6) {
        JobStep::Fail
    } else {
        let want = parallelism.min(completions - succeeded).max(0);
        JobStep::Run((want - active).max(0))
    }
}

/// The Job's status after `step`, `created` pods having been created, at time `t`.
pub(super) fn job_status(job: &Value, step: &JobStep, pods: &[Value], created: usize, t: &str) -> Value {
    let mut status = job
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    if status.get("startTime").is_none() {
        status["startTime"] = json!(t);
    }
    let mut conds: Vec<Value> = job
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut active: Vec<&Value> = pods.iter().filter(|p| pod_active(p)).collect();
    match step {
        JobStep::Complete => {
            conclude(
                &mut conds,
                ("SuccessCriteriaMet", "Complete"),
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            );
            status["completionTime"] = json!(t);
            active.clear();
        }
        JobStep::Fail => {
            conclude(
                &mut conds,
                ("FailureTarget", "Failed"),
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            );
            active.clear();
        }
        JobStep::Run(_) => {}
    }
    let count = |ph: &str| pods.iter().filter(|p| phase(p) == ph).count() as i64;
    let n_active = (active.len() + created) as i64;
    for (k, v) in [
        ("active", n_active),
        ("succeeded", count("Succeeded")),
        ("failed", count("Failed")),
    ] {
        if v > 0 {
            status[k] = json!(v);
        } else if let Some(m) = status.as_object_mut() {
            m.remove(k);
        }
    }
    status["ready"] = json!(active.iter().filter(|p| pod_ready(p)).count());
    status["terminating"] = json!(0);
    status["uncountedTerminatedPods"] = json!({});
    if !conds.is_empty() {
        status["conditions"] = json!(conds);
    }
    status
}

fn finished(job: &Value) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
        })
}

pub(super) fn jobs(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
    let mut all = scope.objects(st, "batch/jobs");
    all.retain(|j| !deleting(j));
    for job in all {
        if !finished(&job) && job.pointer("/spec/suspend") != Some(&json!(true)) {
            sync_job(sim, reg, st, &job);
        }
    }
}

fn sync_job(sim: &Sim, reg: &Registry, st: &mut Store, job: &Value) {
    let prt = rt(reg, "/pods");
    let ns = meta_str(job, "namespace").to_string();
    let name = meta_str(job, "name").to_string();
    let uid = meta_str(job, "uid").to_string();
    let pods: Vec<Value> = st
        .list("/pods", Some(&ns))
        .filter(|p| controller_of(p) == Some(uid.as_str()))
        .cloned()
        .collect();
    let event = |st: &mut Store, etype: &str, reason: &str, message: &str| {
        let note = Note {
            etype,
            ..Note::normal("job-controller", reason, message)
        };
        record_event(sim, reg, st, job, &note);
    };
    let step = job_step(job, &pods);
    let mut created = 0;
    match step {
        JobStep::Complete => event(st, "Normal", "Completed", "Job completed"),
        JobStep::Fail => {
            for p in pods.iter().filter(|p| pod_active(p)) {
                delete_obj(sim, st, prt, &ns, meta_str(p, "name"), "Background");
            }
            event(
                st,
                "Warning",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            );
        }
        JobStep::Run(n) => {
            let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
            for _ in 0..n {
                let pname = format!("{name}-{}", random_suffix(5));
                let pod = new_pod(job, "batch/v1", "Job", &template, &pname, &[]);
                if ops::create_internal(sim, st, prt, pod, CM).is_ok() {
                    event(st, "Normal", "SuccessfulCreate", &format!("Created pod: {pname}"));
                    created += 1;
                }
            }
        }
    }
    let status = job_status(job, &step, &pods, created, &now());
    let Some(cur) = st.get("batch/jobs", &ns, &name).cloned() else {
        return;
    };
    set_status(sim, st, rt(reg, "batch/jobs"), &cur, status);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(completions: i64, parallelism: i64, backoff: i64) -> Value {
        json!({
            "metadata": {"name": "migrate", "namespace": "ns", "uid": "j-uid"},
            "spec": {"completions": completions, "parallelism": parallelism, "backoffLimit": backoff},
        })
    }

    fn pod(phase: &str) -> Value {
        json!({"metadata": {"name": "p"}, "status": {"phase": phase}})
    }

    use crate::controllers::condition;

    #[test]
    fn a_job_runs_parallelism_pods_until_its_completions() {
        let j = job(3, 2, 6);
        assert_eq!(job_step(&j, &[]), JobStep::Run(2));
        assert_eq!(job_step(&j, &[pod("Running"), pod("Running")]), JobStep::Run(0));
        // One left to complete: no more than one pod at a time.
        let two_done = [pod("Succeeded"), pod("Succeeded")];
        assert_eq!(job_step(&j, &two_done), JobStep::Run(1));
        // A failed pod is replaced.
        assert_eq!(job_step(&j, &[pod("Failed"), pod("Running")]), JobStep::Run(1));
    }

    #[test]
    fn completions_mark_the_job_complete() {
        let j = job(2, 1, 6);
        let pods = [pod("Succeeded"), pod("Failed"), pod("Succeeded")];
        let step = job_step(&j, &pods);
        assert_eq!(step, JobStep::Complete);
        let s = job_status(&j, &step, &pods, 0, "2026-01-01T00:00:00Z");
        for ty in ["Complete", "SuccessCriteriaMet"] {
            let c = condition(&s, ty).expect("condition");
            assert_eq!(
                (c["status"].as_str(), c["reason"].as_str()),
                (Some("True"), Some("CompletionsReached"))
            );
        }
        assert_eq!(s["completionTime"], "2026-01-01T00:00:00Z");
        assert_eq!(s["succeeded"], 2);
        assert_eq!(s["failed"], 1);
        assert!(s.get("active").is_none());
    }

    #[test]
    fn failures_beyond_the_backoff_limit_fail_the_job() {
        let j = job(1, 1, 1);
        assert_eq!(job_step(&j, &[pod("Failed")]), JobStep::Run(1));
        let pods = [pod("Failed"), pod("Failed"), pod("Running")];
        let step = job_step(&j, &pods);
        assert_eq!(step, JobStep::Fail);
        let s = job_status(&j, &step, &pods, 0, "2026-01-01T00:00:00Z");
        assert_eq!(
            condition(&s, "Failed").expect("Failed")["reason"],
            "BackoffLimitExceeded"
        );
        assert!(condition(&s, "Complete").is_none());
        assert!(s.get("active").is_none(), "its running pods are deleted");
        assert!(s.get("completionTime").is_none());
    }

    #[test]
    fn a_running_job_counts_its_active_and_new_pods() {
        let j = job(3, 2, 6);
        let pods = [pod("Running")];
        let s = job_status(&j, &job_step(&j, &pods), &pods, 1, "2026-01-01T00:00:00Z");
        assert_eq!(s["active"], 2);
        assert_eq!(s["startTime"], "2026-01-01T00:00:00Z");
        assert!(s.get("conditions").is_none());
    }

    #[test]
    fn through_the_store_a_job_whose_pod_succeeds_is_complete() {
        // Without a delay the kubelet runs a pod to completion in the pass that creates it.
        let cfg = crate::SimConfig::default().pod_ready_delay(Duration::ZERO);
        let sim = crate::Sim::new(cfg, "token".into(), None);
        {
            let reg = sim.registry.read().clone();
            let mut st = sim.store.lock();
            let j = json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "migrate", "namespace": "default"},
                "spec": {"template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": "migrate:1"}],
                }}},
            });
            ops::create_internal(&sim, &mut st, rt(&reg, "batch/jobs"), j, "test").expect("created");
        }
        reconcile(&sim);
        reconcile(&sim);
        let st = sim.store.lock();
        let pods: Vec<&Value> = st.list("/pods", Some("default")).collect();
        assert_eq!(pods.len(), 1, "one pod for one completion");
        assert_eq!(pods[0]["status"]["phase"], "Succeeded");
        let j = st.get("batch/jobs", "default", "migrate").expect("stored");
        assert_eq!(j["status"]["succeeded"], 1);
        let complete = j["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Complete"))
            .expect("Complete condition");
        assert_eq!(complete["status"], "True");
    }
}
