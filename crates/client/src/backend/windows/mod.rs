//! Windows backend: the LSA secret `$MACHINE.ACC` and Netlogon, as
//! `Reset-ComputerMachinePassword` / `Test-ComputerSecureChannel -Repair` use them
//! (`docs/ad-facts.md` §A1), minus the domain credential.
//!
//! - identity: `GetComputerNameExW(ComputerNameNetBIOS)` and
//!   `LsaQueryInformationPolicy(PolicyDnsDomainInformation).DnsDomainName`.
//! - preflight: `LsaOpenPolicy(POLICY_ALL_ACCESS)` (access denied = not an administrator) and
//!   `LsaOpenSecret("$MACHINE.ACC", SECRET_SET_VALUE | SECRET_QUERY_VALUE)`; nothing written.
//!   A joined machine without that secret is named as Credential Guard's machine identity
//!   isolation would leave it; the client never creates the secret (`LsaCreateSecret`).
//! - store: `LsaSetSecret(new, old = NULL)`: a NULL old value makes the LSA keep the current
//!   value as the old one (MS-LSAD 3.1.4.6.3), so the machine password is never read into this
//!   process.
//! - verify: `I_NetLogonControl2(NETLOGON_CONTROL_REDISCOVER, "domain\dc")`, then
//!   `NETLOGON_CONTROL_TC_VERIFY` (falls back to `TC_QUERY` where unsupported).
//! - rotate: `I_NetLogonControl2(NETLOGON_CONTROL_CHANGE_PASSWORD, domain)`, proven by the
//!   secret's `CurrentValueSetTime` (only the time is read) moving; a DC that refuses machine
//!   password changes is told apart (`win_rules::judge_rotation`).
//! - journal: the Application event log, source `trustdesk-client` (`os.rs`).
//!
//! `LsaOpenSecret`, `LsaQuerySecret` and `LsaSetSecret` are not in windows-sys (they come from
//! the DDK's ntlsa.h): declared below. Compiled on Windows, and on any OS with the
//! `windows-typecheck` feature for `cargo check` (it cannot link there).

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::ptr::{null, null_mut};

use windows_sys::Win32::Foundation::{
    ERROR_INVALID_LEVEL, ERROR_NOT_SUPPORTED, NTSTATUS, STATUS_ACCESS_DENIED,
    STATUS_OBJECT_NAME_NOT_FOUND, STATUS_SUCCESS,
};
use windows_sys::Win32::NetworkManagement::NetManagement::{
    I_NetLogonControl2, NETLOGON_CONTROL_CHANGE_PASSWORD, NETLOGON_CONTROL_REDISCOVER,
    NETLOGON_CONTROL_TC_QUERY, NETLOGON_CONTROL_TC_VERIFY, NETLOGON_INFO_2,
    NETLOGON_VERIFY_STATUS_RETURNED, NetApiBufferFree,
};
use windows_sys::Win32::Security::Authentication::Identity::{
    LSA_HANDLE, LSA_OBJECT_ATTRIBUTES, LSA_UNICODE_STRING, LsaClose, LsaFreeMemory,
    LsaNtStatusToWinError, LsaOpenPolicy, LsaQueryInformationPolicy, POLICY_DNS_DOMAIN_INFO,
    POLICY_VIEW_LOCAL_INFORMATION, PolicyDnsDomainInformation,
};
use windows_sys::Win32::System::SystemInformation::{ComputerNameNetBIOS, GetComputerNameExW};
use zeroize::{Zeroize, Zeroizing};

use super::win_rules::{self, Rotation};
use super::{Backend, BackendError, JournalLevel, LocalIdentity};
use crate::password::MachinePassword;

mod os;
use os::{wide_nul, win32_text};

/// What `Reset-ComputerMachinePassword` asks for (ntlsa.h; not in windows-sys).
const POLICY_ALL_ACCESS: u32 = 0x000F_0FFF;
/// ntlsa.h
const SECRET_SET_VALUE: u32 = 0x0000_0001;
/// ntlsa.h
const SECRET_QUERY_VALUE: u32 = 0x0000_0002;
/// The machine account's LSA secret.
const MACHINE_ACC: &str = "$MACHINE.ACC";

