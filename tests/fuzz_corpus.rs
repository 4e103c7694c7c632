//! Replays the committed fuzzing corpus (`fuzz/corpus/<target>/`, minimised) through the
//! same entry points the fuzzers drive, so an input that once crashed nstyle fails CI if
//! it crashes again. docs/RELIABILITY.md says what was run and found.

use std::path::PathBuf;

#[test]
fn every_corpus_input_returns_without_panicking() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut replayed = 0;
    for (name, target) in nstyle::fuzz_entry::TARGETS {
        let dir = root.join(name);
        let files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        assert!(!files.is_empty(), "{}: empty corpus", dir.display());
        for f in files {
            target(&std::fs::read(&f).unwrap());
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} corpus inputs");
}
