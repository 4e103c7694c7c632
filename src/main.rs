//! The `nstyle` command: thin glue over the library (parse, run, report, exit code).

mod cli;
#[cfg(feature = "web")]
mod web;

use std::process::ExitCode;

fn main() -> ExitCode {
    keep_freed_memory();
    // A bug must still read as one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("error: internal error: {msg} (please report this)");
    }));
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", cli::error_line(&e));
            ExitCode::from(1)
        }
    }
}

/// Every iteration allocates and frees buffers of the same sizes (features, gradients, GEMM
/// packing). By default glibc returns large blocks to the OS and the next iteration pays
/// page faults to get them back (6% of an iteration, measured with perf); keep them instead.
/// Blocks of 256 MiB and more (maps of images above ~1000x1000 px) still go back at once, so
/// that at large sizes memory freed between phases (loss evaluation, backward pass) is
/// really free and the peak is what the estimate says.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters; called before any threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
