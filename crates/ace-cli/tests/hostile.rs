//! Hostile load against the real `ace` binary in a process of its own, whose memory is read
//! from /proc (RELIABILITY.md, issue 21).

use std::time::Duration;

use tokio::process::Command;

/// Peak resident memory of a process in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap_or("").to_string()))
        .unwrap()
}

/// An `ace serve` process on a free loopback port, ready; its pid and base URL.
struct Served {
    child: tokio::process::Child,
    pid: u32,
    base: String,
    _dir: tempfile::TempDir,
}

async fn serve(extra: &[&str]) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ace"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path())
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..400 {
        assert!(child.try_wait().unwrap().is_none(), "ace serve exited");
        if reqwest::get(format!("{base}/readyz")).await.is_ok_and(|r| r.status().is_success()) {
            return Served { child, pid, base, _dir: dir };
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("ace serve did not become ready");
}

/// CPU time a process has used (user + system), in clock ticks of 10 ms.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command name in parentheses: state is field 3, utime 14 and stime 15.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Issue 21, weakness 5: every idle subscription cost a lease write and a read of its owner's
/// subscriptions every 500 ms: 500 of them kept the server near 105 % CPU. Idle subscriptions
/// now cost nothing: with 500 of them, the idle server uses next to no CPU.
#[tokio::test]
async fn use_5_five_hundred_idle_webhooks_cost_no_cpu() {
    let served = serve(&["--webhook-allow-private", "--webhook-max-per-partner", "500"]).await;
    let dir = served._dir.path();
    let token = std::fs::read_to_string(dir.join("operator-token")).unwrap().trim().to_string();
    let http = reqwest::Client::new();
    let operator = |path: &str, body: serde_json::Value| {
        http.post(format!("{}/operator/v1{path}", served.base)).bearer_auth(&token).json(&body).send()
    };
    let partner = serde_json::json!({"id": "P-IDLE", "name": "Idle", "path": "consulting", "tier": "select"});
    assert!(operator("/partners", partner).await.unwrap().status().is_success());
    for n in 0..500 {
        let hook = serde_json::json!({"partner": "P-IDLE", "url": format!("http://127.0.0.1:9/hook{n}")});
        let response = operator("/webhooks", hook).await.unwrap();
        assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = cpu_ticks(served.pid);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let used = cpu_ticks(served.pid) - before;
    eprintln!("500 idle subscriptions: {} ms of CPU in 5 s ({:.1} %)", used * 10, used as f64 * 10.0 / 50.0);
    // Before: about 5,000 ms (one core's worth) in 5 s.
    assert!(used * 10 < 500, "the idle server used {} ms of CPU in 5 s", used * 10);
    drop(served.child);
}

/// Issue 21, weakness 6 (USE-3): 128 sign-ins at once each ran an Argon2 verification (~19 MiB)
/// with no limit, and the server grew from 445 MB to 1.43 GB. Hashing now runs a core's worth
/// at a time, and a client network that keeps failing is paused before any hashing: the
/// server's peak memory grows by little.
#[tokio::test]
async fn use_3_a_sign_in_flood_does_not_multiply_password_hashing_memory() {
    let served = serve(&[]).await;
    let (pid, base) = (served.pid, served.base.clone());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = http.get(format!("{base}/login")).send().await.unwrap();
    let login = cookie(&form, "ace_login");
    let page = form.text().await.unwrap();
    let marker = "name=\"_csrf\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = page[start..].split('"').next().unwrap().to_string();
    // One sign-in first, so the decoy hash and the blocking pool exist before the baseline.
    let attempt = |n: usize| {
        let (http, url, login, csrf) = (http.clone(), format!("{base}/login"), login.clone(), csrf.clone());
        async move {
            let email = format!("flood-{n}@made-up.example");
            let form = [("_csrf", csrf.as_str()), ("email", email.as_str()), ("password", "wrong password!!")];
            http.post(url).header("cookie", format!("ace_login={login}")).form(&form).send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(attempt(0).await, 401);
    let before = peak_rss_kib(pid);
    let flood: Vec<_> = (1..=128).map(|n| tokio::spawn(attempt(n))).collect();
    for sign_in in flood {
        assert_eq!(sign_in.await.unwrap(), 401);
    }
    let after = peak_rss_kib(pid);
    let grown_mib = after.saturating_sub(before) / 1024;
    eprintln!("peak RSS {} MiB before, {} MiB after 128 concurrent sign-ins (+{grown_mib} MiB)", before / 1024, after / 1024);
    // Unbounded, the 20 sign-ins admitted before the pause would hold 20 × 19 MiB at once.
    assert!(grown_mib < 120, "the server grew by {grown_mib} MiB");
    drop(served);
}
