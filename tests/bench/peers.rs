//! nginx and HAProxy (Debian packages) in front of the same regions as the
//! edge, each configured with its own health checking and retries, as an
//! operator would set them up for failover.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use local_world::paths::free_port;
use local_world::{ManagedProcess, ProcessSpec};

/// A peer proxy running in the background (stopped when dropped).
pub struct Peer {
    pub name: &'static str,
    pub url: String,
    pub settings: &'static str,
    _process: ManagedProcess,
}

async fn spawn(
    name: &'static str,
    settings: &'static str,
    spec: ProcessSpec,
    port: u16,
) -> anyhow::Result<Peer> {
    let process = ManagedProcess::spawn(&spec).with_context(|| format!("starting {name}"))?;
    let url = format!("http://127.0.0.1:{port}");
    process
        .wait_http(
            &format!("{url}/readyz"),
            Duration::from_secs(20),
            local_world::Expect::AnyAnswer,
        )
        .await?;
    Ok(Peer {
        name,
        url,
        settings,
        _process: process,
    })
}

/// nginx: the fastest region as primary, the others as backups; passive
/// health (`max_fails=1 fail_timeout=10s`), next upstream on error, timeout and 5xx.
/// nginx (open source) has no active health checks.
pub async fn nginx(dir: &Path, regions: &[SocketAddr]) -> anyhow::Result<Peer> {
    std::fs::create_dir_all(dir)?;
    let port = free_port()?;
    let d = dir.display();
    let servers: String = regions
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            if i == 0 {
                format!("    server {addr} max_fails=1 fail_timeout=10s;\n")
            } else {
                format!("    server {addr} backup;\n")
            }
        })
        .collect();
    let conf = format!(
        "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 1024; }}\n\
http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
  upstream regions {{\n{servers}    keepalive 32;\n  }}\n\
  server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://regions;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n\
      proxy_connect_timeout 1s;\n      proxy_send_timeout 3s;\n      proxy_read_timeout 3s;\n      proxy_next_upstream error timeout http_502 http_503 http_504;\n      proxy_next_upstream_tries 3;\n    }}\n  }}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf)?;
    let spec = ProcessSpec::new("nginx", "/usr/sbin/nginx", dir.join("nginx.out"))
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&path);
    spawn("nginx", "max_fails=1 fail_timeout=10s, backups, connect 1 s, read 3 s, next upstream on error/timeout/5xx", spec, port).await
}

/// HAProxy: the fastest region as primary, the others as backups; active
/// checks (`GET /readyz` every second, down after 2 failures), passive
/// layer-7 observation marking a server down on its first error, retries with
/// redispatch on every retryable error.
pub async fn haproxy(dir: &Path, regions: &[SocketAddr]) -> anyhow::Result<Peer> {
    std::fs::create_dir_all(dir)?;
    let port = free_port()?;
    let servers: String = regions
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            format!(
                "  server region{i} {addr} check{}\n",
                if i == 0 { "" } else { " backup" }
            )
        })
        .collect();
    let conf = format!(
        "global\n  maxconn 2000\n\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 3s\n  timeout check 1s\n  retries 2\n  option redispatch 1\n  retry-on all-retryable-errors\n\n\
frontend edge\n  bind 127.0.0.1:{port}\n  default_backend regions\n\n\
backend regions\n  option httpchk GET /readyz\n  default-server inter 1s fall 2 rise 1 observe layer7 error-limit 1 on-error mark-down\n{servers}"
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, conf)?;
    let spec = ProcessSpec::new("haproxy", "/usr/sbin/haproxy", dir.join("haproxy.out"))
        .arg("-db")
        .arg("-f")
        .arg(&path);
    spawn("HAProxy", "check GET /readyz inter 1 s fall 2, observe layer7 on-error mark-down, backups, connect 1 s, server 3 s, retries 2 + redispatch", spec, port).await
}
