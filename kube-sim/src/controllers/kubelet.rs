//! The kubelet: binds each pod to the one node, plays its containers through a timeline
//! (creating, running and ready after `pod_ready_delay`; or failing as a fault asks), writes
//! the pod's status and records the Events a real kubelet would.
//!
//! A container's state, the pod's phase, conditions and status, and the Events are pure
//! functions of the pod and the time since the kubelet first saw it.

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

/// Where a pod is on its timeline: time since the kubelet first saw it, the configured delay
/// before containers run, and the wall-clock time it was first seen.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    pub elapsed: Duration,
    pub delay: Duration,
    pub start: chrono::DateTime<chrono::Utc>,
}

impl Clock {
    /// The timestamp `d` after the pod was first seen.
    fn at(&self, d: Duration) -> String {
        ts(self.start + chrono::Duration::from_std(d).unwrap_or_default())
    }

    /// Past the creation delay: the sandbox is up and containers have started.
    fn started(&self) -> bool {
        self.elapsed >= self.delay
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

fn set_waiting(s: &mut Value, reason: &str, msg: Option<String>) {
    let mut w = json!({"reason": reason});
    if let Some(m) = msg {
        w["message"] = json!(m);
    }
    s["state"] = json!({"waiting": w});
}

/// The state of one container (`init` for an init container) at `clock`; `image_id` is the
/// digest reference it reports once pulled.
pub(super) fn container_status(
    pod: &Value,
    c: &Value,
    clock: &Clock,
    image_id: &str,
    run_to_completion: bool,
    init: bool,
) -> ContainerOutcome {
    let name = c.get("name").and_then(Value::as_str).unwrap_or("");
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let uid = meta_str(pod, "uid");
    let fault = fault_of(pod, image);
    let (elapsed, delay) = (clock.elapsed, clock.delay);
    let mut s = json!({"name": name, "image": image, "imageID": "", "ready": false, "restartCount": 0, "started": false});
    if elapsed < delay {
        let reason = if init {
            "PodInitializing"
        } else {
            "ContainerCreating"
        };
        set_waiting(&mut s, reason, None);
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
        set_waiting(&mut s, reason, Some(msg));
        return ContainerOutcome::waiting(s, reason);
    }
    s["imageID"] = json!(image_id);
    if fault == Fault::CrashLoop {
        return crash_looping(pod, name, s, clock);
    }
    s["containerID"] = json!(container_id(uid, name, 0));
    if init || (run_to_completion && elapsed >= delay * 2) {
        let code = if fault == Fault::Fail { 1 } else { 0 };
        let finish = if init { delay } else { delay * 2 };
        s["state"] = json!({"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }, "startedAt": clock.at(delay), "finishedAt": clock.at(finish), "containerID": container_id(uid, name, 0)}});
        return ContainerOutcome {
            status: s,
            ready: false,
            running: false,
            terminated: Some(code),
            waiting_reason: None,
        };
    }
    s["state"] = json!({"running": {"startedAt": clock.at(delay)}});
    s["started"] = json!(true);
    let ready = fault != Fault::NeverReady;
    s["ready"] = json!(ready);
    ContainerOutcome::running(s, ready)
}

/// A crash-looping container: running for a while, then back-off, again and again.
fn crash_looping(pod: &Value, name: &str, mut s: Value, clock: &Clock) -> ContainerOutcome {
    let uid = meta_str(pod, "uid");
    let delay = clock.delay;
    let (restarts, running, last_crash, window) =
        crash_timeline(clock.elapsed - delay, delay.max(Duration::from_millis(100)));
    s["restartCount"] = json!(restarts);
    s["containerID"] = json!(container_id(uid, name, restarts));
    if restarts > 0 {
        s["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": clock.at(delay), "finishedAt": clock.at(delay + last_crash.max(window)), "containerID": container_id(uid, name, restarts - 1)}});
    }
    if running {
        s["state"] = json!({"running": {"startedAt": clock.at(delay + window)}});
        s["started"] = json!(true);
        return ContainerOutcome::running(s, false);
    }
    let back = 10u64 * 2u64.pow(restarts.saturating_sub(1).min(5));
    set_waiting(
        &mut s,
        "CrashLoopBackOff",
        Some(format!(
            "back-off {}s restarting failed container={name} pod={}_{}({uid})",
            back.min(300),
            meta_str(pod, "name"),
            meta_str(pod, "namespace")
        )),
    );
    ContainerOutcome::waiting(s, "CrashLoopBackOff")
}

/// The pod's phase from its containers: finished when all have terminated, Running while
/// any runs (or crash-loops), Pending before.
pub(super) fn pod_phase(outcomes: &[ContainerOutcome]) -> &'static str {
    let all_terminated = !outcomes.is_empty() && outcomes.iter().all(|o| o.terminated.is_some());
    let any_failed = outcomes.iter().any(|o| o.terminated.is_some_and(|c| c != 0));
    if all_terminated {
        if any_failed { "Failed" } else { "Succeeded" }
    } else if outcomes
        .iter()
        .any(|o| o.running || o.waiting_reason.as_deref() == Some("CrashLoopBackOff"))
    {
        "Running"
    } else {
        "Pending"
    }
}

/// The pod's five conditions.
fn pod_conditions(pod: &Value, clock: &Clock, phase: &str, all_ready: bool) -> Vec<Value> {
    let generation = i64_at(pod, "/metadata/generation", 1);
    let cond = |ty: &str, ok: bool, t: &str, reason: Option<&str>| {
        let mut c = json!({"type": ty, "status": if ok {"True"} else {"False"}, "lastProbeTime": null, "lastTransitionTime": t, "observedGeneration": generation});
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        c
    };
    let finished = phase == "Succeeded" || phase == "Failed";
    let not_ready = if all_ready {
        None
    } else if finished {
        Some("PodCompleted")
    } else {
        Some("ContainersNotReady")
    };
    let created_t = clock.at(Duration::ZERO);
    let ready_t = if clock.started() {
        clock.at(clock.delay)
    } else {
        created_t.clone()
    };
    vec![
        cond("PodReadyToStartContainers", clock.started(), &ready_t, None),
        cond(
            "Initialized",
            true,
            &created_t,
            finished.then_some("PodCompleted"),
        ),
        cond("Ready", all_ready, &ready_t, not_ready),
        cond("ContainersReady", all_ready, &ready_t, not_ready),
        cond("PodScheduled", true, &created_t, None),
    ]
}

/// The pod's status at `clock` from its containers' and init containers' outcomes.
fn pod_status(
    pod: &Value,
    clock: &Clock,
    outcomes: &[ContainerOutcome],
    inits: &[ContainerOutcome],
    ip: &str,
) -> Value {
    let phase = pod_phase(outcomes);
    let all_ready = !outcomes.is_empty() && outcomes.iter().all(|o| o.ready);
    let containers = pod.pointer("/spec/containers").and_then(Value::as_array);
    let qos = if containers.is_some_and(|cs| {
        cs.iter()
            .any(|c| c.pointer("/resources/requests").is_some() || c.pointer("/resources/limits").is_some())
    }) {
        "Burstable"
    } else {
        "BestEffort"
    };
    let mut status = json!({
        "observedGeneration": i64_at(pod, "/metadata/generation", 1),
        "phase": phase,
        "conditions": pod_conditions(pod, clock, phase, all_ready),
        "hostIP": "172.18.0.2",
        "hostIPs": [{"ip": "172.18.0.2"}],
        "startTime": clock.at(Duration::ZERO),
        "containerStatuses": outcomes.iter().map(|o| o.status.clone()).collect::<Vec<_>>(),
        "qosClass": qos,
    });
    if !inits.is_empty() {
        status["initContainerStatuses"] = json!(inits.iter().map(|o| o.status.clone()).collect::<Vec<_>>());
    }
    if clock.started() {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    status
}

/// An Event the kubelet records about a container; `key` makes it once-only per pod
/// (BackOff events aggregate by count instead).
#[derive(Debug, PartialEq)]
pub(super) struct ContainerEvent {
    key: String,
    etype: &'static str,
    reason: &'static str,
    message: String,
    field_path: String,
}

/// The Events about one started container, given its outcome.
pub(super) fn container_events(pod: &Value, c: &Value, o: &ContainerOutcome) -> Vec<ContainerEvent> {
    let cname = c.get("name").and_then(Value::as_str).unwrap_or("");
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let mut out = vec![];
    let mut ev = |key: String, etype, reason, message: String| {
        out.push(ContainerEvent {
            key,
            etype,
            reason,
            message,
            field_path: format!("spec.containers{{{cname}}}"),
        })
    };
    let waiting = o.waiting_reason.as_deref();
    if matches!(waiting, Some("ErrImagePull" | "ImagePullBackOff")) {
        ev(
            format!("{cname}/pulling"),
            "Normal",
            "Pulling",
            format!("Pulling image \"{image}\""),
        );
        ev(
            format!("{cname}/failed"),
            "Warning",
            "Failed",
            format!(
                "Failed to pull image \"{image}\": pull access denied, repository does not exist or may require authorization"
            ),
        );
        ev(
            format!("{cname}/errimagepull"),
            "Warning",
            "Failed",
            "Error: ErrImagePull".into(),
        );
        if waiting == Some("ImagePullBackOff") {
            ev(
                format!("{cname}/backoff-pull"),
                "Normal",
                "BackOff",
                format!("Back-off pulling image \"{image}\""),
            );
            ev(
                format!("{cname}/imagepullbackoff"),
                "Warning",
                "Failed",
                "Error: ImagePullBackOff".into(),
            );
        }
        return out;
    }
    ev(
        format!("{cname}/pulled"),
        "Normal",
        "Pulled",
        format!("Container image \"{image}\" already present on machine"),
    );
    ev(
        format!("{cname}/created"),
        "Normal",
        "Created",
        format!("Created container: {cname}"),
    );
    ev(
        format!("{cname}/started"),
        "Normal",
        "Started",
        format!("Started container {cname}"),
    );
    if waiting == Some("CrashLoopBackOff") {
        let restarts = o.status["restartCount"].as_i64().unwrap_or(0);
        let (name, ns, uid) = (
            meta_str(pod, "name"),
            meta_str(pod, "namespace"),
            meta_str(pod, "uid"),
        );
        ev(
            format!("{cname}/backoff-{restarts}"),
            "Warning",
            "BackOff",
            format!("Back-off restarting failed container {cname} in pod {name}_{ns}({uid})"),
        );
    }
    if o.running && !o.ready && fault_of(pod, image) == Fault::NeverReady {
        ev(
            format!("{cname}/unhealthy"),
            "Warning",
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
        );
    }
    out
}

pub(super) fn kubelet(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
    let mut pods = scope.objects(st, "/pods");
    pods.retain(|p| !deleting(p));
    for pod in pods {
        let phase_now = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
        if !matches!(phase_now, "Succeeded" | "Failed") {
            run_pod(sim, reg, st, pod);
        }
    }
}

/// The kubelet's memory of a pod (when it first saw it, its IP), made on first sight; and
/// whether it was made now.
fn pod_sim(sim: &Sim, uid: &str) -> (PodSim, bool) {
    let mut k = sim.kubelet.lock();
    let fresh = !k.pods.contains_key(uid);
    if fresh {
        k.next_pod_ip += 1;
        let n = k.next_pod_ip;
        let ip = format!("10.244.{}.{}", n / 250, n % 250 + 2);
        k.pods.insert(
            uid.to_string(),
            PodSim {
                created: Instant::now(),
                created_wall: chrono::Utc::now(),
                ip,
                events: HashSet::new(),
            },
        );
    }
    (k.pods.get(uid).cloned().expect("just inserted"), fresh)
}

/// One pod: scheduled, its status brought to where its timeline is, its Events recorded.
fn run_pod(sim: &Sim, reg: &Registry, st: &mut Store, mut pod: Value) {
    let uid = meta_str(&pod, "uid").to_string();
    let (ps, fresh) = pod_sim(sim, &uid);
    // The scheduler binds the pod to the one node.
    if pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        pod["spec"]["nodeName"] = json!(NODE_NAME);
        pod = st.put("/pods", pod);
    }
    if fresh {
        let msg = format!(
            "Successfully assigned {}/{} to {NODE_NAME}",
            meta_str(&pod, "namespace"),
            meta_str(&pod, "name")
        );
        record_event(
            sim,
            reg,
            st,
            &pod,
            &Note::normal("default-scheduler", "Scheduled", &msg),
        );
    }
    let clock = Clock {
        elapsed: ps.created.elapsed(),
        delay: sim.cfg.pod_ready_delay,
        start: ps.created_wall,
    };
    let run_to_completion = pod
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always")
        != "Always";
    let list = |p: &str| {
        pod.pointer(p)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (containers, inits) = (list("/spec/containers"), list("/spec/initContainers"));
    let status_of = |c: &Value, to_completion: bool, init: bool| {
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        container_status(&pod, c, &clock, &image_id(sim, image), to_completion, init)
    };
    let outcomes: Vec<ContainerOutcome> = containers
        .iter()
        .map(|c| status_of(c, run_to_completion, false))
        .collect();
    let init_outcomes: Vec<ContainerOutcome> = inits.iter().map(|c| status_of(c, true, true)).collect();
    let status = pod_status(&pod, &clock, &outcomes, &init_outcomes, &ps.ip);
    if pod.get("status") != Some(&status) {
        set_status(sim, st, rt(reg, "/pods"), &pod, status);
    }
    if !clock.started() {
        return;
    }
    for (c, o) in containers.iter().zip(outcomes.iter()) {
        for ev in container_events(&pod, c, o) {
            emit(sim, reg, st, &pod, ev);
        }
    }
}

/// Records a container's Event unless it is once-only and was recorded already.
fn emit(sim: &Sim, reg: &Registry, st: &mut Store, pod: &Value, ev: ContainerEvent) {
    let once = ev.reason != "BackOff";
    {
        let mut k = sim.kubelet.lock();
        let Some(p) = k.pods.get_mut(meta_str(pod, "uid")) else {
            return;
        };
        if once && !p.events.insert(ev.key) {
            return;
        }
    }
    let cur = st
        .get("/pods", meta_str(pod, "namespace"), meta_str(pod, "name"))
        .cloned()
        .unwrap_or(pod.clone());
    let note = Note {
        etype: ev.etype,
        reason: ev.reason,
        message: &ev.message,
        component: "kubelet",
        field_path: Some(&ev.field_path),
    };
    record_event(sim, reg, st, &cur, &note);
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

    fn pod(containers: Value, restart: &str) -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "ns", "uid": "p-uid", "generation": 1},
            "spec": {"containers": containers, "restartPolicy": restart},
        })
    }

    fn clock(elapsed_ms: u64) -> Clock {
        Clock {
            elapsed: Duration::from_millis(elapsed_ms),
            delay: Duration::from_millis(1000),
            start: chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .expect("a time")
                .with_timezone(&chrono::Utc),
        }
    }

    /// The pod's status and its containers' outcomes at `elapsed_ms` (the delay being 1s).
    fn run(pod: &Value, elapsed_ms: u64) -> (Value, Vec<ContainerOutcome>) {
        let to_completion = pod["spec"]["restartPolicy"] != "Always";
        let outcomes: Vec<ContainerOutcome> = pod["spec"]["containers"]
            .as_array()
            .expect("containers")
            .iter()
            .map(|c| {
                container_status(
                    pod,
                    c,
                    &clock(elapsed_ms),
                    "docker-pullable://web@sha256:0",
                    to_completion,
                    false,
                )
            })
            .collect();
        (
            pod_status(pod, &clock(elapsed_ms), &outcomes, &[], "10.244.0.9"),
            outcomes,
        )
    }

    fn condition<'a>(status: &'a Value, ty: &str) -> &'a Value {
        crate::controllers::condition(status, ty).expect("condition present")
    }

    #[test]
    fn a_pod_is_pending_until_the_delay_then_running_and_ready() {
        let p = pod(json!([{"name": "web", "image": "web:1"}]), "Always");
        let (early, _) = run(&p, 500);
        assert_eq!(early["phase"], "Pending");
        assert_eq!(
            early["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        assert_eq!(condition(&early, "Ready")["status"], "False");
        assert_eq!(condition(&early, "Ready")["reason"], "ContainersNotReady");
        assert!(early.get("podIP").is_none());
        let (later, _) = run(&p, 1500);
        assert_eq!(later["phase"], "Running");
        assert_eq!(condition(&later, "Ready")["status"], "True");
        assert_eq!(condition(&later, "ContainersReady")["status"], "True");
        assert_eq!(
            condition(&later, "Ready")["lastTransitionTime"],
            "2026-01-01T00:00:01Z"
        );
        assert_eq!(later["podIP"], "10.244.0.9");
        assert_eq!(
            later["containerStatuses"][0]["imageID"],
            "docker-pullable://web@sha256:0"
        );
        assert_eq!(later["qosClass"], "BestEffort");
    }

    #[test]
    fn a_pod_that_runs_to_completion_succeeds_or_fails_by_its_exit_code() {
        let ok = pod(json!([{"name": "job", "image": "migrate:1"}]), "Never");
        assert_eq!(run(&ok, 1500).0["phase"], "Running");
        let (done, _) = run(&ok, 2500);
        assert_eq!(done["phase"], "Succeeded");
        assert_eq!(done["containerStatuses"][0]["state"]["terminated"]["exitCode"], 0);
        assert_eq!(condition(&done, "Ready")["reason"], "PodCompleted");
        let bad = pod(
            json!([{"name": "job", "image": "migrate:fault-fail"}]),
            "OnFailure",
        );
        let (failed, _) = run(&bad, 2500);
        assert_eq!(failed["phase"], "Failed");
        assert_eq!(
            failed["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Error"
        );
    }

    #[test]
    fn one_container_not_ready_keeps_the_pod_not_ready() {
        let p = pod(
            json!([{"name": "web", "image": "web:1"}, {"name": "side", "image": "side:fault-never-ready"}]),
            "Always",
        );
        let (s, outcomes) = run(&p, 1500);
        assert_eq!(s["phase"], "Running");
        assert_eq!(condition(&s, "Ready")["status"], "False");
        assert_eq!(pod_phase(&outcomes), "Running");
        let events = container_events(&p, &p["spec"]["containers"][1], &outcomes[1]);
        assert!(
            events
                .iter()
                .any(|e| e.reason == "Unhealthy" && e.etype == "Warning")
        );
        assert!(
            container_events(&p, &p["spec"]["containers"][0], &outcomes[0])
                .iter()
                .all(|e| e.reason != "Unhealthy")
        );
    }

    #[test]
    fn an_image_that_cannot_be_pulled_backs_off_with_its_events() {
        let p = pod(
            json!([{"name": "web", "image": "web:fault-imagepullbackoff"}]),
            "Always",
        );
        let (first, outcomes) = run(&p, 1500);
        assert_eq!(first["phase"], "Pending");
        assert_eq!(
            first["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ErrImagePull"
        );
        let reasons: Vec<&str> = container_events(&p, &p["spec"]["containers"][0], &outcomes[0])
            .iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(reasons, ["Pulling", "Failed", "Failed"]);
        let (later, outcomes) = run(&p, 2500);
        assert_eq!(
            later["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ImagePullBackOff"
        );
        let events = container_events(&p, &p["spec"]["containers"][0], &outcomes[0]);
        assert!(events.iter().any(|e| e.reason == "BackOff"));
        assert!(events.iter().all(|e| e.field_path == "spec.containers{web}"));
    }

    #[test]
    fn a_crash_looping_container_keeps_the_pod_running_and_counts_restarts() {
        let p = pod(json!([{"name": "web", "image": "web:fault-crashloop"}]), "Always");
        // Runs 1s, crashes at 2s, backs off 1s: waiting at 2.5s with one restart.
        let (s, outcomes) = run(&p, 2500);
        assert_eq!(s["phase"], "Running");
        let c = &s["containerStatuses"][0];
        assert_eq!(c["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(c["restartCount"], 1);
        assert_eq!(c["lastState"]["terminated"]["exitCode"], 1);
        let events = container_events(&p, &p["spec"]["containers"][0], &outcomes[0]);
        assert!(
            events
                .iter()
                .any(|e| e.reason == "BackOff" && e.key == "web/backoff-1")
        );
    }
}
