//! The tuning cache (tuning.json) and the schedule cache (schedules.json).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for c in sampa::tuning::parse_cache(&text).values() {
        let _ = sampa::tuning::entry_forms(c);
    }
    for name in sampa::run::placement::parse_cache(&text).values() {
        let _ = sampa::run::placement::placement(name);
    }
});
