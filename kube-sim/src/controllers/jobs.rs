//! Jobs.

use super::*;

/// Marks a job finished: its criterion condition and its final one, for one reason.
fn conclude(conds: &mut Vec<Value>, (criterion, last): (&str, &str), reason: &str, message: &str) {
    cond_update(conds, criterion, "True", reason, message, false);
    cond_update(conds, last, "True", reason, message, false);
}

pub(super) fn jobs(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
    let jrt = rt(reg, "batch/jobs");
    let prt = rt(reg, "/pods");
    let mut all = scope.objects(st, "batch/jobs");
    all.retain(|j| !deleting(j));
    for job in all {
        let ns = meta_str(&job, "namespace").to_string();
        let name = meta_str(&job, "name").to_string();
        let uid = meta_str(&job, "uid").to_string();
        let conds: Vec<Value> = job
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let finished = conds
            .iter()
            .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True");
        if finished || job.pointer("/spec/suspend") == Some(&json!(true)) {
            continue;
        }
        let pods: Vec<Value> = st
            .list("/pods", Some(&ns))
            .filter(|p| controller_of(p) == Some(uid.as_str()))
            .cloned()
            .collect();
        let phase = |p: &Value| {
            p.pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
        let failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i64;
        let mut active: Vec<&Value> = pods.iter().filter(|p| pod_active(p)).collect();
        let completions = i64_at(&job, "/spec/completions", 1);
        let parallelism = i64_at(&job, "/spec/parallelism", 1);
        let backoff = i64_at(&job, "/spec/backoffLimit", 6);
        let t = now();
        let mut status = job
            .get("status")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({}));
        if status.get("startTime").is_none() {
            status["startTime"] = json!(t);
        }
        let mut conds = conds;
        let mut created = vec![];
        let event = |st: &mut Store, kind: &str, reason: &str, message: &str| {
            let note = Note {
                etype: kind,
                ..Note::normal("job-controller", reason, message)
            };
            record_event(sim, reg, st, &job, &note);
        };
        if succeeded >= completions {
            conclude(
                &mut conds,
                ("SuccessCriteriaMet", "Complete"),
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            );
            status["completionTime"] = json!(t);
            active.clear();
            event(st, "Normal", "Completed", "Job completed");
        } else if failed > backoff {
            conclude(
                &mut conds,
                ("FailureTarget", "Failed"),
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            );
            let victims: Vec<String> = active.iter().map(|p| meta_str(p, "name").to_string()).collect();
            for v in victims {
                delete_obj(sim, st, prt, &ns, &v, "Background");
            }
            active.clear();
            event(
                st,
                "Warning",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            );
        } else {
            let want = parallelism.min(completions - succeeded).max(0);
            let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
            for _ in (active.len() as i64)..want {
                let pname = format!("{name}-{}", random_suffix(5));
                let pod = new_pod(&job, "batch/v1", "Job", &template, &pname, &[]);
                if ops::create_internal(sim, st, prt, pod, CM).is_ok() {
                    event(st, "Normal", "SuccessfulCreate", &format!("Created pod: {pname}"));
                    created.push(pname);
                }
            }
        }
        let n_active = active.len() as i64 + created.len() as i64;
        for (k, v) in [("active", n_active), ("succeeded", succeeded), ("failed", failed)] {
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
        let Some(cur) = st.get("batch/jobs", &ns, &name).cloned() else {
            continue;
        };
        set_status(sim, st, jrt, &cur, status);
    }
}
