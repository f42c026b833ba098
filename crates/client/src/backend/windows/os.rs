//! What the Windows backend asks of Windows besides the LSA and Netlogon: the text of an error
//! code (the system's message table, or `netmsg.dll` for `NERR_*` codes), and the machine's own
//! Application event log.

#![allow(unsafe_code)]

use std::ptr::{null, null_mut};

use windows_sys::Win32::Foundation::{FreeLibrary, HANDLE};
use windows_sys::Win32::System::Diagnostics::Debug::{
    FORMAT_MESSAGE_FROM_HMODULE, FORMAT_MESSAGE_FROM_SYSTEM, FORMAT_MESSAGE_IGNORE_INSERTS,
    FormatMessageW,
};
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
    RegisterEventSourceW, ReportEventW,
};
use windows_sys::Win32::System::LibraryLoader::{LOAD_LIBRARY_AS_DATAFILE, LoadLibraryExW};
use windows_sys::Win32::System::Registry::{
    HKEY, HKEY_LOCAL_MACHINE, KEY_SET_VALUE, REG_DWORD, REG_EXPAND_SZ, REG_OPTION_NON_VOLATILE,
    RegCloseKey, RegCreateKeyExW, RegSetValueExW,
};

use super::super::win_rules::{self, MessageSource};
use crate::backend::JournalLevel;

/// The event source the client writes as.
pub const EVENT_SOURCE: &str = "trustdesk-client";
/// The event id of every entry. `EventCreate.exe`'s message table, which the source names as
/// its message file (as `eventcreate /so` does for the sources it makes), prints ids 1–1000 as
/// the entry's own text (`%1`).
const EVENT_ID: u32 = 1;

pub fn wide_nul(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// `Win32 error 5: Access is denied` (or `NERR 2453: …`), in the system's language.
pub fn win32_text(code: u32) -> String {
    win_rules::code_text(code, &message_text(code))
}

fn message_text(code: u32) -> String {
    let mut buffer = [0u16; 512];
    let (flags, module) = match win_rules::message_source(code) {
        MessageSource::System => (
            FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
            null_mut(),
        ),
        MessageSource::Netmsg => {
            let name = wide_nul("netmsg.dll");
            // SAFETY: a NUL-terminated name; loaded as data only (no code runs), freed below.
            let module =
                unsafe { LoadLibraryExW(name.as_ptr(), null_mut(), LOAD_LIBRARY_AS_DATAFILE) };
            if module.is_null() {
                return String::new();
            }
            (
                FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_IGNORE_INSERTS,
                module,
            )
        }
    };
    let size = u32::try_from(buffer.len()).unwrap_or(0);
    // SAFETY: `buffer` holds `size` UTF-16 units; no inserts are expanded, so no arguments.
    let written = unsafe {
        FormatMessageW(
            flags,
            module.cast_const(),
            code,
            0,
            buffer.as_mut_ptr(),
            size,
            null(),
        )
    };
    if !module.is_null() {
        // SAFETY: loaded above, freed once.
        unsafe {
            FreeLibrary(module);
        }
    }
    let len = usize::try_from(written).unwrap_or(0).min(buffer.len());
    String::from_utf16_lossy(buffer.get(..len).unwrap_or(&[]))
}

/// Makes the event source known to the event log, so Event Viewer shows the entries' text
/// rather than "the description for Event ID 1 cannot be found". Best effort: without it the
/// entries are still written, with that preamble.
fn register_source() {
    let key_path = wide_nul(&format!(
        "SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\{EVENT_SOURCE}"
    ));
    let mut key: HKEY = null_mut();
    // SAFETY: valid NUL-terminated path; `key` receives a handle closed below.
    let status = unsafe {
        RegCreateKeyExW(
            HKEY_LOCAL_MACHINE,
            key_path.as_ptr(),
            0,
            null(),
            REG_OPTION_NON_VOLATILE,
            KEY_SET_VALUE,
            null(),
            &mut key,
            null_mut(),
        )
    };
    if status != 0 || key.is_null() {
        return;
    }
    let file = wide_nul("%SystemRoot%\\System32\\EventCreate.exe");
    let file_bytes = u32::try_from(file.len() * 2).unwrap_or(0);
    let types: u32 = 7; // error, warning, information
    let name = wide_nul("EventMessageFile");
    let types_name = wide_nul("TypesSupported");
    // SAFETY: `key` is open for setting values; data pointers and byte counts match.
    unsafe {
        RegSetValueExW(
            key,
            name.as_ptr(),
            0,
            REG_EXPAND_SZ,
            file.as_ptr().cast::<u8>(),
            file_bytes,
        );
        RegSetValueExW(
            key,
            types_name.as_ptr(),
            0,
            REG_DWORD,
            (&raw const types).cast::<u8>(),
            4,
        );
        RegCloseKey(key);
    }
}

/// Writes `text` to the Application event log as source `trustdesk-client`. Best effort.
pub fn report_event(level: JournalLevel, text: &str) {
    register_source();
    let source = wide_nul(EVENT_SOURCE);
    // SAFETY: NULL server = this machine; NUL-terminated source name.
    let log: HANDLE = unsafe { RegisterEventSourceW(null(), source.as_ptr()) };
    if log.is_null() {
        return;
    }
    let kind = match level {
        JournalLevel::Info => EVENTLOG_INFORMATION_TYPE,
        JournalLevel::Warning => EVENTLOG_WARNING_TYPE,
        JournalLevel::Error => EVENTLOG_ERROR_TYPE,
    };
    let line = wide_nul(text);
    let strings = [line.as_ptr()];
    // SAFETY: `log` is open; one NUL-terminated string that outlives the call; no raw data.
    unsafe {
        ReportEventW(
            log,
            kind,
            0,
            EVENT_ID,
            null_mut(),
            1,
            0,
            strings.as_ptr(),
            null(),
        );
        DeregisterEventSource(log);
    }
}
