//! The static file server for the browser demo (`sampa serve`, and the page tests): files
//! under one directory, GET and HEAD only. A page loaded from file:// cannot fetch its wasm
//! module, so the demo needs some server, and this one needs nothing installed.
//!
//! hyper serves the connections and tower-http's `ServeDir` the files (percent-decoding,
//! `..` refused, MIME types, ranges, HEAD). On top of that: a request whose file resolves
//! outside the root through a symlink is refused, every response carries `no-store` (a
//! rebuilt `web/pkg` is what the next load gets), request heads are capped in size and in
//! time, and connections in number and lifetime, so that neither a huge request line nor
//! idle connections can exhaust the process. When every connection slot is taken, a new
//! connection closes the oldest idle one (no request in flight) instead of being refused, so
//! a flood of idle sockets cannot lock out a real visitor.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// A client must send a request's head within this time, or its connection is closed; this
/// also bounds an idle keep-alive connection's wait for its next request. A browser sends its
/// request at once; a connection that sends nothing is holding a slot.
const HEAD_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest a connection may live, whatever it does.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);
/// Bytes hyper buffers for one request head (hyper's minimum); a longer request line or header
/// block gets 431 and the connection closes.
const MAX_HEAD_BYTES: usize = 8192;
/// Connections served at once; past this a new one closes the oldest idle one, or is closed at
/// once when every connection has a request in flight.
const MAX_CONNECTIONS: usize = 512;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// Serve `root` on `listener` until the process ends. Blocks; runs its own tokio runtime.
pub fn serve(root: PathBuf, listener: std::net::TcpListener) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime (threads and a timer) can be built");
    runtime.block_on(async move {
        listener
            .set_nonblocking(true)
            .expect("a bound listener can be made non-blocking");
        let listener =
            tokio::net::TcpListener::from_std(listener).expect("a bound listener converts");
        accept(root, listener).await
    })
}

/// One open connection, as the accept loop sees it: whether a request is in flight, and its
/// task, whose abort drops (closes) the connection.
struct Open {
    busy: Arc<AtomicUsize>,
    task: tokio::task::AbortHandle,
}

/// The open connections by age (ids increase with time), so the oldest idle one is found
/// first.
type Registry = Arc<Mutex<BTreeMap<u64, Open>>>;

async fn accept(root: PathBuf, listener: tokio::net::TcpListener) {
    // Canonical once, so that every file's canonical path can be checked against it.
    let root = Arc::new(std::fs::canonicalize(&root).unwrap_or(root));
    let registry: Registry = Arc::default();
    for id in 0u64.. {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        {
            let mut open = registry.lock().unwrap_or_else(|e| e.into_inner());
            if open.len() >= MAX_CONNECTIONS {
                // Close the oldest connection without a request in flight; when every one
                // has one, the newcomer waits for nothing: it is closed.
                let idle = open
                    .iter()
                    .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0);
                match idle.map(|(&k, _)| k) {
                    Some(k) => open.remove(&k).expect("found above").task.abort(),
                    None => {
                        drop(stream);
                        continue;
                    }
                }
            }
            let busy = Arc::new(AtomicUsize::new(0));
            let (root, registry, in_flight) = (root.clone(), registry.clone(), busy.clone());
            // The registry stays locked until the entry is in: the task's own removal, when
            // its connection ends, comes after.
            let task = tokio::spawn(async move {
                let _ =
                    tokio::time::timeout(CONNECTION_LIFETIME, connection(root, stream, in_flight))
                        .await;
                let mut open = registry.lock().unwrap_or_else(|e| e.into_inner());
                open.remove(&id);
            });
            let task = task.abort_handle();
            open.insert(id, Open { busy, task });
        }
    }
}

/// A request in flight on a connection, counted until its response body is dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serve one connection until it ends (the caller bounds its lifetime; the accept loop may
/// abort it).
async fn connection(root: Arc<PathBuf>, stream: tokio::net::TcpStream, busy: Arc<AtomicUsize>) {
    let service = hyper::service::service_fn(move |req| {
        // In flight from the parsed head until the response's body is sent (or dropped).
        busy.fetch_add(1, Ordering::AcqRel);
        let (root, in_flight) = (root.clone(), InFlight(busy.clone()));
        async move {
            let Ok(response) = handle(root, req).await;
            let body = |b: Body| {
                b.map_err(move |e| {
                    let _held = &in_flight;
                    e
                })
                .boxed_unsync()
            };
            Ok::<_, std::convert::Infallible>(response.map(body))
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    let _ = connection.await;
}

async fn handle(
    root: Arc<PathBuf>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let mut response = if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "GET and HEAD only");
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        r
    } else if !confined(&root, req.uri().path()) {
        plain(StatusCode::NOT_FOUND, "not found")
    } else {
        match ServeDir::new(root.as_path()).oneshot(req).await {
            Ok(r) => r.map(|b| b.map_err(std::io::Error::other).boxed_unsync()),
            Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        }
    };
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let body = Full::new(Bytes::from(text.to_string()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r
}

/// Whether the file that request path `path` names stays inside `root` (canonical) once its
/// percent-escapes are decoded and its symlinks followed. A path that names nothing passes:
/// `ServeDir` answers it with 404. `ServeDir` refuses `..` itself; this refuses it too, so the
/// check never depends on that. The path is checked as its components, without a trailing
/// slash: `link/` fails to resolve when `link` is a file (ENOTDIR), yet `ServeDir` serves it, so
/// only a path that does not exist may pass unresolved.
fn confined(root: &Path, path: &str) -> bool {
    let Ok(decoded) = percent_encoding::percent_decode_str(path).decode_utf8() else {
        return false;
    };
    let rel = Path::new(decoded.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return false;
    }
    let rel: std::path::PathBuf = rel.components().collect();
    match std::fs::canonicalize(root.join(rel)) {
        Ok(real) => real.starts_with(root),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::confined;

    #[test]
    fn paths_that_leave_the_root_are_refused() {
        let root = std::env::temp_dir().join(format!("sampa-serve-unit-{}", std::process::id()));
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.txt"), "a").unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        assert!(confined(&root, "/sub/a.txt"));
        assert!(confined(&root, "/sub/%61.txt"));
        assert!(confined(&root, "/missing.txt"));
        assert!(!confined(&root, "/../etc/passwd"));
        assert!(!confined(&root, "/%2e%2e/etc/passwd"));
        assert!(!confined(&root, "/sub/%2E%2E/%2E%2E/etc/passwd"));
        assert!(!confined(&root, "/%ff"));
        #[cfg(unix)]
        {
            let link = root.join("out");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink("/etc", &link).unwrap();
            assert!(!confined(&root, "/out/passwd"));
            // A link to a file outside, named with a trailing slash (which the fuzzer found
            // served: the slash made the check's resolution fail).
            let file = std::path::PathBuf::from(format!("{}-outside.txt", root.display()));
            std::fs::write(&file, "secret").unwrap();
            let link = root.join("filelink");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&file, &link).unwrap();
            for path in ["/filelink", "/filelink/", "/filelink/%2f", "/filelink//."] {
                assert!(!confined(&root, path), "{path}");
            }
            std::fs::remove_file(&file).unwrap();
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
