//! Pod logs: a made-up line every `LOG_LINE_EVERY` since the container started (a crash-looping
//! one stops after its panic, a finished one after four), served whole, as a tail, or followed.
//!
//! Which container, whether it can have logs yet, how many lines there are and what they say
//! are pure functions; `pod_logs` serves them.

use super::*;

pub(super) const LOG_LINE_EVERY: Duration = Duration::from_millis(500);

/// One container's log as the kubelet makes it up.
#[derive(Debug, Clone)]
pub(super) struct LogSource {
    pub ns: String,
    pub pod: String,
    pub container: String,
    pub image: String,
    /// When the container started running.
    pub start: chrono::DateTime<chrono::Utc>,
    pub timestamps: bool,
    /// The container crash-loops: its third line is a panic.
    pub crash: bool,
}

impl LogSource {
    /// Line `i` (from 0), with its newline.
    pub(super) fn line(&self, i: u64) -> String {
        let t = self.start + chrono::Duration::milliseconds((i * LOG_LINE_EVERY.as_millis() as u64) as i64);
        let (ns, pod, container, image) = (&self.ns, &self.pod, &self.container, &self.image);
        let body = match i {
            0 => format!("starting {image} (simulated by kube-sim) in pod {ns}/{pod}, container {container}"),
            1 => "listening on 0.0.0.0:8080".to_string(),
            _ if self.crash => "panic: simulated crash (fault-crashloop)".to_string(),
            _ => format!("GET /healthz 200 ({i})"),
        };
        if self.timestamps {
            format!("{} {body}\n", t.format("%Y-%m-%dT%H:%M:%S%.9fZ"))
        } else {
            format!("{body}\n")
        }
    }

    /// Lines `from..to`.
    fn lines(&self, from: u64, to: u64) -> String {
        (from..to).map(|i| self.line(i)).collect()
    }
}

/// How many lines a container has `running` after it started: two at once, then one every
/// `LOG_LINE_EVERY`; a crashing one stops at its panic, a finished one after four.
pub(super) fn line_count(running: Duration, crash: bool, finished: bool) -> u64 {
    let n = 2 + (running.as_millis() / LOG_LINE_EVERY.as_millis()) as u64;
    if crash {
        n.min(3)
    } else if finished {
        n.min(4)
    } else {
        n
    }
}

/// The container whose log is asked for: `container` if given (and the pod's), else the only one.
pub(super) fn choose_container(pod: &Value, asked: Option<&str>) -> ApiResult<String> {
    let name = meta_str(pod, "name");
    let names: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    match asked.filter(|c| !c.is_empty()) {
        Some(c) if names.contains(&c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None if names.len() == 1 => Ok(names[0].to_string()),
        None => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            names.join(" ")
        ))),
    }
}

/// 400 while the container is waiting to start (a crash-looping one has logs).
pub(super) fn check_started(pod: &Value, cname: &str) -> ApiResult<()> {
    let cs = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|s| s["name"] == cname));
    let waiting = match cs {
        None => Some("ContainerCreating"),
        Some(s) => s.pointer("/state/waiting/reason").and_then(Value::as_str),
    };
    match waiting.filter(|w| *w != "CrashLoopBackOff") {
        None => Ok(()),
        Some(w) => {
            let msg = if w.contains("ImagePull") {
                "trying and failing to pull image"
            } else {
                w
            };
            Err(ApiError::bad_request(format!(
                "container \"{cname}\" in pod \"{}\" is waiting to start: {msg}",
                meta_str(pod, "name")
            )))
        }
    }
}

