//! Kubelet.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    ImagePullBackOff,
    CrashLoop,
    NeverReady,
    Fail,
}

pub fn fault_of(pod: &Value, image: &str) -> Fault {
    let ann = pod
        .pointer(&format!(
            "/metadata/annotations/{}",
            FAULT_ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .unwrap_or("");
    let has = |f: &str| image.contains(&format!("fault-{f}")) || ann == f;
    if has("imagepullbackoff") || has("errimagepull") {
        Fault::ImagePullBackOff
    } else if has("crashloop") {
        Fault::CrashLoop
    } else if has("never-ready") {
        Fault::NeverReady
    } else if has("fail") {
        Fault::Fail
    } else {
        Fault::None
    }
}

pub(super) fn repo_of(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

pub fn image_id(sim: &Sim, image: &str) -> String {
    let digest = sim.digests.lock().get(image).cloned().unwrap_or_else(|| {
        if let Some((_, d)) = image.split_once('@') {
            return d.to_string();
        }
        use sha2::Digest;
        let h = sha2::Sha256::digest(image.as_bytes());
        format!(
            "sha256:{}",
            h.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    });
    format!("docker-pullable://{}@{digest}", repo_of(image))
}

pub(super) fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(super) fn container_id(pod_uid: &str, name: &str, restart: u32) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("{pod_uid}/{name}/{restart}").as_bytes());
    format!(
        "containerd://{}",
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Crash-loop timeline: (restarts so far, running?, last crash time offset, current window start).
pub(super) fn crash_timeline(elapsed: Duration, period: Duration) -> (u32, bool, Duration, Duration) {
    let mut t = Duration::ZERO;
    let mut restarts = 0u32;
    let mut last_crash = Duration::ZERO;
    loop {
        // Running for one period, then crash; back-off doubles (capped).
        let run_end = t + period;
        if elapsed < run_end {
            return (restarts, true, last_crash, t);
        }
        let backoff = period * 2u32.pow(restarts.min(4));
        if elapsed < run_end + backoff {
            return (restarts + 1, false, run_end, run_end);
        }
        t = run_end + backoff;
        last_crash = run_end;
        restarts += 1;
    }
}

pub(super) struct ContainerOutcome {
    status: Value,
    ready: bool,
    running: bool,
    terminated: Option<i64>,
    waiting_reason: Option<String>,
}

impl ContainerOutcome {
    fn waiting(status: Value, reason: &str) -> Self {
        ContainerOutcome {
            status,
            ready: false,
            running: false,
            terminated: None,
            waiting_reason: Some(reason.into()),
        }
    }

    fn running(status: Value, ready: bool) -> Self {
        ContainerOutcome {
            status,
            ready,
            running: true,
            terminated: None,
            waiting_reason: None,
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn container_status(
    sim: &Sim,
    pod: &Value,
    c: &Value,
    elapsed: Duration,
    delay: Duration,
    start: chrono::DateTime<chrono::Utc>,
    run_to_completion: bool,
    init: bool,
) -> ContainerOutcome {
    let name = c.get("name").and_then(Value::as_str).unwrap_or("");
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let uid = meta_str(pod, "uid");
    let fault = fault_of(pod, image);
    let at = |d: Duration| ts(start + chrono::Duration::from_std(d).unwrap_or_default());
    let mut s = json!({"name": name, "image": image, "imageID": "", "ready": false, "restartCount": 0, "started": false});
    let waiting = |s: &mut Value, reason: &str, msg: Option<String>| {
        let mut w = json!({"reason": reason});
        if let Some(m) = msg {
            w["message"] = json!(m);
        }
        s["state"] = json!({"waiting": w});
    };
    if elapsed < delay {
        waiting(
            &mut s,
            if init {
                "PodInitializing"
            } else {
                "ContainerCreating"
            },
            None,
        );
        return ContainerOutcome::waiting(s, "ContainerCreating");
    }
    if fault == Fault::ImagePullBackOff {
        let (reason, msg) = if elapsed < delay * 2 {
            (
                "ErrImagePull",
                format!(
                    "failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": pull access denied, repository does not exist or may require authorization"
                ),
            )
        } else {
            (
                "ImagePullBackOff",
                format!(
                    "Back-off pulling image \"{image}\": ErrImagePull: failed to pull and unpack image \"{image}\""
                ),
            )
        };
        waiting(&mut s, reason, Some(msg));
        return ContainerOutcome::waiting(s, reason);
    }
    s["imageID"] = json!(image_id(sim, image));
    if fault == Fault::CrashLoop {
        let (restarts, running, last_crash, window) =
            crash_timeline(elapsed - delay, delay.max(Duration::from_millis(100)));
        s["restartCount"] = json!(restarts);
        s["containerID"] = json!(container_id(uid, name, restarts));
        if restarts > 0 {
            s["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": at(delay), "finishedAt": at(delay + last_crash.max(window)), "containerID": container_id(uid, name, restarts - 1)}});
        }
        if running {
            s["state"] = json!({"running": {"startedAt": at(delay + window)}});
            s["started"] = json!(true);
            return ContainerOutcome::running(s, false);
        }
        let back = 10u64 * 2u64.pow(restarts.saturating_sub(1).min(5));
        waiting(
            &mut s,
            "CrashLoopBackOff",
            Some(format!(
                "back-off {}s restarting failed container={name} pod={}_{}({uid})",
                back.min(300),
                meta_str(pod, "name"),
                meta_str(pod, "namespace")
            )),
        );
        return ContainerOutcome::waiting(s, "CrashLoopBackOff");
    }
    s["containerID"] = json!(container_id(uid, name, 0));
    if init || (run_to_completion && elapsed >= delay * 2) {
        let code = if fault == Fault::Fail { 1 } else { 0 };
        let finish = if init { delay } else { delay * 2 };
        s["state"] = json!({"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }, "startedAt": at(delay), "finishedAt": at(finish), "containerID": container_id(uid, name, 0)}});
        return ContainerOutcome {
            status: s,
            ready: false,
            running: false,
            terminated: Some(code),
            waiting_reason: None,
        };
    }
    s["state"] = json!({"running": {"startedAt": at(delay)}});
    s["started"] = json!(true);
    let ready = fault != Fault::NeverReady;
    s["ready"] = json!(ready);
    ContainerOutcome::running(s, ready)
}

pub(super) fn kubelet(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
    let prt = rt(reg, "/pods");
    let delay = sim.cfg.pod_ready_delay;
    let mut pods = scope.objects(st, "/pods");
    pods.retain(|p| !deleting(p));
    for pod in pods {
        let uid = meta_str(&pod, "uid").to_string();
        let ns = meta_str(&pod, "namespace").to_string();
        let name = meta_str(&pod, "name").to_string();
        let phase_now = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
        if matches!(phase_now, "Succeeded" | "Failed") {
            continue;
        }
        let (ps, fresh) = {
            let mut k = sim.kubelet.lock();
            let fresh = !k.pods.contains_key(&uid);
            if fresh {
                k.next_pod_ip += 1;
                let n = k.next_pod_ip;
                let ip = format!("10.244.{}.{}", n / 250, n % 250 + 2);
                k.pods.insert(
                    uid.clone(),
                    PodSim {
                        created: Instant::now(),
                        created_wall: chrono::Utc::now(),
                        ip,
                        events: HashSet::new(),
                    },
                );
            }
            (k.pods.get(&uid).cloned().expect("just inserted"), fresh)
        };
        // The scheduler binds the pod to the one node.
        let mut pod = pod;
        if pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            pod["spec"]["nodeName"] = json!(NODE_NAME);
            pod = st.put("/pods", pod);
        }
        if fresh {
            record_event(
                sim,
                reg,
                st,
                &pod,
                "Normal",
                "Scheduled",
                &format!("Successfully assigned {ns}/{name} to {NODE_NAME}"),
                "default-scheduler",
                None,
            );
        }
        let elapsed = ps.created.elapsed();
        let start = ps.created_wall;
        let at = |d: Duration| ts(start + chrono::Duration::from_std(d).unwrap_or_default());
        let restart_policy = pod
            .pointer("/spec/restartPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Always")
            .to_string();
        let run_to_completion = restart_policy != "Always";
        let containers: Vec<Value> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let inits: Vec<Value> = pod
            .pointer("/spec/initContainers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let outcomes: Vec<ContainerOutcome> = containers
            .iter()
            .map(|c| container_status(sim, &pod, c, elapsed, delay, start, run_to_completion, false))
            .collect();
        let init_outcomes: Vec<ContainerOutcome> = inits
            .iter()
            .map(|c| container_status(sim, &pod, c, elapsed, delay, start, true, true))
            .collect();
        let all_ready = !outcomes.is_empty() && outcomes.iter().all(|o| o.ready);
        let any_running = outcomes.iter().any(|o| o.running);
        let all_terminated = !outcomes.is_empty() && outcomes.iter().all(|o| o.terminated.is_some());
        let any_failed = outcomes.iter().any(|o| o.terminated.is_some_and(|c| c != 0));
        let phase = if all_terminated {
            if any_failed { "Failed" } else { "Succeeded" }
        } else if any_running
            || outcomes
                .iter()
                .any(|o| o.waiting_reason.as_deref() == Some("CrashLoopBackOff"))
        {
            "Running"
        } else {
            "Pending"
        };
        let started = elapsed >= delay;
        let cond = |ty: &str, ok: bool, t: String, reason: Option<&str>| {
            let mut c = json!({"type": ty, "status": if ok {"True"} else {"False"}, "lastProbeTime": null, "lastTransitionTime": t, "observedGeneration": i64_at(&pod, "/metadata/generation", 1)});
            if let Some(r) = reason {
                c["reason"] = json!(r);
            }
            c
        };
        let not_ready_reason = if phase == "Succeeded" || phase == "Failed" {
            "PodCompleted"
        } else {
            "ContainersNotReady"
        };
        let created_t = at(Duration::ZERO);
        let ready_t = if started { at(delay) } else { created_t.clone() };
        let conditions = vec![
            cond("PodReadyToStartContainers", started, ready_t.clone(), None),
            cond(
                "Initialized",
                true,
                created_t.clone(),
                if phase == "Succeeded" || phase == "Failed" {
                    Some("PodCompleted")
                } else {
                    None
                },
            ),
            cond(
                "Ready",
                all_ready,
                ready_t.clone(),
                if all_ready { None } else { Some(not_ready_reason) },
            ),
            cond(
                "ContainersReady",
                all_ready,
                ready_t.clone(),
                if all_ready { None } else { Some(not_ready_reason) },
            ),
            cond("PodScheduled", true, created_t.clone(), None),
        ];
        let qos = if containers
            .iter()
            .any(|c| c.pointer("/resources/requests").is_some() || c.pointer("/resources/limits").is_some())
        {
            "Burstable"
        } else {
            "BestEffort"
        };
        let mut status = json!({
            "observedGeneration": i64_at(&pod, "/metadata/generation", 1),
            "phase": phase,
            "conditions": conditions,
            "hostIP": "172.18.0.2",
            "hostIPs": [{"ip": "172.18.0.2"}],
            "startTime": created_t,
            "containerStatuses": outcomes.iter().map(|o| o.status.clone()).collect::<Vec<_>>(),
            "qosClass": qos,
        });
        if !init_outcomes.is_empty() {
            status["initContainerStatuses"] =
                json!(init_outcomes.iter().map(|o| o.status.clone()).collect::<Vec<_>>());
        }
        if started {
            status["podIP"] = json!(ps.ip);
            status["podIPs"] = json!([{"ip": ps.ip}]);
        }
        if pod.get("status") != Some(&status) {
            set_status(sim, st, prt, &pod, status);
        }
        // Kubelet events, once each (BackOff events aggregate by count).
        let emit =
            |key: String, etype: &str, reason: &str, msg: String, fp: Option<String>, st: &mut Store| {
                let once = !matches!(reason, "BackOff");
                let mut k = sim.kubelet.lock();
                let Some(p) = k.pods.get_mut(&uid) else { return };
                if once && !p.events.insert(key) {
                    return;
                }
                drop(k);
                let cur = st.get("/pods", &ns, &name).cloned().unwrap_or(pod.clone());
                record_event(sim, reg, st, &cur, etype, reason, &msg, "kubelet", fp.as_deref());
            };
        for (c, o) in containers.iter().zip(outcomes.iter()) {
            let cname = c.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            let image = c.get("image").and_then(Value::as_str).unwrap_or("").to_string();
            let fp = Some(format!("spec.containers{{{cname}}}"));
            if !started {
                continue;
            }
            match o.waiting_reason.as_deref() {
                Some("ErrImagePull") | Some("ImagePullBackOff") => {
                    emit(
                        format!("{cname}/pulling"),
                        "Normal",
                        "Pulling",
                        format!("Pulling image \"{image}\""),
                        fp.clone(),
                        st,
                    );
                    emit(
                        format!("{cname}/failed"),
                        "Warning",
                        "Failed",
                        format!(
                            "Failed to pull image \"{image}\": pull access denied, repository does not exist or may require authorization"
                        ),
                        fp.clone(),
                        st,
                    );
                    emit(
                        format!("{cname}/errimagepull"),
                        "Warning",
                        "Failed",
                        "Error: ErrImagePull".to_string(),
                        fp.clone(),
                        st,
                    );
                    if o.waiting_reason.as_deref() == Some("ImagePullBackOff") {
                        emit(
                            format!("{cname}/backoff-pull"),
                            "Normal",
                            "BackOff",
                            format!("Back-off pulling image \"{image}\""),
                            fp.clone(),
                            st,
                        );
                        emit(
                            format!("{cname}/imagepullbackoff"),
                            "Warning",
                            "Failed",
                            "Error: ImagePullBackOff".to_string(),
                            fp.clone(),
                            st,
                        );
                    }
                }
                _ => {
                    emit(
                        format!("{cname}/pulled"),
                        "Normal",
                        "Pulled",
                        format!("Container image \"{image}\" already present on machine"),
                        fp.clone(),
                        st,
                    );
                    emit(
                        format!("{cname}/created"),
                        "Normal",
                        "Created",
                        format!("Created container: {cname}"),
                        fp.clone(),
                        st,
                    );
                    emit(
                        format!("{cname}/started"),
                        "Normal",
                        "Started",
                        format!("Started container {cname}"),
                        fp.clone(),
                        st,
                    );
                    if o.waiting_reason.as_deref() == Some("CrashLoopBackOff") {
                        let restarts = o.status["restartCount"].as_i64().unwrap_or(0);
                        emit(
                            format!("{cname}/backoff-{restarts}"),
                            "Warning",
                            "BackOff",
                            format!("Back-off restarting failed container {cname} in pod {name}_{ns}({uid})"),
                            fp.clone(),
                            st,
                        );
                    }
                    if o.running && !o.ready && fault_of(&pod, &image) == Fault::NeverReady {
                        emit(
                            format!("{cname}/unhealthy"),
                            "Warning",
                            "Unhealthy",
                            "Readiness probe failed: HTTP probe failed with statuscode: 503".to_string(),
                            fp.clone(),
                            st,
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crashing_container_restarts_with_a_doubling_back_off() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // Runs for one period, crashes, waits one period, runs again, then waits two.
        assert_eq!(crash_timeline(ms(500), s(1)), (0, true, s(0), s(0)));
        assert_eq!(crash_timeline(ms(1500), s(1)), (1, false, s(1), s(1)));
        assert_eq!(crash_timeline(ms(2500), s(1)), (1, true, s(1), s(2)));
        assert_eq!(crash_timeline(ms(3500), s(1)), (2, false, s(3), s(3)));
        assert_eq!(crash_timeline(ms(5500), s(1)), (2, true, s(3), s(5)));
    }

    #[test]
    fn faults_come_from_the_pod_annotation_for_an_image() {
        let pod = json!({"metadata": {"annotations": {(FAULT_ANNOTATION): "crashloop"}}});
        assert_eq!(fault_of(&pod, "registry/web:1"), Fault::CrashLoop);
        let plain = json!({"metadata": {}});
        assert_eq!(
            fault_of(&plain, "registry/web:fault-never-ready"),
            Fault::NeverReady
        );
        assert_eq!(fault_of(&plain, "registry/web:1"), Fault::None);
    }
}
