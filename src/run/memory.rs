//! How much memory a run needs at its peak, estimated before it starts from the buffers it
//! allocates, so that an impossible size is refused up front instead of swapping or being
//! killed. docs/PERFORMANCE.md compares the estimate with measured peaks.

use crate::backend::Backend;
use crate::config::StyleConfig;
use crate::optim::OptimizerKind;
use crate::vgg::{Layer, CONVS};

/// Bytes a run at `h x w` (style images `sh x sw` each) needs at its peak: the backend's
/// activations and scratch, per-layer features and gradients, the losses' own memory (from
/// the registry), and the optimiser's.
pub fn estimate(
    backend: &Backend,
    (h, w): (usize, usize),
    styles: &[(usize, usize)],
    cfg: &StyleConfig,
) -> usize {
    // The styles run through the network one at a time (tile by tile when tiled).
    let (nh, nw) = network_input((h, w), styles, cfg);
    let engine = backend.memory(nh, nw, cfg.deepest_layer());
    if cfg.tile.is_some() {
        return engine.resident + tiled_buffers(engine, (h, w), styles, cfg);
    }
    // One feature copy at a time (see `Objective::parts`), one gradient per loss, kept
    // until the backward pass (they become the per-layer sums in place).
    let mut losses = 0usize;
    let mut largest_copy = 0usize;
    for (l, _) in &cfg.style_layers {
        let (lh, lw) = l.spatial(h, w);
        let n = l.channels();
        let m = lh * lw;
        // A blend's pooled sample has as many positions as the largest style map.
        let ms = styles
            .iter()
            .map(|&(sh, sw)| {
                let (slh, slw) = l.spatial(sh, sw);
                slh * slw
            })
            .max()
            .unwrap_or(0);
        largest_copy = largest_copy.max(4 * n * m);
        for (method, _) in &cfg.style.terms {
            losses += 4 * n * m + (method.info().memory)(n, m, ms);
        }
        if styles.len() > 1 {
            // While the targets are built (`loss::blend`): the Gram and covariance sums,
            // one mean per style, the pooled sample.
            losses += 2 * 8 * n * n + styles.len() * 8 * n + 4 * n * ms;
        }
    }
    let (ch, cw) = cfg.content_layer.spatial(h, w);
    // Content target and gradient.
    losses += 2 * 4 * cfg.content_layer.channels() * ch * cw;
    let pixels = 3 * h * w * 4;
    if cfg.tv_weight > 0.0 {
        losses += pixels;
    }
    let optimizer = optimizer_bytes(cfg, pixels);
    let weights = weights_bytes();
    // The feature copies of the loss evaluation and the backward scratch never coexist.
    engine.resident + weights + losses + largest_copy.max(engine.backward_scratch) + optimizer
}

/// The buffers of a tiled run besides the engine's resident part (the engine holds one
/// tile): per layer and term the tile's features and gradient, the losses' statistics, the
/// whole content target, and the image-sized vectors (the optimiser's, the gradient being
/// summed over tiles, the tile's crop).
fn tiled_buffers(
    engine: crate::engine::EngineMemory,
    (h, w): (usize, usize),
    styles: &[(usize, usize)],
    cfg: &StyleConfig,
) -> usize {
    let (th, tw) = network_input((h, w), &[], cfg);
    let mut losses = 0usize;
    let mut largest_copy = 0usize;
    for (l, _) in &cfg.style_layers {
        let (lh, lw) = l.spatial(th, tw);
        let n = l.channels();
        let m = lh * lw;
        // Features copied out of the tile, the core's crop, one gradient per layer.
        largest_copy = largest_copy.max(2 * 4 * n * m);
        for (method, _) in &cfg.style.terms {
            losses += 4 * n * m + (method.info().memory)(n, m, m);
            // The tile's moments beside the running sums and the style's target.
            losses += 3 * 8 * n * n;
        }
        if styles.len() > 1 {
            losses += 2 * 8 * n * n + styles.len() * 8 * n;
        }
    }
    let (ch, cw) = cfg.content_layer.spatial(h, w);
    let (tch, tcw) = cfg.content_layer.spatial(th, tw);
    let c = cfg.content_layer.channels();
    // The whole content target (assembled from tiles: one tile's map beside it), the
    // tile's gradient there.
    losses += 4 * c * ch * cw + 2 * 4 * c * tch * tcw;
    let pixels = 3 * h * w * 4;
    if cfg.tv_weight > 0.0 {
        losses += pixels;
    }
    // The gradient summed over tiles, and the tile's input crop and gradient.
    let tiles = pixels + 2 * 3 * th * tw * 4;
    weights_bytes()
        + losses
        + largest_copy.max(engine.backward_scratch)
        + tiles
        + optimizer_bytes(cfg, pixels)
}

