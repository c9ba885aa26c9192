//! systemd integration: readiness notifications (`Type=notify-reload`) and
//! socket activation (`LISTEN_FDS`). Both are no-ops outside systemd.

use std::net::TcpListener;

use sd_notify::NotifyState;

/// Sends `states` when `NOTIFY_SOCKET` is set; failures are logged, never fatal.
fn notify(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(err) = sd_notify::notify(states) {
        tracing::warn!(error = %err, "cannot notify systemd");
    }
}

/// Tells systemd the gateway is serving.
pub fn ready() {
    notify(&[NotifyState::Ready]);
}

/// Tells systemd a reload started (with the monotonic timestamp it requires).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

/// Tells systemd the gateway is stopping.
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

/// Listening TCP sockets handed over by systemd socket activation (fds from
/// 3 on, when `LISTEN_PID` is this process). Descriptors that are not
/// listening TCP sockets are closed and skipped.
#[allow(unsafe_code)]
pub fn inherited_listeners() -> Vec<TcpListener> {
    use std::os::fd::FromRawFd;
    let fds = match sd_notify::listen_fds() {
        Ok(fds) => fds,
        Err(err) => {
            tracing::warn!(error = %err, "ignoring malformed LISTEN_FDS");
            return Vec::new();
        }
    };
    let mut listeners = Vec::new();
    for fd in fds {
        // SAFETY: systemd passes these descriptors to this process (LISTEN_PID
        // matched) for it to own; nothing else in the process uses them, and
        // each is wrapped exactly once.
        let listener = unsafe { TcpListener::from_raw_fd(fd) };
        match listener.local_addr() {
            Ok(addr) => {
                if let Err(err) = listener.set_nonblocking(true) {
                    tracing::warn!(fd, error = %err, "skipping inherited socket");
                    continue;
                }
                tracing::info!(fd, %addr, "inherited a listening socket");
                listeners.push(listener);
            }
            Err(err) => {
                tracing::warn!(fd, error = %err, "skipping inherited descriptor that is not a TCP socket")
            }
        }
    }
    listeners
}
