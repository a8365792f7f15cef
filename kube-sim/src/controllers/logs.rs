//! Logs.

use super::*;

pub(super) const LOG_LINE_EVERY: Duration = Duration::from_millis(500);

#[allow(clippy::too_many_arguments)]
pub(super) fn log_line(
    ns: &str,
    pod: &str,
    container: &str,
    image: &str,
    i: u64,
    start: chrono::DateTime<chrono::Utc>,
    timestamps: bool,
    crash: bool,
) -> String {
    let t = start + chrono::Duration::milliseconds((i * LOG_LINE_EVERY.as_millis() as u64) as i64);
    let body = match i {
        0 => format!("starting {image} (simulated by kube-sim) in pod {ns}/{pod}, container {container}"),
        1 => "listening on 0.0.0.0:8080".to_string(),
        _ if crash => "panic: simulated crash (fault-crashloop)".to_string(),
        _ => format!("GET /healthz 200 ({i})"),
    };
    if timestamps {
        format!("{} {body}\n", t.format("%Y-%m-%dT%H:%M:%S%.9fZ"))
    } else {
        format!("{body}\n")
    }
}

/// GET pods/{name}/log.
pub fn pod_logs(sim: Arc<Sim>, ns: &str, name: &str, q: &HashMap<String, String>) -> ApiResult<Response> {
    let pod = sim
        .store
        .lock()
        .get("/pods", ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let containers: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let cname = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            if !names.contains(&c.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.clone()
        }
        None if names.len() == 1 => names[0].to_string(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let cs = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|s| s["name"] == cname.as_str()).cloned());
    let waiting = match &cs {
        None => Some("ContainerCreating".to_string()),
        Some(s) => s
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    if let Some(w) = waiting.filter(|w| w != "CrashLoopBackOff") {
        let msg = if w.contains("ImagePull") {
            "trying and failing to pull image".to_string()
        } else {
            w
        };
        return Err(ApiError::bad_request(format!(
            "container \"{cname}\" in pod \"{name}\" is waiting to start: {msg}"
        )));
    }
    let image = containers
        .iter()
        .find(|c| c["name"] == cname.as_str())
        .and_then(|c| c.get("image").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let crash = fault_of(&pod, &image) == Fault::CrashLoop;
    let uid = meta_str(&pod, "uid").to_string();
    let (created, created_wall) = sim
        .kubelet
        .lock()
        .pods
        .get(&uid)
        .map(|p| (p.created, p.created_wall))
        .unwrap_or((Instant::now(), chrono::Utc::now()));
    let delay = sim.cfg.pod_ready_delay;
    let run_start = created_wall + chrono::Duration::from_std(delay).unwrap_or_default();
    let finished = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    let count_now = move || -> u64 {
        let e = created.elapsed().saturating_sub(delay);
        let n = 2 + (e.as_millis() / LOG_LINE_EVERY.as_millis()) as u64;
        if crash {
            n.min(3)
        } else if finished {
            n.min(4)
        } else {
            n
        }
    };
    let timestamps = q.get("timestamps").is_some_and(|v| v == "true" || v == "1");
    let total = count_now();
    let first = match q.get("tailLines").and_then(|t| t.parse::<u64>().ok()) {
        Some(t) => total.saturating_sub(t),
        None => 0,
    };
    let follow = q.get("follow").is_some_and(|v| v == "true" || v == "1");
    let (ns_s, name_s) = (ns.to_string(), name.to_string());
    let mut text = String::new();
    for i in first..total {
        text.push_str(&log_line(
            &ns_s,
            &name_s,
            &cname,
            &image,
            i,
            run_start,
            timestamps,
            crash && i >= 2,
        ));
    }
    if !follow {
        return Ok(axum::response::IntoResponse::into_response((
            [(axum::http::header::CONTENT_TYPE, "text/plain")],
            text,
        )));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        if tx.send(Bytes::from(text)).await.is_err() {
            return;
        }
        let mut sent = total;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = tx.closed() => return,
            }
            let alive = sim
                .store
                .lock()
                .get("/pods", &ns_s, &name_s)
                .is_some_and(|p| meta_str(p, "uid") == uid && !deleting(p));
            if !alive {
                return;
            }
            let n = count_now();
            let mut chunk = String::new();
            for i in sent..n {
                chunk.push_str(&log_line(
                    &ns_s,
                    &name_s,
                    &cname,
                    &image,
                    i,
                    run_start,
                    timestamps,
                    crash && i >= 2,
                ));
            }
            sent = sent.max(n);
            if !chunk.is_empty() && tx.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    Ok(crate::api::stream_response("text/plain", rx))
}