#[link(name = "advapi32")]
unsafe extern "system" {
    fn LsaOpenSecret(
        policy: LSA_HANDLE,
        name: *const LSA_UNICODE_STRING,
        desired_access: u32,
        secret: *mut LSA_HANDLE,
    ) -> NTSTATUS;
    fn LsaQuerySecret(
        secret: LSA_HANDLE,
        current_value: *mut *mut LSA_UNICODE_STRING,
        current_value_set_time: *mut i64,
        old_value: *mut *mut LSA_UNICODE_STRING,
        old_value_set_time: *mut i64,
    ) -> NTSTATUS;
    fn LsaSetSecret(
        secret: LSA_HANDLE,
        current_value: *const LSA_UNICODE_STRING,
        old_value: *const LSA_UNICODE_STRING,
    ) -> NTSTATUS;
}

/// The Windows backend (stateless).
#[derive(Debug, Default, Clone, Copy)]
pub struct WindowsBackend;

impl WindowsBackend {
    /// A backend for the local machine.
    #[must_use]
    pub fn new() -> Self {
        Self
    }
}

/// An LSA handle, closed on drop.
struct LsaHandle(LSA_HANDLE);

impl Drop for LsaHandle {
    fn drop(&mut self) {
        if self.0 != 0 {
            // SAFETY: the handle came from LsaOpenPolicy/LsaOpenSecret and is closed once.
            unsafe {
                LsaClose(self.0);
            }
        }
    }
}

/// Memory the LSA allocated, freed on drop.
struct LsaMemory(*mut c_void);

impl Drop for LsaMemory {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from an LSA call that documents LsaFreeMemory.
            unsafe {
                LsaFreeMemory(self.0);
            }
        }
    }
}

/// A Netlogon buffer, freed on drop.
struct NetApiBuffer(*mut u8);

impl Drop for NetApiBuffer {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: allocated by I_NetLogonControl2; freed once.
            unsafe {
                NetApiBufferFree(self.0.cast::<c_void>());
            }
        }
    }
}

/// An LSA_UNICODE_STRING over `chars` (no NUL needed; Length counts bytes).
fn unicode_string(chars: &[u16]) -> Result<LSA_UNICODE_STRING, BackendError> {
    let bytes = win_rules::lsa_string_bytes(chars.len())
        .ok_or_else(|| BackendError::Failed("string too long for the LSA".into()))?;
    Ok(LSA_UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: chars.as_ptr().cast_mut(),
    })
}

