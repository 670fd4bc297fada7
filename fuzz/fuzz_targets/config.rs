//! config.json as `--resume` reads it, then validated and compared with itself.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = std::path::Path::new("config.json");
    if let Ok(c) = sampa::run::RunDir::parse_config(path, &text) {
        let _ = c.validate();
        let recorded = serde_json::to_value(&c).expect("a config serialises");
        let _ = c.differs_from(&recorded);
    }
});
