#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nstyle::fuzz_entry::job_options(data));
