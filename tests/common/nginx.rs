//! nginx in front of the platform: the repository's `nginx/nginx.conf`, run by the
//! end-to-end tests with only its listen port and upstream addresses replaced.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bourse_shell::client::Client;

/// The nginx binary: `BOURSE_NGINX`, else `nginx` on the path, else Debian's place.
pub(crate) fn nginx_binary() -> PathBuf {
    if let Ok(p) = std::env::var("BOURSE_NGINX") {
        return PathBuf::from(p);
    }
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("nginx is not installed: run scripts/test.sh, which installs it, or set BOURSE_NGINX")
}

/// nginx's master process, stopped with SIGTERM when dropped: it takes its workers
/// down with it (SIGKILL would leave them running, holding the port).
pub(crate) struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// The roles behind nginx and the placeholder ports nginx.conf names for their two
/// instances.
pub(crate) const ROLES: [(&str, [&str; 2]); 6] = [
    ("user", ["8081", "8091"]),
    ("trader", ["8082", "8092"]),
    ("stock", ["8083", "8093"]),
    ("portfolio", ["8084", "8094"]),
    ("notification", ["8086", "8096"]),
    ("auto", ["8085", "8095"]),
];

/// `nginx/nginx.conf` with its listen port and upstream addresses (`addr(role, i)`:
/// instance `i` of `role`, `host:port`) replaced; fails if any of them is no longer in
/// the file (the test would no longer run what ships).
pub(crate) fn render(port: u16, addr: impl Fn(&str, usize) -> String) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("nginx/nginx.conf");
    let mut conf = std::fs::read_to_string(path).unwrap();
    let mut replace = |from: &str, to: &str| {
        assert_eq!(conf.matches(from).count(), 1, "{from:?} once in nginx.conf");
        conf = conf.replace(from, to);
    };
    replace("listen 8080;", &format!("listen 127.0.0.1:{port};"));
    for (role, ports) in ROLES {
        for (i, p) in ports.iter().enumerate() {
            replace(
                &format!("server 127.0.0.1:{p} "),
                &format!("server {} ", addr(role, i)),
            );
        }
    }
    conf
}

/// Starts nginx in `dir` with `conf` on `port`; returns it and its base URL once it
/// answers.
pub(crate) async fn start(dir: &Path, port: u16, conf: String) -> (Nginx, String) {
    let prefix = dir.join("nginx");
    for sub in ["logs", "temp"] {
        std::fs::create_dir_all(prefix.join(sub)).unwrap();
    }
    // Its workers may run as another user (nginx started as root): they must reach
    // the prefix.
    use std::os::unix::fs::PermissionsExt;
    for p in [dir.to_path_buf(), prefix.clone(), prefix.join("temp")] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let nginx = Nginx(
        Command::new(nginx_binary())
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let proxy = Client::new(&base);
    let t0 = Instant::now();
    while !matches!(proxy.get("/nginx/healthz").await, Ok(r) if r.status == 200) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "nginx never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (nginx, base)
}