fn q_true(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

/// GET pods/{name}/log.
pub fn pod_logs(sim: Arc<Sim>, ns: &str, name: &str, q: &HashMap<String, String>) -> ApiResult<Response> {
    let pod = sim
        .store
        .lock()
        .get("/pods", ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let cname = choose_container(&pod, q.get("container").map(String::as_str))?;
    check_started(&pod, &cname)?;
    let image = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["name"] == cname.as_str()))
        .and_then(|c| c.get("image").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let crash = fault_of(&pod, &image) == Fault::CrashLoop;
    let (created, created_wall) = sim
        .kubelet
        .lock()
        .pods
        .get(meta_str(&pod, "uid"))
        .map(|p| (p.created, p.created_wall))
        .unwrap_or((Instant::now(), chrono::Utc::now()));
    let delay = sim.cfg.pod_ready_delay;
    let finished = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    let count_now = move || line_count(created.elapsed().saturating_sub(delay), crash, finished);
    let source = LogSource {
        ns: ns.to_string(),
        pod: name.to_string(),
        container: cname,
        image,
        start: created_wall + chrono::Duration::from_std(delay).unwrap_or_default(),
        timestamps: q_true(q, "timestamps"),
        crash,
    };
    let total = count_now();
    let first = match q.get("tailLines").and_then(|t| t.parse::<u64>().ok()) {
        Some(t) => total.saturating_sub(t),
        None => 0,
    };
    let text = source.lines(first, total);
    if !q_true(q, "follow") {
        return Ok(axum::response::IntoResponse::into_response((
            [(axum::http::header::CONTENT_TYPE, "text/plain")],
            text,
        )));
    }
    let uid = meta_str(&pod, "uid").to_string();
    Ok(follow(sim, source, uid, text, total, count_now))
}

/// Streams `text`, then each new line until the pod is gone or the client leaves.
fn follow(
    sim: Arc<Sim>,
    source: LogSource,
    uid: String,
    text: String,
    sent: u64,
    count_now: impl Fn() -> u64 + Send + 'static,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        if tx.send(Bytes::from(text)).await.is_err() {
            return;
        }
        let mut sent = sent;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = tx.closed() => return,
            }
            let alive = sim
                .store
                .lock()
                .get("/pods", &source.ns, &source.pod)
                .is_some_and(|p| meta_str(p, "uid") == uid && !deleting(p));
            if !alive {
                return;
            }
            let n = count_now();
            let chunk = source.lines(sent, n);
            sent = sent.max(n);
            if !chunk.is_empty() && tx.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    crate::api::stream_response("text/plain", rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: Value, statuses: Value) -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "ns"},
            "spec": {"containers": containers},
            "status": {"containerStatuses": statuses},
        })
    }

    #[test]
    fn lines_appear_every_interval_and_stop_at_a_crash_or_the_end() {
        let every = LOG_LINE_EVERY;
        assert_eq!(line_count(Duration::ZERO, false, false), 2);
        assert_eq!(line_count(every * 3, false, false), 5);
        assert_eq!(line_count(every * 10, true, false), 3);
        assert_eq!(line_count(every * 10, false, true), 4);
    }

    #[test]
    fn a_log_says_where_it_runs_and_a_crash_panics() {
        let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("a time")
            .with_timezone(&chrono::Utc);
        let src = LogSource {
            ns: "ns".into(),
            pod: "web-1".into(),
            container: "web".into(),
            image: "web:1".into(),
            start,
            timestamps: false,
            crash: false,
        };
        assert_eq!(
            src.line(0),
            "starting web:1 (simulated by kube-sim) in pod ns/web-1, container web\n"
        );
        assert_eq!(src.line(3), "GET /healthz 200 (3)\n");
        assert_eq!(src.lines(1, 3).lines().count(), 2);
        let crash = LogSource {
            crash: true,
            timestamps: true,
            ..src
        };
        assert_eq!(
            crash.line(1),
            "2026-01-01T00:00:00.500000000Z listening on 0.0.0.0:8080\n"
        );
        assert!(
            crash
                .line(2)
                .ends_with(" panic: simulated crash (fault-crashloop)\n")
        );
    }

    #[test]
    fn the_container_is_the_one_asked_for_or_the_only_one() {
        let one = pod(json!([{"name": "web"}]), json!([]));
        assert_eq!(choose_container(&one, None).ok().as_deref(), Some("web"));
        assert_eq!(choose_container(&one, Some("")).ok().as_deref(), Some("web"));
        assert_eq!(
            choose_container(&one, Some("db")).map_err(|e| e.code).err(),
            Some(400)
        );
        let two = pod(json!([{"name": "web"}, {"name": "side"}]), json!([]));
        assert_eq!(choose_container(&two, Some("side")).ok().as_deref(), Some("side"));
        let err = choose_container(&two, None).expect_err("ambiguous");
        assert!(
            err.message.contains("choose one of: [web side]"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_waiting_container_has_no_logs_yet_unless_it_crash_loops() {
        let c = json!([{"name": "web"}]);
        let creating = pod(c.clone(), json!([]));
        assert!(check_started(&creating, "web").is_err());
        let pulling = pod(
            c.clone(),
            json!([{"name": "web", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]),
        );
        let err = check_started(&pulling, "web").expect_err("waiting");
        assert!(
            err.message.ends_with("trying and failing to pull image"),
            "{}",
            err.message
        );
        let crashing = pod(
            c.clone(),
            json!([{"name": "web", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
        );
        assert!(check_started(&crashing, "web").is_ok());
        let running = pod(c, json!([{"name": "web", "state": {"running": {}}}]));
        assert!(check_started(&running, "web").is_ok());
    }
}
