//! ⑤ Health of the objects a version runs, after Argo CD's rules (`gitops-engine/pkg/health`):
//! pure functions from an object's status to Healthy, Progressing or Degraded with the reason,
//! and the worst-of reduction to a version's state. No I/O: the watchers feed them.

use app::model::DeployState;
use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, StatefulSet},
    batch::v1::Job,
    core::v1::Pod,
};

/// The health of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// Still on its way (rolling out, starting), with what it waits for.
    Progressing(String),
    /// Broken, with why.
    Degraded(String),
}

impl Health {
    fn rank(&self) -> u8 {
        match self {
            Health::Healthy => 0,
            Health::Progressing(_) => 1,
            Health::Degraded(_) => 2,
        }
    }
}

/// Argo's Deployment rules.
pub fn deployment(d: &Deployment) -> Health {
    let name = d.metadata.name.as_deref().unwrap_or("?");
    let spec = &d.spec;
    let Some(status) = d.status.as_ref() else {
        return Health::Progressing(format!("Deployment {name}: waiting for the controller"));
    };
    if spec.paused == Some(true) {
        return Health::Progressing(format!("Deployment {name} is paused"));
    }
    if status.observed_generation.unwrap_or(0) < d.metadata.generation.unwrap_or(0) {
        return Health::Progressing(format!("Deployment {name}: waiting for the rollout to start"));
    }
    let deadline_exceeded = status.conditions.iter().flatten().any(|c| {
        c.type_.as_deref() == Some("Progressing") && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if deadline_exceeded {
        return Health::Degraded(format!("Deployment {name} exceeded its progress deadline"));
    }
    let desired = spec.replicas.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < desired {
        return Health::Progressing(format!(
            "Deployment {name}: {updated} of {desired} replicas updated"
        ));
    }
    if replicas > updated {
        return Health::Progressing(format!(
            "Deployment {name}: {} old replicas are being terminated",
            replicas - updated
        ));
    }
    if available < updated {
        return Health::Progressing(format!(
            "Deployment {name}: {available} of {updated} replicas available"
        ));
    }
    Health::Healthy
}

/// StatefulSet: generation observed, every replica ready and on the current revision.
pub fn statefulset(s: &StatefulSet) -> Health {
    let name = s.metadata.name.as_deref().unwrap_or("?");
    let Some(status) = s.status.as_ref() else {
        return Health::Progressing(format!("StatefulSet {name}: waiting for the controller"));
    };
    if status.observed_generation.unwrap_or(0) < s.metadata.generation.unwrap_or(0) {
        return Health::Progressing(format!("StatefulSet {name}: waiting for the rollout to start"));
    }
    let desired = s.spec.replicas.unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or(0);
    if ready < desired {
        return Health::Progressing(format!("StatefulSet {name}: {ready} of {desired} pods ready"));
    }
    let on_delete = s.spec.update_strategy.as_ref().and_then(|u| u.type_.as_deref()) == Some("OnDelete");
    if !on_delete && status.update_revision.is_some() && status.current_revision != status.update_revision {
        return Health::Progressing(format!("StatefulSet {name}: rolling out a new revision"));
    }
    Health::Healthy
}

/// DaemonSet: every scheduled pod updated and available.
pub fn daemonset(d: &DaemonSet) -> Health {
    let name = d.metadata.name.as_deref().unwrap_or("?");
    let Some(status) = d.status.as_ref() else {
        return Health::Progressing(format!("DaemonSet {name}: waiting for the controller"));
    };
    if status.observed_generation.unwrap_or(0) < d.metadata.generation.unwrap_or(0) {
        return Health::Progressing(format!("DaemonSet {name}: waiting for the rollout to start"));
    }
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let available = status.number_available.unwrap_or(0);
    if updated < desired {
        return Health::Progressing(format!("DaemonSet {name}: {updated} of {desired} pods updated"));
    }
    if available < desired {
        return Health::Progressing(format!(
            "DaemonSet {name}: {available} of {desired} pods available"
        ));
    }
    Health::Healthy
}

/// Job: complete is healthy, failed is degraded (with its reason), otherwise running.
pub fn job(j: &Job) -> Health {
    let name = j.metadata.name.as_deref().unwrap_or("?");
    let conditions = j.status.as_ref().and_then(|s| s.conditions.as_ref());
    for c in conditions.into_iter().flatten() {
        if c.status != "True" {
            continue;
        }
        match c.type_.as_str() {
            "Failed" => {
                let why = [c.reason.as_deref(), c.message.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": ");
                return Health::Degraded(format!("Job {name} failed: {why}"));
            }
            "Complete" => return Health::Healthy,
            _ => {}
        }
    }
    if j.spec.as_ref().and_then(|s| s.suspend) == Some(true) {
        return Health::Progressing(format!("Job {name} is suspended"));
    }
    Health::Progressing(format!("Job {name} is running"))
}

/// Argo's Pod rules: waiting reasons ending in `BackOff`/`Error` or starting with `Err` are
/// degraded, as are failed pods and crashing ones; unschedulable pods are degraded too.
pub fn pod(p: &Pod) -> Health {
    let name = p.metadata.name.as_deref().unwrap_or("?");
    let Some(status) = p.status.as_ref() else {
        return Health::Progressing(format!("Pod {name} is pending"));
    };
    let restart_always = p
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .is_none_or(|r| r == "Always");
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    if restart_always {
        let mut problems = vec![];
        for c in containers.clone() {
            if let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) {
                let reason = w.reason.as_deref().unwrap_or("");
                if reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff") {
                    let mut p = format!("container {} {reason}", c.name);
                    if let Some(m) = w.message.as_deref().filter(|m| !m.is_empty()) {
                        p.push_str(&format!(" ({m})"));
                    }
                    problems.push(p);
                }
            }
        }
        if !problems.is_empty() {
            return Health::Degraded(format!("Pod {name}: {}", problems.join(", ")));
        }
    }
    let unschedulable = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable")
    });
    if let Some(c) = unschedulable {
        return Health::Degraded(format!(
            "Pod {name} cannot be scheduled: {}",
            c.message.as_deref().unwrap_or("no node fits")
        ));
    }
    match status.phase.as_deref() {
        Some("Succeeded") => Health::Healthy,
        Some("Failed") => {
            let terminated = containers
                .filter_map(|c| c.state.as_ref()?.terminated.as_ref().map(|t| (c, t)))
                .next();
            let why = match (status.message.as_deref(), terminated) {
                (Some(m), _) if !m.is_empty() => m.to_owned(),
                (_, Some((c, t))) => match t.reason.as_deref() {
                    Some(r) => format!("container {} {r} (exit {})", c.name, t.exit_code),
                    None => format!("container {} exited with {}", c.name, t.exit_code),
                },
                _ => "failed".into(),
            };
            Health::Degraded(format!("Pod {name}: {why}"))
        }
        Some("Running") => {
            let ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            if ready {
                return Health::Healthy;
            }
            let crashed = status.container_statuses.iter().flatten().find(|c| {
                !c.ready
                    && c.last_state
                        .as_ref()
                        .and_then(|s| s.terminated.as_ref())
                        .is_some()
            });
            match crashed {
                Some(c) if restart_always => Health::Degraded(format!(
                    "Pod {name}: container {} keeps terminating ({} restarts)",
                    c.name, c.restart_count
                )),
                _ => Health::Progressing(format!("Pod {name} is not ready yet")),
            }
        }
        _ => Health::Progressing(format!("Pod {name} is pending")),
    }
}