/// # Safety
/// `s.Buffer` must point to at least `s.Length` readable bytes (or be null).
unsafe fn from_unicode_string(s: &LSA_UNICODE_STRING) -> String {
    if s.Buffer.is_null() || s.Length == 0 {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    let chars = unsafe { std::slice::from_raw_parts(s.Buffer, usize::from(s.Length / 2)) };
    String::from_utf16_lossy(chars)
}

fn nt_error(what: &str, status: NTSTATUS) -> BackendError {
    // SAFETY: plain value conversion.
    let win32 = unsafe { LsaNtStatusToWinError(status) };
    // Bit-for-bit display of the NTSTATUS.
    let hex = u32::from_ne_bytes(status.to_ne_bytes());
    BackendError::Failed(format!(
        "{what} failed: NTSTATUS 0x{hex:08X} ({})",
        win32_text(win32)
    ))
}

fn open_policy(access: u32) -> Result<LsaHandle, BackendError> {
    let attributes = LSA_OBJECT_ATTRIBUTES {
        Length: u32::try_from(std::mem::size_of::<LSA_OBJECT_ATTRIBUTES>()).unwrap_or(0),
        ..LSA_OBJECT_ATTRIBUTES::default()
    };
    let mut handle: LSA_HANDLE = 0;
    // SAFETY: valid pointers to locals; NULL system name = this machine.
    let status = unsafe { LsaOpenPolicy(null(), &attributes, access, &mut handle) };
    let handle = LsaHandle(handle);
    match status {
        STATUS_SUCCESS => Ok(handle),
        STATUS_ACCESS_DENIED => Err(BackendError::NotAdministrator(
            "the LSA policy cannot be opened with full access: run from an elevated \
             (\"Run as administrator\") prompt"
                .into(),
        )),
        other => Err(nt_error("LsaOpenPolicy", other)),
    }
}

fn open_machine_secret(policy: &LsaHandle) -> Result<LsaHandle, BackendError> {
    let name = win_rules::utf16_units(MACHINE_ACC);
    let name = unicode_string(&name)?;
    let mut handle: LSA_HANDLE = 0;
    // SAFETY: policy is open; `name` borrows a live buffer; `handle` is a local.
    let status = unsafe {
        LsaOpenSecret(
            policy.0,
            &name,
            SECRET_SET_VALUE | SECRET_QUERY_VALUE,
            &mut handle,
        )
    };
    let handle = LsaHandle(handle);
    match status {
        STATUS_SUCCESS => Ok(handle),
        STATUS_ACCESS_DENIED => Err(BackendError::NotAdministrator(
            "the machine account secret cannot be opened for writing".into(),
        )),
        // Never created here: under Credential Guard's machine identity isolation the LSA copy
        // would be ignored, and on an unjoined machine it would be meaningless.
        STATUS_OBJECT_NAME_NOT_FOUND => Err(BackendError::Failed(
            win_rules::missing_machine_secret(dns_domain().ok().as_deref()),
        )),
        other => Err(nt_error("LsaOpenSecret($MACHINE.ACC)", other)),
    }
}

/// `$MACHINE.ACC`'s `CurrentValueSetTime` (100 ns since 1601). Only the time is asked for:
/// the value itself is never read into this process.
fn secret_set_time(secret: &LsaHandle) -> Result<i64, BackendError> {
    let mut set_time: i64 = 0;
    // SAFETY: the secret is open with SECRET_QUERY_VALUE; every value pointer is NULL, so
    // the LSA allocates nothing.
    let status =
        unsafe { LsaQuerySecret(secret.0, null_mut(), &mut set_time, null_mut(), null_mut()) };
    if status != STATUS_SUCCESS {
        return Err(nt_error("LsaQuerySecret($MACHINE.ACC set time)", status));
    }
    Ok(set_time)
}

fn dns_domain() -> Result<String, BackendError> {
    let policy = open_policy(u32::try_from(POLICY_VIEW_LOCAL_INFORMATION).unwrap_or(1))?;
    let mut buffer: *mut c_void = null_mut();
    // SAFETY: policy is open; `buffer` receives LSA-allocated memory freed by LsaMemory.
    let status =
        unsafe { LsaQueryInformationPolicy(policy.0, PolicyDnsDomainInformation, &mut buffer) };
    let memory = LsaMemory(buffer);
    if status != STATUS_SUCCESS {
        return Err(nt_error(
            "LsaQueryInformationPolicy(PolicyDnsDomainInformation)",
            status,
        ));
    }
    if memory.0.is_null() {
        return Err(BackendError::Failed(
            "the LSA returned no domain information".into(),
        ));
    }
    // SAFETY: for this information class the buffer is a POLICY_DNS_DOMAIN_INFO.
    let info = unsafe { &*memory.0.cast::<POLICY_DNS_DOMAIN_INFO>() };
    if info.Sid.is_null() {
        return Err(BackendError::Failed(
            "this machine is not joined to an Active Directory domain".into(),
        ));
    }
    // SAFETY: the LSA fills DnsDomainName with a valid buffer of Length bytes.
    let domain = unsafe { from_unicode_string(&info.DnsDomainName) };
    if domain.is_empty() {
        return Err(BackendError::Failed(
            "this machine's domain has no DNS name (not an Active Directory domain)".into(),
        ));
    }
    Ok(domain)
}

fn netbios_name() -> Result<String, BackendError> {
    let mut buffer = [0u16; 64];
    let mut size = u32::try_from(buffer.len()).unwrap_or(0);
    // SAFETY: `buffer` holds `size` UTF-16 units; `size` is updated to the length written.
    let ok = unsafe { GetComputerNameExW(ComputerNameNetBIOS, buffer.as_mut_ptr(), &mut size) };
    if ok == 0 {
        return Err(BackendError::Failed(format!(
            "GetComputerNameExW failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    let len = usize::try_from(size).unwrap_or(0).min(buffer.len());
    Ok(String::from_utf16_lossy(buffer.get(..len).unwrap_or(&[])))
}

/// Calls `I_NetLogonControl2` on this machine with a string argument.
fn netlogon_control(
    function: u32,
    level: u32,
    argument: &str,
) -> Result<NetApiBuffer, (u32, String)> {
    let wide = wide_nul(argument);
    let pointer: *const u16 = wide.as_ptr();
    let mut buffer: *mut u8 = null_mut();
    // SAFETY: `data` points at a pointer to a NUL-terminated UTF-16 string, as the API wants
    // for these function codes; `wide` outlives the call; the result is freed by NetApiBuffer.
    let status = unsafe {
        I_NetLogonControl2(
            null(),
            function,
            level,
            (&raw const pointer).cast::<u8>(),
            &mut buffer,
        )
    };
    let buffer = NetApiBuffer(buffer);
    if status == 0 {
        Ok(buffer)
    } else {
        Err((
            status,
            format!(
                "I_NetLogonControl2({}) failed: {}",
                function_name(function),
                win32_text(status)
            ),
        ))
    }
}

fn function_name(function: u32) -> &'static str {
    match function {
        NETLOGON_CONTROL_REDISCOVER => "REDISCOVER",
        NETLOGON_CONTROL_TC_QUERY => "TC_QUERY",
        NETLOGON_CONTROL_TC_VERIFY => "TC_VERIFY",
        NETLOGON_CONTROL_CHANGE_PASSWORD => "CHANGE_PASSWORD",
        _ => "?",
    }
}

/// Reads a NETLOGON_INFO_2 and checks its statuses.
fn check_info2(buffer: &NetApiBuffer, what: &str, verify: bool) -> Result<String, BackendError> {
    if buffer.0.is_null() {
        return Err(BackendError::Failed(format!("{what}: no answer")));
    }
    // SAFETY: level 2 returns a NETLOGON_INFO_2 allocated by Netlogon.
    let info = unsafe { &*buffer.0.cast::<NETLOGON_INFO_2>() };
    let dc_name = if info.netlog2_trusted_dc_name.is_null() {
        String::new()
    } else {
        // SAFETY: a NUL-terminated string inside the same Netlogon allocation.
        unsafe {
            let mut len = 0usize;
            while *info.netlog2_trusted_dc_name.add(len) != 0 && len < 1024 {
                len += 1;
            }
            String::from_utf16_lossy(std::slice::from_raw_parts(
                info.netlog2_trusted_dc_name,
                len,
            ))
        }
    };
    if info.netlog2_tc_connection_status != 0 {
        return Err(BackendError::Failed(format!(
            "{what}: secure channel status {}",
            win32_text(info.netlog2_tc_connection_status)
        )));
    }
    let pdc_status_counts = !verify || info.netlog2_flags & NETLOGON_VERIFY_STATUS_RETURNED != 0;
    if pdc_status_counts && info.netlog2_pdc_connection_status != 0 {
        return Err(BackendError::Failed(format!(
            "{what}: verification status {}",
            win32_text(info.netlog2_pdc_connection_status)
        )));
    }
    Ok(dc_name)
}

impl Backend for WindowsBackend {
    fn name(&self) -> &'static str {
        "windows"
    }

    fn identity(&self) -> Result<LocalIdentity, BackendError> {
        Ok(LocalIdentity {
            netbios: netbios_name()?,
            dns_domain: dns_domain()?,
        })
    }

    fn preflight(&self) -> Result<(), BackendError> {
        let policy = open_policy(POLICY_ALL_ACCESS)?;
        let _secret = open_machine_secret(&policy)?;
        Ok(())
    }

    fn store_secret(&self, password: &MachinePassword) -> Result<(), BackendError> {
        let policy = open_policy(POLICY_ALL_ACCESS)?;
        let secret = open_machine_secret(&policy)?;

        let mut chars: Zeroizing<Vec<u16>> =
            Zeroizing::new(win_rules::utf16_units(password.expose()));
        let new_value = unicode_string(&chars)?;
        // SAFETY: `new_value` borrows `chars`, alive until after the call. A NULL old value
        // makes the LSA keep its current value as the old one (MS-LSAD 3.1.4.6.3).
        let status = unsafe { LsaSetSecret(secret.0, &new_value, null()) };
        chars.zeroize();
        if status != STATUS_SUCCESS {
            return Err(nt_error("LsaSetSecret($MACHINE.ACC)", status));
        }
        Ok(())
    }

    fn verify_channel(&self, dc: &str) -> Result<(), BackendError> {
        let domain = dns_domain()?;
        let target = format!("{domain}\\{dc}");
        let buffer = netlogon_control(NETLOGON_CONTROL_REDISCOVER, 2, &target)
            .map_err(|(_, m)| BackendError::Failed(m))?;
        check_info2(&buffer, &format!("REDISCOVER {target}"), false)?;
        drop(buffer);

        match netlogon_control(NETLOGON_CONTROL_TC_VERIFY, 2, &domain) {
            Ok(buffer) => check_info2(&buffer, "TC_VERIFY", true).map(|_| ()),
            Err((code, _)) if code == ERROR_NOT_SUPPORTED || code == ERROR_INVALID_LEVEL => {
                let buffer = netlogon_control(NETLOGON_CONTROL_TC_QUERY, 2, &domain)
                    .map_err(|(_, m)| BackendError::Failed(m))?;
                check_info2(&buffer, "TC_QUERY", false).map(|_| ())
            }
            Err((_, m)) => Err(BackendError::Failed(m)),
        }
    }

    fn rotate(&self, _dc: &str) -> Result<(), BackendError> {
        // The channel was pointed at `dc` by verify_channel (REDISCOVER).
        let domain = dns_domain()?;
        let policy = open_policy(POLICY_ALL_ACCESS)?;
        let secret = open_machine_secret(&policy)?;
        let before = secret_set_time(&secret)?;
        // Level 1's netlog1_pdc_connection_status applies only to backup DCs: only the return
        // code and the secret's set time say what happened.
        let status = match netlogon_control(NETLOGON_CONTROL_CHANGE_PASSWORD, 1, &domain) {
            Ok(_buffer) => 0,
            Err((code, _)) => code,
        };
        let after = secret_set_time(&secret)?;
        match win_rules::judge_rotation(status, before, after) {
            Rotation::Done => Ok(()),
            Rotation::Refused { local_changed } => Err(BackendError::RotationRefused(format!(
                "CHANGE_PASSWORD: {}{}",
                win32_text(status),
                if local_changed {
                    "; this machine stored a password the DC refused and now authenticates with \
                     its previous one"
                } else {
                    ""
                }
            ))),
            Rotation::Failed { code } => Err(BackendError::Failed(format!(
                "I_NetLogonControl2(CHANGE_PASSWORD) failed: {}",
                win32_text(code)
            ))),
            Rotation::Unproven => Err(BackendError::Failed(
                "CHANGE_PASSWORD reported success but $MACHINE.ACC was not set again: the \
                 rotation is not proven"
                    .into(),
            )),
        }
    }

    fn journal(&self, level: JournalLevel, text: &str) {
        os::report_event(level, text);
    }

    fn verify_hint(&self, dc: &str) -> String {
        let domain = dns_domain().unwrap_or_else(|_| "<domain>".into());
        format!("nltest /sc_reset:{domain}\\{dc} and nltest /sc_verify:{domain}")
    }

    fn rotate_hint(&self, _dc: &str) -> String {
        let domain = dns_domain().unwrap_or_else(|_| "<domain>".into());
        format!("nltest /sc_change_pwd:{domain}")
    }
}