/// The optimiser's image-sized vectors (its state, the iterate, the bounds, gradients).
fn optimizer_bytes(cfg: &StyleConfig, pixels: usize) -> usize {
    match cfg.optimizer {
        OptimizerKind::Lbfgs { history } => (2 * history + 8) * pixels,
        OptimizerKind::Adam { .. } => 2 * 2 * pixels + 6 * pixels,
    }
}

/// The weights as the caller holds them (f32) and their f16 source (the bundled copy is
/// mapped into memory as it is read): measured, they were the 0.08 GiB by which small runs
/// exceeded the estimate.
fn weights_bytes() -> usize {
    let params: usize = CONVS.iter().map(|c| c.cin * c.cout * 9 + c.cout).sum();
    6 * params
}

/// The largest input the network runs at once: the output's or a style's whole size, or
/// with tiles ([`StyleConfig::tile`]) the largest tile (core plus halo on both sides,
/// within the largest image).
pub fn network_input(
    output: (usize, usize),
    styles: &[(usize, usize)],
    cfg: &StyleConfig,
) -> (usize, usize) {
    match cfg.tile {
        None => largest_input(output, styles),
        Some(core) => {
            // The largest tile input (core plus the halo inside the image) of the output
            // and of each style image, dimension by dimension.
            let halo = crate::objective::tiling::halo(cfg.deepest_layer());
            std::iter::once(output)
                .chain(styles.iter().copied())
                .flat_map(|(h, w)| crate::objective::tiling::tiles(h, w, core, halo))
                .fold((0, 0), |(h, w), t| {
                    (h.max(t.input.height), w.max(t.input.width))
                })
        }
    }
}

/// The largest image the network sees, `h x w` of the output or of the largest style (the
/// styles run through it one at a time), dimension by dimension.
pub fn largest_input(output: (usize, usize), styles: &[(usize, usize)]) -> (usize, usize) {
    styles
        .iter()
        .fold(output, |(h, w), &(sh, sw)| (h.max(sh), w.max(sw)))
}

/// Freed blocks smaller than this stay with the allocator for reuse instead of going back
/// to the system: [`keep_freed_memory`] sets it, and the estimate's allocator share depends
/// on it.
pub const KEPT_BLOCK_LIMIT: usize = 256 << 20;

/// Every iteration allocates and frees buffers of the same sizes (features, gradients, GEMM
/// packing). By default glibc returns large blocks to the system and the next iteration pays
/// page faults to get them back (6% of an iteration at 512 px, 20% at 1024 px, measured);
/// keep the blocks under [`KEPT_BLOCK_LIMIT`] instead. Larger ones (maps of images above
/// about 1000x1000 px) still go back at once, so that freed memory is really free. Front
/// ends call this once, before any threads start.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, KEPT_BLOCK_LIMIT as i32);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// `buffers` (from [`estimate`]) plus the allocator's share for a run whose
/// [`largest_input`] is `h x w`: 3% for small blocks kept for reuse, plus two
/// and a half times the largest feature map the allocator keeps (the largest under
/// [`KEPT_BLOCK_LIMIT`]): a freed map's hole only takes a block that fits, so the heap grows
/// by maps of that size. Measured with `bash bench/memory_promise.sh` (docs/PERFORMANCE.md):
/// heaptrack put the live peak of a one-stage 1024x576 run under the buffer count, while its
/// resident peak was 12-15% above it, more than one relu1_1 map (160 MiB) at the style's size.
///
/// A run of several `stages` adds 5% of `buffers`: its last stage starts on a heap shaped by
/// the smaller ones. At 2048x1152 and 3840x2160 the same job peaked up to 8% higher with
/// multi-scale on than off, and those peaks moved by up to 0.7 GiB between runs, while
/// one-stage peaks at 3840x2160 repeated to 0.01 GiB. Returning freed pages between stages
/// (`malloc_trim`) lowered three of six such peaks and raised the other three: not done.
pub fn with_allocator_share(buffers: usize, (h, w): (usize, usize), stages: usize) -> f64 {
    let largest_kept = CONVS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (lh, lw) = Layer(i).spatial(h, w);
            4 * c.cout * lh * lw
        })
        .filter(|&bytes| bytes < KEPT_BLOCK_LIMIT)
        .max()
        .unwrap_or(0);
    let kept_small_blocks = if stages > 1 { 1.08 } else { 1.03 };
    kept_small_blocks * buffers as f64 + 2.5 * largest_kept as f64
}