/// A version's state from its objects' health: the worst wins, and its reasons (at most three,
/// then a count) become the message. No workloads at all counts as running.
pub fn version_state(healths: impl IntoIterator<Item = Health>) -> (DeployState, String) {
    let mut worst = Health::Healthy;
    let mut reasons: Vec<String> = vec![];
    for h in healths {
        match h.rank().cmp(&worst.rank()) {
            std::cmp::Ordering::Greater => {
                reasons.clear();
                if let Health::Progressing(m) | Health::Degraded(m) = &h {
                    reasons.push(m.clone());
                }
                worst = h;
            }
            std::cmp::Ordering::Equal => {
                if let Health::Progressing(m) | Health::Degraded(m) = &h {
                    reasons.push(m.clone());
                }
            }
            std::cmp::Ordering::Less => {}
        }
    }
    reasons.sort();
    reasons.dedup();
    let mut message = reasons.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
    if reasons.len() > 3 {
        message.push_str(&format!("; and {} more", reasons.len() - 3));
    }
    let state = match worst {
        Health::Healthy => DeployState::Running,
        Health::Progressing(_) => DeployState::Deploying,
        Health::Degraded(_) => DeployState::Degraded,
    };
    (state, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn deployment_rules() {
        let d = |spec: serde_json::Value, status: serde_json::Value| -> Deployment {
            from(json!({"metadata": {"name": "web", "generation": 2}, "spec": spec, "status": status}))
        };
        let healthy = d(
            json!({"replicas": 2}),
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
        );
        assert_eq!(deployment(&healthy), Health::Healthy);
        let old_gen = d(json!({"replicas": 2}), json!({"observedGeneration": 1}));
        assert!(matches!(deployment(&old_gen), Health::Progressing(m) if m.contains("rollout to start")));
        let rolling = d(
            json!({"replicas": 2}),
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}),
        );
        assert_eq!(
            deployment(&rolling),
            Health::Progressing("Deployment web: 1 of 2 replicas updated".into())
        );
        let unavailable = d(
            json!({}),
            json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 0}),
        );
        assert_eq!(
            deployment(&unavailable),
            Health::Progressing("Deployment web: 0 of 1 replicas available".into())
        );
        let stuck = d(
            json!({}),
            json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False",
                "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert!(matches!(deployment(&stuck), Health::Degraded(_)));
    }

    #[test]
    fn pod_rules() {
        let p = |v: serde_json::Value| -> Pod { from(v) };
        let pull = p(
            json!({"metadata": {"name": "web-1"}, "status": {"phase": "Pending",
            "containerStatuses": [{"name": "web", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
              "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}}}]}}),
        );
        assert_eq!(
            pod(&pull),
            Health::Degraded(
                "Pod web-1: container web ImagePullBackOff (Back-off pulling image \"x\")".into()
            )
        );
        let crash = p(
            json!({"metadata": {"name": "web-2"}, "status": {"phase": "Running",
            "containerStatuses": [{"name": "web", "image": "x", "imageID": "", "ready": false, "restartCount": 4,
              "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}),
        );
        assert!(matches!(pod(&crash), Health::Degraded(m) if m.contains("CrashLoopBackOff")));
        let ready = p(
            json!({"metadata": {"name": "web-3"}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        assert_eq!(pod(&ready), Health::Healthy);
        let starting = p(json!({"metadata": {"name": "web-4"}, "status": {"phase": "Pending"}}));
        assert!(matches!(pod(&starting), Health::Progressing(_)));
        let unschedulable = p(
            json!({"metadata": {"name": "web-5"}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
              "message": "0/1 nodes are available: insufficient cpu"}]}}),
        );
        assert_eq!(
            pod(&unschedulable),
            Health::Degraded(
                "Pod web-5 cannot be scheduled: 0/1 nodes are available: insufficient cpu".into()
            )
        );
        let failed = p(
            json!({"metadata": {"name": "once"}, "spec": {"restartPolicy": "Never", "containers": []},
            "status": {"phase": "Failed", "containerStatuses": [{"name": "m", "image": "x", "imageID": "",
              "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}}),
        );
        assert_eq!(
            pod(&failed),
            Health::Degraded("Pod once: container m Error (exit 1)".into())
        );
    }

    #[test]
    fn job_and_statefulset_rules() {
        let failed: Job = from(json!({"metadata": {"name": "migrate"}, "status": {"conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}}));
        assert_eq!(
            job(&failed),
            Health::Degraded(
                "Job migrate failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
                    .into()
            )
        );
        let done: Job = from(
            json!({"metadata": {"name": "m"}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}),
        );
        assert_eq!(job(&done), Health::Healthy);
        let sts: StatefulSet = from(
            json!({"metadata": {"name": "db", "generation": 1}, "spec": {"replicas": 2,
            "selector": {}, "serviceName": "db", "template": {}},
            "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 1}}),
        );
        assert_eq!(
            statefulset(&sts),
            Health::Progressing("StatefulSet db: 1 of 2 pods ready".into())
        );
    }

    #[test]
    fn the_worst_decides() {
        assert_eq!(version_state([]), (DeployState::Running, String::new()));
        assert_eq!(
            version_state([
                Health::Healthy,
                Health::Progressing("b".into()),
                Health::Progressing("a".into())
            ]),
            (DeployState::Deploying, "a; b".into())
        );
        let (state, message) = version_state([
            Health::Progressing("p".into()),
            Health::Degraded("d1".into()),
            Health::Degraded("d2".into()),
            Health::Degraded("d3".into()),
            Health::Degraded("d4".into()),
        ]);
        assert_eq!(state, DeployState::Degraded);
        assert_eq!(message, "d1; d2; d3; and 1 more");
    }
}
