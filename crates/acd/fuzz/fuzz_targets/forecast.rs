//! The forecast CSV parser never panics, and what it accepts can be planned.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_acd::staffing::{StaffingParams, parse_forecast, plan};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(rows) = parse_forecast(text) {
            let _ = plan(&rows[..rows.len().min(8)], &StaffingParams::default());
        }
    }
});