/// Memory this process can get, if known: Linux's MemAvailable, or less where a cgroup
/// (a container, a Slurm job, a systemd unit) limits the process below it, so that a job
/// is tiled or refused instead of being killed by the OOM killer.
pub fn available() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let system = line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024;
    Some(match cgroup_headroom() {
        Some(c) => c.min(system),
        None => system,
    })
}

/// The room left under this process's cgroup memory limit (v2 `memory.max`, v1
/// `memory.limit_in_bytes`), if it has one: limit - usage + inactive file cache (which the
/// kernel reclaims before it kills).
fn cgroup_headroom() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    cgroup_dirs(&own).into_iter().find_map(|(dir, v2)| {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        let (limit, usage, inactive) = if v2 {
            ("memory.max", "memory.current", "inactive_file")
        } else {
            (
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
                "total_inactive_file",
            )
        };
        headroom(
            &read(limit)?,
            &read(usage)?,
            &read("memory.stat").unwrap_or_default(),
            inactive,
        )
    })
}

/// Where this process's cgroup memory files may be, from `/proc/self/cgroup`, with whether
/// each is cgroup v2: its own group's folder, then the mount's root (inside a container the
/// group's path is often the container's root).
fn cgroup_dirs(proc_self_cgroup: &str) -> Vec<(std::path::PathBuf, bool)> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut dirs = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = match (parts.next(), parts.next(), parts.next()) {
            (Some(id), Some(c), Some(p)) => (id, c, p.trim_start_matches('/')),
            _ => continue,
        };
        if controllers.is_empty() {
            dirs.push((root.join(path), true));
            dirs.push((root.to_path_buf(), true));
        } else if controllers.split(',').any(|c| c == "memory") {
            dirs.push((root.join("memory").join(path), false));
            dirs.push((root.join("memory"), false));
        }
    }
    dirs
}

/// `limit - usage + inactive` from the files' text; `None` without a limit (`max`, or v1's
/// "unlimited" of about 2^63).
fn headroom(limit: &str, usage: &str, stat: &str, inactive_key: &str) -> Option<u64> {
    let limit: u64 = limit.trim().parse().ok()?;
    if limit >= 1 << 60 {
        return None;
    }
    let usage: u64 = usage.trim().parse().ok()?;
    let inactive = stat
        .lines()
        .find_map(|l| {
            l.strip_prefix(inactive_key)?
                .strip_prefix(' ')?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    Some((limit + inactive).saturating_sub(usage))
}

/// `1.25 GiB`
pub fn gib(bytes: f64) -> String {
    format!("{:.2} GiB", bytes / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_limit_is_read_from_either_version() {
        let stat = "active_file 10\ninactive_file 300\nfile 400\n";
        assert_eq!(
            headroom("1000\n", "900\n", stat, "inactive_file"),
            Some(400)
        );
        assert_eq!(headroom("max\n", "900\n", stat, "inactive_file"), None);
        // v1's "no limit" is about 2^63.
        assert_eq!(
            headroom("9223372036854771712", "5", "", "total_inactive_file"),
            None
        );
        assert_eq!(headroom("100", "250", "", "total_inactive_file"), Some(0));
        let dirs = cgroup_dirs("0::/user.slice/job_42\n");
        assert_eq!(dirs[0], ("/sys/fs/cgroup/user.slice/job_42".into(), true));
        let dirs = cgroup_dirs("4:memory:/slurm/uid_1/job_7\n3:cpuset:/\n");
        assert_eq!(
            dirs[0],
            ("/sys/fs/cgroup/memory/slurm/uid_1/job_7".into(), false)
        );
        assert_eq!(dirs.len(), 2);
    }

    #[test]
    fn the_allocator_share_counts_the_largest_map_the_allocator_keeps() {
        let gib = 1usize << 30;
        // 1024x640: relu1_1's map (64 channels, 4 bytes) is under the limit and the largest.
        let relu1 = 4 * 64 * 1024 * 640;
        assert!(relu1 < KEPT_BLOCK_LIMIT);
        let share = with_allocator_share(gib, (1024, 640), 1) - 1.03 * gib as f64;
        assert_eq!(share, 2.5 * relu1 as f64);
        // Several stages: 5% more of the buffers, the same map term.
        let staged = with_allocator_share(gib, (1024, 640), 3) - 1.08 * gib as f64;
        assert_eq!(staged, share);
        // 3840x2400: the maps of levels 1-4 go back to the system; relu5's is kept.
        let relu5 = 4 * 512 * (3840 / 16) * (2400 / 16);
        let share = with_allocator_share(gib, (2400, 3840), 1) - 1.03 * gib as f64;
        assert_eq!(share, 2.5 * relu5 as f64);
    }
}
