//! Who gets the CPU first while a browser records. Input: the calling thread. Output: its
//! scheduling priority (the Linux nice value, which is per thread and inherited by the
//! threads it starts). Invariant: demoreel's own work during a recording (the live
//! `raw.mp4`: decoding, composing, encoding) runs below the browser, so a busy page keeps
//! its frame rate and the encoder takes what is left; the capture itself (receiving,
//! acknowledging and storing frames) keeps the normal priority. The service's renders
//! (a run's `demo.mp4` and `demo.gif`, re-renders, previews) run below it too, through
//! [`in_background`], since another run may be recording meanwhile.
//!
//! Measured with `demoreel record` of the busy stripe-clock page (`tests/pages/stripes.html`,
//! 20.6 s at 1920×1080 on two cores): with the live encoder at the browser's priority,
//! 576–602 frames and 55–58 gaps over 50 ms (three recordings); with it below, 722–847
//! frames and 3–11 such gaps (five), the encoder falling behind and `raw.mp4` rendered
//! from the bundle afterwards (the command took 32–33 s instead of 25).

/// How many nice steps background work runs below the process's normal priority: well
/// below the browser, which runs at that normal priority.
pub const BACKGROUND_STEPS: i32 = 10;
/// The lowest priority Linux has.
const LOWEST: i32 = 19;

fn thread_id() -> libc::id_t {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() as libc::id_t }
}

fn nice_of(thread: libc::id_t) -> i32 {
    // SAFETY: getpriority only reads the scheduling state of the given thread. It answers
    // -1 both for nice -1 and for an error; for a live thread of this process it cannot fail.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, thread) }
}

/// The calling thread's nice value.
pub fn current() -> i32 {
    nice_of(thread_id())
}

/// The process's normal nice value: its main thread's, which the browser it starts
/// inherits (0 unless the operator started demoreel under `nice`).
pub fn normal() -> i32 {
    // SAFETY: getpid has no preconditions; the main thread's id is the process id.
    nice_of(unsafe { libc::getpid() } as libc::id_t)
}

/// The nice value of background work.
pub fn background() -> i32 {
    (normal() + BACKGROUND_STEPS).min(LOWEST)
}

/// Sets the calling thread's nice value; answers whether it took. Raising one's nice value
/// (lowering the priority) always takes; lowering it back needs privileges (root, or
/// `RLIMIT_NICE`), so a thread that was lowered stays lowered for an unprivileged user.
pub fn set_current(nice: i32) -> bool {
    if current() == nice {
        return true;
    }
    // SAFETY: setpriority only changes the scheduling state of the given thread.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, thread_id(), nice) == 0 }
}

/// Lowers the calling thread to [`background`], for a thread that exists only for
/// background work (it is never raised again).
pub fn lower_current_to_background() {
    if !set_current(background()) {
        tracing::debug!("could not lower a background thread's priority");
    }
}

/// A pool for the data-parallel parts of background work (conversion, composing): its
/// threads run at [`background`]. Work started through `pool.install` uses it instead of
/// the process-wide pool, whose threads keep the normal priority for renders.
pub fn background_pool(name: &str) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    let name = name.to_string();
    rayon::ThreadPoolBuilder::new()
        .num_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .thread_name(move |i| format!("{name}-{i}"))
        .start_handler(|_| lower_current_to_background())
        .build()
}

/// The background thread of [`in_background`] ended without an answer: its work panicked.
#[derive(Debug, thiserror::Error)]
#[error("the background thread {0:?} stopped without finishing its work")]
pub struct BackgroundLost(pub String);

/// Starts `work` on a thread of its own at [`background`] priority, its data-parallel
/// parts on a background pool of its own (its threads named after it); answers the thread.
/// For work that runs beside a recording: the live `raw.mp4`, and the service's renders.
///
/// A thread of its own rather than tokio's blocking pool: a lowered thread cannot be
/// raised again without privileges, so a pooled one would carry the low priority into
/// whatever unrelated work the pool gives it next. Threads the work starts (a read-ahead,
/// x264's) inherit the priority; GStreamer's streaming threads take it from the thread
/// that builds the pipeline (`encode`).
pub fn spawn_in_background<T: Send + 'static>(name: &str, work: impl FnOnce() -> T + Send + 'static) -> std::io::Result<std::thread::JoinHandle<T>> {
    let pool_name = name.to_string();
    std::thread::Builder::new().name(name.to_string()).spawn(move || {
        lower_current_to_background();
        match background_pool(&pool_name) {
            Ok(pool) => pool.install(work),
            // Without a pool of its own the work still runs here, in the background; its
            // parallel parts then use the process-wide pool.
            Err(_) => work(),
        }
    })
}

/// [`spawn_in_background`], answered without holding an async worker: for the renders
/// the service makes while another run may be recording. Dropping the answer does not
/// stop the work: the work's own cancel does.
pub async fn in_background<T: Send + 'static>(name: &str, work: impl FnOnce() -> T + Send + 'static) -> Result<T, BackgroundLost> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    spawn_in_background(name, move || {
        let _ = answer.send(work());
    })
    .map_err(|_| BackgroundLost(name.to_string()))?;
    answered.await.map_err(|_| BackgroundLost(name.to_string()))
}
